//! The arguments of the two subcommands that run a server: `serve` (services)
//! and `bridge` (relays). Both run the same runtime, so its flags are one
//! struct, [`RuntimeArgs`], flattened into each and merged by one function
//! (`config`'s `apply_flags`).

use std::path::PathBuf;

use clap::Args;

use crate::endpoint::Endpoint;
use crate::options::{
    BridgeOptions, CounterOptions, LimitOptions, ListenerOptions, TlsOptions, WebSocketOptions,
    parse_endpoint,
};

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
