//! Finding the active controller from outside the quorum (Kafka's
//! `NodeToControllerChannelManager`): brokers and clients know every controller's address
//! (`controller.quorum.voters`), remember which one answered last, and move on when a
//! controller answers `NOT_CONTROLLER` (to the leader it names, if it knows one) or does
//! not answer at all.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use madsim::time::Duration;

use crate::broker::request::{Request, Response};
use crate::broker::rpc::{Rpc, RpcError};

/// Shared by a node's tasks; cheap to clone.
#[derive(Debug, Clone)]
pub struct ControllerChannel {
    controllers: Arc<Vec<SocketAddr>>,
    current: Arc<AtomicUsize>,
}

impl ControllerChannel {
    pub fn new(controllers: Vec<SocketAddr>) -> Self {
        ControllerChannel {
            controllers: Arc::new(controllers),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn controllers(&self) -> &[SocketAddr] {
        &self.controllers
    }

    /// Where requests go now.
    pub fn current(&self) -> Option<SocketAddr> {
        let n = self.controllers.len();
        (n > 0).then(|| self.controllers[self.current.load(Ordering::Relaxed) % n])
    }

    /// Sends `req` to the controller believed active. A `NOT_CONTROLLER` answer is followed
    /// at once to the leader it names (or the next controller), at most once round the
    /// quorum, as is a controller that cannot be reached; a timeout moves on to the next controller and is returned, for the caller
    /// to back off. Returns the last `NOT_CONTROLLER` if no controller is active.
    pub async fn call(
        &self,
        rpc: &Rpc,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, RpcError> {
        let n = self.controllers.len();
        if n == 0 {
            return Err(RpcError::Io);
        }
        let mut last = Err(RpcError::Timeout);
        for _ in 0..n {
            let i = self.current.load(Ordering::Relaxed) % n;
            let r = rpc.call(self.controllers[i], req, timeout).await;
            let next = match &r {
                Ok(Response::NotController { leader }) => leader
                    .and_then(|l| self.controllers.iter().position(|a| *a == l))
                    .filter(|&j| j != i)
                    .unwrap_or((i + 1) % n),
                Ok(_) => return r,
                // Real mode: a controller that is down is an error at once; the next one
                // may be active. (The simulated network has no such error.)
                Err(RpcError::Io) => (i + 1) % n,
                Err(_) => {
                    self.current.store((i + 1) % n, Ordering::Relaxed);
                    return r;
                }
            };
            self.current.store(next, Ordering::Relaxed);
            last = r;
        }
        last
    }
}
