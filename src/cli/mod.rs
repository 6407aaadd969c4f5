//! Command-line definitions (clap derive). Parsing only: nothing here runs.
//!
//! The options of `duplex serve` are defined once, in [`crate::options`],
//! for the command line and the configuration file alike.
//!
//! Here are the top of the command line (`Cli`, one `Command` per
//! subcommand, with the examples of its help) and [`command`], the one
//! definition parsing, completions and man pages use. The arguments of each
//! subcommand have a child module of their own (`serve` for serve and
//! bridge, `connect`, `bench`), beside the global options (`global`), the
//! value parsers connect and bench share (`values`) and nc's `-q` (`nc`).

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

mod bench;
mod connect;
mod global;
mod nc;
mod serve;
mod values;

pub use crate::options::{parse_duration, parse_endpoint};
pub use bench::{
    BenchArgs, BenchCommand, LatencySet, MAX_CONNECTIONS, MAX_PIPELINE, MAX_RATE, MAX_SIZE,
    MergeArgs,
};
pub use connect::{ConnectArgs, MAX_MESSAGE};
pub use global::{LogArgs, LogFormat};
pub use nc::nc_style_args;
pub use serve::{BridgeArgs, RuntimeArgs, ServeArgs};
pub use values::websocket_options;

#[derive(Debug, Parser)]
#[command(
    name = "duplex",
    version,
    about = "Serve and speak TCP, UDP, Unix sockets and WebSocket: echo, daytime, random and counter services, a client, and a load generator.",
    propagate_version = true,
    after_help = "Examples:
  duplex serve                                     # every service on loopback default ports
  duplex serve echo tcp://:7007 udp://:7007 unix:///tmp/echo.sock
  duplex connect tcp://127.0.0.1:7013
  duplex connect -l tcp://:7000                    # like nc -l
  duplex bridge tcp://:8000 unix:///run/app.sock   # like socat TCP-LISTEN… UNIX-CONNECT…
  duplex bench tcp://127.0.0.1:7007 -c 50 -d 10s
  duplex config > duplex.toml

Run `duplex help SUBCOMMAND` for the options and examples of each subcommand."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a service on one or more endpoints (or a configuration file).
    #[command(after_help = "Examples:
  duplex serve                                     # the built-in default configuration
  duplex serve echo tcp://:7007 udp://:7007 unix:///tmp/echo.sock
  duplex serve daytime tcp://127.0.0.1:7013 --format rfc2822 --utc
  duplex serve random udp://127.0.0.1:7014 --min 1 --max 6
  duplex serve --config duplex.toml
  duplex serve counter tcp://:7015 --reuse-port --proxy-protocol --counter-store redis://127.0.0.1:6379

Sockets passed by systemd (socket activation: LISTEN_FDS, LISTEN_FDNAMES) are
URLs with fd:N (the descriptor number, 3 is the first) or fd:NAME (its
FileDescriptorName=) in place of HOST:PORT or PATH:
  duplex serve echo tcp://fd:3 udp://fd:4 unix://fd:ctl ws://fd:web/echo
Each is announced with its real address. READY=1 and STOPPING=1 go to
NOTIFY_SOCKET when it is set (Type=notify). deploy/ has example units.")]
    Serve(Box<ServeArgs>),
    /// Talk to a server: stdin goes to it, what it sends goes to stdout.
    #[command(
        after_help = "Stream transports (tcp, unix, tls) carry raw bytes; at stdin EOF the client
half-closes and exits when the server closes. UDP and WebSocket send one
datagram / message per stdin line and print each one received as a line.

Exit status: 0 when the session ended (the server closed, stdin ended and
the session wound down, --quit-after passed, -z worked, or stdout was closed
as by `| head`); 1 with one line on stderr on failure (refused, timeout, -w,
DNS, TLS, a WebSocket close code other than 1000/1001); 2 on usage errors;
130 after Ctrl-C, once the session is closed (WebSocket: close 1000).

Examples:
  duplex connect tcp://127.0.0.1:7013
  echo hello | duplex connect udp://127.0.0.1:7007 --wait 500ms
  duplex connect unix:///tmp/echo.sock
  duplex connect -z -w 2s tcp://127.0.0.1:7007     # is it up? (nc -z -w 2)
  printf 'HEAD / HTTP/1.0\\r\\n\\r\\n' | duplex connect tcp://example.org:80 --quit-after 5s
  duplex connect tcp://127.0.0.1:7014 | head -2      # stops quietly, exit 0
  duplex connect -l tcp://:7000                    # nc -l: serve one client, then exit
  duplex connect -lk tcp://:7000                   # nc -lk: one client after another
  duplex connect -l udp://:7000                    # nc -lu: the first sender is the peer"
    )]
    Connect(Box<ConnectArgs>),
    /// Relay every client of FROM to its own connection to TO.
    #[command(
        after_help = "Every session accepted on FROM gets its own connection to TO, dialled
before anything is relayed (a client whose TO cannot be reached within
--connect-timeout is closed, a WebSocket client answered HTTP 502, and one
log line says why), and data flows both ways until the session ends:
stream to stream, a half-close is passed on and the session ends when both
directions are done; messages (UDP, WebSocket) keep their boundaries; a
WebSocket close ends the session, its code passed on to a WebSocket on the
other side. A UDP FROM keeps one session per client address, ended by
--idle-timeout. Once bound, stdout gets `listening bridge URL`.

Examples:
  duplex bridge tcp://:8000 tcp://127.0.0.1:80         # socat TCP-LISTEN:8000,fork TCP:127.0.0.1:80
  duplex bridge unix:///tmp/app.sock tcp://127.0.0.1:80
  duplex bridge tcp://:80 unix:///run/app.sock --send-proxy v2
  duplex bridge tls://:8443 tcp://127.0.0.1:80 --tls-cert tls/cert.pem --tls-key tls/key.pem
  duplex bridge tcp://127.0.0.1:5000 tls://example.org:443
  duplex bridge udp://:5353 udp://192.0.2.1:53 --idle-timeout 30s
  duplex bridge tcp://:7000 udp://127.0.0.1:7007 --lines
  duplex bridge ws://:8080/vnc tcp://127.0.0.1:5900    # websockify 8080 127.0.0.1:5900
  duplex bridge tcp://127.0.0.1:2222 wss://host/ssh    # websocat -b tcp-l:127.0.0.1:2222 wss://host/ssh"
    )]
    Bridge(Box<BridgeArgs>),
    /// Load-test an echo server.
    #[command(
        after_help = "Examples:
  duplex bench tcp://127.0.0.1:7007 -c 50 -d 10s -s 64
  duplex bench udp://127.0.0.1:7007 -n 100000 --json
  duplex bench ws://127.0.0.1:8080/echo -c 1000 --ramp-up 10s --rate-per-conn 10 --latency connect,rtt
  duplex bench tcp://10.0.0.1:7007 tcp://10.0.0.2:7007 --conn-lifetime 2s --fail-if 'p99>5ms'
  duplex bench tcp://127.0.0.1:7007 --server-pid $(pidof duplex) --json > a.json
  duplex bench merge a.json b.json

Exit status: 0 clean, 1 errors (or nothing measured), 2 usage error,
3 a --fail-if threshold breached.",
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Bench(Box<BenchArgs>),
    /// Write a self-signed TLS certificate and key for development.
    #[command(after_help = "Example:
  duplex cert --out ./tls --host localhost --host 127.0.0.1
  duplex serve echo tls://127.0.0.1:7443 --tls-cert tls/cert.pem --tls-key tls/key.pem
  duplex connect tls://localhost:7443 --ca tls/cert.pem")]
    Cert {
        /// Directory for cert.pem and key.pem (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Host names or IP addresses the certificate is for (repeatable).
        #[arg(long = "host", value_name = "NAME", required = true)]
        hosts: Vec<String>,
    },
    /// Print the built-in default configuration as TOML.
    #[command(after_help = "Example:
  duplex config > duplex.toml && duplex serve --config duplex.toml")]
    Config,
    /// Print shell completions.
    #[command(after_help = "Examples:
  duplex completions bash > ~/.local/share/bash-completion/completions/duplex
  duplex completions zsh > ~/.zfunc/_duplex
  duplex completions fish > ~/.config/fish/completions/duplex.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages: duplex.1 and one page per subcommand.
    #[command(after_help = "Example:
  duplex man ~/.local/share/man/man1 && man duplex-serve")]
    Man {
        /// Directory for the pages (created if needed).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// The command line, with the default of every option of `duplex serve`
/// added to its help from where the default is defined
/// ([`crate::options::defaults`]). Parsing, completions and man pages all
/// use this one definition.
pub fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("serve", with_defaults)
        .mut_subcommand("bridge", with_defaults)
}

/// `cmd` with the default of each of its options in its help.
fn with_defaults(mut cmd: clap::Command) -> clap::Command {
    for (key, value) in crate::options::defaults() {
        let shown = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            // Flags that are off, and lists that are empty, say so in
            // their own words.
            _ => continue,
        };
        if !cmd.get_arguments().any(|a| a.get_id() == key) {
            continue;
        }
        cmd = cmd.mut_arg(key, |arg| {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            if help.contains("[default:") {
                arg
            } else {
                arg.help(format!("{help} [default: {shown}]"))
            }
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use global::GLOBAL;

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_subcommand_lists_the_global_options_under_their_own_heading() {
        let mut cli = command();
        cli.build();
        for sub in cli.get_subcommands_mut() {
            let name = sub.get_name().to_string();
            if name == "help" {
                continue;
            }
            let help = sub.render_help().to_string();
            let Some((own, global)) = help.split_once(&format!("{GLOBAL}:")) else {
                panic!("{name} --help has no {GLOBAL} heading:\n{help}");
            };
            for flag in ["--verbose", "--quiet", "--log-format"] {
                assert!(global.contains(flag), "{name}: {flag} not under {GLOBAL}");
                assert!(!own.contains(flag), "{name}: {flag} among its own options");
            }
        }
    }

    #[test]
    fn serve_help_shows_the_defaults() {
        let mut serve = command().find_subcommand("serve").expect("serve").clone();
        let help = serve.render_help().to_string();
        for shown in ["[default: 10000]", "[default: 5m]", "[default: 1000]"] {
            assert!(help.contains(shown), "{shown} missing:\n{help}");
        }
    }
}
