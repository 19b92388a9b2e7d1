//! Request/response transport over an [`Endpoint`] (madsim's simulated network under
//! `--cfg madsim`, the project's own TCP endpoint in real mode: see [`super::transport`]).
//!
//! Framing: a request is the JSON of `{corr, body}` sent with tag [`REQUEST_TAG`]; its
//! response goes back to the sender's address with tag `corr`. Correlation ids start at a
//! random point per incarnation so a response addressed to a crashed predecessor is never
//! taken for one of ours. A request whose body does not decode is answered with
//! `Response::Error(INVALID_REQUEST)`; a frame without a readable correlation id is dropped.
//!
//! In the simulation a message crosses the network as its typed envelope, the way madsim's
//! own RPC passes simulated messages: encoding every record batch to JSON text and parsing
//! it back was a fifth of a run's CPU time, and the simulated network neither looks at nor
//! damages the bytes. The codec stays on the simulated path where it can fail: debug builds
//! (every `cargo sim test`) send each message through the JSON round trip and check that
//! it comes back equal, so release runs (sweeps, benchmarks) take the same path with the
//! same outcome. A peer that sends a JSON frame (a test speaking bytes) gets JSON back.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use madsim::time::Duration;
#[cfg(madsim)]
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::request::{Request, Response};
use super::transport::Endpoint;
use super::ErrorCode;

/// The tag every request is sent with.
pub const REQUEST_TAG: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Requests that came as JSON frames, `(sender, corr)`, answered in JSON (simulation).
    #[cfg(madsim)]
    json_requests: Arc<std::sync::Mutex<std::collections::BTreeSet<(SocketAddr, u64)>>>,
}

impl Rpc {
    pub async fn bind(addr: SocketAddr) -> io::Result<Rpc> {
        let ep = Endpoint::bind(addr).await?;
        let start = 2 + ((madsim::rand::random::<u32>() as u64) << 24);
        // Real mode: a controller's Raft messages share its endpoint (tag 3), so no call
        // may use a small tag.
        #[cfg(not(madsim))]
        let start = start.max(1 << 24);
        Ok(Rpc {
            ep: Arc::new(ep),
            next_corr: Arc::new(AtomicU64::new(start)),
            #[cfg(madsim)]
            json_requests: Arc::default(),
        })
    }

    /// The endpoint, for traffic of another tag on the same address (real mode's
    /// controller: Raft and controller requests on one `CONTROLLER` listener).
    pub fn endpoint(&self) -> Arc<Endpoint> {
        self.ep.clone()
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
        self.call_owned(dst, req.clone(), timeout).await
    }

    /// [`Rpc::call`] for a request the caller no longer needs: a produce request's records
    /// cross the simulated network without a copy.
    pub async fn call_owned(
        &self,
        dst: SocketAddr,
        req: Request,
        timeout: Duration,
    ) -> Result<Response, RpcError> {
        let corr = self.send_request(dst, req).await?;
        self.response(corr, timeout).await
    }

    /// The first half of [`Rpc::call_owned`]: `req` handed to the network, for a caller
    /// that must know when (a producer writes its requests to a connection in order).
    /// Returns the correlation id to wait on with [`Rpc::response`].
    pub async fn send_request(&self, dst: SocketAddr, req: Request) -> Result<u64, RpcError> {
        let corr = self.next_corr.fetch_add(1, Ordering::Relaxed);
        self.send(dst, REQUEST_TAG, corr, req)
            .await
            .map_err(|_| RpcError::Io)?;
        Ok(corr)
    }

    /// The second half of [`Rpc::call_owned`]: the response to request `corr`, waited for
    /// up to `timeout`.
    pub async fn response(&self, corr: u64, timeout: Duration) -> Result<Response, RpcError> {
        match crate::time::timeout(timeout, self.recv_response(corr)).await {
            Err(_) => Err(RpcError::Timeout),
            Ok(r) => r,
        }
    }

    /// Sends `req` without waiting for an answer (`acks=0`; the broker sends none).
    pub async fn send_oneway(&self, dst: SocketAddr, req: Request) {
        let corr = self.next_corr.fetch_add(1, Ordering::Relaxed);
        let _ = self.send(dst, REQUEST_TAG, corr, req).await;
    }

    /// The next request: `(corr, request or the error to answer with, sender)`.
    #[cfg(not(madsim))]
    pub async fn recv_request(&self) -> io::Result<(u64, Result<Request, ErrorCode>, SocketAddr)> {
        loop {
            let (bytes, from) = recv_bytes(&self.ep, REQUEST_TAG).await?;
            if let Some((corr, req)) = decode_request(&bytes) {
                return Ok((corr, req, from));
            }
        }
    }

    /// The next request: `(corr, request or the error to answer with, sender)`.
    #[cfg(madsim)]
    pub async fn recv_request(&self) -> io::Result<(u64, Result<Request, ErrorCode>, SocketAddr)> {
        loop {
            let (payload, from) = self.ep.recv_from_raw(REQUEST_TAG).await?;
            let payload = match payload.downcast::<Envelope<Request>>() {
                Ok(env) => return Ok((env.corr, Ok(env.body), from)),
                Err(other) => other,
            };
            let Ok(bytes) = payload.downcast::<Vec<u8>>() else {
                continue;
            };
            if let Some((corr, req)) = decode_request(&bytes) {
                self.json_requests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((from, corr));
                return Ok((corr, req, from));
            }
        }
    }

    /// Answers request `corr` from `dst`. A lost response is what the network does; the
    /// caller times out. Takes the response by value: a fetch response's records cross
    /// the simulated network without a copy.
    pub async fn respond(&self, dst: SocketAddr, corr: u64, resp: Response) {
        #[cfg(madsim)]
        {
            let json = self
                .json_requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(dst, corr));
            if json {
                if let Ok(frame) = serde_json::to_vec(&Envelope { corr, body: &resp }) {
                    let _ = self.ep.send_to(dst, corr, &frame).await;
                }
                return;
            }
        }
        let _ = self.send(dst, corr, corr, resp).await;
    }

    /// Sends `{corr, body}` with `tag`: JSON bytes in real mode, the typed envelope in the
    /// simulation (see the module doc), which went through the JSON codec first in a debug
    /// build.
    async fn send<T: Wire>(&self, dst: SocketAddr, tag: u64, corr: u64, body: T) -> io::Result<()> {
        #[cfg(not(madsim))]
        {
            let frame = serde_json::to_vec(&Envelope { corr, body }).map_err(io::Error::other)?;
            self.ep.send_to(dst, tag, &frame).await
        }
        #[cfg(madsim)]
        {
            let env = Envelope { corr, body };
            let env = if cfg!(debug_assertions) {
                json_round_trip(&env)
            } else {
                env
            };
            if let Some(by) = super::transport::link_delay::of(dst.ip()) {
                // The `delay` fault: the message leaves `by` later; the caller goes on (its
                // timeout runs meanwhile), as with a request stuck in the network.
                let ep = self.ep.clone();
                super::transport::link_delay::hold(dst.ip(), by, async move {
                    let _ = ep.send_to_raw(dst, tag, Box::new(env)).await;
                });
                return Ok(());
            }
            self.ep.send_to_raw(dst, tag, Box::new(env)).await
        }
    }

    /// The response to request `corr`.
    #[cfg(not(madsim))]
    async fn recv_response(&self, corr: u64) -> Result<Response, RpcError> {
        let (bytes, _) = recv_bytes(&self.ep, corr).await.map_err(|_| RpcError::Io)?;
        decode_response(&bytes)
    }

    /// The response to request `corr`: the typed envelope (or a JSON frame).
    #[cfg(madsim)]
    async fn recv_response(&self, corr: u64) -> Result<Response, RpcError> {
        let (payload, _) = self
            .ep
            .recv_from_raw(corr)
            .await
            .map_err(|_| RpcError::Io)?;
        match payload.downcast::<Envelope<Response>>() {
            Ok(env) => Ok(env.body),
            Err(other) => match other.downcast::<Vec<u8>>() {
                Ok(bytes) => decode_response(&bytes),
                Err(_) => Err(RpcError::Malformed),
            },
        }
    }
}

/// What real mode can send: anything that encodes.
#[cfg(not(madsim))]
trait Wire: Serialize {}

#[cfg(not(madsim))]
impl<T: Serialize> Wire for T {}

/// What the simulation can pass as a typed message.
#[cfg(madsim)]
trait Wire:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static
{
}

#[cfg(madsim)]
impl<T> Wire for T where
    T: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static
{
}

/// `msg` encoded to the JSON frame real mode sends and decoded back, as its receiver would
/// see it. A message that does not encode, decode or come back equal is a codec bug (no
/// input reaches here), so it stops the debug run that found it rather than letting that
/// run take another path than a release run of the same seed.
#[cfg(madsim)]
fn json_round_trip<T: Wire>(msg: &T) -> T {
    let frame =
        serde_json::to_vec(msg).unwrap_or_else(|e| panic!("{msg:?} does not encode to JSON: {e}"));
    let back: T = serde_json::from_slice(&frame).unwrap_or_else(|e| {
        panic!(
            "{msg:?} does not decode from its own JSON {}: {e}",
            String::from_utf8_lossy(&frame)
        )
    });
    assert_eq!(&back, msg, "a message changed through its JSON encoding");
    back
}

/// A response frame's body.
fn decode_response(frame: &[u8]) -> Result<Response, RpcError> {
    serde_json::from_slice::<Envelope<Response>>(frame)
        .map(|env| env.body)
        .map_err(|_| RpcError::Malformed)
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
    let (bytes, from) = ep.recv(tag).await?;
    Ok((bytes.to_vec(), from))
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
            isolation_level: Default::default(),
            zero_copy: false,
            replica_epoch: -1,
            session: None,
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
        assert_eq!(decode_request(br#"{"body":{"Metadata":{}}}"#), None);
        assert_eq!(decode_request(b"not json"), None);
    }
}

#[cfg(all(test, madsim))]
mod sim_tests {
    use std::net::SocketAddr;

    use madsim::runtime::{Handle, Runtime};
    use madsim::time::Duration;

    use super::*;

    const SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 9092);

    /// A node answering every request with `NOT_CONTROLLER` (or the decode error).
    fn serve(h: &Handle) {
        let addr = SocketAddr::from(SERVER);
        h.create_node()
            .ip(addr.ip())
            .init(move || async move {
                let rpc = Rpc::bind(addr).await.unwrap();
                loop {
                    let (corr, req, from) = rpc.recv_request().await.unwrap();
                    let code = req.err().unwrap_or(ErrorCode::NotController);
                    rpc.respond(from, corr, Response::Error(code)).await;
                }
            })
            .build();
    }

    #[test]
    fn a_call_is_answered_and_a_peer_speaking_json_is_answered_in_json() {
        let rt = Runtime::with_seed_and_config(1, madsim::Config::default());
        rt.block_on(async {
            let h = Handle::current();
            serve(&h);
            let client = h.create_node().ip([10, 0, 0, 2].into()).build();
            client
                .spawn(async {
                    let server = SocketAddr::from(SERVER);
                    let t = Duration::from_secs(1);
                    let rpc = Rpc::bind(SocketAddr::from(([10, 0, 0, 2], 9000)))
                        .await
                        .unwrap();
                    let r = rpc
                        .call(server, &Request::Metadata(Default::default()), t)
                        .await;
                    assert_eq!(r, Ok(Response::Error(ErrorCode::NotController)));

                    let ep = Endpoint::bind(SocketAddr::from(([10, 0, 0, 2], 9001)))
                        .await
                        .unwrap();
                    let mut buf = vec![0u8; 1024];
                    for (corr, frame, answer) in [
                        (
                            5,
                            &br#"{"corr":5,"body":{"Metadata":{}}}"#[..],
                            "NOT_CONTROLLER",
                        ),
                        (6, br#"{"corr":6,"body":{"Bogus":1}}"#, "INVALID_REQUEST"),
                    ] {
                        ep.send_to(server, REQUEST_TAG, frame).await.unwrap();
                        let (n, _) = madsim::time::timeout(t, ep.recv_from(corr, &mut buf))
                            .await
                            .unwrap()
                            .unwrap();
                        let text = std::str::from_utf8(&buf[..n]).unwrap();
                        assert!(text.contains(answer), "{text}");
                    }
                })
                .await
                .unwrap();
        });
    }

    #[test]
    fn a_message_survives_its_json_round_trip_unchanged() {
        let env = Envelope {
            corr: 3,
            body: Response::Error(ErrorCode::NotLeaderOrFollower),
        };
        assert_eq!(json_round_trip(&env), env);
    }
}
