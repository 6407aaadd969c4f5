//! Command-line definitions (clap derive). Parsing only: nothing here runs.
//!
//! The options of `duplex serve` are defined once, in [`crate::options`],
//! for the command line and the configuration file alike.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::endpoint::Endpoint;
use crate::options::{
    BridgeOptions, CounterOptions, LimitOptions, ListenerOptions, TlsOptions, WebSocketOptions,
};
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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service and its endpoints, with the service options.
    #[command(flatten)]
    pub listener: ListenerOptions,
    /// Run the listeners of this TOML file (see `duplex config`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub counter: CounterOptions,
}

#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// FROM, TO and the bridge options.
    #[command(flatten)]
    pub bridge: BridgeOptions,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// The flags of the runtime `serve` and `bridge` share: limits,
/// WebSocket settings, metrics and TLS.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    #[command(flatten)]
    pub limits: LimitOptions,
    #[command(flatten)]
    pub websocket: WebSocketOptions,
    /// Serve Prometheus metrics over HTTP at this tcp:// address (GET /metrics).
    #[arg(long, value_name = "URL", value_parser = parse_endpoint)]
    pub metrics: Option<Endpoint>,
    #[command(flatten)]
    pub tls: TlsOptions,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server, e.g. tcp://127.0.0.1:7007 (with --listen: where to
    /// listen, e.g. tcp://:7000).
    #[arg(value_parser = parse_endpoint)]
    pub url: Endpoint,
    /// Listen on URL and serve one client with stdin and stdout, then exit
    /// (nc -l).
    ///
    /// tcp, unix, tls (with --tls-cert and --tls-key) and udp. Over UDP the
    /// first datagram's sender is the peer, as with nc -lu; a datagram from
    /// another sender is printed too, and replies go to whoever sent last.
    /// The bound address is logged on stderr (port 0: the real port).
    #[arg(short = 'l', long, conflicts_with_all = ["zero_io", "ca", "insecure", "headers", "protocol"])]
    pub listen: bool,
    /// With --listen: after a client's session, listen for the next one
    /// (nc -k). Stdin is shared: once it has ended, later sessions get its
    /// end at once.
    #[arg(short = 'k', long, requires = "listen")]
    pub keep_listening: bool,
    /// With --listen on tls://: the certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// With --listen on tls://: the private key (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// Only check that the server is there, then exit 0 or 1 (nc -z).
    ///
    /// Connects, completes the TLS and WebSocket handshakes, and closes at
    /// once: exit 0 when that worked, 1 with one line on stderr when not.
    /// UDP has no connection: it sends one empty line ("\n") and waits
    /// --wait. A reply means open (0); an ICMP port unreachable means closed
    /// (1); silence means open or filtered, which UDP cannot tell apart (0,
    /// said on stderr).
    #[arg(short = 'z', long = "zero-io", conflicts_with_all = ["quit_after", "binary", "strip_newline"])]
    pub zero_io: bool,
    /// Give up connecting after this long [default: -w when given, else 10s].
    ///
    /// Covers the TLS and WebSocket handshakes too.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Give up (exit 1) after this long without data either way (nc -w).
    ///
    /// Data sent and data received both count. Also the connect timeout
    /// unless --timeout is given, as with nc -w. UDP: only until stdin
    /// ends; after that --wait decides. Default: never.
    #[arg(short = 'w', long, value_name = "DURATION", value_parser = positive_duration)]
    pub idle_timeout: Option<Duration>,
    /// Quit (exit 0) this long after stdin ends; also `-q SECS`, as nc
    /// spells it (`-q` without a duration stays the quiet flag).
    ///
    /// 0 quits at stdin EOF, once stdin's data is sent. Without it, TCP,
    /// Unix and TLS wait for the server to close (forever if it never
    /// does), UDP for --wait without a datagram, and WebSocket closes at
    /// once; with it, WebSocket keeps receiving until the time is up, then
    /// closes with 1000. Either way a session the server ends first ends
    /// then.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub quit_after: Option<Duration>,
    /// UDP: after stdin ends, exit once no datagram has come for this long.
    ///
    /// Also how long -z waits for an answer over UDP.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub wait: Duration,
    /// UDP: send each line without its line break.
    ///
    /// By default a datagram carries its line as read, "\n" (or "\r\n")
    /// included, as nc -u sends it; an empty line is the 1-byte datagram
    /// "\n". With this flag the line break is left out (an empty line is an
    /// empty datagram). WebSocket messages never carry the line break.
    #[arg(long)]
    pub strip_newline: bool,
    /// WebSocket: send binary messages instead of text.
    #[arg(long)]
    pub binary: bool,
    /// WebSocket: extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = header)]
    pub headers: Vec<String>,
    /// WebSocket: subprotocol to ask for.
    #[arg(long, value_parser = subprotocol)]
    pub protocol: Option<String>,
    /// WebSocket: offer permessage-deflate (RFC 7692); the server decides.
    ///
    /// duplex's client never keeps its compression context between
    /// messages (it says so in its offer), so its memory stays bounded.
    #[arg(long)]
    pub compress: bool,
    /// WebSocket: the largest message sent or accepted, in bytes (a
    /// compressed one: once inflated). A larger incoming message ends the
    /// session with close 1009 before it is inflated in full.
    #[arg(long, value_name = "BYTES", default_value_t = crate::client::ws::MAX_MESSAGE, value_parser = count(usize::MAX))]
    pub max_message: usize,
    /// TLS: also trust the certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// TLS: do not verify the server's certificate (says so on stderr).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
}

impl ConnectArgs {
    /// How `connect` reaches its server.
    pub fn dial_options(&self, max_message: usize) -> crate::dial::DialOptions {
        crate::dial::DialOptions {
            timeout: self.connect_timeout(),
            ca: self.ca.clone(),
            insecure: self.insecure,
            websocket: websocket_options(
                &self.headers,
                self.protocol.as_deref(),
                self.compress,
                max_message,
            ),
        }
    }

    /// `--timeout`, else `-w` (as `nc -w` bounds connecting too), else 10 s.
    pub fn connect_timeout(&self) -> Duration {
        self.timeout
            .or(self.idle_timeout)
            .unwrap_or(Duration::from_secs(10))
    }
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    /// The servers to load, e.g. tcp://127.0.0.1:7007. Several URLs share
    /// the connections round-robin and are reported apart and in total.
    #[arg(value_name = "URL", value_parser = parse_endpoint, required = true)]
    pub urls: Vec<Endpoint>,
    /// Concurrent connections (UDP: sockets), over all URLs.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = count(MAX_CONNECTIONS))]
    pub connections: usize,
    /// How long to measure (ignored with -n).
    #[arg(short = 'd', long, value_parser = positive_duration, default_value = "10s")]
    pub duration: Duration,
    /// Total messages to send, over all connections (instead of -d).
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Message size in bytes (echo).
    #[arg(short = 's', long, default_value_t = 64, value_parser = count(MAX_SIZE))]
    pub size: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1, value_parser = count(MAX_PIPELINE))]
    pub pipeline: usize,
    /// Time to run before measuring.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Give up on a reply after this long (counted as a timeout error).
    #[arg(long, value_parser = positive_duration, default_value = "5s")]
    pub timeout: Duration,
    /// Connect, echo one message, close, again: reports connections/s.
    #[arg(long, conflicts_with_all = ["pipeline", "hold"])]
    pub connect_rate: bool,
    /// Open loop: R messages/s in total, spread evenly over the connections;
    /// latency is measured from each message's intended send time.
    #[arg(long, value_name = "R", value_parser = positive_rate,
          conflicts_with_all = ["pipeline", "connect_rate", "hold"])]
    pub rate: Option<f64>,
    /// Open loop at R messages/s per connection (the same as --rate R×c).
    #[arg(long, value_name = "R", value_parser = positive_rate,
          conflicts_with_all = ["rate", "pipeline", "connect_rate", "hold"])]
    pub rate_per_conn: Option<f64>,
    /// Open the connections evenly over this time instead of all at once;
    /// the load starts on each as soon as it is open. The report says when
    /// the full count was reached.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
          conflicts_with_all = ["connect_rate", "hold"])]
    pub ramp_up: Option<Duration>,
    /// Close each connection after this long and open a new one in its
    /// place (connection churn, like tcpkali's --channel-lifetime).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
          conflicts_with_all = ["connect_rate", "hold"])]
    pub conn_lifetime: Option<Duration>,
    /// Latency sets to report, each as its own percentiles: connect (the
    /// connection and any handshake), first-byte (from the start of the
    /// connect to the first reply byte), rtt (each message's round trip).
    /// [default: rtt; with --connect-rate and --hold also connect]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SET,...")]
    pub latency: Vec<LatencySet>,
    /// Exit with status 3 when the result breaches this threshold
    /// (repeatable), e.g. 'p99>5ms', 'connect.p99>20ms', 'errors>0',
    /// 'rate<50000', 'mbps<100'.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
    /// Also measure this server process (its threads and child processes):
    /// CPU time per message over the measured window and, with --hold, its
    /// memory per held connection.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Draw the latency distribution (percentile curves) as an SVG file.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "hold")]
    pub plot: Option<PathBuf>,
    /// Open N idle connections (one verified echo each) and hold them until
    /// -d passes or Ctrl-C: for measuring a server's memory per connection.
    #[arg(long, value_name = "N", value_parser = count(MAX_CONNECTIONS),
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
    /// WebSocket: extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = header)]
    pub headers: Vec<String>,
    /// WebSocket: subprotocol to ask for (Sec-WebSocket-Protocol).
    #[arg(long, value_parser = subprotocol)]
    pub protocol: Option<String>,
    /// WebSocket: offer permessage-deflate (RFC 7692) on every connection,
    /// without keeping context between messages; the server decides.
    #[arg(long)]
    pub compress: bool,
    /// Payloads of JSON-like text (records with ids, names, dates and
    /// numbers), sent as text messages over ws:// and wss://: what
    /// compression is measured with (random payloads do not compress).
    #[arg(long, conflicts_with = "text")]
    pub json_text: bool,
    /// TLS (tls://, wss://): also trust the certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// TLS: do not verify the server's certificate (says so on stderr).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
    /// Print the result as one JSON object on stdout (with the latency
    /// histograms, for `duplex bench merge`).
    #[arg(long)]
    pub json: bool,
}

/// `duplex bench` subcommands.
#[derive(Debug, Subcommand, Clone)]
pub enum BenchCommand {
    /// Combine the --json reports of bench runs made at the same time (from
    /// several machines) into one report: rates and errors summed,
    /// percentiles from the merged histograms.
    #[command(after_help = "Example:
  duplex bench merge a.json b.json c.json --fail-if 'p99>5ms'")]
    Merge(MergeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// Reports written by `duplex bench URL --json`.
    #[arg(value_name = "REPORT.json", required = true)]
    pub files: Vec<PathBuf>,
    /// Print the merged result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Draw the merged latency distribution as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Exit with status 3 when the merged result breaches this threshold.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
}

/// A latency set of `duplex bench --latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencySet {
    Connect,
    FirstByte,
    Rtt,
}

/// Largest `-c` and `--hold`.
pub const MAX_CONNECTIONS: usize = 1_000_000;
/// Largest `-s`: 16 MiB.
pub const MAX_SIZE: usize = 16 << 20;
/// Largest `--pipeline`.
pub const MAX_PIPELINE: usize = 4096;
/// Largest `--rate`: one message per microsecond.
pub const MAX_RATE: f64 = 1e6;

/// A count from 1 to `max`.
fn count(max: usize) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=max as u64)
}

/// The WebSocket handshake options of `-H`, `--protocol` and `--compress`
/// (checked by clap already).
pub fn websocket_options(
    headers: &[String],
    protocol: Option<&str>,
    compress: bool,
    max_message: usize,
) -> crate::websocket::ClientOptions {
    let mut o = crate::websocket::ClientOptions::new(max_message, compress);
    o.headers = headers
        .iter()
        .filter_map(|h| crate::websocket::parse_header(h).ok())
        .collect();
    o.protocol = protocol.and_then(|p| hyper::header::HeaderValue::from_str(p).ok());
    o
}

/// `-H 'Name: value'`, checked as a request header duplex lets a user set.
fn header(s: &str) -> Result<String, String> {
    crate::websocket::parse_header(s).map(|_| s.to_string())
}

/// `--protocol`, checked as a header value.
fn subprotocol(s: &str) -> Result<String, String> {
    match hyper::header::HeaderValue::from_str(s) {
        Ok(_) if !s.trim().is_empty() => Ok(s.to_string()),
        _ => Err(format!("--protocol '{s}' is not a valid subprotocol")),
    }
}

/// A duration greater than zero.
fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        Err(format!(
            "'{s}' must be longer than zero (for example 500ms, 3s, 5m)"
        ))
    } else {
        Ok(d)
    }
}

/// A message rate: a number of messages per second above zero.
fn positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
        _ => Err(format!(
            "'{s}' is not a rate: give messages per second, above 0 and at most {MAX_RATE:.0}"
        )),
    }
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

/// nc's `-q SECS` after `connect`: `-q` followed by a duration becomes
/// `--quit-after`, while `-q` before anything that is not a duration stays
/// the global `--quiet`. clap cannot give one short flag two meanings, so
/// the arguments are rewritten before parsing.
pub fn nc_style_args<I>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    let mut out: Vec<std::ffi::OsString> = args.into_iter().collect();
    let mut in_connect = false;
    let mut i = 1;
    while i < out.len() {
        let arg = out[i].to_str().unwrap_or("");
        if !in_connect {
            match arg {
                // The one top-level option that takes a separate value.
                "--log-format" => i += 1,
                "connect" => in_connect = true,
                a if !a.starts_with('-') => return out,
                _ => {}
            }
        } else if arg == "--" {
            break;
        } else if arg == "-q"
            && out
                .get(i + 1)
                .and_then(|v| v.to_str())
                .is_some_and(|v| parse_duration(v).is_ok())
        {
            out[i] = "--quit-after".into();
            i += 1;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nc_style(args: &[&str]) -> Vec<String> {
        nc_style_args(args.iter().map(std::ffi::OsString::from))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn connect_takes_nc_style_dash_q_with_a_duration() {
        assert_eq!(
            nc_style(&["duplex", "connect", "-q", "1", "tcp://h:1"]),
            ["duplex", "connect", "--quit-after", "1", "tcp://h:1"]
        );
        assert_eq!(
            nc_style(&[
                "duplex",
                "-v",
                "--log-format",
                "json",
                "connect",
                "tcp://h:1",
                "-q",
                "0"
            ]),
            [
                "duplex",
                "-v",
                "--log-format",
                "json",
                "connect",
                "tcp://h:1",
                "--quit-after",
                "0"
            ]
        );
        // -q without a duration is --quiet, and other subcommands keep it.
        for args in [
            &["duplex", "connect", "-q", "tcp://h:1"][..],
            &["duplex", "-q", "connect", "tcp://h:1"],
            &["duplex", "serve", "echo", "tcp://:1", "-q", "1"],
            &["duplex", "connect", "tcp://h:1", "--", "-q", "1"],
        ] {
            assert_eq!(nc_style(args), args);
        }
    }

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
