//! The server: every listener of a [`Plan`] over one shared runtime, until
//! the caller's shutdown future completes.
//!
//! The server takes a plan whose services are built and a shutdown future
//! from its caller, as tokio's mini-redis does: it reads no flags or files,
//! installs no signal handlers and never exits the process, so it runs the
//! same under `duplex serve` and inside a test.
//!
//! ```text
//! mod.rs         run: bind, announce, serve until shutdown, drain
//! plan.rs        Plan: built services and where they listen (URLs or bound sockets)
//! bind.rs        a plan's endpoints -> bound listeners (WebSocket paths grouped by port)
//! listener.rs    a bound listener and what it serves; announcing and starting it
//! socket.rs      listening sockets: addresses, dual-stack, why binding failed
//! reuse_port.rs  --reuse-port: SO_REUSEPORT, and what a closing listener does with its queue
//! tcp.rs unix.rs udp.rs   one transport each: bind and accept (UDP: answer datagrams)
//! accept.rs      the accept loop shared by every stream transport (backoff on errors,
//!                PROXY headers, the queue served at shutdown)
//! tls_accept.rs  the TLS handshake of accepted connections
//! shared.rs      Shared: limits, connection slots, shutdown token, task tracker, client count
//! store.rs       --counter-store: the client count in Redis, shared by instances
//! mounted.rs     a service as the server runs it (counters, session numbers)
//! session.rs     a session's accounting: End, Traffic, its closing log line
//! interrupts.rs  idle timeout, shutdown and pings watched at no cost per message
//! stream.rs      one stream session: echo as a copy loop, line services by line
//! http.rs        one HTTP connection of a WebSocket listener (hyper)
//! routes.rs      what each HTTP request gets; the web console page
//! handshake.rs   the WebSocket opening handshake
//! upgraded.rs    the connection under a server-side WebSocket (TCP taken back from hyper)
//! origin.rs      the browser origin policy
//! ws.rs          one WebSocket session
//! response.rs    plain-text HTTP answers
//! limits.rs      Limits and their defaults
//! metrics.rs     counters per service and transport, Prometheus text
//! edge_metrics.rs what is counted beyond a service: PROXY refusals, the store, upstreams
//! peer.rs        who is on the other end, for logs (the client a PROXY header names)
//! proxied.rs     --proxy-protocol: the header of an accepted connection, peeked and consumed
//! bridge.rs      one bridge session: admit, dial TO, relay (crate::relay), log
//! bridge_udp.rs  a bridge from UDP: one session per client address
//! bridge_ws.rs   a bridge from WebSocket: TO dialled before the handshake is answered
//! upstream.rs    reaching a bridge's TO: timeout, PROXY header, TLS, kinds of failure
//! bound.rs       one listener bound as `serve` binds, for `connect --listen`
//! ```
//!
//! A transport frames requests and hands them to the service; the service
//! never knows which transport carries it.

mod accept;
mod bind;
pub mod bound;
mod bridge;
mod bridge_udp;
mod bridge_ws;
mod edge_metrics;
mod handshake;
mod http;
mod interrupts;
mod limits;
mod listener;
mod metrics;
mod mounted;
mod origin;
mod peer;
mod plan;
mod proxied;
mod response;
mod reuse_port;
mod routes;
mod session;
mod shared;
mod socket;
mod store;
mod stream;
mod tcp;
mod tls_accept;
mod udp;
mod unix;
pub mod upgraded;
mod upstream;
mod ws;

use std::future::Future;

pub use limits::Limits;
pub use mounted::Mounted;
pub use plan::{BridgePlan, Listen, ListenOptions, Plan, Prebound, ServicePlan};
pub use store::StoreSettings;

/// Runs `plan` until `shutdown` completes, then shuts down gracefully.
///
/// Every listener is bound before any is announced, so a failure leaves
/// nothing half-started, and each bound URL prints exactly one
/// `listening SERVICE URL` line on stdout, with its real port. After
/// `shutdown`, listeners stop accepting and sessions get at most
/// `--shutdown-timeout` to finish. With `plan.notify`, the service manager
/// hears `READY=1` once every listener is announced and `STOPPING=1` when
/// shutdown begins.
pub async fn run(plan: Plan, shutdown: impl Future) -> anyhow::Result<()> {
    let notify = plan.notify;
    let shared = shared::Shared::new(
        plan.limits.clone(),
        plan.compression,
        plan.stats.clone(),
        plan.counter_store.clone(),
    )?;
    let listeners = bind::bind_all(plan, &shared).await?;
    {
        // Held only while nothing is awaited: announcing and spawning.
        let mut out = std::io::stdout().lock();
        for listener in listeners {
            listener.announce(&mut out)?;
            listener.spawn(&shared);
        }
    }
    if notify {
        crate::systemd::notify_ready();
    }
    shutdown.await;
    if notify {
        crate::systemd::notify_stopping();
    }
    shared.shut_down().await;
    Ok(())
}
