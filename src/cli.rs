//! Command-line definitions (clap derive). Parsing only: nothing here runs.
//!
//! The options of `duplex serve` are defined once, in [`crate::options`],
//! for the command line and the configuration file alike.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::endpoint::Endpoint;
use crate::options::{LimitOptions, ListenerOptions, TlsOptions};
pub use crate::options::{parse_duration, parse_endpoint};

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

/// Options of every subcommand, listed under their own heading.
#[derive(Debug, Args, Clone)]
pub struct LogArgs {
    /// More log output on stderr (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, help_heading = GLOBAL)]
    pub log_format: LogFormat,
}

/// The help heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a service on one or more endpoints (or a configuration file).
    #[command(after_help = "Examples:
  duplex serve                                     # the built-in default configuration
  duplex serve echo tcp://:7007 udp://:7007 unix:///tmp/echo.sock
  duplex serve daytime tcp://127.0.0.1:7013 --format rfc2822 --utc
  duplex serve random udp://127.0.0.1:7014 --min 1 --max 6
  duplex serve --config duplex.toml")]
    Serve(Box<ServeArgs>),
    /// Talk to a server: stdin goes to it, what it sends goes to stdout.
    #[command(after_help = "Examples:
  duplex connect tcp://127.0.0.1:7013
  echo hello | duplex connect udp://127.0.0.1:7007 --wait 500ms
  duplex connect unix:///tmp/echo.sock")]
    Connect(ConnectArgs),
    /// Load-test an echo server.
    #[command(after_help = "Examples:
  duplex bench tcp://127.0.0.1:7007 -c 50 -d 10s -s 64
  duplex bench udp://127.0.0.1:7007 -n 100000 --json")]
    Bench(BenchArgs),
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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service and its endpoints, with the service options.
    #[command(flatten)]
    pub listener: ListenerOptions,
    /// Run the listeners of this TOML file (see `duplex config`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitOptions,
    /// Serve Prometheus metrics over HTTP at this tcp:// address (GET /metrics).
    #[arg(long, value_name = "URL", value_parser = parse_endpoint)]
    pub metrics: Option<Endpoint>,
    #[command(flatten)]
    pub tls: TlsOptions,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server, e.g. tcp://127.0.0.1:7007.
    #[arg(value_parser = parse_endpoint)]
    pub url: Endpoint,
    /// Give up connecting after this long.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// UDP: how long to wait for late replies after stdin ends.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub wait: Duration,
    /// WebSocket: send binary messages instead of text.
    #[arg(long)]
    pub binary: bool,
    /// WebSocket: extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// WebSocket: subprotocol to ask for.
    #[arg(long)]
    pub protocol: Option<String>,
    /// TLS: also trust the certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// TLS: do not verify the server's certificate (says so on stderr).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// The server to load, e.g. tcp://127.0.0.1:7007.
    #[arg(value_parser = parse_endpoint)]
    pub url: Endpoint,
    /// Concurrent connections (UDP: sockets).
    #[arg(short = 'c', long, default_value_t = 50, value_parser = crate::bench::args::count(1_000_000))]
    pub connections: usize,
    /// How long to run (ignored with -n).
    #[arg(short = 'd', long, value_parser = crate::bench::args::positive_duration, default_value = "10s")]
    pub duration: Duration,
    /// Total messages to send, over all connections (instead of -d).
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Message size in bytes (echo).
    #[arg(short = 's', long, default_value_t = 64, value_parser = crate::bench::args::count(crate::bench::args::MAX_SIZE))]
    pub size: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1, value_parser = crate::bench::args::count(crate::bench::args::MAX_PIPELINE))]
    pub pipeline: usize,
    /// Time to run before measuring.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Give up on a reply after this long (counted as a timeout error).
    #[arg(long, value_parser = crate::bench::args::positive_duration, default_value = "5s")]
    pub timeout: Duration,
    /// Connect, echo one message, close, again: reports connections/s.
    #[arg(long, conflicts_with_all = ["pipeline", "hold"])]
    pub connect_rate: bool,
    /// Open loop: R messages/s in total, spread evenly over the connections;
    /// latency is measured from each message's intended send time.
    #[arg(long, value_name = "R", value_parser = crate::bench::args::positive_rate,
          conflicts_with_all = ["pipeline", "connect_rate", "hold"])]
    pub rate: Option<f64>,
    /// Draw the latency distribution (percentile curve) as an SVG file.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "hold")]
    pub plot: Option<PathBuf>,
    /// Open N idle connections (one verified echo each) and hold them until
    /// -d passes or Ctrl-C: for measuring a server's memory per connection.
    #[arg(long, value_name = "N", value_parser = crate::bench::args::count(1_000_000),
          conflicts_with_all = ["connections", "messages", "pipeline", "warmup"])]
    pub hold: Option<usize>,
    /// Random printable ASCII payloads; over ws:// and wss:// sent as text
    /// messages (default: random bytes, binary messages).
    #[arg(long)]
    pub text: bool,
    /// Request/reply mode for the line services (random, daytime, counter):
    /// every message is TEXT as one request (a line on tcp, unix and tls, a
    /// datagram on udp, a text message on ws and wss) and must get exactly
    /// one reply that is not empty and does not start with ERR (otherwise
    /// counted as bad_reply). MB/s then counts the reply bytes received.
    /// Example: --request '1 6' against `duplex serve random`.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["size", "text", "hold"])]
    pub request: Option<String>,
    /// With --request: the server greets every new connection with one reply
    /// (daytime does); it is read and checked before the first request and
    /// not counted as a message. Not for udp://, which has no connections.
    #[arg(long, requires = "request")]
    pub greeting: bool,
    /// TLS (tls://, wss://): also trust the certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// TLS: do not verify the server's certificate (says so on stderr).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The command line, with the default of every option of `duplex serve`
/// added to its help from where the default is defined
/// ([`crate::options::defaults`]). Parsing, completions and man pages all
/// use this one definition.
pub fn command() -> clap::Command {
    Cli::command().mut_subcommand("serve", |mut serve| {
        for (key, value) in crate::options::defaults() {
            let shown = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                // Flags that are off, and lists that are empty, say so in
                // their own words.
                _ => continue,
            };
            serve = serve.mut_arg(key, |arg| {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                if help.contains("[default:") {
                    arg
                } else {
                    arg.help(format!("{help} [default: {shown}]"))
                }
            });
        }
        serve
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
