//! What to serve: the command line, a TOML file, or the built-in default,
//! checked and merged into [`Settings`] (mistakes here are usage errors),
//! then built into the [`server::Plan`] the server runs (services made,
//! TLS files read).
//!
//! The built-in default is itself a TOML file (`src/default.toml`, printed by
//! `duplex config`), so the default and a user's edited copy go through the
//! same parser and can never drift apart. The values it states are filled in
//! from where each default is defined ([`crate::options::defaults`]).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;

use crate::activation::Activation;
use crate::cli::{BridgeArgs, RuntimeArgs, ServeArgs};
use crate::dial::DialOptions;
use crate::endpoint::Endpoint;
use crate::options::{
    BridgeOptions, CounterOptions, LimitOptions, ListenerOptions, ServiceName, TlsOptions,
    WebSocketOptions,
};
use crate::server::{self, BridgePlan, Limits, Listen, ServicePlan, StoreSettings};
use crate::service::{Counter, Daytime, Random, Service, Stats};
use crate::tls::TlsFiles;
use crate::websocket::{ClientOptions, Policy};

/// `src/default.toml`, with `{key}` where the default of `key` goes.
const DEFAULT_TEMPLATE: &str = include_str!("default.toml");

/// The column where the comments after filled-in values start.
const COMMENT_COLUMN: usize = 27;

/// The built-in default configuration, as `duplex config` prints it.
pub fn default_config() -> String {
    let defaults = crate::options::defaults();
    let mut text = String::with_capacity(DEFAULT_TEMPLATE.len());
    for line in DEFAULT_TEMPLATE.lines() {
        let mut line = line.to_string();
        for (key, value) in &defaults {
            let placeholder = format!("{{{key}}}");
            if line.contains(&placeholder) {
                line = line.replace(&placeholder, &value.to_string());
                if let Some((code, comment)) = line.split_once(" #") {
                    let code = code.trim_end();
                    line = format!("{code:<width$} #{comment}", width = COMMENT_COLUMN - 1);
                }
            }
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

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
fn build_service(l: &ListenerOptions, stats: &Arc<Stats>) -> anyhow::Result<Service> {
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

fn tls_files(o: &TlsOptions) -> Option<TlsFiles> {
    match (&o.tls_cert, &o.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    }
}

/// Reads and parses a configuration file.
pub fn load_file(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    parse(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

/// A configuration file: the same option structs as the command line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    limits: LimitOptions,
    #[serde(default)]
    websocket: WebSocketOptions,
    #[serde(default, rename = "listener")]
    listeners: Vec<toml::Spanned<ListenerOptions>>,
    #[serde(default, rename = "bridge")]
    bridges: Vec<toml::Spanned<BridgeOptions>>,
    tls: Option<TlsOptions>,
    metrics: Option<Endpoint>,
    counter: Option<CounterOptions>,
}

/// Parses configuration text. Errors carry the line and column.
pub fn parse(text: &str) -> anyhow::Result<Settings> {
    let file: File = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let limits = file.limits.apply(Limits::default())?;
    let compression = file.websocket.apply(Some(Policy::default()))?;
    if file.listeners.is_empty() && file.bridges.is_empty() {
        anyhow::bail!(
            "no [[listener]] and no [[bridge]]: add at least one, e.g.\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1:7007\"]"
        );
    }
    let mut listeners = Vec::new();
    for spanned in file.listeners {
        let (line, col) = line_col(text, spanned.span().start);
        let l = spanned.into_inner();
        let at = |e: anyhow::Error| anyhow::anyhow!("line {line}, column {col}: {e}");
        if l.urls.is_empty() {
            return Err(at(anyhow::anyhow!("listener has no urls")));
        }
        // Build once now so that bad settings (an empty range) are reported
        // with their position rather than at bind time.
        build_service(&l, &Stats::new()).map_err(at)?;
        listeners.push(l);
    }
    let mut bridges = Vec::new();
    for spanned in file.bridges {
        let (line, col) = line_col(text, spanned.span().start);
        let b = spanned.into_inner();
        b.check()
            .map_err(|e| anyhow::anyhow!("line {line}, column {col}: {e}"))?;
        bridges.push(b);
    }
    Ok(Settings {
        limits,
        compression,
        listeners,
        bridges,
        tls: file.tls.as_ref().and_then(tls_files),
        metrics: file.metrics,
        counter_store: file.counter.unwrap_or_default().settings()?,
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn default_config_parses_and_covers_every_service() {
        let plan = parse(&default_config()).expect("default config");
        let names: Vec<_> = plan.listeners.iter().filter_map(|l| l.service).collect();
        for s in [
            ServiceName::Echo,
            ServiceName::Daytime,
            ServiceName::Random,
            ServiceName::Counter,
        ] {
            assert!(names.contains(&s), "{s:?} missing");
        }
        for l in &plan.listeners {
            for u in &l.urls {
                if let Some(hp) = u.host_port() {
                    assert_eq!(hp.host.to_string(), "127.0.0.1", "{u} is not loopback");
                }
            }
        }
        assert_eq!(plan.limits, Limits::default());
        assert_eq!(plan.compression, Some(Policy::default()));
    }

    #[test]
    fn every_placeholder_of_the_default_is_filled() {
        let text = default_config();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(!line.contains('{'), "unfilled: {line}");
        }
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("should fail"))
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = error("[[listener]]\nservice = \"echo\"\nurls = [\"tcp://nope\"]\n");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("has no port"), "{e}");
        let e = error("[[listener]]\nservice = \"echo\"\nurls = [\"tcp://:1\"]\nbogus = 1\n");
        assert!(e.contains("line 4") && e.contains("bogus"), "{e}");
        let e = error("[[listener]]\nservice = \"teapot\"\nurls = [\"tcp://:1\"]\n");
        assert!(e.contains("line 2") && e.contains("teapot"), "{e}");
        let e = error("[[listener]]\nservice = \"echo\"\nurls = [\"tcp://:1\"]\nmin = 3\n");
        assert!(
            e.contains("line 1") && e.contains("--min applies to the random service"),
            "{e}"
        );
        let e =
            error("[[listener]]\nservice = \"random\"\nurls = [\"tcp://:1\"]\nmin = 3\nmax = 1\n");
        assert!(e.contains("greater than"), "{e}");
        let e = error(
            "[limits]\nidle_timeout = \"soon\"\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://:1\"]\n",
        );
        assert!(e.contains("idle_timeout"), "{e}");
        assert!(error("").contains("no [[listener]]"));
        let e = error("[[listener]]\nurls = [\"tcp://:1\"]\n");
        assert!(e.contains("service"), "{e}");
        let e = error(
            "[tls]\ncert = \"c.pem\"\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://:1\"]\n",
        );
        assert!(e.contains("key"), "{e}");
    }

    /// The commented `[[bridge]]` of the default configuration, uncommented,
    /// is a valid bridge beside the listeners.
    #[test]
    fn the_default_bridge_example_parses_when_uncommented() {
        let text = default_config();
        let example = text
            .lines()
            .skip_while(|l| !l.starts_with("# [[bridge]]"))
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(example.contains("[[bridge]]"), "{text}");
        let base: String = text
            .lines()
            .take_while(|l| !l.starts_with("# [[bridge]]"))
            .collect::<Vec<_>>()
            .join("\n");
        let settings = parse(&format!("{base}\n{example}\n")).expect("bridge example");
        assert_eq!(settings.bridges.len(), 1);
        assert_eq!(settings.listeners.len(), 4);
        let b = &settings.bridges[0];
        assert_eq!(b.connect_timeout, Some(BridgePlan::CONNECT_TIMEOUT));
        assert_eq!(b.wait, Some(BridgePlan::WAIT));
    }

    #[test]
    fn bridge_mistakes_have_line_and_column() {
        let e = error("[[bridge]]\nfrom = \"tcp://:1\"\n");
        assert!(e.contains("to"), "{e}");
        let e = error("[[bridge]]\nfrom = \"tcp://:1\"\nto = \"tcp://h:2\"\nlines = true\n");
        assert!(e.contains("line 1") && e.contains("--lines applies"), "{e}");
        let e = error("[[bridge]]\nfrom = \"tcp://:1\"\nto = \"tcp://h:2\"\nsend_proxy = \"v3\"\n");
        assert!(e.contains("line 4") && e.contains("v3"), "{e}");
        let only_bridges = parse("[[bridge]]\nfrom = \"tcp://:1\"\nto = \"unix:///x.sock\"\n")
            .expect("bridges alone are a configuration");
        assert!(only_bridges.listeners.is_empty());
    }

    #[test]
    fn durations_accept_text_and_numbers() {
        let p = parse("[limits]\nidle_timeout = 3\nshutdown_timeout = \"250ms\"\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://:1\"]\n")
            .expect("parse");
        assert_eq!(p.limits.idle_timeout, Duration::from_secs(3));
        assert_eq!(p.limits.shutdown_timeout, Duration::from_millis(250));
    }
}
