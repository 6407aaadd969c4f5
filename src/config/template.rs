//! `duplex config`: the built-in default configuration, a commented TOML
//! template with each default filled in from where it is defined, so the
//! printed file can never state a default the code does not have.

/// `src/default.toml`, with `{key}` where the default of `key` goes.
const DEFAULT_TEMPLATE: &str = include_str!("../default.toml");

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::parse;
    use crate::options::ServiceName;
    use crate::server::{BridgePlan, Limits};
    use crate::websocket::Policy;

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
}
