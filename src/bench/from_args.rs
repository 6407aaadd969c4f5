//! Raw `duplex bench` arguments become checked [`Settings`] once: every
//! combination clap cannot check is tested here (with `checks.rs`) and comes
//! back as a [`UsageError`], which `main` alone turns into exit status 2.

use super::checks;
use super::settings::{Content, Load, Mode, Payload, Sets, Settings, Task};
use super::threshold::Threshold;
use super::usage::{UsageError, usage};
use crate::cli::{BenchArgs, BenchCommand, LatencySet};

impl Settings {
    /// Checks the arguments; a bad combination is a [`UsageError`].
    pub fn from_args(args: &BenchArgs) -> Result<Settings, UsageError> {
        if let Some(BenchCommand::Merge(m)) = &args.command {
            return Ok(Settings {
                task: Task::Merge(m.files.clone()),
                sets: Sets {
                    rtt: true,
                    ..Sets::default()
                },
                thresholds: thresholds(&m.fail_if)?,
                json: m.json,
                plot: m.plot.clone(),
            });
        }
        let load = load(args)?;
        let mut sets = Sets::default();
        for s in &args.latency {
            match s {
                LatencySet::Connect => sets.connect = true,
                LatencySet::FirstByte => sets.first_byte = true,
                LatencySet::Rtt => sets.rtt = true,
            }
        }
        if args.latency.is_empty() {
            sets.rtt = true;
            sets.connect = matches!(load.mode, Mode::Connect | Mode::Hold);
        }
        Ok(Settings {
            task: Task::Load(Box::new(load)),
            sets,
            thresholds: thresholds(&args.fail_if)?,
            json: args.json,
            plot: args.plot.clone(),
        })
    }
}

fn thresholds(exprs: &[String]) -> Result<Vec<Threshold>, UsageError> {
    exprs.iter().map(|e| e.parse()).collect()
}

fn load(args: &BenchArgs) -> Result<Load, UsageError> {
    let mode = if args.hold.is_some() {
        Mode::Hold
    } else if args.connect_rate {
        Mode::Connect
    } else if args.rate.is_some() || args.rate_per_conn.is_some() {
        Mode::Rate
    } else {
        Mode::Closed
    };
    let connections = args.hold.unwrap_or(args.connections);
    let payload = match &args.request {
        Some(text) => Payload::Request {
            text: text.clone(),
            greeting: args.greeting,
        },
        None => Payload::Echo {
            content: match (args.text, args.json_text) {
                (_, true) => Content::Json,
                (true, false) => Content::Text,
                (false, false) => Content::Binary,
            },
        },
    };
    let rate = match (args.rate, args.rate_per_conn) {
        (Some(r), _) => Some(r),
        (None, Some(r)) => Some(r * connections as f64),
        (None, None) => None,
    };
    let pipeline = if matches!(mode, Mode::Closed) {
        args.pipeline
    } else {
        1
    };
    let load = Load {
        targets: args.urls.clone(),
        mode,
        connections,
        duration: args.duration,
        messages: args.messages,
        size: args.request.as_ref().map_or(args.size, String::len),
        pipeline,
        warmup: args.warmup,
        timeout: args.timeout,
        rate,
        rate_per_conn: args.rate_per_conn,
        ramp_up: args.ramp_up,
        conn_lifetime: args.conn_lifetime,
        payload,
        handshake: checks::handshake(args),
        ca: args.ca.clone(),
        insecure: args.insecure,
        server_pid: args.server_pid,
    };
    checks::batch(&load, args.pipeline)?;
    checks::targets(&load)?;
    checks::shape(&load)?;
    if let Some(pid) = load.server_pid
        && !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
    {
        return usage(format!(
            "--server-pid {pid}: no such process (give the PID of the running server, e.g. $(pidof duplex))"
        ));
    }
    Ok(load)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<Settings, UsageError> {
        let mut all = vec!["duplex", "bench"];
        all.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(all).map_err(|e| UsageError(e.to_string()))?;
        match cli.command {
            crate::cli::Command::Bench(b) => Settings::from_args(&b),
            _ => usage("not bench"),
        }
    }

    fn load(args: &[&str]) -> Load {
        match settings(args).map(|s| s.task) {
            Ok(Task::Load(l)) => *l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_per_conn_is_a_total_rate_and_modes_are_typed() {
        let l = load(&["tcp://127.0.0.1:9", "-c", "4", "--rate-per-conn", "10"]);
        assert_eq!((l.mode, l.rate, l.pipeline), (Mode::Rate, Some(40.0), 1));
        assert_eq!(load(&["tcp://127.0.0.1:9", "--hold", "7"]).connections, 7);
        assert_eq!(
            load(&["tcp://127.0.0.1:9", "--connect-rate"]).mode,
            Mode::Connect
        );
    }

    #[test]
    fn combinations_clap_cannot_check_are_usage_errors() {
        let bad: &[(&[&str], &str)] = &[
            (&["udp://127.0.0.1:9", "-s", "70000"], "UDP datagram"),
            (&["tcp://127.0.0.1:9", "-H", "x: y"], "ws:// and wss://"),
            (&["ws://127.0.0.1:9/", "-H", "novalue"], "Name: value"),
            (&["ws://127.0.0.1:9/", "-H", "Host: x"], "handshake"),
            (&["tcp://127.0.0.1:9", "--fail-if", "p99>5"], "unit"),
            (&["tcp://a:1", "tcp://b:1", "-c", "1"], "each URL"),
            (&["tcp://a:1", "--ramp-up", "5s", "-d", "2s"], "must end"),
        ];
        for (args, want) in bad {
            let e = settings(args).err().unwrap_or_else(|| panic!("{args:?}"));
            assert!(e.0.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn latency_sets_default_by_mode() {
        let s = settings(&["tcp://127.0.0.1:9"]).map(|s| s.sets);
        assert_eq!(
            s,
            Ok(Sets {
                rtt: true,
                ..Sets::default()
            })
        );
        let s = settings(&["tcp://127.0.0.1:9", "--latency", "connect,first-byte"]);
        assert_eq!(
            s.map(|s| s.sets),
            Ok(Sets {
                connect: true,
                first_byte: true,
                rtt: false
            })
        );
    }
}
