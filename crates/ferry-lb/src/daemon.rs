//! `ferry proxy`: the built-in proxy as a process of its own, so that
//! production traffic does not depend on the server being up.
//!
//! It serves every target group the server gave it ([`crate::control`]'s
//! requests on a Unix socket, mode 0600, peers checked by their uid) and
//! keeps their last wanted state in a state file (JSON, replaced atomically
//! after each change), from which it serves again after its own restart,
//! before the server says anything. Health checks run here; the server
//! reads their verdicts. While the server is down nothing changes: the
//! proxy keeps routing by the last table it was given, and the server
//! applies the stored state again when it returns (an idempotent `PUT`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::UnixListener;

use crate::LbError;
use crate::control::{ErrorBody, GroupSpec, GroupStatus};
use crate::proxy::Proxy;

/// Largest control request body.
const MAX_BODY: usize = 4 << 20;

/// What the state file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    groups: BTreeMap<String, GroupSpec>,
}

struct Group {
    spec: GroupSpec,
    proxy: Proxy,
}

/// The proxy process's groups and their state file.
pub struct ProxyDaemon {
    groups: tokio::sync::Mutex<BTreeMap<String, Group>>,
    state_file: PathBuf,
}

impl ProxyDaemon {
    /// Serves every group of the state file (a missing file: none yet). A
    /// group whose listener cannot be bound is logged and left out; the
    /// server gives it again within seconds of its next start.
    pub async fn open(state_file: PathBuf) -> Result<Arc<ProxyDaemon>, LbError> {
        let saved: StateFile = match std::fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                LbError::Invalid(format!(
                    "the state file {} is not valid ({e}); move it aside to start with no target group \
                     (the server gives every group again when it connects)",
                    state_file.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => {
                return Err(LbError::Backend(format!("cannot read the state file {}: {e}", state_file.display())));
            }
        };
        let daemon = Arc::new(ProxyDaemon { groups: tokio::sync::Mutex::default(), state_file });
        {
            let mut groups = daemon.groups.lock().await;
            for (name, spec) in saved.groups {
                match start_group(&spec).await {
                    Ok(proxy) => {
                        tracing::info!(target_group = %name, listen = %spec.listen, members = spec.members.len(), "serving the saved target group");
                        groups.insert(name, Group { spec, proxy });
                    }
                    Err(e) => tracing::error!(target_group = %name, error = %e, "cannot serve the saved target group"),
                }
            }
        }
        Ok(daemon)
    }

    /// Serves `name` as `spec` says: members swapped in place when its
    /// listeners and health check are unchanged (health kept), else the
    /// group is started afresh. Saved before it returns.
    pub async fn put(&self, name: &str, spec: GroupSpec) -> Result<(), LbError> {
        crate::check_unique(&spec.members)?;
        let mut groups = self.groups.lock().await;
        match groups.get_mut(name) {
            Some(group) if group.spec == spec => return Ok(()),
            Some(group)
                if group.spec.listen == spec.listen
                    && group.spec.test_listen == spec.test_listen
                    && group.spec.health_check == spec.health_check =>
            {
                group.proxy.apply(&spec.members);
                group.spec = spec;
            }
            _ => {
                if let Some(old) = groups.remove(name) {
                    old.proxy.shutdown().await;
                }
                let proxy = start_group(&spec).await?;
                tracing::info!(target_group = %name, listen = %spec.listen, "serving a target group");
                groups.insert(name.to_string(), Group { spec, proxy });
            }
        }
        self.save(&groups)
    }

    /// Stops serving `name`; `false` when it was not served.
    pub async fn delete(&self, name: &str) -> Result<bool, LbError> {
        let mut groups = self.groups.lock().await;
        let Some(group) = groups.remove(name) else { return Ok(false) };
        group.proxy.shutdown().await;
        tracing::info!(target_group = %name, "stopped serving a target group");
        self.save(&groups)?;
        Ok(true)
    }

    pub async fn status(&self, name: &str) -> Option<GroupStatus> {
        let groups = self.groups.lock().await;
        let group = groups.get(name)?;
        let counters = group.proxy.counters();
        Some(GroupStatus { members: group.proxy.status(), forwarded: counters.forwarded, refused: counters.refused })
    }

    /// Closes every listener, as the process's exit would, leaving the
    /// state file as it is (the next start serves it again).
    pub async fn shutdown(&self) {
        let mut groups = self.groups.lock().await;
        for (_, group) in std::mem::take(&mut *groups) {
            group.proxy.shutdown().await;
        }
    }

    pub async fn names(&self) -> Vec<String> {
        self.groups.lock().await.keys().cloned().collect()
    }

    /// Writes the state file atomically (a temporary file, fsync, rename, fsync of the directory).
    fn save(&self, groups: &BTreeMap<String, Group>) -> Result<(), LbError> {
        let state = StateFile { groups: groups.iter().map(|(n, g)| (n.clone(), g.spec.clone())).collect() };
        let failed = |e: std::io::Error| LbError::Backend(format!("cannot save {}: {e}", self.state_file.display()));
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| LbError::Backend(e.to_string()))?;
        let dir = self.state_file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temporary = self.state_file.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(failed)?;
        file.write_all(&bytes).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&temporary, &self.state_file).map_err(failed)?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(failed)?;
        Ok(())
    }

    /// Answers control requests on `listener` until `stop` resolves. Only
    /// peers running as this process's user or as root are answered.
    pub async fn serve(self: Arc<Self>, listener: UnixListener, stop: impl Future<Output = ()>) {
        let me = nix::unistd::geteuid().as_raw();
        let accept = async {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match stream.peer_cred() {
                    Ok(cred) if cred.uid() == me || cred.uid() == 0 => {}
                    Ok(cred) => {
                        tracing::warn!(uid = cred.uid(), "refused a control connection from another user");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "refused a control connection: cannot tell its user");
                        continue;
                    }
                }
                let daemon = self.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let daemon = daemon.clone();
                        async move { Ok::<_, Infallible>(daemon.handle(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = stop => {}
        }
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        if path == "/v1/groups" && method == Method::GET {
            return json(StatusCode::OK, &self.names().await);
        }
        let Some(name) = path.strip_prefix("/v1/groups/").filter(|n| valid_name(n)).map(str::to_string) else {
            return error(StatusCode::NOT_FOUND, format!("no such resource: {path}"));
        };
        match method {
            Method::GET => match self.status(&name).await {
                Some(status) => json(StatusCode::OK, &status),
                None => error(StatusCode::NOT_FOUND, format!("this proxy does not serve target group {name}")),
            },
            Method::PUT => {
                let body = match http_body_util::Limited::new(request.into_body(), MAX_BODY).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(e) => return error(StatusCode::BAD_REQUEST, format!("cannot read the request: {e}")),
                };
                let spec: GroupSpec = match serde_json::from_slice(&body) {
                    Ok(spec) => spec,
                    Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a target group: {e}")),
                };
                match self.put(&name, spec).await {
                    Ok(()) => json(StatusCode::OK, &serde_json::json!({})),
                    Err(LbError::Invalid(e)) => error(StatusCode::BAD_REQUEST, e),
                    Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            }
            Method::DELETE => match self.delete(&name).await {
                Ok(_) => json(StatusCode::OK, &serde_json::json!({})),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            },
            _ => error(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {path}")),
        }
    }
}

/// Binds the proxy's listeners and applies its members.
async fn start_group(spec: &GroupSpec) -> Result<Proxy, LbError> {
    let proxy = Proxy::new(spec.health_check.clone());
    proxy.apply(&spec.members);
    proxy.listen(spec.listen, false).await?;
    if let Some(test) = spec.test_listen
        && let Err(e) = proxy.listen(test, true).await
    {
        proxy.shutdown().await;
        return Err(e);
    }
    Ok(proxy)
}

/// Binds the control socket at `path`, mode 0600 (a stale socket left by a
/// previous run is replaced; any other file there is an error).
pub fn bind_control_socket(path: &Path) -> Result<UnixListener, LbError> {
    let failed = |what: &str, e: std::io::Error| LbError::Backend(format!("cannot {what} {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| failed("create the directory of", e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            std::fs::remove_file(path).map_err(|e| failed("remove the stale socket", e))?;
        }
        Ok(_) => {
            return Err(LbError::Invalid(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(|e| failed("listen on", e))?;
    // Peers are checked by uid as well, so the moment before this is harmless.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| failed("restrict", e))?;
    Ok(listener)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(serde_json::to_vec(value).unwrap_or_default())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    json(status, &ErrorBody { error: message })
}
