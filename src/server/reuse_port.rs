//! `--reuse-port`: `SO_REUSEPORT`, so that several duplex processes listen
//! on one port and the kernel spreads new connections (and UDP flows)
//! among them. A rolling restart starts the new process on the same port,
//! then stops the old one.
//!
//! What a closing listener does with the connections queued on it decides
//! whether that restart refuses anyone. Linux ties a connection to one
//! listener of the group when its SYN arrives; when that listener closes,
//! the connections still in its accept queue and the handshakes still in
//! flight are reset. duplex serves its queue before closing (see
//! `accept.rs`), which leaves only the connections that arrive in the
//! microseconds between the last accept and the close; Linux 5.14 and later
//! close that gap with `net.ipv4.tcp_migrate_req = 1`, which moves what a
//! closing listener holds to another listener of the group. duplex warns at
//! start when it is off; docs/behaviour.md, "Many instances", says more.

use std::io;
use std::sync::Once;

use socket2::Socket;

/// Where Linux says whether closing listeners hand their queues on.
const MIGRATE_REQ: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// Sets `SO_REUSEPORT` on a socket about to be bound, and warns once per
/// process when closing it would reset the connections queued on it.
pub fn set(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)?;
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| {
        if std::fs::read_to_string(MIGRATE_REQ).is_ok_and(|v| v.trim() == "0") {
            tracing::warn!(
                "--reuse-port: net.ipv4.tcp_migrate_req is 0, so connections that reach this \
                 process in the instant it stops listening are reset; set it to 1 (sysctl -w \
                 net.ipv4.tcp_migrate_req=1) for restarts that refuse nobody"
            );
        }
    });
    Ok(())
}
