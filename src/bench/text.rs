//! The human summary of a [`Report`].

use std::fmt::Write as _;

use super::histogram::Percentiles;
use super::report::{Report, Results};
use super::settings::Mode;

impl Report {
    /// The text summary.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.headline());
        if let Some(full) = self.full_after_secs {
            match full {
                Some(t) => {
                    let _ = writeln!(
                        s,
                        "  ramp-up      all {} connections open after {t:.2} s",
                        self.setup.connections
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  ramp-up      the full count of {} connections was never reached",
                        self.setup.connections
                    );
                }
            }
        }
        self.results(&mut s, &self.total, "");
        if let Some(r) = self.setup.rate {
            let _ = writeln!(
                s,
                "  rate         {:.1}/s achieved of {r}/s ({:.1}%)",
                self.total.messages_per_sec,
                self.total.messages_per_sec * 100.0 / r
            );
        }
        let _ = write!(s, "  bench CPU    {:.2} s", self.cpu_secs);
        if self.total.messages > 0 {
            let per = self.cpu_secs * 1e6 / self.total.messages as f64;
            let _ = write!(s, " ({per:.2} µs/message, setup included)");
        }
        let _ = writeln!(s);
        if let Some(srv) = &self.server {
            let _ = write!(
                s,
                "  server CPU   {:.3} s in the window (pid {}, {} process{})",
                srv.cpu_secs,
                srv.pid,
                srv.processes,
                if srv.processes == 1 { "" } else { "es" }
            );
            if let (Some(cpu), Some(bench), Some(ratio)) = (
                srv.cpu_us_per_message,
                srv.bench_cpu_us_per_message,
                srv.bench_per_server,
            ) {
                let _ = write!(
                    s,
                    ": {cpu:.2} µs/message; bench {bench:.2} µs/message, {ratio:.2}× the server"
                );
            }
            let _ = writeln!(s);
            let _ = write!(s, "  server RSS   {:.1} MB", srv.rss_bytes as f64 / 1e6);
            if let Some(per) = srv.rss_bytes_per_connection {
                let _ = write!(s, ", {per:.0} B per held connection");
            }
            let _ = writeln!(s);
        }
        for t in &self.targets {
            let _ = writeln!(
                s,
                "  -- {} ({} connection{})",
                t.url,
                t.connections,
                plural(t.connections)
            );
            self.results(&mut s, &t.results, "  ");
        }
        for t in &self.thresholds {
            let _ = match &t.measured {
                Some(m) => writeln!(s, "  fail-if      {}: BREACHED ({m})", t.expr),
                None => writeln!(s, "  fail-if      {}: passed", t.expr),
            };
        }
        s
    }

    /// What was run, in one line (the plot's title too).
    pub fn headline(&self) -> String {
        let st = &self.setup;
        let mut s = format!(
            "{} {}: {} connection{}",
            mode_title(st.mode),
            st.url,
            st.connections,
            plural(st.connections)
        );
        if let Some(r) = &st.request {
            let _ = write!(s, ", request {r:?}");
            if st.greeting {
                let _ = write!(s, " after a greeting");
            }
        } else if st.mode != Mode::Hold {
            let _ = write!(s, ", {}-byte messages", st.size);
        }
        if st.pipeline > 1 {
            let _ = write!(s, ", pipeline {}", st.pipeline);
        }
        if let Some(r) = st.rate {
            let _ = write!(s, ", target {r} msg/s");
        }
        if let Some(r) = st.rate_per_conn {
            let _ = write!(s, " ({r}/s per connection)");
        }
        if let Some(r) = st.ramp_up_secs {
            let _ = write!(s, ", ramp-up {r} s");
        }
        if let Some(l) = st.conn_lifetime_secs {
            let _ = write!(s, ", connections live {l} s");
        }
        let _ = write!(s, ", {:.2} s", self.duration_secs);
        s
    }

    fn results(&self, s: &mut String, r: &Results, indent: &str) {
        if self.setup.mode != Mode::Closed || self.setup.conn_lifetime_secs.is_some() {
            let _ = write!(s, "{indent}  connections  {}", r.connects);
            if let Some(rate) = r.connects_per_sec {
                let _ = write!(s, "  ({rate:.1}/s)");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(
            s,
            "{indent}  messages     {}  ({:.1}/s, {:.3} MB/s{})",
            r.messages,
            r.messages_per_sec,
            r.mb_per_sec,
            if self.setup.request.is_some() {
                " of replies"
            } else {
                ""
            }
        );
        if let Some(p) = &r.connect_latency_us {
            let _ = writeln!(s, "{indent}  connect µs   {}", percentile_line(p));
        }
        if let Some(p) = &r.first_byte_latency_us {
            let _ = writeln!(s, "{indent}  1st byte µs  {}", percentile_line(p));
        }
        if self.sets.rtt && r.messages > 0 {
            let _ = writeln!(
                s,
                "{indent}  latency µs   {}",
                percentile_line(&r.latency_us)
            );
        }
        if r.errors.total == 0 {
            let _ = writeln!(s, "{indent}  errors       none");
        } else {
            let kinds: Vec<String> = r
                .errors
                .kinds
                .pairs()
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "{indent}  errors       {} ({})",
                r.errors.total,
                kinds.join(", ")
            );
        }
    }
}

fn mode_title(mode: Mode) -> &'static str {
    match mode {
        Mode::Rate => "open-loop bench",
        Mode::Connect => "connect bench",
        Mode::Hold => "held",
        Mode::Closed => "bench",
    }
}

fn percentile_line(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        p.p50, p.p90, p.p99, p.p99_9, p.max
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::bench::report::{Setup, test_setup};
    use crate::bench::settings::Sets;
    use crate::bench::tally::Tally;

    #[test]
    fn the_summary_names_error_kinds_and_request() {
        let mut t = Tally::new();
        t.messages(Duration::from_micros(50), 1000);
        t.bytes = 4_000_000;
        t.errors.bad_reply = 3;
        let setup = Setup {
            size: 3,
            payload: "request".into(),
            request: Some("1 6".into()),
            ..test_setup()
        };
        let sets = Sets {
            rtt: true,
            connect: true,
            first_byte: false,
        };
        let r = Report::new(setup, &t, (Instant::now(), Duration::from_secs(2)), sets);
        let text = r.text();
        assert!(text.contains("request \"1 6\""), "{text}");
        assert!(text.contains("errors       3 (bad_reply 3)"), "{text}");
        assert!(text.contains("connect µs"), "{text}");
        assert!(text.contains("latency µs"), "{text}");
        assert_eq!(r.total.mb_per_sec, 2.0, "reply bytes, not messages × size");
    }
}
