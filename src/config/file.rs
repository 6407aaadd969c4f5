//! A configuration file read into [`Settings`]: the same option structs as
//! the command line, deserialized, then checked one listener and one bridge
//! at a time so that every mistake names its line and column.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use super::settings::{Settings, build_service, tls_files};
use crate::endpoint::Endpoint;
use crate::options::{
    BridgeOptions, CounterOptions, LimitOptions, ListenerOptions, TlsOptions, WebSocketOptions,
};
use crate::server::Limits;
use crate::service::Stats;
use crate::websocket::Policy;

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
