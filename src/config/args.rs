//! The flags laid over what a file (or the built-in default) says: one
//! merge, `Settings::apply_flags`, for the runtime flags `serve` and
//! `bridge` share, so the two commands cannot treat a flag differently.

use anyhow::Context;

use super::file::{load_file, parse};
use super::settings::{Settings, tls_files};
use super::template::default_config;
use crate::cli::{BridgeArgs, RuntimeArgs, ServeArgs};
use crate::endpoint::Endpoint;
use crate::options::CounterOptions;
use crate::server::Limits;
use crate::websocket::Policy;

/// The settings of `duplex serve` with these arguments: a service and its
/// URLs, a configuration file, or the built-in default, with the limit,
/// TLS and metrics flags over what the file says.
pub fn from_args(args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut settings = match (&args.config, args.listener.service) {
        (Some(path), _) => {
            if args.listener.has_service_options() {
                anyhow::bail!("with --config, service options belong in the configuration file");
            }
            load_file(path)?
        }
        (None, Some(service)) => {
            args.listener.check(service)?;
            Settings {
                limits: Limits::default(),
                compression: Some(Policy::default()),
                listeners: vec![args.listener.clone()],
                bridges: Vec::new(),
                tls: None,
                metrics: None,
                counter_store: None,
            }
        }
        (None, None) => {
            if args.listener.has_service_options() {
                anyhow::bail!(
                    "service options need a service: duplex serve SERVICE URL… [options]"
                );
            }
            parse(&default_config()).context("the built-in configuration")?
        }
    };
    // Given as flags next to a file (or the default), these apply to every
    // listener.
    for l in &mut settings.listeners {
        l.reuse_port |= args.listener.reuse_port;
        l.proxy_protocol |= args.listener.proxy_protocol;
    }
    settings.apply_flags(&args.runtime)?;
    let file_counter = settings.counter_store.take().map(|s| CounterOptions {
        counter_store: Some(s.url),
        counter_key: Some(s.key),
        counter_timeout: Some(s.timeout),
    });
    settings.counter_store = args
        .counter
        .over(&file_counter.unwrap_or_default())
        .settings()?;
    Ok(settings)
}

/// The settings of `duplex bridge FROM TO`: one bridge, with the limit,
/// TLS and metrics flags.
pub fn from_bridge_args(args: &BridgeArgs) -> anyhow::Result<Settings> {
    args.bridge.check()?;
    if args.runtime.limits.max_line.is_some() {
        anyhow::bail!("--max-line applies to the line services, not to bridges");
    }
    let mut settings = Settings {
        limits: Limits::default(),
        compression: Some(Policy::default()),
        listeners: Vec::new(),
        bridges: vec![args.bridge.clone()],
        tls: None,
        metrics: None,
        counter_store: None,
    };
    settings.apply_flags(&args.runtime)?;
    Ok(settings)
}

impl Settings {
    /// The limit, `--metrics` and TLS flags over what the file (or the
    /// defaults) said.
    fn apply_flags(&mut self, runtime: &RuntimeArgs) -> anyhow::Result<()> {
        let RuntimeArgs {
            limits,
            websocket,
            metrics,
            tls,
        } = runtime;
        self.limits = limits.apply(self.limits.clone())?;
        self.compression = websocket.apply(self.compression)?;
        if let Some(m) = metrics {
            self.metrics = Some(m.clone());
        }
        if let Some(m) = &self.metrics
            && !matches!(m, Endpoint::Tcp(_))
        {
            anyhow::bail!("--metrics takes a tcp:// address, e.g. tcp://127.0.0.1:9090 (not {m})");
        }
        if let Some(files) = tls_files(tls) {
            self.tls = Some(files);
        }
        Ok(())
    }
}
