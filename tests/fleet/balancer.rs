//! The balancers of `deploy/` (HAProxy, nginx's stream module), each
//! started from the repository's own file with its ports swapped for free
//! ones, in the foreground, with its pid file and logs in a temp dir, and
//! stopped by PID.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, kill};
use crate::common::{WAIT, wait_child};

/// The ports `deploy/haproxy.cfg` and `deploy/nginx-stream.conf` name:
/// clients on 7015 (TCP) and 8080 (WebSocket); instance N on 7N15 (TCP),
/// 8N15 (WebSocket) and 9N15 (metrics).
pub const CLIENT_TCP: u16 = 7015;
pub const CLIENT_WS: u16 = 8080;

/// The ports of instance `n` (1, 2 or 3) in the deploy files: tcp, ws,
/// metrics.
pub fn instance_ports(n: u16) -> [u16; 3] {
    [7015 + 100 * n, 8015 + 100 * n, 9015 + 100 * n]
}

/// Every port of the deploy files, each mapped to a free one.
pub fn free_ports() -> HashMap<u16, u16> {
    let mut ports = vec![CLIENT_TCP, CLIENT_WS];
    for n in 1..=3 {
        ports.extend(instance_ports(n));
    }
    ports.into_iter().map(|p| (p, free_port())).collect()
}

/// The text of `deploy/NAME` with every number that is a key of `ports`
/// (a whole run of digits, so 7115 never matches inside 17115) replaced by
/// its value, in one pass.
pub fn deploy_file(name: &str, ports: &HashMap<u16, u16>) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        match digits.parse::<u16>().ok().and_then(|p| ports.get(&p)) {
            Some(free) => out.push_str(&free.to_string()),
            None => out.push_str(digits),
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// A balancer process: HAProxy or nginx.
pub struct Balancer {
    child: Option<Child>,
    /// Where clients connect: TCP, then WebSocket.
    pub tcp: SocketAddr,
    pub ws: SocketAddr,
    log: PathBuf,
    pub name: &'static str,
}

impl Balancer {
    /// `haproxy -db -f deploy/haproxy.cfg` with free ports.
    pub fn haproxy(dir: &Path, ports: &HashMap<u16, u16>) -> Balancer {
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, deploy_file("haproxy.cfg", ports)).expect("write haproxy.cfg");
        let mut cmd = Command::new("haproxy");
        cmd.arg("-db").arg("-f").arg(&cfg);
        Balancer::start("haproxy", cmd, dir, ports)
    }

    /// nginx with `deploy/nginx-stream.conf` included from a main
    /// configuration of its own (the stream module loaded, the pid file and
    /// logs in `dir`), in the foreground.
    pub fn nginx(dir: &Path, ports: &HashMap<u16, u16>) -> Balancer {
        let stream = dir.join("nginx-stream.conf");
        std::fs::write(&stream, deploy_file("nginx-stream.conf", ports))
            .expect("write nginx-stream.conf");
        let main = format!(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
             worker_processes 1;\n\
             pid {dir}/nginx.pid;\n\
             error_log stderr notice;\n\
             events {{ worker_connections 4096; }}\n\
             include {stream};\n",
            dir = dir.display(),
            stream = stream.display(),
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, main).expect("write nginx.conf");
        let mut cmd = Command::new("nginx");
        cmd.arg("-p").arg(dir).arg("-c").arg(&conf);
        cmd.args(["-g", "daemon off;"]);
        Balancer::start("nginx", cmd, dir, ports)
    }

    fn start(
        name: &'static str,
        mut cmd: Command,
        dir: &Path,
        ports: &HashMap<u16, u16>,
    ) -> Balancer {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create the balancer's log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} (installed by scripts/test.sh): {e}"));
        let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], ports[&p]));
        let mut b = Balancer {
            child: Some(child),
            tcp: at(CLIENT_TCP),
            ws: at(CLIENT_WS),
            log,
            name,
        };
        b.wait_listening();
        b
    }

    /// Waits until both frontends listen; fails with the log if the
    /// balancer exits or does not listen in time. Read from the kernel's
    /// table: a connection to find out would be relayed, and counted, as a
    /// client.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + WAIT;
        while !(listening(self.tcp.port()) && listening(self.ws.port())) {
            let exited = self.child.as_mut().map(|c| c.try_wait());
            if let Some(Ok(Some(status))) = exited {
                panic!("{} exited ({status}): {}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} does not listen: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it wrote on stdout and stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, waited for.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(child.id(), "TERM");
            assert!(
                wait_child(&mut child, WAIT).is_some(),
                "{} did not exit on SIGTERM",
                self.name
            );
        }
    }
}

impl Drop for Balancer {
    /// SIGTERM first: nginx's master takes its workers with it (SIGKILL
    /// would leave them listening), then SIGKILL if it lingers.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            if wait_child(&mut c, WAIT).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Whether a TCP socket listens on `port` (/proc/net/tcp, state 0A).
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!(":{port:04X}");
    table.lines().skip(1).any(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "0A"
    })
}
