//! The listeners: accepting connections within the connection limits, the
//! TLS handshake, HTTP/1.1 with keep-alive, the per-connection timeouts and
//! a bounded graceful shutdown.
//!
//! Each connection runs in a task of its own (a slow client never holds up
//! the accept loop) with a watchdog that closes it when
//! - its TLS handshake takes longer than the handshake timeout;
//! - a request has begun (a byte of it arrived) but its headers are not
//!   complete within the header timeout;
//! - no request is in flight and nothing arrived for the idle timeout (so an
//!   agent's connection, reused poll after poll, stays open; one left idle
//!   goes away).
//!
//! A request in flight is never cut by the watchdog: a held long poll or an
//! event stream may be quiet for long. Its body has its own timeout (`limits`).
//! At shutdown every connection is told to finish (idle ones close at once,
//! long polls are ended by the driver); what is still open after the
//! shutdown timeout is closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::limits::{ConnectionLimiter, ConnectionSlot, Limits, Refusal};

/// Largest request head (and read buffer) of a connection; the default
/// (~400 KiB) would let each idle connection pin much more memory.
const MAX_READ_BUFFER: usize = 64 << 10;

/// What every connection of every listener shares.
pub(crate) struct Edge {
    pub router: Router,
    pub limits: Limits,
    pub limiter: Arc<ConnectionLimiter>,
    /// `None`: plain HTTP (`--insecure-http`).
    pub tls: Option<TlsAcceptor>,
    /// A certificate that learns local addresses as connections arrive on them.
    pub tls_names: Option<Arc<crate::tls::GrowingNames>>,
    /// When a refused connection was last logged (ms since the Unix epoch),
    /// so that a flood is logged once every few seconds, not per connection.
    last_refusal_logged: AtomicU64,
}

impl Edge {
    pub fn new(
        router: Router,
        limits: Limits,
        limiter: Arc<ConnectionLimiter>,
        tls: Option<&crate::tls::Tls>,
    ) -> Arc<Self> {
        Arc::new(Self {
            router,
            limits,
            limiter,
            tls: tls.map(|t| TlsAcceptor::from(t.config.clone())),
            tls_names: tls.and_then(|t| t.names.clone()),
            last_refusal_logged: AtomicU64::new(0),
        })
    }

    fn log_refusal(&self, refusal: Refusal, peer: SocketAddr) {
        let now = crate::clock::now_millis();
        let last = self.last_refusal_logged.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 10_000
            || self.last_refusal_logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        let (limit, setting) = match refusal {
            Refusal::Total => (self.limits.max_connections, "--max-connections"),
            Refusal::PerAddress => (self.limits.max_connections_per_address, "--max-connections-per-address"),
        };
        tracing::warn!(%peer, limit, "connection refused: {setting} reached (logged at most every 10 s)");
    }
}

/// Accepts connections until `stop`, then lets them finish for at most the
/// shutdown timeout.
pub(crate) async fn serve(listener: TcpListener, edge: Arc<Edge>, stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    let stopping = stopped(stop.clone());
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // As axum does: errors of one connection are not the listener's.
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionRefused
                                | std::io::ErrorKind::ConnectionAborted
                                | std::io::ErrorKind::ConnectionReset
                        ) {
                            tracing::error!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                        continue;
                    }
                };
                match edge.limiter.try_open(peer.ip()) {
                    Ok(slot) => {
                        connections.spawn(connection(tcp, peer, slot, edge.clone(), stop.clone()));
                    }
                    // Dropping the socket closes it before anything is read.
                    Err(refusal) => edge.log_refusal(refusal, peer),
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut stopping => break,
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(edge.limits.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { return },
            _ = &mut deadline => {
                tracing::warn!(
                    open = connections.len(),
                    timeout = ?edge.limits.shutdown_timeout,
                    "closing connections still open after the shutdown timeout"
                );
                connections.abort_all();
                while connections.join_next().await.is_some() {}
                return;
            }
        }
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    _slot: ConnectionSlot,
    edge: Arc<Edge>,
    stop: watch::Receiver<bool>,
) {
    // Without TCP_NODELAY a streamed body (a bundle download) waits
    // ~40 ms behind its headers for the client's delayed ACK.
    let _ = tcp.set_nodelay(true);
    if let Some(names) = &edge.tls_names
        && let Ok(local) = tcp.local_addr()
    {
        names.cover(local.ip());
    }
    match &edge.tls {
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(edge.limits.handshake_timeout, crate::tls::handshake(acceptor, tcp, peer));
            let stream = tokio::select! {
                done = handshake => match done {
                    Ok(Some(stream)) => stream,
                    Ok(None) => return,
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                _ = stopped(stop.clone()) => return,
            };
            http(stream, peer, &edge, stop).await
        }
        None => http(tcp, peer, &edge, stop).await,
    }
}

async fn http<I>(io: I, peer: SocketAddr, edge: &Edge, stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: io, activity: activity.clone() });
    let router = edge.router.clone();
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // Handlers learn where a request came from (agents' host addresses, the audit).
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = requests.begin();
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            Ok::<_, Infallible>(response.map(|body| Body::new(Answering { body, _in_flight: in_flight })))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(MAX_READ_BUFFER);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        why = activity.expired(&edge.limits) => {
            tracing::debug!(%peer, why, "connection closed");
            return;
        }
        _ = stopped(stop) => {}
    }
    // Idle connections close at once; a request in flight finishes first.
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = activity.expired(&edge.limits) => {}
    }
}

/// Resolves once the server is stopping.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// What a connection is doing, for its watchdog.
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    /// Requests whose answer is not completely written.
    in_flight: usize,
    /// When the last answer was written (or the connection opened).
    idle_since: Instant,
    /// When the first byte of a request arrived, until its headers are complete.
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        let state = ActivityState { in_flight: 0, idle_since: Instant::now(), head_since: None };
        Self { state: Mutex::new(state), changed: Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn received(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.head_since = None;
        InFlight(self.clone())
    }

    /// Resolves when the connection should be closed, saying why.
    async fn expired(&self, limits: &Limits) -> &'static str {
        loop {
            let deadline = {
                let state = self.lock();
                match (state.in_flight, state.head_since) {
                    (0, Some(since)) => Some((since + limits.header_read_timeout, "request headers timed out")),
                    (0, None) => Some((state.idle_since + limits.idle_timeout, "idle")),
                    _ => None,
                }
            };
            match deadline {
                Some((at, why)) if Instant::now() >= at => return why,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// A request being answered; dropped when its answer is written (or abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            state.head_since = None;
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// An answer's body, holding its request in flight until it is written.
struct Answering {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Answering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's stream, telling its [`Activity`] when bytes arrive.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
