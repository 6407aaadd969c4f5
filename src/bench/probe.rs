//! `--server-pid PID`: the server's CPU time and memory, read from `/proc`
//! at the start and the end of the measured window.
//!
//! **What counts as the server.** The process PID with all its threads
//! (`/proc/PID/stat` sums them) and every live descendant, found through
//! the parent links of `/proc/*/stat`. Each process contributes utime +
//! stime + cutime + cstime: the last two hold the CPU of its children that
//! have exited *and been waited for*, so a forking server's per-connection
//! children are counted whether they are still running or already reaped.
//! A child that has exited but not been waited for yet (a zombie) still has
//! its own `/proc` entry and is counted from it. What is lost: a descendant
//! whose parent exited before it (it is re-parented outside the tree, and
//! so is its CPU); run such a server under a subreaper if that matters.
//! Memory is the sum of `VmRSS` over the same processes.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::histogram::{round1, round3};
use crate::sys::process_cpu_secs;

/// One reading of the server (and of the bench itself, for the ratio).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// CPU seconds of the server's process tree so far.
    pub server_cpu: f64,
    /// Resident memory of the server's process tree, bytes.
    pub rss: u64,
    /// Processes in the tree.
    pub processes: usize,
    /// CPU seconds of this bench process so far.
    pub bench_cpu: f64,
}

/// Reads the server's process tree now; an error when PID is gone.
pub fn sample(pid: u32) -> io::Result<Sample> {
    let stats = all_stats()?;
    if !stats.contains_key(&pid) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("server process {pid} is gone"),
        ));
    }
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&p, s) in &stats {
        children.entry(s.ppid).or_default().push(p);
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while let Some(&p) = tree.get(i) {
        if let Some(kids) = children.get(&p) {
            tree.extend(kids.iter().filter(|k| **k != p));
        }
        i += 1;
    }
    let hz = rustix::param::clock_ticks_per_second() as f64;
    let ticks: u64 = tree
        .iter()
        .filter_map(|p| stats.get(p))
        .map(|s| s.ticks)
        .sum();
    let rss = tree.iter().map(|p| rss_bytes(*p).unwrap_or(0)).sum();
    Ok(Sample {
        at: Instant::now(),
        server_cpu: ticks as f64 / hz.max(1.0),
        rss,
        processes: tree.len(),
        bench_cpu: process_cpu_secs(),
    })
}

/// What the tree walk needs from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, clock ticks.
    ticks: u64,
}

fn all_stats() -> io::Result<HashMap<u32, Stat>> {
    let mut out = HashMap::new();
    for entry in fs::read_dir("/proc")? {
        let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end between listing and reading: skip it.
        if let Some(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        {
            out.insert(pid, stat);
        }
    }
    Ok(out)
}

/// Fields after the command name, which is in parentheses and may itself
/// contain spaces and parentheses: state (3), ppid (4), …, utime (14),
/// stime (15), cutime (16), cstime (17).
fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    let ticks = (14..=17).map(field).sum::<Option<i64>>()?;
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        ticks: u64::try_from(ticks).ok()?,
    })
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The server measured with `--server-pid`, over the measured window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerReport {
    pub pid: u32,
    /// Processes in the server's tree at the end (1: no children).
    pub processes: usize,
    pub cpu_secs: f64,
    pub cpu_us_per_message: Option<f64>,
    /// This bench's CPU over the same window.
    pub bench_cpu_secs: f64,
    pub bench_cpu_us_per_message: Option<f64>,
    /// Bench CPU ÷ server CPU: below 1, the bench is the cheaper side.
    pub bench_per_server: Option<f64>,
    /// Resident memory of the server's tree at the end of the window.
    pub rss_bytes: u64,
    /// `--hold`: (RSS while holding − RSS before the connections) ÷ held
    /// connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes_per_connection: Option<f64>,
}

impl ServerReport {
    /// From the samples at the window's start and end; `before` is the one
    /// taken before any connection was opened (for `--hold`).
    pub fn new(
        pid: u32,
        from: &Sample,
        to: &Sample,
        messages: u64,
        held: Option<(Sample, u64)>,
    ) -> ServerReport {
        let cpu = (to.server_cpu - from.server_cpu).max(0.0);
        let bench = (to.bench_cpu - from.bench_cpu).max(0.0);
        let per_message = |secs: f64| (messages > 0).then(|| round3(secs * 1e6 / messages as f64));
        ServerReport {
            pid,
            processes: to.processes,
            cpu_secs: round3(cpu),
            cpu_us_per_message: per_message(cpu),
            bench_cpu_secs: round3(bench),
            bench_cpu_us_per_message: per_message(bench),
            bench_per_server: (cpu > 0.0).then(|| round3(bench / cpu)),
            rss_bytes: to.rss,
            rss_bytes_per_connection: held
                .filter(|(_, n)| *n > 0)
                .map(|(before, n)| round1((to.rss as f64 - before.rss as f64) / n as f64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "42 (a (b) c) S 7 42 42 0 -1 4194304 100 0 0 0 11 22 33 44 20 0 1 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 7,
                ticks: 110
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn a_child_process_is_part_of_the_tree() {
        let me = std::process::id();
        let mut child = match std::process::Command::new("sleep").arg("5").spawn() {
            Ok(c) => c,
            Err(e) => panic!("sleep: {e}"),
        };
        let s = sample(me).unwrap_or_else(|e| panic!("{e}"));
        let _ = child.kill();
        let _ = child.wait();
        assert!(s.processes >= 2, "{s:?}");
        assert!(s.rss > 0 && s.server_cpu >= 0.0, "{s:?}");
        assert!(sample(u32::MAX).is_err());
    }
}
