//! The two protocols a service manager speaks with a daemon, as systemd
//! defines them: sockets passed to the process (socket activation:
//! `LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`, set by systemd and by
//! `systemd-socket-activate`), and state notifications (`READY=1`,
//! `STOPPING=1`) sent to `NOTIFY_SOCKET`.
//!
//! Taking ownership of a file descriptor by its number is `unsafe` in std
//! (nothing proves that nobody else owns it); `listenfd` does it after
//! checking that the descriptor is a socket of the family and type asked
//! for, so duplex itself holds no `unsafe` code. The names, which
//! `listenfd` does not read, come from `LISTEN_FDNAMES` here; notifications
//! are `sd-notify`'s.

use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;

use socket2::SockRef;

use crate::endpoint::FdRef;

/// The first inherited descriptor (`SD_LISTEN_FDS_START`).
const FIRST_FD: u32 = 3;

/// The sockets the service manager passed to this process.
pub struct Inherited {
    fds: listenfd::ListenFd,
    /// `LISTEN_FDNAMES`, one name per descriptor (empty when unnamed).
    names: Vec<String>,
    /// Why there are none, when there are none.
    absent: Option<String>,
}

/// An inherited socket, of the kind a URL asked for.
#[derive(Debug)]
pub enum Socket {
    /// A listening TCP socket (`tcp://`, `tls://`, `ws://`, `wss://`).
    Tcp(TcpListener),
    /// A bound UDP socket (`udp://`).
    Udp(UdpSocket),
    /// A listening Unix stream socket (`unix://`).
    Unix(UnixListener),
}

/// The kind of socket a URL serves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Udp,
    Unix,
}

impl Inherited {
    /// Reads the environment. Call it once, before any thread starts:
    /// `listenfd` removes `LISTEN_FDS` and `LISTEN_PID`, so that processes
    /// started later do not take the sockets for theirs.
    pub fn from_env() -> Inherited {
        let absent = match (std::env::var("LISTEN_FDS"), std::env::var("LISTEN_PID")) {
            (Err(_), _) => Some(
                "no sockets were passed to duplex (LISTEN_FDS is not set: start it from a \
                 systemd socket unit or with systemd-socket-activate)"
                    .to_string(),
            ),
            (Ok(_), Ok(pid)) if pid.parse() != Ok(std::process::id()) => Some(format!(
                "the sockets passed are for process {pid} (LISTEN_PID), not this one ({})",
                std::process::id()
            )),
            _ => None,
        };
        let names = std::env::var("LISTEN_FDNAMES")
            .map(|n| n.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        Inherited {
            fds: listenfd::ListenFd::from_env(),
            names,
            absent,
        }
    }

    /// How many sockets were passed.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// True when none were.
    pub fn is_empty(&self) -> bool {
        self.fds.len() == 0
    }

    /// The descriptors (their indexes from 0) that `r` names: one for
    /// `fd:N`, every one of that name for `fd:NAME`.
    pub fn find(&self, r: &FdRef) -> Result<Vec<usize>, String> {
        if self.is_empty() {
            return Err(self
                .absent
                .clone()
                .unwrap_or_else(|| "no sockets were passed to duplex (LISTEN_FDS=0)".into()));
        }
        let found: Vec<usize> = match r {
            FdRef::Number(n) => n
                .checked_sub(FIRST_FD)
                .map(|i| i as usize)
                .filter(|&i| i < self.len())
                .into_iter()
                .collect(),
            FdRef::Name(name) => (0..self.len())
                .filter(|&i| self.names.get(i) == Some(name))
                .collect(),
        };
        if found.is_empty() {
            return Err(format!("no such socket was passed; {}", self.describe()));
        }
        Ok(found)
    }

    /// Takes the socket at `index` as `kind` wants it: it must be of that
    /// family and type, and a stream socket must be listening.
    pub fn take(&mut self, index: usize, kind: Kind) -> Result<Socket, String> {
        let fd = FIRST_FD as usize + index;
        let taken = match kind {
            Kind::Tcp => self
                .fds
                .take_tcp_listener(index)
                .map(|s| s.map(Socket::Tcp)),
            Kind::Udp => self.fds.take_udp_socket(index).map(|s| s.map(Socket::Udp)),
            Kind::Unix => self
                .fds
                .take_unix_listener(index)
                .map(|s| s.map(Socket::Unix)),
        };
        let socket = match taken {
            Ok(Some(s)) => s,
            Ok(None) => return Err(format!("fd {fd} is already in use by another URL")),
            Err(e) => return Err(format!("fd {fd}: {e}")),
        };
        let listening = match &socket {
            Socket::Tcp(l) => SockRef::from(l).is_listener(),
            Socket::Unix(l) => SockRef::from(l).is_listener(),
            Socket::Udp(_) => Ok(true),
        };
        match listening {
            Ok(true) => Ok(socket),
            Ok(false) => Err(format!(
                "fd {fd} is not listening (a socket unit for duplex needs Accept=no)"
            )),
            Err(e) => Err(format!("fd {fd}: {e}")),
        }
    }

    /// Closes the sockets no URL took, and says which they were: a socket
    /// left open would take connections nobody answers.
    pub fn close_unused(&mut self) -> Vec<String> {
        let mut unused = Vec::new();
        for index in 0..self.len() {
            let closed = matches!(self.fds.take_tcp_listener(index), Ok(Some(_)))
                || matches!(self.fds.take_udp_socket(index), Ok(Some(_)))
                || matches!(self.fds.take_unix_listener(index), Ok(Some(_)));
            if closed {
                unused.push(self.label(index));
            }
        }
        unused
    }

    /// `fd 3 (web)`.
    fn label(&self, index: usize) -> String {
        let fd = FIRST_FD as usize + index;
        match self.names.get(index).filter(|n| !n.is_empty()) {
            Some(name) => format!("fd {fd} ({name})"),
            None => format!("fd {fd}"),
        }
    }

    /// What was passed, for error messages.
    fn describe(&self) -> String {
        let all: Vec<String> = (0..self.len()).map(|i| self.label(i)).collect();
        format!("passed: {}", all.join(", "))
    }
}

/// True when a service manager waits for notifications (`NOTIFY_SOCKET`).
pub fn notify_socket_set() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Tells the service manager that every listener is bound and announced.
pub fn notify_ready() {
    notify(&[sd_notify::NotifyState::Ready]);
}

/// Tells the service manager that shutdown has begun.
pub fn notify_stopping() {
    notify(&[sd_notify::NotifyState::Stopping]);
}

fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}
