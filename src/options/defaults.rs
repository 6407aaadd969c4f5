//! The default of every option, gathered for the help text and for
//! `duplex config`. Each default is defined once, next to the setting it
//! belongs to (in the server, the services, the WebSocket policy); this
//! only reads them, so the help, the template and the code cannot disagree.

use std::time::Duration;

use clap::ValueEnum;

use crate::server::{BridgePlan, Limits, StoreSettings};
use crate::service::{DaytimeFormat, RandomConfig};
use crate::websocket::Policy;

/// The default of every option that has one, by its key in the
/// configuration file (the flag is the key with dashes; `counter_key` is
/// `key` in the `[counter]` table, as `--counter-key`), written as TOML: read
/// from where each default is defined.
pub fn defaults() -> Vec<(&'static str, toml::Value)> {
    use toml::Value;
    let limits = Limits::default();
    let random = RandomConfig::default();
    let compression = Policy::default();
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    let duration = |d: Duration| Value::String(humantime::format_duration(d).to_string());
    let format = DaytimeFormat::default()
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string());
    vec![
        ("max_connections", int(limits.max_connections as u64)),
        ("idle_timeout", duration(limits.idle_timeout)),
        ("max_line", int(limits.max_line as u64)),
        ("max_message", int(limits.max_message as u64)),
        ("shutdown_timeout", duration(limits.shutdown_timeout)),
        (
            "ping_interval",
            limits.ping_interval.map_or(Value::Integer(0), duration),
        ),
        ("allowed_origins", Value::Array(Vec::new())),
        ("proxy_timeout", duration(limits.proxy_timeout)),
        ("proxy_max_header", int(limits.proxy_max_header as u64)),
        (
            "trusted_proxies",
            Value::Array(
                limits
                    .trusted_proxies
                    .iter()
                    .map(|n| Value::String(n.to_string()))
                    .collect(),
            ),
        ),
        ("compression", Value::String("on".into())),
        (
            "compression_context",
            Value::Boolean(compression.context_takeover),
        ),
        (
            "compression_window_bits",
            int(u64::from(compression.window_bits)),
        ),
        ("format", Value::String(format)),
        ("utc", Value::Boolean(false)),
        ("once", Value::Boolean(false)),
        ("min", Value::Integer(random.min)),
        ("max", Value::Integer(random.max)),
        ("max_count", int(random.max_count)),
        ("reuse_port", Value::Boolean(false)),
        ("proxy_protocol", Value::Boolean(false)),
        (
            "counter_key",
            Value::String(StoreSettings::DEFAULT_KEY.to_string()),
        ),
        ("counter_timeout", duration(StoreSettings::DEFAULT_TIMEOUT)),
        ("connect_timeout", duration(BridgePlan::CONNECT_TIMEOUT)),
        (
            "buffer_size",
            int(crate::relay::Settings::default().buffer as u64),
        ),
        ("wait", duration(BridgePlan::WAIT)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::bridge::BridgeOptions;
    use crate::options::counter::CounterOptions;
    use crate::options::limits::LimitOptions;
    use crate::options::listener::ListenerOptions;
    use crate::options::websocket::WebSocketOptions;

    /// Every default, written into a configuration file, is read back as
    /// that default: the keys are the file's own, the values the right type.
    #[test]
    fn every_default_is_a_key_of_the_file() {
        let mut limits = toml::Table::new();
        let mut websocket = toml::Table::new();
        let mut listener = toml::Table::new();
        let mut counter = toml::Table::new();
        counter.insert("store".into(), "redis://127.0.0.1:6379".into());
        listener.insert("service".into(), "echo".into());
        listener.insert("urls".into(), toml::Value::Array(Vec::new()));
        let mut bridge = toml::Table::new();
        bridge.insert("from".into(), "udp://127.0.0.1:1".into());
        bridge.insert("to".into(), "tcp://127.0.0.1:2".into());
        for (key, value) in defaults() {
            if let Some(key) = key.strip_prefix("counter_") {
                counter.insert(key.to_string(), value);
                continue;
            }
            let table = match key {
                "format" | "utc" | "once" | "min" | "max" | "max_count" | "reuse_port"
                | "proxy_protocol" => &mut listener,
                k if k.starts_with("compression") => &mut websocket,
                "connect_timeout" | "buffer_size" | "wait" => &mut bridge,
                _ => &mut limits,
            };
            table.insert(key.to_string(), value);
        }
        let limits: LimitOptions = limits.try_into().expect("limits");
        assert_eq!(
            limits.apply(Limits::default()).expect("valid"),
            Limits::default()
        );
        let websocket: WebSocketOptions = websocket.try_into().expect("websocket");
        assert_eq!(
            websocket.apply(None).expect("valid"),
            Some(Policy::default())
        );
        let listener: ListenerOptions = listener.try_into().expect("listener");
        assert_eq!(listener.random(), RandomConfig::default());
        let counter: CounterOptions = counter.try_into().expect("counter");
        let store = counter.settings().expect("valid").expect("a store");
        assert_eq!(store.key, StoreSettings::DEFAULT_KEY);
        assert_eq!(store.timeout, StoreSettings::DEFAULT_TIMEOUT);
        assert_eq!(listener.format, Some(DaytimeFormat::default()));
        let bridge: BridgeOptions = bridge.try_into().expect("bridge");
        bridge.check().expect("valid bridge");
        assert_eq!(bridge.connect_timeout, Some(BridgePlan::CONNECT_TIMEOUT));
        assert_eq!(bridge.wait, Some(BridgePlan::WAIT));
        assert_eq!(
            bridge.buffer_size,
            Some(crate::relay::Settings::default().buffer)
        );
    }
}
