//! ferry's built-in HTTP reverse proxy.
//!
//! - **Routing table.** The members live in an immutable table behind an
//!   `RwLock<Arc<Table>>`: a request clones the `Arc` (nanoseconds under the
//!   lock) and routes on that snapshot, [`Proxy::apply`] builds a new table
//!   and swaps it in whole, so no request ever sees half an update. Each
//!   member's runtime (health, in-flight count) is kept across swaps.
//! - **Choosing a member.** Weighted random among Ready members with weight
//!   above 0 that are healthy; if none is healthy, among those not known to
//!   be unhealthy; if none, among all of them (fail open, as ELB does).
//!   The test listener chooses among members marked `test`, by health.
//! - **Draining.** A Drain member takes no new request; its in-flight count
//!   (held until the response body is done) tells when it is idle.
//! - **Forwarding.** Each member keeps a pool of idle keep-alive HTTP/1.1
//!   connections (TCP_NODELAY, 2 s connect timeout). A connection is taken
//!   *before* the request is built, so a member that refuses connections
//!   costs nothing but trying the next one; a request that a pooled
//!   connection could not take (closed meanwhile) comes back unsent and is
//!   retried; an idempotent request without a body (GET, HEAD, OPTIONS) is
//!   also retried when a connection broke before any answer. Three attempts
//!   at most, each on another member when there is one; then 502. With no
//!   member to send to, 503. A connection goes back to its pool only once
//!   the response body has been read to its end.
//! - **Health checks.** `GET <path>` to every member each interval, with
//!   the thresholds of [`HealthCheck`].

mod health;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::{AdminState, Health, HealthCheck, LbError, Member, MemberStatus};

const ATTEMPTS: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept per member.
const MAX_IDLE: usize = 256;

type ProxyBody = BoxBody<Bytes, hyper::Error>;
type Sender = SendRequest<ProxyBody>;

/// A member's runtime, kept across table swaps.
struct Runtime {
    name: String,
    addr: SocketAddr,
    in_flight: AtomicU64,
    /// The check history; `health` mirrors its verdict for lock-free reads.
    checks: Mutex<health::State>,
    health: AtomicU8,
    requests: AtomicU64,
    idle: Mutex<Vec<Sender>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("name", &self.name).field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Runtime {
    fn new(name: &str, addr: SocketAddr) -> Self {
        Self {
            name: name.to_string(),
            addr,
            in_flight: AtomicU64::new(0),
            checks: Mutex::new(health::State::default()),
            health: AtomicU8::new(health::encode(Health::Unknown)),
            requests: AtomicU64::new(0),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn health(&self) -> Health {
        health::decode(self.health.load(Ordering::Relaxed))
    }

    /// An idle pooled connection that is still open, or a new one.
    async fn connection(&self) -> Result<Sender, String> {
        loop {
            let Some(sender) = self.idle.lock().unwrap().pop() else { break };
            if !sender.is_closed() && sender.is_ready() {
                return Ok(sender);
            }
        }
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| format!("connecting to {} ({}) timed out", self.name, self.addr))?
            .map_err(|e| format!("cannot connect to {} ({}): {e}", self.name, self.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {} ({}) failed: {e}", self.name, self.addr))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn give_back(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        if idle.len() < MAX_IDLE {
            idle.push(sender);
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    rt: Arc<Runtime>,
    weight: u32,
    state: AdminState,
    test: bool,
}

#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
}

struct Inner {
    table: RwLock<Arc<Table>>,
    check: HealthCheck,
    /// Requests answered by the proxy itself with 502/503.
    refused: AtomicU64,
    forwarded: AtomicU64,
}

/// The accept loops serving a proxy, by address.
type Listeners = Arc<Mutex<Vec<(SocketAddr, tokio::task::JoinHandle<()>)>>>;

/// The proxy: listeners plus the shared routing table. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
    listeners: Listeners,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub forwarded: u64,
    pub refused: u64,
}

impl Proxy {
    /// A proxy with no members and no listener yet; health checks start.
    pub fn new(check: HealthCheck) -> Self {
        let inner = Arc::new(Inner {
            table: RwLock::new(Arc::new(Table::default())),
            check,
            refused: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        tokio::spawn(health::run(Arc::downgrade(&inner)));
        Proxy { inner, listeners: Arc::default() }
    }

    /// Serves production traffic (`test: false`) or test traffic on `listener`.
    pub fn serve(&self, listener: TcpListener, test: bool) -> Result<SocketAddr, LbError> {
        let addr = listener.local_addr().map_err(|e| LbError::Backend(format!("listener: {e}")))?;
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "proxy accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let inner = inner.clone();
                // The client's address, made once per connection.
                let peer = HeaderValue::try_from(peer.ip().to_string()).ok();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let inner = inner.clone();
                        let peer = peer.clone();
                        async move { Ok::<_, Infallible>(inner.handle(req, peer, test).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        self.listeners.lock().unwrap().push((addr, task));
        Ok(addr)
    }

    /// Binds `addr` and serves on it.
    pub async fn listen(&self, addr: SocketAddr, test: bool) -> Result<SocketAddr, LbError> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| LbError::Backend(format!("cannot listen on {addr}: {e}")))?;
        self.serve(listener, test)
    }

    /// Swaps in a table of exactly `members` (keeping the runtime of those
    /// already known by name and address).
    pub fn apply(&self, members: &[Member]) {
        let mut table = self.inner.table.write().unwrap();
        let entries = members
            .iter()
            .map(|m| {
                let rt = table
                    .entries
                    .iter()
                    .find(|e| e.rt.name == m.name && e.rt.addr == m.addr)
                    .map(|e| e.rt.clone())
                    .unwrap_or_else(|| Arc::new(Runtime::new(&m.name, m.addr)));
                Entry { rt, weight: m.weight, state: m.state, test: m.test }
            })
            .collect();
        *table = Arc::new(Table { entries });
    }

    pub fn status(&self) -> Vec<MemberStatus> {
        let table = self.inner.snapshot();
        table
            .entries
            .iter()
            .map(|e| MemberStatus {
                name: e.rt.name.clone(),
                addr: e.rt.addr,
                weight: e.weight,
                state: e.state,
                health: e.rt.health(),
                in_flight: e.rt.in_flight.load(Ordering::SeqCst),
                requests: e.rt.requests.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Requests each member was sent, by name.
    pub fn requests_by_member(&self) -> Vec<(String, u64)> {
        self.inner
            .snapshot()
            .entries
            .iter()
            .map(|e| (e.rt.name.clone(), e.rt.requests.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn counters(&self) -> Counters {
        Counters {
            forwarded: self.inner.forwarded.load(Ordering::Relaxed),
            refused: self.inner.refused.load(Ordering::Relaxed),
        }
    }

    /// Stops listening (requests in progress finish).
    pub fn close(&self) {
        for (_, task) in self.listeners.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Stops listening and returns once the listening sockets are closed,
    /// so their addresses can be bound again.
    pub async fn shutdown(&self) {
        let tasks: Vec<_> = self.listeners.lock().unwrap().drain(..).map(|(_, task)| task).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<Table> {
        self.table.read().unwrap().clone()
    }

    /// A member for the next request, not one of `tried` (unless only
    /// those are left): weighted random among healthy members, else among
    /// those not known to be unhealthy, else among all (fail open).
    fn pick(&self, test: bool, tried: &[Option<Arc<Runtime>>]) -> Option<Arc<Runtime>> {
        let table = self.snapshot();
        let weight = |e: &Entry| {
            if test {
                u64::from(e.test && e.state != AdminState::Maint)
            } else {
                if e.state == AdminState::Ready { u64::from(e.weight) } else { 0 }
            }
        };
        for fresh in [true, false] {
            for tier in 0..3 {
                let fits = |e: &Entry| {
                    let health = e.rt.health();
                    weight(e) > 0
                        && (!fresh || !tried.iter().flatten().any(|t| Arc::ptr_eq(t, &e.rt)))
                        && match tier {
                            0 => health == Health::Healthy,
                            1 => health != Health::Unhealthy,
                            _ => true,
                        }
                };
                let total: u64 = table.entries.iter().filter(|e| fits(e)).map(weight).sum();
                if total == 0 {
                    continue;
                }
                let mut ticket = random_below(total);
                for e in table.entries.iter().filter(|e| fits(e)) {
                    let w = weight(e);
                    if ticket < w {
                        return Some(e.rt.clone());
                    }
                    ticket -= w;
                }
            }
        }
        None
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Option<HeaderValue>,
        test: bool,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(peer) = peer {
            add_forwarded_for(&mut parts.headers, peer);
        }
        // Only what can be sent again is retried after a broken connection.
        let idempotent = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) && body.is_end_stream();
        let mut request = Some(Request::from_parts(parts, body.boxed()));
        // At most ATTEMPTS members, kept without allocating.
        let mut tried: [Option<Arc<Runtime>>; ATTEMPTS] = Default::default();
        let mut attempts = 0;
        let mut last_error = String::from("no member is available");
        while attempts < ATTEMPTS {
            let Some(member) = self.pick(test, &tried[..attempts]) else { break };
            tried[attempts] = Some(member.clone());
            attempts += 1;
            let mut sender = match member.connection().await {
                Ok(sender) => sender,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            let Some(req) = request.take() else { break };
            let copy = idempotent.then(|| resend_copy(&req));
            let guard = InFlight::new(member.clone());
            match sender.try_send_request(req).await {
                Ok(response) => {
                    self.forwarded.fetch_add(1, Ordering::Relaxed);
                    member.requests.fetch_add(1, Ordering::Relaxed);
                    let (mut parts, body) = response.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    let body = GuardedBody { inner: body, member, sender: Some(sender), _guard: guard };
                    return Response::from_parts(parts, body.boxed());
                }
                Err(mut e) => {
                    last_error = format!("forwarding to {} ({}) failed: {}", member.name, member.addr, e.error());
                    // Unsent, it goes elsewhere as it is; sent but unanswered, only a copy of an idempotent one.
                    request = e.take_message().or(copy);
                    if request.is_none() {
                        break;
                    }
                }
            }
        }
        let status = if attempts == 0 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
        self.refuse(status, &last_error)
    }

    fn refuse(&self, status: StatusCode, message: &str) -> Response<ProxyBody> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%status, message, "proxy refused a request");
        let mut response =
            Response::new(Full::new(Bytes::from(format!("{message}\n"))).map_err(|n| match n {}).boxed());
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        response
    }
}

/// Counts a request as in flight on a member until dropped.
struct InFlight(Arc<Runtime>);

impl InFlight {
    fn new(rt: Arc<Runtime>) -> Self {
        rt.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(rt)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A copy of a bodiless request, to send again.
fn resend_copy(req: &Request<ProxyBody>) -> Request<ProxyBody> {
    let mut copy = Request::new(Empty::<Bytes>::new().map_err(|never| match never {}).boxed());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// A response body that keeps its member's in-flight count until it is
/// read to the end (or dropped), and then gives the connection back to the
/// member's pool (only when read to the end: it is reusable then).
struct GuardedBody {
    inner: Incoming,
    member: Arc<Runtime>,
    sender: Option<Sender>,
    _guard: InFlight,
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(sender) = self.sender.take() {
                    self.member.give_back(sender);
                }
            }
            Poll::Ready(Some(Err(_))) => self.sender = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for GuardedBody {
    fn drop(&mut self) {
        // An empty body may never be polled to its end.
        if let Some(sender) = self.sender.take()
            && self.inner.is_end_stream()
        {
            self.member.give_back(sender);
        }
    }
}

const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization"];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none: one pass over a few names is cheaper than
    // looking each hop-by-hop name up.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(&k.as_str())) {
        return;
    }
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn add_forwarded_for(headers: &mut HeaderMap, peer: HeaderValue) {
    let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(existing) => HeaderValue::try_from(format!("{existing}, {}", peer.to_str().unwrap_or(""))).ok(),
        None => Some(peer),
    };
    if let Some(value) = value {
        headers.insert("x-forwarded-for", value);
    }
}

/// A cheap random number below `n` (xorshift, seeded per thread).
fn random_below(n: u64) -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
            let local = 0u8;
            seed ^ (&local as *const u8 as u64).rotate_left(17) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x % n
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_below_stays_below() {
        for n in [1, 2, 7, 100] {
            for _ in 0..1000 {
                assert!(super::random_below(n) < n);
            }
        }
    }
}
