//! One listener (`duplex serve SERVICE URL…`, a `[[listener]]`): which
//! service runs where, with its own options. A service option given to
//! the wrong service is reported here, not silently ignored.

use clap::{Args, ValueEnum};
use serde::Deserialize;

use super::parse::{parse_endpoint, required};
use crate::endpoint::Endpoint;
use crate::server::ListenOptions;
use crate::service::{DaytimeFormat, RandomConfig};

/// The services `duplex serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    Echo,
    Daytime,
    Random,
    Counter,
}

impl ServiceName {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Echo => "echo",
            ServiceName::Daytime => "daytime",
            ServiceName::Random => "random",
            ServiceName::Counter => "counter",
        }
    }
}

/// One service and where it listens: `duplex serve SERVICE URL… [service
/// options]` and a `[[listener]]` table, which say the same thing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerOptions {
    /// The service to run.
    #[arg(value_enum, requires = "urls", conflicts_with = "config")]
    #[serde(deserialize_with = "required")]
    pub service: Option<ServiceName>,
    /// Endpoints to listen on, e.g. tcp://:7007 udp://127.0.0.1:7007 unix:///tmp/x.sock.
    #[arg(value_name = "URL", value_parser = parse_endpoint)]
    pub urls: Vec<Endpoint>,
    /// daytime: how the time is written.
    #[arg(long, value_enum, help_heading = "Service options")]
    pub format: Option<DaytimeFormat>,
    /// daytime: UTC instead of local time.
    #[arg(long, help_heading = "Service options")]
    #[serde(default)]
    pub utc: bool,
    /// daytime: send the time once and close (strict RFC 867).
    #[arg(long, help_heading = "Service options")]
    #[serde(default)]
    pub once: bool,
    /// random: smallest number of the server range.
    #[arg(long, allow_hyphen_values = true, help_heading = "Service options")]
    pub min: Option<i64>,
    /// random: largest number of the server range.
    #[arg(long, allow_hyphen_values = true, help_heading = "Service options")]
    pub max: Option<i64>,
    /// random: most numbers one request may ask for.
    #[arg(long, help_heading = "Service options")]
    pub max_count: Option<u64>,
    /// random: pick from this comma-separated list instead of a range.
    #[arg(long, value_delimiter = ',', help_heading = "Service options")]
    #[serde(default)]
    pub choices: Vec<String>,
    /// random: seed for reproducible numbers (tests); default is OS-seeded ChaCha.
    #[arg(long, help_heading = "Service options")]
    pub seed: Option<u64>,
    /// Share the port with other processes (SO_REUSEPORT) on tcp, udp, tls,
    /// ws and wss listeners, for several instances and rolling restarts.
    #[arg(long, help_heading = "Many instances")]
    #[serde(default)]
    pub reuse_port: bool,
    /// Every connection starts with a PROXY protocol header (v1 or v2) from a
    /// --trusted-proxy, naming the real client (tcp, unix, tls, ws, wss).
    #[arg(long, help_heading = "Many instances")]
    #[serde(default)]
    pub proxy_protocol: bool,
}

impl ListenerOptions {
    /// The service options given, each with the one service it is for.
    fn service_options(&self) -> impl Iterator<Item = (&'static str, ServiceName)> {
        use ServiceName::{Daytime, Random};
        [
            ("format", Daytime, self.format.is_some()),
            ("utc", Daytime, self.utc),
            ("once", Daytime, self.once),
            ("min", Random, self.min.is_some()),
            ("max", Random, self.max.is_some()),
            ("max-count", Random, self.max_count.is_some()),
            ("choices", Random, !self.choices.is_empty()),
            ("seed", Random, self.seed.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, owner, given)| given.then_some((name, owner)))
    }

    /// True when any service option is given.
    pub fn has_service_options(&self) -> bool {
        self.service_options().next().is_some()
    }

    /// Options given to a service they do not apply to are mistakes worth
    /// reporting, not silently ignoring.
    pub fn check(&self, service: ServiceName) -> anyhow::Result<()> {
        match self.service_options().find(|(_, owner)| *owner != service) {
            Some((name, owner)) => anyhow::bail!(
                "--{name} applies to the {} service only, not to {}",
                owner.as_str(),
                service.as_str()
            ),
            None => Ok(()),
        }
    }

    /// How this listener binds and accepts.
    pub fn listen_options(&self) -> ListenOptions {
        ListenOptions {
            reuse_port: self.reuse_port,
            proxy_protocol: self.proxy_protocol,
        }
    }

    /// The settings of the `random` service, over its defaults.
    pub fn random(&self) -> RandomConfig {
        let d = RandomConfig::default();
        RandomConfig {
            min: self.min.unwrap_or(d.min),
            max: self.max.unwrap_or(d.max),
            max_count: self.max_count.unwrap_or(d.max_count),
            choices: self.choices.clone(),
            seed: self.seed,
        }
    }
}
