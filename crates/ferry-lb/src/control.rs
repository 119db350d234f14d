//! The control channel of a `ferry proxy` process ([`crate::daemon`]): JSON
//! over HTTP/1.1 on a Unix socket that only the proxy's own user (and root)
//! may use. The server drives it exactly as it drives HAProxy's runtime
//! API: [`RemoteProxy::apply`] sends a target group's whole wanted state
//! (listeners, health check, members), idempotently; [`RemoteProxy::status`]
//! reads back each member's health (by the proxy's own checks) and its
//! in-flight requests.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `PUT /v1/groups/{name}` | [`GroupSpec`] | `{}` once the proxy serves it and has saved it |
//! | `GET /v1/groups/{name}` | | [`GroupStatus`], or 404 |
//! | `DELETE /v1/groups/{name}` | | `{}` (also when it did not exist) |
//! | `GET /v1/groups` | | the names of the groups it serves |
//!
//! Errors are `{"error": "…"}` with a 4xx or 5xx status.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use crate::{HealthCheck, LbError, Member, MemberStatus};

/// How long one control request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A target group as the proxy should serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Production traffic.
    pub listen: SocketAddr,
    /// The test listener (reaches members marked `test` only).
    #[serde(default)]
    pub test_listen: Option<SocketAddr>,
    pub health_check: HealthCheck,
    pub members: Vec<Member>,
}

/// A target group as the proxy has it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub members: Vec<MemberStatus>,
    /// Requests forwarded to a member, and answered by the proxy itself
    /// (502/503), since the proxy process started.
    pub forwarded: u64,
    pub refused: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: String,
}

/// One target group served by a `ferry proxy` process.
#[derive(Debug, Clone)]
pub struct RemoteProxy {
    /// The proxy's control socket.
    pub socket: PathBuf,
    pub group: String,
    pub listen: SocketAddr,
    pub test_listen: Option<SocketAddr>,
    pub check: HealthCheck,
}

impl RemoteProxy {
    /// Makes the proxy serve the group with exactly `members` (binding its
    /// listeners if it does not serve the group yet).
    pub async fn apply(&self, members: &[Member]) -> Result<(), LbError> {
        let spec = GroupSpec {
            listen: self.listen,
            test_listen: self.test_listen,
            health_check: self.check.clone(),
            members: members.to_vec(),
        };
        let body = serde_json::to_vec(&spec).map_err(|e| LbError::Invalid(e.to_string()))?;
        self.call(Method::PUT, &self.path(), Some(body)).await.map(|_| ())
    }

    pub async fn status(&self) -> Result<GroupStatus, LbError> {
        let body = self.call(Method::GET, &self.path(), None).await?;
        serde_json::from_slice(&body)
            .map_err(|e| LbError::Backend(format!("ferry proxy at {} answered nonsense: {e}", self.socket.display())))
    }

    /// Stops serving the group (its listeners close; requests in progress finish).
    pub async fn remove(&self) -> Result<(), LbError> {
        self.call(Method::DELETE, &self.path(), None).await.map(|_| ())
    }

    fn path(&self) -> String {
        format!("/v1/groups/{}", self.group)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes, LbError> {
        call(&self.socket, method, path, body).await
    }
}

/// One request to the proxy's control socket: the answer's body when it is a 2xx.
pub async fn call(
    socket: &std::path::Path,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<Bytes, LbError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        LbError::Backend(format!("cannot reach ferry proxy at {} ({e}); is `ferry proxy` running?", socket.display()))
    };
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| unreachable(&e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, "ferry-proxy")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| LbError::Invalid(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| unreachable(&e))?.to_bytes();
        Ok::<_, LbError>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.map_err(|_| {
        LbError::Backend(format!("ferry proxy at {} did not answer {method} {path} within 5 s", socket.display()))
    })??;
    if status.is_success() {
        return Ok(bytes);
    }
    let message = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
    Err(if status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND {
        LbError::Invalid(message)
    } else {
        LbError::Backend(format!("ferry proxy refused {method} {path}: {message}"))
    })
}
