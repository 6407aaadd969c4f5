//! A bridge whose FROM is UDP: one session, with its own upstream, per
//! client address.
//!
//! The listener's task receives every datagram and hands it to the
//! session of its sender, starting one (under `--max-connections`) for a
//! new sender. A session ends after `--idle-timeout` without traffic, or,
//! when its upstream is a stream that has closed, once the client has
//! been quiet for `--wait`. A datagram for a session that is a buffer's
//! worth behind, or from a new sender while `--max-connections` sessions
//! are open, is dropped, as UDP drops what nobody can take.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::bridge::{Bridge, run_session};
use super::interrupts::Interrupts;
use super::metrics::Transport;
use super::peer::Peer;
use super::shared::Shared;
use super::udp::UdpListener;
use crate::relay::proxy::Origin;
use crate::relay::udp::{Accepted, Inbox, Offer};
use crate::relay::{MAX_DATAGRAM, Side};

/// Receives datagrams until shutdown and relays each client's.
pub async fn serve(listener: UdpListener, bridge: Arc<Bridge>, shared: Arc<Shared>, url: Arc<str>) {
    let socket = Arc::new(listener.into_socket());
    let local = socket.local_addr().ok();
    let counters = bridge.counters.get(Transport::Udp);
    let mut clients: HashMap<SocketAddr, Inbox> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut interrupts = Interrupts::new(None, shared.token.cancelled());
    loop {
        let (n, client) = match interrupts.until(socket.recv_from(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::debug!(listener = %url, error = %e, "udp receive error");
                continue;
            }
        };
        let datagram = &buf[..n];
        if let Some(inbox) = clients.get(&client) {
            match inbox.offer(datagram) {
                Offer::Queued => continue,
                Offer::Full => {
                    tracing::debug!(listener = %url, %client, "session behind: datagram dropped");
                    continue;
                }
                Offer::Gone => {
                    clients.remove(&client);
                }
            }
        }
        // Ended sessions are forgotten in sweeps, once there are as many
        // entries as sessions may be open (each open one holds a slot):
        // at most twice that many entries, at a cost of one entry per
        // new session.
        if clients.len() >= 2 * shared.limits.max_connections {
            clients.retain(|_, inbox| !inbox.is_gone());
        }
        let Some(permit) = shared.admit() else {
            tracing::debug!(listener = %url, %client, "refused: --max-connections reached");
            counters.refused();
            continue;
        };
        let (accepted, inbox) = Accepted::new(socket.clone(), client, bridge.relay.buffer);
        inbox.offer(datagram);
        clients.insert(client, inbox);
        let origin = Origin {
            client: Some(client),
            local,
            datagram: true,
        };
        let (bridge, sh) = (bridge.clone(), shared.clone());
        shared.tracker.spawn(async move {
            let _permit = permit;
            let side = Side::Messages(Box::new(accepted));
            run_session(side, origin, Peer::Ip(client), Transport::Udp, &bridge, &sh).await;
        });
    }
    tracing::debug!(listener = %url, "udp bridge stopped");
}
