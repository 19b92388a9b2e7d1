//! Request/response transport over a madsim [`Endpoint`] (simulated network under
//! `--cfg madsim`, TCP under tokio otherwise).
//!
//! Framing: a request is the JSON of `{corr, body}` sent with tag [`REQUEST_TAG`]; its
//! response goes back to the sender's address with tag `corr`. Correlation ids start at a
//! random point per incarnation so a response addressed to a crashed predecessor is never
//! taken for one of ours. A request whose body does not decode is answered with
//! `Response::Error(INVALID_REQUEST)`; a frame without a readable correlation id is dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use madsim::net::Endpoint;
use madsim::time::Duration;
use serde::{Deserialize, Serialize};

use super::request::{Request, Response};
use super::ErrorCode;

/// The tag every request is sent with.
pub const REQUEST_TAG: u64 = 1;

/// Largest frame real mode reads (the simulation has no limit).
#[cfg(not(madsim))]
const MAX_FRAME: usize = 8 << 20;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    corr: u64,
    body: T,
}

/// Why a call got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcError {
    /// No response within the timeout (lost, partitioned, or the peer is down).
    Timeout,
    /// The response did not decode.
    Malformed,
    Io,
}

impl RpcError {
    /// The Kafka error a client sees for this failure.
    pub fn error_code(self) -> ErrorCode {
        match self {
            RpcError::Timeout => ErrorCode::RequestTimedOut,
            RpcError::Malformed => ErrorCode::CorruptMessage,
            RpcError::Io => ErrorCode::BrokerNotAvailable,
        }
    }
}

/// One node's endpoint, shared by its tasks.
#[derive(Clone)]
pub struct Rpc {
    ep: Arc<Endpoint>,
    next_corr: Arc<AtomicU64>,
}

impl Rpc {
    pub async fn bind(addr: SocketAddr) -> io::Result<Rpc> {
        let ep = Endpoint::bind(addr).await?;
        let start = 2 + ((madsim::rand::random::<u32>() as u64) << 24);
        Ok(Rpc {
            ep: Arc::new(ep),
            next_corr: Arc::new(AtomicU64::new(start)),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.ep
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Sends `req` to `dst` and waits up to `timeout` for its response.
    pub async fn call(
        &self,
        dst: SocketAddr,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, RpcError> {
        let corr = self.next_corr.fetch_add(1, Ordering::Relaxed);
        let frame = serde_json::to_vec(&Envelope { corr, body: req }).map_err(|_| RpcError::Io)?;
        self.ep
            .send_to(dst, REQUEST_TAG, &frame)
            .await
            .map_err(|_| RpcError::Io)?;
        let bytes = match madsim::time::timeout(timeout, recv_bytes(&self.ep, corr)).await {
            Err(_) => return Err(RpcError::Timeout),
            Ok(Err(_)) => return Err(RpcError::Io),
            Ok(Ok((bytes, _))) => bytes,
        };
        let env: Envelope<Response> =
            serde_json::from_slice(&bytes).map_err(|_| RpcError::Malformed)?;
        Ok(env.body)
    }

    /// Sends `req` without waiting for an answer (`acks=0`; the broker sends none).
    pub async fn send_oneway(&self, dst: SocketAddr, req: &Request) {
        let corr = self.next_corr.fetch_add(1, Ordering::Relaxed);
        if let Ok(frame) = serde_json::to_vec(&Envelope { corr, body: req }) {
            let _ = self.ep.send_to(dst, REQUEST_TAG, &frame).await;
        }
    }

    /// The next request: `(corr, request or the error to answer with, sender)`.
    pub async fn recv_request(&self) -> io::Result<(u64, Result<Request, ErrorCode>, SocketAddr)> {
        loop {
            let (bytes, from) = recv_bytes(&self.ep, REQUEST_TAG).await?;
            if let Some((corr, req)) = decode_request(&bytes) {
                return Ok((corr, req, from));
            }
        }
    }

    /// Answers request `corr` from `dst`.
    pub async fn respond(&self, dst: SocketAddr, corr: u64, resp: &Response) {
        if let Ok(frame) = serde_json::to_vec(&Envelope { corr, body: resp }) {
            // A lost response is what the network does; the caller times out.
            let _ = self.ep.send_to(dst, corr, &frame).await;
        }
    }
}

/// A request frame: its correlation id and the request, or `INVALID_REQUEST` for a body that
/// does not decode; `None` for a frame without a readable correlation id. Decodes the body
/// straight into a [`Request`] (every request a run sends passes here) and looks at the
/// frame a second time only when that fails.
fn decode_request(frame: &[u8]) -> Option<(u64, Result<Request, ErrorCode>)> {
    if let Ok(env) = serde_json::from_slice::<Envelope<Request>>(frame) {
        return Some((env.corr, Ok(env.body)));
    }
    let env = serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(frame).ok()?;
    Some((env.corr, Err(ErrorCode::InvalidRequest)))
}

#[cfg(madsim)]
pub(crate) async fn recv_bytes(ep: &Endpoint, tag: u64) -> io::Result<(Vec<u8>, SocketAddr)> {
    let (payload, from) = ep.recv_from_raw(tag).await?;
    match payload.downcast::<Vec<u8>>() {
        Ok(v) => Ok((*v, from)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a byte frame",
        )),
    }
}

#[cfg(not(madsim))]
pub(crate) async fn recv_bytes(ep: &Endpoint, tag: u64) -> io::Result<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; MAX_FRAME];
    let (n, from) = ep.recv_from(tag, &mut buf).await?;
    buf.truncate(n);
    Ok((buf, from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::request::{FetchPartition, FetchRequest};
    use crate::common::TopicPartition;

    #[test]
    fn a_request_frame_decodes_to_its_correlation_id_and_request() {
        let req = Request::Fetch(FetchRequest {
            replica_id: 2,
            min_bytes: 1,
            max_wait_ms: 500,
            max_bytes: 1 << 20,
            partitions: vec![FetchPartition {
                topic_partition: TopicPartition::new("orders", 1),
                fetch_offset: 42,
                current_leader_epoch: Some(3),
                partition_max_bytes: 1 << 20,
            }],
        });
        let frame = serde_json::to_vec(&Envelope {
            corr: 7,
            body: &req,
        })
        .unwrap();
        assert_eq!(decode_request(&frame), Some((7, Ok(req))));
    }

    #[test]
    fn a_body_that_is_no_request_is_invalid_request_and_a_frame_without_corr_is_dropped() {
        let unknown = br#"{"corr":9,"body":{"NoSuchRequest":{}}}"#;
        assert_eq!(
            decode_request(unknown),
            Some((9, Err(ErrorCode::InvalidRequest)))
        );
        let bad_records = br#"{"corr":10,"body":{"Produce":{"acks":1,"timeout_ms":5,"partitions":[{"topic_partition":{"topic":"t","partition":0},"records":"zz"}]}}}"#;
        assert_eq!(
            decode_request(bad_records),
            Some((10, Err(ErrorCode::InvalidRequest)))
        );
        assert_eq!(decode_request(br#"{"body":"Metadata"}"#), None);
        assert_eq!(decode_request(b"not json"), None);
    }
}
