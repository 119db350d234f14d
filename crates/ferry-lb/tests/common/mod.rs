//! Small HTTP apps to balance over, and a client.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// An app that answers `/` with its name, `/slow` after 400 ms, and
/// `/health` with the status the test sets.
pub struct App {
    pub name: String,
    pub addr: SocketAddr,
    pub health: Arc<AtomicU16>,
    pub served: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl App {
    pub async fn start(name: &str) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Arc::new(AtomicU16::new(200));
        let served = Arc::new(AtomicU64::new(0));
        let (n, h, s) = (name.to_string(), health.clone(), served.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (n, h, s) = (n.clone(), h.clone(), s.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (n, h, s) = (n.clone(), h.clone(), s.clone());
                        async move {
                            let path = req.uri().path().to_string();
                            let mut response = Response::new(Full::new(Bytes::from(n.clone())));
                            match path.as_str() {
                                "/health" => {
                                    *response.status_mut() =
                                        hyper::StatusCode::from_u16(h.load(Ordering::SeqCst)).unwrap();
                                }
                                "/slow" => {
                                    s.fetch_add(1, Ordering::SeqCst);
                                    tokio::time::sleep(Duration::from_millis(400)).await;
                                }
                                _ => {
                                    s.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        App { name: name.to_string(), addr, health, served, task }
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// `GET http://addr/path`: (status, body).
pub async fn get(client: &HttpClient, addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let uri: hyper::Uri = format!("http://{addr}{path}").parse().unwrap();
    let response = client.get(uri).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Polls `check` every 20 ms until true, for at most `timeout`.
pub async fn until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
