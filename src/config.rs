//! What to serve: the command line, a TOML file, or the built-in default,
//! all turned into one [`Plan`].
//!
//! The built-in default is itself a TOML file (`src/default.toml`, printed by
//! `duplex config`), so the default and a user's edited copy go through the
//! same parser and can never drift apart.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::cli::{LimitArgs, ServeArgs, ServiceName, ServiceOpts};
use crate::endpoint::Endpoint;
use crate::server::Limits;
use crate::service::{Counter, Daytime, Random, RandomConfig, Service, Stats};
use crate::tls::TlsFiles;

/// The built-in default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Everything `duplex serve` will run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub limits: Limits,
    pub listeners: Vec<ListenerPlan>,
    /// Certificate and key for tls:// and wss:// listeners.
    pub tls: Option<TlsFiles>,
    /// Where to serve Prometheus metrics (besides `/metrics` on every
    /// WebSocket listener).
    pub metrics: Option<Endpoint>,
}

/// One service on one or more endpoints.
#[derive(Debug, Clone)]
pub struct ListenerPlan {
    pub service: ServiceName,
    pub options: ServiceOpts,
    pub urls: Vec<Endpoint>,
}

impl ListenerPlan {
    /// Builds the service. `stats` is shared by every service of the process
    /// (the counter reads it).
    pub fn build(&self, stats: &Arc<Stats>) -> anyhow::Result<Service> {
        let o = &self.options;
        check_options(self.service, o)?;
        Ok(match self.service {
            ServiceName::Echo => Service::Echo,
            ServiceName::Counter => Service::Line(Arc::new(Counter::new(stats.clone()))),
            ServiceName::Daytime => Service::Line(Arc::new(Daytime::new(
                o.format.unwrap_or_default(),
                o.utc,
                o.once,
            ))),
            ServiceName::Random => {
                let d = RandomConfig::default();
                let cfg = RandomConfig {
                    min: o.min.unwrap_or(d.min),
                    max: o.max.unwrap_or(d.max),
                    max_count: o.max_count.unwrap_or(d.max_count),
                    choices: o.choices.clone(),
                    seed: o.seed,
                };
                Service::Line(Arc::new(
                    Random::new(cfg).map_err(|e| anyhow::anyhow!("random: {e}"))?,
                ))
            }
        })
    }
}

/// Options given to a service they do not apply to are mistakes worth
/// reporting, not silently ignoring.
fn check_options(service: ServiceName, o: &ServiceOpts) -> anyhow::Result<()> {
    let daytime = [
        ("format", o.format.is_some()),
        ("utc", o.utc),
        ("once", o.once),
    ];
    let random = [
        ("min", o.min.is_some()),
        ("max", o.max.is_some()),
        ("max-count", o.max_count.is_some()),
        ("choices", !o.choices.is_empty()),
        ("seed", o.seed.is_some()),
    ];
    let misplaced = |opts: &[(&str, bool)], owner: &str| -> anyhow::Result<()> {
        if let Some((name, _)) = opts.iter().find(|(_, set)| *set) {
            anyhow::bail!(
                "--{name} applies to the {owner} service only, not to {}",
                service_str(service)
            );
        }
        Ok(())
    };
    if service != ServiceName::Daytime {
        misplaced(&daytime, "daytime")?;
    }
    if service != ServiceName::Random {
        misplaced(&random, "random")?;
    }
    Ok(())
}

fn service_str(s: ServiceName) -> &'static str {
    match s {
        ServiceName::Echo => "echo",
        ServiceName::Daytime => "daytime",
        ServiceName::Random => "random",
        ServiceName::Counter => "counter",
    }
}

/// The plan for `duplex serve` with these arguments.
pub fn plan_from_args(args: &ServeArgs) -> anyhow::Result<Plan> {
    let mut plan = match (&args.config, args.service) {
        (Some(path), _) => {
            if args_have_service_options(&args.service_opts) {
                anyhow::bail!("with --config, service options belong in the configuration file");
            }
            load_file(path)?
        }
        (None, Some(service)) => Plan {
            limits: Limits::default(),
            listeners: vec![ListenerPlan {
                service,
                options: args.service_opts.clone(),
                urls: args.urls.clone(),
            }],
            tls: None,
            metrics: None,
        },
        (None, None) => {
            if args_have_service_options(&args.service_opts) {
                anyhow::bail!(
                    "service options need a service: duplex serve SERVICE URL… [options]"
                );
            }
            parse(DEFAULT_CONFIG).context("the built-in configuration")?
        }
    };
    apply_limit_args(&mut plan.limits, &args.limits)?;
    if let Some(m) = &args.metrics {
        plan.metrics = Some(m.clone());
    }
    if let Some(m) = &plan.metrics
        && !matches!(m, Endpoint::Tcp(_))
    {
        anyhow::bail!("--metrics takes a tcp:// address, e.g. tcp://127.0.0.1:9090 (not {m})");
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        plan.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    Ok(plan)
}

fn args_have_service_options(o: &ServiceOpts) -> bool {
    o.format.is_some()
        || o.utc
        || o.once
        || o.min.is_some()
        || o.max.is_some()
        || o.max_count.is_some()
        || !o.choices.is_empty()
        || o.seed.is_some()
}

fn apply_limit_args(l: &mut Limits, a: &LimitArgs) -> anyhow::Result<()> {
    if let Some(v) = a.max_connections {
        l.max_connections = v;
    }
    if let Some(v) = a.idle_timeout {
        l.idle_timeout = v;
    }
    if let Some(v) = a.max_line {
        l.max_line = v;
    }
    if let Some(v) = a.max_message {
        l.max_message = v;
    }
    if let Some(v) = a.shutdown_timeout {
        l.shutdown_timeout = v;
    }
    if !a.allowed_origins.is_empty() {
        l.allowed_origins = a.allowed_origins.clone();
    }
    if let Some(v) = a.ping_interval {
        l.ping_interval = (!v.is_zero()).then_some(v);
    }
    validate_limits(l)
}

fn validate_limits(l: &Limits) -> anyhow::Result<()> {
    if l.max_connections == 0 {
        anyhow::bail!("max-connections must be at least 1");
    }
    if l.max_line == 0 {
        anyhow::bail!("max-line must be at least 1");
    }
    if l.max_message == 0 {
        anyhow::bail!("max-message must be at least 1");
    }
    if l.idle_timeout.is_zero() {
        anyhow::bail!("idle-timeout must be longer than 0");
    }
    Ok(())
}

/// Reads and parses a configuration file.
pub fn load_file(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    parse(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    limits: FileLimits,
    #[serde(default, rename = "listener")]
    listeners: Vec<toml::Spanned<FileListener>>,
    tls: Option<FileTls>,
    metrics: Option<Endpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_connections: Option<usize>,
    idle_timeout: Option<FileDuration>,
    max_line: Option<usize>,
    max_message: Option<usize>,
    shutdown_timeout: Option<FileDuration>,
    ping_interval: Option<FileDuration>,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileListener {
    service: ServiceName,
    urls: Vec<Endpoint>,
    format: Option<crate::service::DaytimeFormat>,
    #[serde(default)]
    utc: bool,
    #[serde(default)]
    once: bool,
    min: Option<i64>,
    max: Option<i64>,
    max_count: Option<u64>,
    #[serde(default)]
    choices: Vec<String>,
    seed: Option<u64>,
}

/// `"500ms"`, `"5m"`, or a number of seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileDuration {
    Text(String),
    Seconds(u64),
    Fraction(f64),
}

impl FileDuration {
    fn get(&self, name: &str) -> anyhow::Result<Duration> {
        match self {
            FileDuration::Text(s) => {
                crate::cli::parse_duration(s).map_err(|e| anyhow::anyhow!("limits.{name}: {e}"))
            }
            FileDuration::Seconds(s) => Ok(Duration::from_secs(*s)),
            FileDuration::Fraction(f) => Duration::try_from_secs_f64(*f)
                .map_err(|_| anyhow::anyhow!("limits.{name}: {f} is not a duration")),
        }
    }
}

/// Parses configuration text. Errors carry the line and column.
pub fn parse(text: &str) -> anyhow::Result<Plan> {
    let file: FileConfig = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let d = Limits::default();
    let fl = &file.limits;
    let limits = Limits {
        max_connections: fl.max_connections.unwrap_or(d.max_connections),
        idle_timeout: fl
            .idle_timeout
            .as_ref()
            .map(|x| x.get("idle_timeout"))
            .transpose()?
            .unwrap_or(d.idle_timeout),
        max_line: fl.max_line.unwrap_or(d.max_line),
        max_message: fl.max_message.unwrap_or(d.max_message),
        shutdown_timeout: fl
            .shutdown_timeout
            .as_ref()
            .map(|x| x.get("shutdown_timeout"))
            .transpose()?
            .unwrap_or(d.shutdown_timeout),
        ping_interval: fl
            .ping_interval
            .as_ref()
            .map(|x| x.get("ping_interval"))
            .transpose()?
            .filter(|d| !d.is_zero()),
        allowed_origins: fl.allowed_origins.clone(),
    };
    validate_limits(&limits)?;
    if file.listeners.is_empty() {
        anyhow::bail!(
            "no [[listener]]: add at least one, e.g.\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1:7007\"]"
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
        let plan = ListenerPlan {
            service: l.service,
            options: ServiceOpts {
                format: l.format,
                utc: l.utc,
                once: l.once,
                min: l.min,
                max: l.max,
                max_count: l.max_count,
                choices: l.choices,
                seed: l.seed,
            },
            urls: l.urls,
        };
        check_options(plan.service, &plan.options).map_err(at)?;
        // Build once now so that bad settings (an empty range) are reported
        // with their position rather than at bind time.
        plan.build(&Stats::new()).map_err(at)?;
        listeners.push(plan);
    }
    let tls = file.tls.map(|t| TlsFiles {
        cert: t.cert,
        key: t.key,
    });
    Ok(Plan {
        limits,
        listeners,
        tls,
        metrics: file.metrics,
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

    #[test]
    fn default_config_parses_and_covers_every_service() {
        let plan = parse(DEFAULT_CONFIG).expect("default config");
        let names: Vec<_> = plan.listeners.iter().map(|l| l.service).collect();
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
    }

    #[test]
    fn durations_accept_text_and_numbers() {
        let p = parse("[limits]\nidle_timeout = 3\nshutdown_timeout = \"250ms\"\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://:1\"]\n")
            .expect("parse");
        assert_eq!(p.limits.idle_timeout, Duration::from_secs(3));
        assert_eq!(p.limits.shutdown_timeout, Duration::from_millis(250));
    }
}
