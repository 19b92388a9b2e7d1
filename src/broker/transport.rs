//! The tag-matched message endpoint [`super::rpc`] and the controllers' Raft traffic run on.
//!
//! Under `--cfg madsim` it is madsim's simulated network, unchanged. In real mode
//! (`kafka-sim serve`) it is this module's own endpoint over plain tokio TCP, because
//! madsim's real-mode endpoint panics on a refused connection or a broken pipe, so one
//! process dying would take its peers with it.
//!
//! Real mode's rules:
//! - A connection carries one direction: the sender connects to the receiver's listening
//!   address, says who it is (a frame holding its own listening address) and then sends
//!   frames `u32 length, u64 tag, payload`. Answers travel on the receiver's own connection
//!   back, so `from` is always an address one can send to.
//! - A send never waits for the peer: it queues the frame for the connection's writer
//!   task, or fails at once with an error the caller turns into `RpcError::Io`: the peer
//!   refused the connection (then it is not tried again before a backoff of 50 ms doubling
//!   to 1 s, so callers retrying in a loop do not spin on `connect`), the connect took
//!   longer than [`CONNECT_TIMEOUT`], or the queue is full (a peer that stopped reading).
//! - A peer that dies is noticed by the writer task (a write error, or end of file on the
//!   connection, which the receiver never writes to); the next send reconnects.
//! - A frame nobody waits for yet is kept; frames and waiters nobody picked up for
//!   [`STASH_TTL`] are dropped (answers to calls that timed out).
//! - A frame larger than [`MAX_FRAME`] closes its connection; the rest go on.

#[cfg(madsim)]
pub use madsim::net::Endpoint;

/// The simulation's `delay` fault: links whose messages are held at the sender before they
/// enter the network (madsim's network has one latency for every link, and a clogged link
/// drops). One table per thread, because one thread runs one simulation at a time (madsim
/// runs every task of a run on the thread that called `block_on`); the harness clears it
/// when it builds a run.
#[cfg(madsim)]
pub mod link_delay {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use madsim::task::NodeId;
    use madsim::time::{Duration, Instant};

    #[derive(Debug, Clone, Copy)]
    struct Held {
        by: Duration,
        until: Option<Instant>,
    }

    type Outgoing = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

    /// The messages one link holds, oldest first, each with the instant it may leave. One
    /// task on the carrier drains them in that order, so a link keeps its order as a TCP
    /// connection whose packets are delayed does: two messages held at the same instant
    /// leave in the order they were sent, and a message sent after the delay ended (or
    /// after a `heal`) waits behind those still held.
    #[derive(Default)]
    struct Queue {
        waiting: std::collections::VecDeque<(Instant, Outgoing)>,
        /// A task is draining the queue (it ends when it finds the queue empty).
        draining: bool,
    }

    thread_local! {
        static LINKS: RefCell<BTreeMap<(NodeId, IpAddr), Held>> =
            const { RefCell::new(BTreeMap::new()) };
        static QUEUES: RefCell<BTreeMap<(NodeId, IpAddr), Queue>> =
            const { RefCell::new(BTreeMap::new()) };
        /// The node whose tasks hold delayed messages: the network, which outlives their
        /// senders (a message already sent arrives even if its sender exits or crashes,
        /// and madsim ends every task of a node whose main task returns).
        static CARRIER: RefCell<Option<madsim::runtime::NodeHandle>> = const { RefCell::new(None) };
    }

    /// Whether the run has its carrier node yet (the harness makes it at the first delay,
    /// so runs without one create no extra node).
    pub fn has_carrier() -> bool {
        CARRIER.with(|c| c.borrow().is_some())
    }

    pub fn set_carrier(node: madsim::runtime::NodeHandle) {
        CARRIER.with(|c| *c.borrow_mut() = Some(node));
    }

    /// Runs `send` once `by` has passed and every message held before it on the current
    /// node's link to `to` has been sent, on the carrier node.
    pub fn hold(
        to: IpAddr,
        by: Duration,
        send: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let Some(carrier) = CARRIER.with(|c| c.borrow().clone()) else {
            // No carrier: `set` was never called, so nothing is held on any link; only a
            // caller that holds on its own reaches here. Keep the message, unordered.
            madsim::task::spawn(async move {
                madsim::time::sleep(by).await;
                send.await;
            });
            return;
        };
        let link = (madsim::plugin::node(), to);
        let release = Instant::now() + by;
        let start = QUEUES.with(|q| {
            let mut queues = q.borrow_mut();
            let queue = queues.entry(link).or_default();
            queue.waiting.push_back((release, Box::pin(send)));
            !std::mem::replace(&mut queue.draining, true)
        });
        if start {
            carrier.spawn(drain(link));
        }
    }

    /// Sends a link's held messages in order, each no earlier than its release.
    async fn drain(link: (NodeId, IpAddr)) {
        loop {
            let next = QUEUES.with(|q| {
                let mut queues = q.borrow_mut();
                let queue = queues.get_mut(&link)?;
                let next = queue.waiting.pop_front();
                if next.is_none() {
                    queues.remove(&link);
                }
                next
            });
            let Some((release, send)) = next else {
                return;
            };
            if release > Instant::now() {
                madsim::time::sleep_until(release).await;
            }
            send.await;
        }
    }

    /// From now on (until `until`, or until [`clear`]), every message node `from` sends to
    /// `to` is held `by` first.
    pub fn set(from: NodeId, to: IpAddr, by: Duration, until: Option<Instant>) {
        LINKS.with(|l| l.borrow_mut().insert((from, to), Held { by, until }));
    }

    /// No link delayed (a `heal`; the carrier stays, with what it holds).
    pub fn clear() {
        LINKS.with(|l| l.borrow_mut().clear());
    }

    /// A new run on this thread: no link delayed, no carrier.
    pub fn reset() {
        clear();
        QUEUES.with(|q| q.borrow_mut().clear());
        CARRIER.with(|c| *c.borrow_mut() = None);
    }

    /// How long the current node holds a message to `to` now: its link's delay, or no time
    /// at all while messages held before it are still waiting (they go first), or `None`
    /// when the message may go straight to the network.
    pub fn of(to: IpAddr) -> Option<Duration> {
        let idle = LINKS.with(|l| l.borrow().is_empty()) && QUEUES.with(|q| q.borrow().is_empty());
        if idle {
            return None;
        }
        let link = (madsim::plugin::node(), to);
        let delayed = LINKS.with(|l| l.borrow().get(&link).copied());
        match delayed {
            Some(Held { by, until }) if until.is_none_or(|u| Instant::now() < u) => Some(by),
            _ if holds(link.0, link.1) => Some(Duration::ZERO),
            _ => None,
        }
    }

    /// Whether node `from`'s link to `to` still holds messages (sent during a delay, or
    /// after it behind those): the delay's effect lasts until it holds none.
    pub fn holds(from: NodeId, to: IpAddr) -> bool {
        QUEUES.with(|q| q.borrow().contains_key(&(from, to)))
    }
}

#[cfg(not(madsim))]
pub use real::{reserve, Endpoint};

/// Largest frame real mode reads: a fetch answer of `replica.fetch.max.bytes` in JSON
/// fits many times over.
#[cfg(not(madsim))]
pub const MAX_FRAME: usize = 64 << 20;

/// How long a connect may take before the send fails.
#[cfg(not(madsim))]
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an unclaimed frame or an abandoned waiter is kept.
#[cfg(not(madsim))]
pub const STASH_TTL: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(not(madsim))]
mod real {
    use std::collections::{BTreeMap, HashMap, VecDeque};
    use std::io;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::{Arc, Mutex, MutexGuard, Weak};
    use std::time::Duration;

    use bytes::{Buf, Bytes, BytesMut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{mpsc, oneshot};
    use tokio::task::JoinHandle;
    use tokio::time::Instant;

    use super::{CONNECT_TIMEOUT, MAX_FRAME, STASH_TTL};

    /// Frames queued for one peer before sends fail (a peer that stopped reading).
    const QUEUE: usize = 4096;
    const FIRST_BACKOFF: Duration = Duration::from_millis(50);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One node's endpoint: a listener for frames from peers and one outgoing connection
    /// per peer it sends to.
    pub struct Endpoint {
        inner: Arc<Inner>,
        acceptor: JoinHandle<()>,
    }

    struct Inner {
        addr: SocketAddr,
        peers: Mutex<HashMap<SocketAddr, Arc<tokio::sync::Mutex<Peer>>>>,
        mailbox: Mutex<Mailbox>,
    }

    /// The outgoing side towards one peer.
    #[derive(Default)]
    struct Peer {
        tx: Option<mpsc::Sender<(u64, Bytes)>>,
        /// After a failed connect: no new attempt before this.
        down_until: Option<Instant>,
        backoff: Option<Duration>,
    }

    impl Drop for Endpoint {
        fn drop(&mut self) {
            self.acceptor.abort();
        }
    }

    /// Listeners bound before their endpoint, by address: a port the OS picked stays this
    /// process's from the moment it is chosen (and told to peers) until `bind` takes it.
    /// Binding port 0 and closing it, to bind it again later, lets another process take
    /// the port in between (a peer's outgoing connection draws from the same range).
    static RESERVED: Mutex<BTreeMap<SocketAddr, std::net::TcpListener>> =
        Mutex::new(BTreeMap::new());

    /// A port of `ip` the OS picks, held for this process until [`Endpoint::bind`] on it.
    pub fn reserve(ip: IpAddr) -> io::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind((ip, 0))?;
        let addr = listener.local_addr()?;
        lock(&RESERVED).insert(addr, listener);
        Ok(addr)
    }

    impl Endpoint {
        /// Listens on `addr` (port 0: one the OS picks; a [`reserve`]d address: the
        /// listener held for it).
        pub async fn bind(addr: SocketAddr) -> io::Result<Endpoint> {
            let reserved = lock(&RESERVED).remove(&addr);
            let listener = match reserved {
                Some(l) => {
                    l.set_nonblocking(true)?;
                    TcpListener::from_std(l)?
                }
                None => TcpListener::bind(addr).await?,
            };
            let addr = listener.local_addr()?;
            let inner = Arc::new(Inner {
                addr,
                peers: Mutex::default(),
                mailbox: Mutex::new(Mailbox::new()),
            });
            let acceptor = tokio::spawn(accept_loop(listener, Arc::downgrade(&inner)));
            Ok(Endpoint { inner, acceptor })
        }

        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(self.inner.addr)
        }

        /// Queues `data` with `tag` for `dst`; an error if `dst` cannot be reached now.
        pub async fn send_to(&self, dst: SocketAddr, tag: u64, data: &[u8]) -> io::Result<()> {
            let peer = lock(&self.inner.peers).entry(dst).or_default().clone();
            let mut peer = peer.lock().await;
            let usable = peer.tx.as_ref().is_some_and(|tx| !tx.is_closed());
            if !usable {
                peer.tx = None;
                let now = Instant::now();
                if let Some(until) = peer.down_until.filter(|&u| now < u) {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!(
                            "{dst} refused a connection; next attempt in {} ms",
                            (until - now).as_millis()
                        ),
                    ));
                }
                match connect(self.inner.addr, dst).await {
                    Ok(tx) => {
                        peer.tx = Some(tx);
                        peer.down_until = None;
                        peer.backoff = None;
                    }
                    Err(e) => {
                        let backoff = peer
                            .backoff
                            .map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
                        peer.backoff = Some(backoff);
                        peer.down_until = Some(now + backoff);
                        return Err(e);
                    }
                }
            }
            let Some(tx) = peer.tx.as_ref() else {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            };
            tx.try_send((tag, Bytes::copy_from_slice(data)))
                .map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!("{dst} is not reading: {QUEUE} frames queued"),
                    ),
                    mpsc::error::TrySendError::Closed(_) => {
                        io::Error::from(io::ErrorKind::BrokenPipe)
                    }
                })
        }

        /// The next frame with `tag` and the listening address of its sender.
        pub async fn recv(&self, tag: u64) -> io::Result<(Bytes, SocketAddr)> {
            let rx = lock(&self.inner.mailbox).recv(tag);
            rx.await
                .map_err(|_| io::Error::from(io::ErrorKind::ConnectionAborted))
        }
    }

    /// Connects to `dst`, introduces `me` and starts the writer task; its queue's sender.
    async fn connect(me: SocketAddr, dst: SocketAddr) -> io::Result<mpsc::Sender<(u64, Bytes)>> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dst)).await {
            Ok(s) => s?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {dst} took over {CONNECT_TIMEOUT:?}"),
                ))
            }
        };
        stream.set_nodelay(true)?;
        let (mut reader, writer) = stream.into_split();
        let mut writer = BufWriter::new(writer);
        let hello = me.to_string();
        writer.write_u32(hello.len() as u32).await?;
        writer.write_all(hello.as_bytes()).await?;
        writer.flush().await?;
        let (tx, mut rx) = mpsc::channel::<(u64, Bytes)>(QUEUE);
        tokio::spawn(async move {
            let mut probe = [0u8; 1];
            loop {
                tokio::select! {
                    frame = rx.recv() => {
                        let Some((tag, data)) = frame else { return };
                        if write_frame(&mut writer, tag, &data).await.is_err() {
                            return;
                        }
                        // Frames queued meanwhile go out in the same flush.
                        while let Ok((tag, data)) = rx.try_recv() {
                            if write_frame(&mut writer, tag, &data).await.is_err() {
                                return;
                            }
                        }
                        if writer.flush().await.is_err() {
                            return;
                        }
                    }
                    // The peer never writes here: end of file or an error means it is gone.
                    _ = reader.read(&mut probe) => return,
                }
            }
        });
        Ok(tx)
    }

    async fn write_frame<W: AsyncWriteExt + Unpin>(
        w: &mut W,
        tag: u64,
        data: &[u8],
    ) -> io::Result<()> {
        let len = u32::try_from(8 + data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
        w.write_u32(len).await?;
        w.write_u64(tag).await?;
        w.write_all(data).await
    }

    async fn accept_loop(listener: TcpListener, inner: Weak<Inner>) {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("inter-node listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if inner.strong_count() == 0 {
                return;
            }
            let inner = inner.clone();
            tokio::spawn(async move {
                let peer = stream.peer_addr().ok();
                if let Err(e) = read_loop(stream, inner).await {
                    if let Some(peer) = peer {
                        eprintln!("inter-node connection from {peer} closed: {e}");
                    }
                }
            });
        }
    }

    /// Reads the sender's address, then its frames into the mailbox, until it goes away.
    async fn read_loop(stream: TcpStream, inner: Weak<Inner>) -> io::Result<()> {
        let _ = stream.set_nodelay(true);
        let mut stream = tokio::io::BufReader::new(stream);
        let hello = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut stream, 256))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no hello within 10 s"))??;
        let Some(hello) = hello else { return Ok(()) };
        let from: SocketAddr = std::str::from_utf8(&hello)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "a hello that is no address")
            })?;
        loop {
            let Some(mut frame) = read_frame(&mut stream, MAX_FRAME).await? else {
                return Ok(());
            };
            if frame.len() < 8 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a frame without a tag",
                ));
            }
            let tag = frame.get_u64();
            let Some(inner) = inner.upgrade() else {
                return Ok(());
            };
            lock(&inner.mailbox).deliver(tag, frame, from);
        }
    }

    /// One `u32`-length-prefixed frame; `None` at a clean end of file before it.
    async fn read_frame<R: AsyncReadExt + Unpin>(
        r: &mut R,
        max: usize,
    ) -> io::Result<Option<Bytes>> {
        let len = match r.read_u32().await {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        if len > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame of {len} bytes is over the limit of {max}"),
            ));
        }
        let mut buf = BytesMut::zeroed(len);
        r.read_exact(&mut buf).await?;
        Ok(Some(buf.freeze()))
    }

    type Msg = (Bytes, SocketAddr);

    /// Frames waiting for a receiver and receivers waiting for a frame, by tag.
    struct Mailbox {
        waiting: HashMap<u64, VecDeque<oneshot::Sender<Msg>>>,
        stash: HashMap<u64, VecDeque<(Instant, Msg)>>,
        last_purge: Instant,
    }

    impl Mailbox {
        fn new() -> Mailbox {
            Mailbox {
                waiting: HashMap::new(),
                stash: HashMap::new(),
                last_purge: Instant::now(),
            }
        }

        fn deliver(&mut self, tag: u64, data: Bytes, from: SocketAddr) {
            self.purge();
            let mut msg = (data, from);
            if let Some(q) = self.waiting.get_mut(&tag) {
                while let Some(tx) = q.pop_front() {
                    match tx.send(msg) {
                        Ok(()) => {
                            if q.is_empty() {
                                self.waiting.remove(&tag);
                            }
                            return;
                        }
                        Err(m) => msg = m,
                    }
                }
                self.waiting.remove(&tag);
            }
            self.stash
                .entry(tag)
                .or_default()
                .push_back((Instant::now(), msg));
        }

        fn recv(&mut self, tag: u64) -> oneshot::Receiver<Msg> {
            let (tx, rx) = oneshot::channel();
            let mut stashed = None;
            if let Some(q) = self.stash.get_mut(&tag) {
                stashed = q.pop_front();
                if q.is_empty() {
                    self.stash.remove(&tag);
                }
            }
            match stashed {
                Some((_, msg)) => {
                    let _ = tx.send(msg);
                }
                None => self.waiting.entry(tag).or_default().push_back(tx),
            }
            rx
        }

        /// At most once a second: drops frames older than [`STASH_TTL`] and waiters that
        /// gave up.
        fn purge(&mut self) {
            let now = Instant::now();
            if now - self.last_purge < Duration::from_secs(1) {
                return;
            }
            self.last_purge = now;
            self.stash.retain(|_, q| {
                q.retain(|(at, _)| now - *at < STASH_TTL);
                !q.is_empty()
            });
            self.waiting.retain(|_, q| {
                q.retain(|tx| !tx.is_closed());
                !q.is_empty()
            });
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn rt() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        }

        fn loopback() -> SocketAddr {
            SocketAddr::from(([127, 0, 0, 1], 0))
        }

        #[test]
        fn frames_reach_the_receiver_of_their_tag_with_the_senders_address() {
            rt().block_on(async {
                let a = Endpoint::bind(loopback()).await.unwrap();
                let b = Endpoint::bind(loopback()).await.unwrap();
                let b_addr = b.local_addr().unwrap();
                a.send_to(b_addr, 7, b"seven").await.unwrap();
                a.send_to(b_addr, 1, b"one").await.unwrap();
                let (data, from) = b.recv(1).await.unwrap();
                assert_eq!((&data[..], from), (&b"one"[..], a.local_addr().unwrap()));
                let (data, _) = b.recv(7).await.unwrap();
                assert_eq!(&data[..], b"seven");
            });
        }

        #[test]
        fn a_dead_peer_is_an_error_then_a_restarted_one_is_reached_again() {
            rt().block_on(async {
                let a = Endpoint::bind(loopback()).await.unwrap();
                let b = Endpoint::bind(loopback()).await.unwrap();
                let b_addr = b.local_addr().unwrap();
                a.send_to(b_addr, 1, b"x").await.unwrap();
                b.recv(1).await.unwrap();
                drop(b);
                // The writer notices the closed connection; then connects are refused.
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    if a.send_to(b_addr, 1, b"y").await.is_err() {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "sends to a dead peer kept succeeding"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // Within the backoff the error comes without a connect.
                assert!(a.send_to(b_addr, 1, b"z").await.is_err());
                let b = Endpoint::bind(b_addr).await.unwrap();
                let deadline = Instant::now() + Duration::from_secs(5);
                while a.send_to(b_addr, 1, b"back").await.is_err() {
                    assert!(
                        Instant::now() < deadline,
                        "the restarted peer was not reached"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let (data, _) = b.recv(1).await.unwrap();
                assert_eq!(&data[..], b"back");
            });
        }

        #[test]
        fn an_unclaimed_frame_waits_for_its_receiver_and_an_abandoned_waiter_is_skipped() {
            let mut m = Mailbox::new();
            let from = SocketAddr::from(([127, 0, 0, 1], 1));
            let gave_up = m.recv(5);
            drop(gave_up);
            m.deliver(5, Bytes::from_static(b"late"), from);
            let mut rx = m.recv(5);
            assert_eq!(&rx.try_recv().unwrap().0[..], b"late");
        }
    }
}
