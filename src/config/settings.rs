//! The checked settings of one `duplex serve` or `duplex bridge`, and how
//! they become the plan the server runs. Building is the one step that
//! touches the outside (TLS files, sockets passed by systemd), so it comes
//! last, once every usage error has been reported.

use std::sync::Arc;

use crate::activation::Activation;
use crate::dial::DialOptions;
use crate::endpoint::Endpoint;
use crate::options::{BridgeOptions, ListenerOptions, ServiceName, TlsOptions};
use crate::server::{self, BridgePlan, Limits, Listen, ServicePlan, StoreSettings};
use crate::service::{Counter, Daytime, Random, Service, Stats};
use crate::tls::TlsFiles;
use crate::websocket::{ClientOptions, Policy};

/// Everything `duplex serve` was asked to run, checked, nothing built yet.
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    /// permessage-deflate for WebSocket clients that offer it (`None`: off).
    pub compression: Option<Policy>,
    /// Each with its service set and at least one URL.
    pub listeners: Vec<ListenerOptions>,
    /// Each checked ([`BridgeOptions::check`]).
    pub bridges: Vec<BridgeOptions>,
    /// Certificate and key for tls:// and wss:// listeners.
    pub tls: Option<TlsFiles>,
    /// Where to serve Prometheus metrics (besides `/metrics` on every
    /// WebSocket listener).
    pub metrics: Option<Endpoint>,
    /// Where `counter` keeps its count (`None`: in this process).
    pub counter_store: Option<StoreSettings>,
}

impl Settings {
    /// Builds what the server runs: reads the TLS files, takes the sockets
    /// `fd:` URLs name, and makes every service, all sharing one client
    /// count. Call it before any thread starts (see
    /// [`Activation::from_env`]).
    pub fn build(self) -> anyhow::Result<server::Plan> {
        let tls = self
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()?;
        let stats = match self.counter_store {
            Some(_) => Stats::shared(),
            None => Stats::new(),
        };
        let mut activation = Activation::from_env();
        let mut services = Vec::new();
        for l in &self.listeners {
            let mut listen = Vec::new();
            for url in &l.urls {
                listen.extend(activation.listen(url.clone())?);
            }
            services.push(ServicePlan {
                service: build_service(l, &stats)?,
                listen,
                options: l.listen_options(),
            });
        }
        let mut bridges = Vec::new();
        for b in &self.bridges {
            let (from, _) = b.check()?;
            for from in activation.listen(from.clone())? {
                bridges.push(build_bridge(
                    b,
                    from,
                    &self.limits,
                    self.compression.is_some(),
                )?);
            }
        }
        activation.finish();
        Ok(server::Plan {
            limits: self.limits,
            compression: self.compression,
            stats,
            services,
            bridges,
            tls,
            metrics: self.metrics,
            counter_store: self.counter_store,
            notify: crate::systemd::notify_socket_set(),
        })
    }
}

/// Makes the plan of a bridge: its defaults filled in, and how its TO is
/// dialled (the TLS client settings are built, and `--insecure` said on
/// stderr, when the bridge starts).
fn build_bridge(
    b: &BridgeOptions,
    from: Listen,
    limits: &Limits,
    compression: bool,
) -> anyhow::Result<BridgePlan> {
    let (_, to) = b.check()?;
    let defaults = crate::relay::Settings::default();
    Ok(BridgePlan {
        from,
        options: b.listen_options(),
        to: to.clone(),
        dial: DialOptions {
            timeout: b.connect_timeout.unwrap_or(BridgePlan::CONNECT_TIMEOUT),
            ca: b.ca.clone(),
            insecure: b.insecure,
            websocket: ClientOptions::new(limits.max_message, compression),
        },
        send_proxy: b.send_proxy,
        relay: crate::relay::Settings {
            buffer: b.buffer_size.unwrap_or(defaults.buffer),
            lines: b.lines,
            text: b.text,
        },
        wait: b.wait.unwrap_or(BridgePlan::WAIT),
    })
}

/// Makes the service of a listener. `stats` is shared by every service of
/// the process (the counter reads it).
pub(super) fn build_service(l: &ListenerOptions, stats: &Arc<Stats>) -> anyhow::Result<Service> {
    let Some(service) = l.service else {
        anyhow::bail!("a listener needs a service");
    };
    l.check(service)?;
    Ok(match service {
        ServiceName::Echo => Service::Echo,
        ServiceName::Counter => Service::Line(Arc::new(Counter::new(stats.clone()))),
        ServiceName::Daytime => Service::Line(Arc::new(Daytime::new(
            l.format.unwrap_or_default(),
            l.utc,
            l.once,
        ))),
        ServiceName::Random => Service::Line(Arc::new(
            Random::new(l.random()).map_err(|e| anyhow::anyhow!("random: {e}"))?,
        )),
    })
}

pub(super) fn tls_files(o: &TlsOptions) -> Option<TlsFiles> {
    match (&o.tls_cert, &o.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    }
}
