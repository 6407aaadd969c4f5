//! How an option's value is read, from a flag or from the configuration
//! file alike: durations, CIDR blocks and endpoint URLs mean the same in
//! both places because both go through the same parser here. Every option
//! group uses these, and none of them uses a group, so they sit apart.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::endpoint::Endpoint;

/// Parses an endpoint URL for clap: a bad URL is a usage error (exit 2).
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    s.parse::<Endpoint>().map_err(|e| e.to_string())
}

/// Parses a `--trusted-proxy`: a CIDR block (`10.0.0.0/8`, `fd00::/8`) or
/// one address (`10.0.0.7`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an address or CIDR block (for example 10.0.0.0/8)"))
}

/// `--trusted-proxy` values in a configuration file.
pub(super) fn cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_cidr(s))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// Parses `500ms`, `3s`, `5m`, `1h`, or a bare number of seconds (`2.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("'{s}' is not a duration (for example 500ms, 3s, 5m)"));
    }
    humantime::parse_duration(t)
        .map_err(|_| format!("'{s}' is not a duration (for example 500ms, 3s, 5m)"))
}

/// A duration in a configuration file: `"500ms"`, `"5m"`, or a number of
/// seconds.
pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Seconds(u64),
        Fraction(f64),
    }
    let parsed = match Written::deserialize(d)? {
        Written::Text(s) => parse_duration(&s),
        Written::Seconds(s) => Ok(Duration::from_secs(s)),
        Written::Fraction(f) => {
            Duration::try_from_secs_f64(f).map_err(|_| format!("{f} is not a duration"))
        }
    };
    parsed.map(Some).map_err(serde::de::Error::custom)
}

/// A key the configuration file must have, held in an `Option` because the
/// command line may leave it out.
pub(super) fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
