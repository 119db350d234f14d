//! What one client may cost the server before it has proved who it is:
//! connections (in total and per address), time (handshake, headers, body,
//! idle keep-alive, shutdown) and memory for request bodies.
//!
//! Bodies are read here, by a middleware in front of every route, before any
//! handler sees them:
//! - every body may use [`Limits::unauthenticated_body`] (16 KiB) for free:
//!   the connection limit bounds that memory;
//! - a larger body is read only for a route that takes signed requests and
//!   only when its `Authorization` header is a well-formed SigV4 header of an
//!   existing, enabled access key (a cheap check: no body, no signature);
//!   the part beyond the free allowance is taken from one server-wide budget
//!   ([`Limits::body_memory`]), and a request that finds it spent is answered
//!   503 with `Retry-After` instead of growing the heap;
//! - the bundle upload streams to disk after its handler has verified the
//!   signature, so it is never buffered; a stall longer than the body
//!   timeout ends it;
//! - too large is 413 (declared lengths are refused before a byte is read),
//!   too slow is 408, in the AWS API's error shape on `POST /`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::AppState;
use crate::error::ApiError;

/// Largest body of the AWS API.
const AWS_MAX_BODY: usize = crate::aws::MAX_BODY;
/// Largest body of the native API and the agent protocol.
const NATIVE_MAX_BODY: usize = crate::auth::MAX_JSON_BODY;

/// The server's limits on connections, time and request-body memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open connections in all (beyond it new ones are closed at once).
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_address: usize,
    /// Time for a client to complete its TLS handshake.
    pub handshake_timeout: Duration,
    /// Time from the first byte of a request to the end of its headers.
    pub header_read_timeout: Duration,
    /// Time to read a buffered request body; for a streamed upload, the
    /// longest pause between two pieces of it.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight and nothing sent for this long is closed.
    pub idle_timeout: Duration,
    /// After the shutdown signal, requests in flight get this long before
    /// their connections are closed.
    pub shutdown_timeout: Duration,
    /// Memory all request bodies being read may hold beyond each one's free allowance.
    pub body_memory: usize,
    /// What any body may be, signed or not (sign-in forms, enrolment, small API calls).
    pub unauthenticated_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_address: 128,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(15),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(20),
            body_memory: 64 << 20,
            unauthenticated_body: 16 << 10,
        }
    }
}

/// Counts open connections in total and per address; a [`ConnectionSlot`]
/// gives its place back when dropped.
pub(crate) struct ConnectionLimiter {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

pub(crate) struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    address: IpAddr,
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Total,
    PerAddress,
}

impl ConnectionLimiter {
    pub fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            max_total: limits.max_connections.max(1),
            max_per_address: limits.max_connections_per_address.max(1),
            open: Mutex::new(Open::default()),
        })
    }

    pub fn try_open(self: &Arc<Self>, address: IpAddr) -> Result<ConnectionSlot, Refusal> {
        // An IPv4 client on a dual-stack socket is the same client.
        let address = address.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let from_address = open.by_address.entry(address).or_default();
        if *from_address >= self.max_per_address {
            return Err(Refusal::PerAddress);
        }
        *from_address += 1;
        open.total += 1;
        Ok(ConnectionSlot { limiter: self.clone(), address })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// The server-wide budget of body bytes beyond each body's free allowance.
#[derive(Clone)]
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(limits: &Limits) -> Self {
        Self { bytes: Arc::new(Semaphore::new(limits.body_memory.min(Semaphore::MAX_PERMITS))) }
    }

    fn try_take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(bytes).ok()?;
        self.bytes.clone().try_acquire_many_owned(n).ok()
    }
}

/// How a route takes its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `ferry push` and `ferry build start --source`: streamed to disk
    /// after the signature is checked.
    BundleUpload,
    /// Signed requests may carry up to this much.
    Signed { max: usize },
    /// No signature (sign-in, enrolment, console forms): the free allowance only.
    Unsigned,
    /// A forge's webhook (`/webhooks/…`): signed by the forge, checked by
    /// the handler after reading; up to this much, from the budget.
    Forge { max: usize },
}

impl Route {
    fn of(method: &Method, path: &str) -> Route {
        if path == "/" {
            return Route::Signed { max: AWS_MAX_BODY };
        }
        if method == Method::POST
            && path.strip_prefix("/api/v1/applications/").is_some_and(|rest| {
                rest.strip_suffix("/revisions").is_some_and(|app| !app.is_empty() && !app.contains('/'))
            })
        {
            return Route::BundleUpload;
        }
        if method == Method::POST
            && path.strip_prefix("/api/v1/build-projects/").is_some_and(|rest| {
                rest.strip_suffix("/sources").is_some_and(|project| !project.is_empty() && !project.contains('/'))
            })
        {
            return Route::BundleUpload;
        }
        if path == "/agent/v1/enrol" || path.starts_with("/console") {
            return Route::Unsigned;
        }
        if method == Method::POST && path.starts_with("/webhooks/") {
            return Route::Forge { max: ferry_webhook::MAX_PAYLOAD };
        }
        if path.starts_with("/api/") || path.starts_with("/agent/") {
            return Route::Signed { max: NATIVE_MAX_BODY };
        }
        Route::Unsigned
    }
}

/// Why a body was not read, answered in the shape of the API it was sent to.
struct Refused {
    status: StatusCode,
    aws_code: &'static str,
    native_code: &'static str,
    message: String,
}

impl Refused {
    fn too_large(limit: usize, signed: bool) -> Self {
        let message = if signed {
            format!("The request body exceeds {limit} bytes.")
        } else {
            format!(
                "The request body exceeds {limit} bytes, the most accepted before the request is known to be \
                 signed by an existing access key."
            )
        };
        Refused {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            aws_code: "RequestEntityTooLargeException",
            native_code: "RequestTooLarge",
            message,
        }
    }

    fn busy() -> Self {
        Refused {
            status: StatusCode::SERVICE_UNAVAILABLE,
            aws_code: "ServiceUnavailable",
            native_code: "ServiceUnavailable",
            message: "The server is reading too many request bodies at once; retry shortly.".into(),
        }
    }

    fn too_slow(timeout: Duration) -> Self {
        Refused {
            status: StatusCode::REQUEST_TIMEOUT,
            aws_code: "RequestTimeoutException",
            native_code: "RequestTimeout",
            message: format!("The request body was not received within {} s.", timeout.as_secs_f32()),
        }
    }

    fn unreadable() -> Self {
        Refused {
            status: StatusCode::BAD_REQUEST,
            aws_code: "SerializationException",
            native_code: "InvalidRequest",
            message: "The request body could not be read.".into(),
        }
    }

    fn render(self, aws: bool) -> Response {
        let mut response = if aws {
            let error = ferry_aws::AwsError::new(self.aws_code, self.message).with_status(self.status.as_u16());
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ferry_aws::CONTENT_TYPE));
            headers.insert("x-amzn-errortype", HeaderValue::from_static(self.aws_code));
            if let Ok(id) = HeaderValue::from_str(&crate::random::uuid()) {
                headers.insert("x-amzn-requestid", id);
            }
            (self.status, headers, error.body()).into_response()
        } else {
            ApiError::new(self.status, self.native_code, self.message).into_response()
        };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // The rest of the body is not read: the connection cannot be reused.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// The middleware: reads (or streams) each request's body within the limits.
pub(crate) async fn read_bodies(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let limits = &state.config.limits;
    let aws = request.uri().path() == "/";
    let route = Route::of(request.method(), request.uri().path());
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let free = limits.unauthenticated_body;
    let max = match route {
        Route::BundleUpload => {
            let (parts, body) = request.into_parts();
            let body = Body::new(StallTimeout::new(body, limits.body_read_timeout));
            return next.run(Request::from_parts(parts, body)).await;
        }
        Route::Unsigned => free,
        Route::Forge { max } => max,
        Route::Signed { max } => {
            if declared.is_some_and(|n| n <= free as u64) || !plausibly_signed(&state, request.headers()).await {
                free
            } else {
                max
            }
        }
    };
    let signed = max > free;
    if declared.is_some_and(|n| n > max as u64) {
        return Refused::too_large(max, signed).render(aws);
    }
    // A declared length is reserved at once, so that a body is refused
    // before it is read rather than halfway through.
    let mut held = Vec::new();
    let mut reserved = 0usize;
    if let Some(n) = declared.map(|n| n as usize).filter(|&n| n > free) {
        match state.body_budget.try_take(n - free) {
            Some(permit) => {
                held.push(permit);
                reserved = n;
            }
            None => return Refused::busy().render(aws),
        }
    }
    let (parts, mut body) = request.into_parts();
    let read = async {
        // The pieces are joined once, at their final size: growing one buffer
        // by doubling would leave the allocator's arenas fragmented.
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut length = 0usize;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(data) = frame.map_err(|_| Refused::unreadable())?.into_data() else { continue };
            length += data.len();
            if length > max {
                return Err(Refused::too_large(max, signed));
            }
            // Beyond what was reserved (a body without a length), take more as it comes.
            if length > reserved.max(free) {
                let more = length - reserved.max(free);
                held.push(state.body_budget.try_take(more).ok_or_else(Refused::busy)?);
                reserved = length;
            }
            pieces.push(data);
        }
        Ok(match pieces.len() {
            0 => Bytes::new(),
            1 => pieces.remove(0),
            _ => {
                let mut joined = Vec::with_capacity(length);
                pieces.iter().for_each(|piece| joined.extend_from_slice(piece));
                Bytes::from(joined)
            }
        })
    };
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(refused)) => return refused.render(aws),
        Err(_) => return Refused::too_slow(limits.body_read_timeout).render(aws),
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    // The handler is done with the body: its memory goes back to the budget.
    drop(held);
    response
}

/// Whether `Authorization` is a well-formed SigV4 header naming an existing,
/// enabled access key, dated within the signature's window. Cheap: neither
/// the body nor the signature is looked at (the handler verifies both).
async fn plausibly_signed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(key_id) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(sigv4_key_id) else {
        return false;
    };
    let dated =
        headers.get("x-amz-date").and_then(|v| v.to_str().ok()).and_then(ferry_sigv4::parse_amz_date).is_some_and(
            |at| {
                let now = SystemTime::now();
                let skew = now.duration_since(at).or_else(|_| at.duration_since(now)).unwrap_or_default();
                skew <= Duration::from_secs(15 * 60)
            },
        );
    dated && state.store.get_access_key(key_id).await.is_ok_and(|key| !key.disabled)
}

/// The access key id of `AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=…, Signature=<64 hex>`, if the header has that shape.
fn sigv4_key_id(authorization: &str) -> Option<&str> {
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed_headers = false;
    let mut signature = false;
    for part in rest.split(',').map(str::trim) {
        if let Some(c) = part.strip_prefix("Credential=") {
            credential = Some(c);
        } else if let Some(h) = part.strip_prefix("SignedHeaders=") {
            signed_headers = !h.is_empty();
        } else if let Some(s) = part.strip_prefix("Signature=") {
            signature = s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        }
    }
    let mut scope = credential?.split('/');
    let key_id = scope.next()?;
    let date = scope.next()?;
    let (region, service, terminal) = (scope.next()?, scope.next()?, scope.next()?);
    let well_formed = (1..=128).contains(&key_id.len())
        && key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && !region.is_empty()
        && !service.is_empty()
        && terminal == "aws4_request"
        && scope.next().is_none();
    (well_formed && signed_headers && signature).then_some(key_id)
}

/// A streamed body that fails when nothing arrives for `timeout`.
struct StallTimeout {
    inner: Body,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl StallTimeout {
    fn new(inner: Body, timeout: Duration) -> Self {
        Self { inner, timeout, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

impl HttpBody for StallTimeout {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.timeout;
                this.deadline.as_mut().reset(next);
                Poll::Ready(frame)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(format!(
                    "nothing of the request body arrived for {} s",
                    this.timeout.as_secs_f32()
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_take_the_bodies_they_need() {
        assert_eq!(Route::of(&Method::POST, "/"), Route::Signed { max: AWS_MAX_BODY });
        assert_eq!(Route::of(&Method::POST, "/api/v1/applications/shop/revisions"), Route::BundleUpload);
        assert_eq!(
            Route::of(&Method::GET, "/api/v1/applications/shop/revisions"),
            Route::Signed { max: NATIVE_MAX_BODY }
        );
        assert_eq!(Route::of(&Method::POST, "/api/v1/build-projects/app/sources"), Route::BundleUpload);
        assert_eq!(
            Route::of(&Method::POST, "/api/v1/build-projects/app/builds"),
            Route::Signed { max: NATIVE_MAX_BODY }
        );
        assert_eq!(Route::of(&Method::POST, "/api/v1/applications"), Route::Signed { max: NATIVE_MAX_BODY });
        assert_eq!(Route::of(&Method::POST, "/agent/v1/report"), Route::Signed { max: NATIVE_MAX_BODY });
        assert_eq!(Route::of(&Method::POST, "/agent/v1/enrol"), Route::Unsigned);
        assert_eq!(Route::of(&Method::POST, "/console/login"), Route::Unsigned);
        assert_eq!(Route::of(&Method::POST, "/anything/else"), Route::Unsigned);
        assert_eq!(Route::of(&Method::POST, "/webhooks/build/shop"), Route::Forge { max: 1 << 20 });
    }

    #[test]
    fn only_a_well_formed_sigv4_header_names_a_key() {
        let sig = "a".repeat(64);
        let good = format!(
            "AWS4-HMAC-SHA256 Credential=AKID_1/20250101/us-east-1/codedeploy/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        assert_eq!(sigv4_key_id(&good), Some("AKID_1"));
        for bad in [
            String::new(),
            "Bearer x".to_string(),
            good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            good.replace("aws4_request", "aws4_request/extra"),
            good.replace("20250101", "2025011"),
            good.replace(&sig, "abc"),
            good.replace("SignedHeaders=host;x-amz-date", "SignedHeaders="),
            good.replace("AKID_1", &"A".repeat(129)),
            good.replace("AKID_1", "AK\u{1b}ID"),
        ] {
            assert_eq!(sigv4_key_id(&bad), None, "{bad}");
        }
    }

    #[test]
    fn connections_are_limited_in_total_and_per_address() {
        let limits = Limits { max_connections: 3, max_connections_per_address: 2, ..Limits::default() };
        let limiter = ConnectionLimiter::new(&limits);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limiter.try_open(a).unwrap();
        let _a2 = limiter.try_open("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(limiter.try_open(a).err(), Some(Refusal::PerAddress));
        let _b1 = limiter.try_open(b).unwrap();
        assert_eq!(limiter.try_open(b).err(), Some(Refusal::Total));
        drop(a1);
        let _b2 = limiter.try_open(b).unwrap();
        assert_eq!(limiter.try_open(a).err(), Some(Refusal::Total));
    }
}
