//! duplex: one binary that serves and speaks TCP, UDP, Unix domain sockets and
//! WebSocket.
//!
//! # Layout
//!
//! ```text
//! main.rs        thin: parse the command line, run, handle signals, map errors to exit codes
//! cli/           clap definitions: the top-level command, each subcommand's arguments
//! options/       every option of `duplex serve`, as flags and file keys at once, by group
//! config/        command line, TOML file or built-in default -> Settings -> server::Plan
//! activation.rs  fd: URLs -> the sockets the service manager passed (socket activation)
//! systemd.rs     LISTEN_FDS and NOTIFY_SOCKET: the service manager's protocols
//! endpoint.rs    URL parsing and Display: one enum for every transport
//! proxy_header.rs  PROXY protocol v1/v2 headers: parsing a buffer (sans I/O)
//! service/       echo, daytime, random, counter: transport-independent
//! server/        run(plan, shutdown): listeners per transport over one shared runtime
//!                (connection limit, idle timeout, graceful shutdown)
//! client/        `duplex connect`: stdin/stdout pump per transport; `--listen`
//! relay/         relaying between two peers, byte streams or message peers
//!                (`duplex bridge`, run by `server`)
//! dial.rs        reaching a server (connect, bench, bridge): resolve, tcp, unix,
//!                udp, tls, ws, wss, one set of error messages
//! websocket/     the one WebSocket stack (yawc) with permessage-deflate
//! tls.rs         rustls settings for servers and clients, `duplex cert`
//! timer.rs       deadlines and watched waits that cost nothing per message
//! bench/         `duplex bench`: load generator, histograms, report
//! man.rs         `duplex man`: man pages from the clap definitions
//! logging.rs     logs on stderr, text or JSON
//! sys.rs         the few system calls std lacks, through rustix
//! ```
//!
//! Modules depend in one direction: `main` on the rest; `config` on
//! `options`, `server` and `service`; `server` on `service`, `relay`,
//! `websocket` and `dial`; `client` and `bench` on `dial` and `websocket`,
//! never the other way; `client`'s `--listen` binds through
//! `server::bound`. docs/behaviour.md describes what duplex does, in the
//! terms the tests use.
//!
//! A service never knows which transport carries it, and a transport never
//! knows which service it carries: transports frame requests and hand them to
//! [`service::handle_request`]; echo is the one service that is a property of
//! the pipe rather than of requests, and each transport reflects bytes in its
//! own cheapest way.

pub mod activation;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod dial;
pub mod endpoint;
pub mod logging;
pub mod man;
pub mod options;
pub mod proxy_header;
pub mod relay;
pub mod server;
pub mod service;
pub mod sys;
pub mod systemd;
pub mod timer;
pub mod tls;
pub mod websocket;
