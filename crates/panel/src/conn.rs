//! Connections: one accept loop per listener, plain or TLS, with a header-read timeout, an idle keep-alive timeout
//! and one cap on the connections open at once (`maxcpsrvdconnections`) shared by every listener.
//!
//! The cap is read from the configuration in force at every accept, so a changed `maxcpsrvdconnections` applies
//! without a restart (lowered below the connections open, it admits no new one until enough have closed).
//! When the cap is reached, the connection that has been idle the longest (no request in flight, no byte read or
//! written) is closed to make room; only when every connection is busy with a request is the newcomer refused (plain HTTP gets a
//! `503` first). So idle or slow clients can hold slots only until an honest client needs one.
//!
//! A request counts as busy only once its whole body has arrived ([`DeadlineBody`]): a client that sends a head and
//! then trickles (or withholds) its body is as evictable as an idle one, and its body must arrive within the
//! body-read timeout, or the request fails and the connection closes. So slow bodies cannot hold the server either.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use settings::TweakSettings;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::tls::{HANDSHAKE_TIMEOUT, TlsListener};

/// The Tweak Setting that caps the connections open at once.
pub const MAX_CONNECTIONS_SETTING: &str = "maxcpsrvdconnections";
/// The cap when the setting is absent or unreadable: WHM's default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 200;

/// What one connection may take from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, over every listener.
    pub max_connections: usize,
    /// From the moment the server waits for a request head until the whole head has arrived.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no byte read or written for this long is closed.
    pub idle_timeout: Duration,
    /// The most bytes buffered for one request head (hyper answers 431 beyond it).
    pub max_buf_size: usize,
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// From the request head's arrival until its whole body has arrived.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            max_buf_size: 64 * 1024,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The defaults, with the cap from `maxcpsrvdconnections`.
    pub fn from_settings(settings: &TweakSettings) -> Limits {
        let max_connections = settings
            .in_force(MAX_CONNECTIONS_SETTING)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        Limits {
            max_connections,
            ..Limits::default()
        }
    }
}

/// One open connection as the registry sees it.
#[derive(Debug)]
struct Slot {
    /// Requests whose head has arrived and whose answer is not ready yet (a shutdown waits for them).
    in_flight: AtomicUsize,
    /// Of those, the requests whose whole body has arrived: only these keep the connection from being closed to make
    /// room, or for being idle.
    busy: AtomicUsize,
    /// Milliseconds since the registry's epoch of the last byte read or written, or request finished.
    last_active: AtomicU64,
    /// Milliseconds since the registry's epoch when the connection began to wait for its next request head: when it
    /// opened, or when its last request was answered and the answer's last bytes were written. While no request is
    /// in flight, a head must arrive within [`Limits::header_read_timeout`] of it (checked by the connection's watch,
    /// not a timer per request).
    head_since: AtomicU64,
    evict: Notify,
}

/// Where the cap comes from: read at every accept, so a reloaded configuration changes it.
pub type Cap = Box<dyn Fn() -> usize + Send + Sync>;

/// Every open connection, and the cap on them.
struct Registry {
    cap: Cap,
    /// The cap last applied, to log a change once.
    last_cap: AtomicUsize,
    /// Connections admitted and not yet closed.
    open: AtomicUsize,
    /// Notified when a connection closes.
    room: Notify,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("open", &self.open)
            .field("last_cap", &self.last_cap)
            .finish_non_exhaustive()
    }
}

/// A connection counted against the cap until it is dropped.
struct Admission {
    registry: Arc<Registry>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.registry.open.fetch_sub(1, Ordering::AcqRel);
        self.registry.room.notify_waiters();
    }
}

impl Registry {
    /// Counts a new connection if the cap in force leaves room for it.
    fn try_admit(self: &Arc<Self>) -> Option<Admission> {
        let cap = (self.cap)().max(1);
        let before = self.last_cap.swap(cap, Ordering::Relaxed);
        if before != cap {
            tracing::info!("the connection cap ({MAX_CONNECTIONS_SETTING}) is now {cap}");
        }
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1))
            .ok()
            .map(|_| Admission {
                registry: Arc::clone(self),
            })
    }

    /// Waits up to `limit` for a connection to close and admits the newcomer in its place.
    async fn admit_within(self: &Arc<Self>, limit: Duration) -> Option<Admission> {
        tokio::time::timeout(limit, async {
            loop {
                let closed = self.room.notified();
                tokio::pin!(closed);
                closed.as_mut().enable();
                if let Some(a) = self.try_admit() {
                    return a;
                }
                closed.await;
            }
        })
        .await
        .ok()
    }

    /// Requests being served now, over every connection.
    fn in_flight(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|s| s.in_flight.load(Ordering::Acquire))
            .sum()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn register(self: &Arc<Self>) -> SlotGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            in_flight: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            last_active: AtomicU64::new(self.now()),
            head_since: AtomicU64::new(self.now()),
            evict: Notify::new(),
        });
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::clone(&slot));
        SlotGuard {
            registry: Arc::clone(self),
            id,
            slot,
        }
    }

    /// Asks the connection idle the longest to close; false when every connection is busy with a request whose body
    /// has arrived (a connection still sending its body counts as idle here).
    fn evict_oldest_idle(&self) -> bool {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = slots
            .values()
            .filter(|s| s.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|s| s.last_active.load(Ordering::Relaxed));
        match oldest {
            Some(slot) => {
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Removes its slot from the registry when the connection ends.
struct SlotGuard {
    registry: Arc<Registry>,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.registry
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// A stream that stamps its slot on every byte read or written, so "idle" means silent both ways.
struct Stamped<I> {
    inner: I,
    slot: Arc<Slot>,
    registry: Arc<Registry>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Stamped<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.slot.last_active.store(self.registry.now(), Ordering::Relaxed);
        }
        result
    }
}

impl<I> Stamped<I> {
    /// When an answer's bytes went out, the client is reading: the connection is neither idle nor yet waiting for its
    /// next head, so a large answer read slowly is written whole, however long after its request it ends.
    fn stamp_written(&self, result: &Poll<std::io::Result<usize>>) {
        if matches!(result, Poll::Ready(Ok(n)) if *n > 0) {
            let now = self.registry.now();
            self.slot.last_active.store(now, Ordering::Relaxed);
            self.slot.head_since.store(now, Ordering::Relaxed);
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Stamped<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.stamp_written(&result);
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.stamp_written(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Counts a request in flight on its connection until its response is ready (or it is dropped).
struct InFlight {
    slot: Arc<Slot>,
    registry: Arc<Registry>,
    /// Held until the answer is ready: the request stays busy until then.
    _busy: Arc<BusyMark>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.registry.now();
        self.slot.last_active.store(now, Ordering::Relaxed);
        self.slot.head_since.store(now, Ordering::Relaxed);
        self.slot.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request counted as busy on its connection from the moment its whole body has arrived until both its answer is
/// ready and its body is dropped.
struct BusyMark {
    slot: Arc<Slot>,
    marked: std::sync::atomic::AtomicBool,
}

impl BusyMark {
    fn mark(&self) {
        if !self.marked.swap(true, Ordering::AcqRel) {
            self.slot.busy.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for BusyMark {
    fn drop(&mut self) {
        if *self.marked.get_mut() {
            self.slot.busy.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Why a request body failed: it did not arrive within [`Limits::body_read_timeout`].
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body with a deadline: reading it past the deadline fails with [`BodyTimeout`], and once it has ended
/// its request counts as busy. Every request the router sees has one, so no reader can forget it.
pub struct DeadlineBody {
    inner: Incoming,
    /// When the body must have arrived: the head's arrival plus [`Limits::body_read_timeout`].
    deadline: tokio::time::Instant,
    /// The timer, set only the first time the body is not all there yet: most bodies come with their head, and
    /// their requests never touch the timer wheel.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    busy: Arc<BusyMark>,
}

impl std::fmt::Debug for DeadlineBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineBody").finish_non_exhaustive()
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.busy.mark();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.busy.mark();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match std::future::Future::poll(timer.as_mut(), cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The client's address, for plain and TLS connections alike.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// Whether the request came over TLS (set by the accept loop on every request; absent means plain HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Https(pub bool);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Https {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Https, Self::Rejection> {
        Ok(parts.extensions.get::<Https>().copied().unwrap_or(Https(false)))
    }
}

/// How long a shutdown waits for requests in flight before it gives up on them.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on every listener until the process is stopped, with the cap fixed at `limits.max_connections`.
pub async fn serve(
    app: Router,
    listeners: Vec<TcpListener>,
    tls: Vec<TlsListener>,
    limits: Limits,
) -> anyhow::Result<()> {
    let cap = limits.max_connections;
    serve_until(
        app,
        listeners,
        tls,
        limits,
        Box::new(move || cap),
        std::future::pending(),
    )
    .await
}

/// Serves `app` on every listener until `shutdown` completes; then stops accepting, lets the requests in flight
/// finish (for at most [`DRAIN`]) and returns. Idle keep-alive connections are simply closed.
/// `cap` gives the connection cap in force; `limits.max_connections` is ignored.
pub async fn serve_until(
    app: Router,
    listeners: Vec<TcpListener>,
    tls: Vec<TlsListener>,
    limits: Limits,
    cap: Cap,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let first = cap();
    let registry = Arc::new(Registry {
        cap,
        last_cap: AtomicUsize::new(first.max(1)),
        open: AtomicUsize::new(0),
        room: Notify::new(),
        slots: Mutex::new(HashMap::new()),
        next: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    let mut tasks = Vec::new();
    for listener in listeners {
        let (app, registry) = (app.clone(), Arc::clone(&registry));
        tasks.push(tokio::spawn(accept_loop(listener, None, app, registry, limits)));
    }
    for TlsListener { listener, acceptor } in tls {
        let (app, registry) = (app.clone(), Arc::clone(&registry));
        tasks.push(tokio::spawn(accept_loop(
            listener,
            Some(acceptor),
            app,
            registry,
            limits,
        )));
    }
    shutdown.await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        // The accept loops end only by being aborted: the listeners close here.
        let _ = t.await;
    }
    let deadline = Instant::now() + DRAIN;
    while registry.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = registry.in_flight();
    if left > 0 {
        tracing::warn!("stopped with {left} request(s) still in flight after {DRAIN:?}");
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    registry: Arc<Registry>,
    limits: Limits,
) {
    let local = listener.local_addr().ok();
    let refusals = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept on {local:?} failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match registry.try_admit() {
            Some(p) => p,
            None => {
                let made_room = if registry.evict_oldest_idle() {
                    registry.admit_within(Duration::from_millis(250)).await
                } else {
                    None
                };
                match made_room {
                    Some(p) => p,
                    None => {
                        refuse(stream, tls.is_none(), peer, &refusals);
                        continue;
                    }
                }
            }
        };
        let (app, registry, tls) = (app.clone(), Arc::clone(&registry), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let guard = registry.register();
            let stream = Stamped {
                inner: stream,
                slot: Arc::clone(&guard.slot),
                registry: Arc::clone(&registry),
            };
            match tls {
                None => connection(stream, peer, false, app, &guard, limits).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        r = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)) => r,
                        () = guard.slot.evict.notified() => return,
                    };
                    match handshake {
                        Ok(Ok(tls)) => connection(tls, peer, true, app, &guard, limits).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                }
            }
        });
    }
}

/// At most this many refused connections are being answered at once; beyond it a refused connection is just closed.
const MAX_REFUSALS: usize = 64;
/// How long a refused plain client has to send its request head before it is answered anyway.
const REFUSAL_WAIT: Duration = Duration::from_millis(200);

/// Every connection is busy: a plain client is told so with a `503`, then the socket is closed.
///
/// The request head is read (and discarded) first: closing a socket with unread bytes makes the kernel reset the
/// connection, and a reset can destroy the `503` before the client reads it.
fn refuse(stream: TcpStream, plain: bool, peer: SocketAddr, refusals: &Arc<AtomicUsize>) {
    tracing::warn!("connection from {peer} refused: all connections are busy");
    if !plain || refusals.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSALS {
        if plain {
            refusals.fetch_sub(1, Ordering::AcqRel);
        }
        return;
    }
    let refusals = Arc::clone(refusals);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let mut head = [0u8; 8 * 1024];
        let _ = tokio::time::timeout(REFUSAL_WAIT, stream.read(&mut head)).await;
        let _ = stream
            .write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n",
            )
            .await;
        let _ = stream.shutdown().await;
        let _ = tokio::time::timeout(REFUSAL_WAIT, stream.read(&mut head)).await;
        refusals.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Serves HTTP/1.1 on one connection until the client leaves, is idle too long, or is evicted while idle.
async fn connection<I>(io: I, peer: SocketAddr, https: bool, app: Router, guard: &SlotGuard, limits: Limits)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = Arc::clone(&guard.slot);
    let registry = Arc::clone(&guard.registry);
    // The first head is awaited from here (after a TLS handshake, which has its own deadline).
    slot.head_since.store(registry.now(), Ordering::Relaxed);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        let busy = Arc::new(BusyMark {
            slot: Arc::clone(&slot),
            marked: std::sync::atomic::AtomicBool::new(false),
        });
        let (parts, body) = req.into_parts();
        if body.is_end_stream() {
            busy.mark();
        }
        let body = DeadlineBody {
            inner: body,
            deadline: tokio::time::Instant::now() + limits.body_read_timeout,
            timer: None,
            busy: Arc::clone(&busy),
        };
        let mut req = hyper::Request::from_parts(parts, body);
        let in_flight = InFlight {
            slot: Arc::clone(&slot),
            registry: Arc::clone(&registry),
            _busy: busy,
        };
        req.extensions_mut().insert(ConnectInfo(Peer(peer)));
        req.extensions_mut().insert(Https(https));
        let app = app.clone();
        async move {
            let response = app.oneshot(req).await;
            drop(in_flight);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(limits.max_buf_size).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let slot = &guard.slot;
    let registry = &guard.registry;
    // The watch enforces both the idle and the head deadline (hyper's own head timer would be one more timer set and
    // cleared per request), so it ticks often enough for the shorter one.
    let tick = (limits.idle_timeout.min(limits.header_read_timeout) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut watch = tokio::time::interval(tick);
    loop {
        tokio::select! {
            // The connection first: after the task waited for a worker, what it can read or write now is progress
            // the watch must see before it judges the connection idle.
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
                return;
            }
            () = slot.evict.notified() => {
                if slot.busy.load(Ordering::Acquire) == 0 {
                    tracing::debug!("closing the idle connection from {peer} to make room");
                    return;
                }
            }
            _ = watch.tick() => {
                let now = registry.now();
                let idle_ms = now.saturating_sub(slot.last_active.load(Ordering::Relaxed));
                if slot.busy.load(Ordering::Acquire) == 0 && u128::from(idle_ms) >= limits.idle_timeout.as_millis() {
                    tracing::debug!("closing the connection from {peer}: idle for {idle_ms} ms");
                    return;
                }
                let waiting_ms = now.saturating_sub(slot.head_since.load(Ordering::Relaxed));
                if slot.in_flight.load(Ordering::Acquire) == 0
                    && u128::from(waiting_ms) >= limits.header_read_timeout.as_millis()
                {
                    tracing::debug!("closing the connection from {peer}: no whole request head in {waiting_ms} ms");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_comes_from_maxcpsrvdconnections() {
        assert_eq!(
            Limits::from_settings(&TweakSettings::defaults()).max_connections,
            DEFAULT_MAX_CONNECTIONS
        );
        let mut s = TweakSettings::defaults();
        s.set_stored(MAX_CONNECTIONS_SETTING, Some("1500".into())).unwrap();
        assert_eq!(Limits::from_settings(&s).max_connections, 1500);
    }
}
