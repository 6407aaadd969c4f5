//! A service as one server runs it: the service, its counters, and the
//! number of sessions opened so far.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::metrics::ServiceCounters;
use crate::service::{Service, Session};

/// A service mounted on one or more listeners, with the count of sessions
/// opened so far (which numbers sessions for `--seed`).
pub struct Mounted {
    pub service: Service,
    /// This service's counters, per transport.
    pub counters: Arc<ServiceCounters>,
    sessions: AtomicU64,
}

impl Mounted {
    pub fn new(service: Service) -> Arc<Mounted> {
        Arc::new(Mounted {
            service,
            counters: Arc::default(),
            sessions: AtomicU64::new(0),
        })
    }

    pub fn name(&self) -> &'static str {
        self.service.name()
    }

    /// A new session of a line service (`None` for echo), for a client the
    /// server `counted` (see `Shared::count_client`).
    pub fn open_session(&self, counted: bool) -> Option<Box<dyn Session>> {
        match &self.service {
            Service::Echo => None,
            Service::Line(s) => {
                let ordinal = self.sessions.fetch_add(1, Ordering::Relaxed);
                Some(match counted {
                    true => s.session(ordinal),
                    false => s.uncounted_session(ordinal),
                })
            }
        }
    }
}
