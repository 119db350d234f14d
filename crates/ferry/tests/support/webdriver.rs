//! A small W3C WebDriver client for browser tests: `chromedriver` as a child
//! process (killed on drop) driving headless Chromium, spoken to in plain
//! HTTP/1.1 over loopback (one connection per command).
//!
//! Needs the Debian packages `chromium` and `chromium-driver`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error: its `error` code (`no such element`, …) and message.
#[derive(Debug)]
pub struct WdError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub fn start() -> Browser {
        assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: apt-get install chromium chromium-driver");
        let port = ferry_testkit::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser { driver, port, session: String::new(), _profile: profile };
        ferry_testkit::wait_for("chromedriver to be ready", Duration::from_secs(20), || {
            let status = browser.call("GET", "/status", None).ok()?;
            (status["ready"] == true).then_some(())
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            // The server's certificate is from its own CA, which this
            // throwaway profile does not know.
            "--ignore-certificate-errors",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": true,
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                    "timeouts": { "pageLoad": 30_000, "script": 15_000, "implicit": 0 },
                }
            }
        });
        let created = browser.call("POST", "/session", Some(&capabilities)).expect("a WebDriver session");
        browser.session = created["sessionId"].as_str().expect("sessionId").to_string();
        browser
    }

    /// One command; `Ok(value)` or the WebDriver error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = http(self.port, method, path, &body)
            .map_err(|e| WdError { error: "transport".into(), message: e.to_string() })?;
        let reply: Value = serde_json::from_str(&text)
            .map_err(|e| WdError { error: "bad reply".into(), message: format!("{e}: {status} {text}") })?;
        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 || value.get("error").is_some_and(|e| e.is_string()) {
            return Err(WdError {
                error: value["error"].as_str().unwrap_or("unknown error").to_string(),
                message: value["message"].as_str().unwrap_or(&text).chars().take(500).collect(),
            });
        }
        Ok(value)
    }

    fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Navigates and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(&json!({ "url": url }))).unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub fn url(&self) -> String {
        self.session_call("GET", "/url", None).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    }

    /// The first element matching a CSS selector, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let found = self.session_call("POST", "/element", Some(&json!({ "using": "css selector", "value": css })));
        found.ok().and_then(|v| v[ELEMENT].as_str().map(String::from))
    }

    pub fn click(&self, element: &str) -> Result<(), WdError> {
        self.session_call("POST", &format!("/element/{element}/click"), Some(&json!({}))).map(|_| ())
    }

    /// Clears an input and types `text` into it.
    pub fn fill(&self, element: &str, text: &str) {
        self.session_call("POST", &format!("/element/{element}/clear"), Some(&json!({}))).expect("clear");
        self.session_call("POST", &format!("/element/{element}/value"), Some(&json!({ "text": text }))).expect("type");
    }

    pub fn text(&self, element: &str) -> String {
        self.session_call("GET", &format!("/element/{element}/text"), None)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, WdError> {
        self.session_call("POST", "/execute/sync", Some(&json!({ "script": script, "args": args })))
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1](result)` when done.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value, WdError> {
        self.session_call("POST", "/execute/async", Some(&json!({ "script": script, "args": args })))
    }

    /// The text of the open alert/confirm dialog, if one is open.
    pub fn dialog_text(&self) -> Option<String> {
        self.session_call("GET", "/alert/text", None).ok().and_then(|v| v.as_str().map(String::from))
    }

    pub fn accept_dialog(&self) -> Result<(), WdError> {
        self.session_call("POST", "/alert/accept", Some(&json!({}))).map(|_| ())
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        let shot = self.session_call("GET", "/screenshot", None).expect("screenshot");
        let png = base64_decode(shot.as_str().unwrap_or_default()).expect("base64 PNG");
        std::fs::write(path, png).unwrap();
    }

    /// Resizes the window (CSS pixels).
    pub fn window_size(&self, width: u32, height: u32) {
        let rect = json!({ "width": width, "height": height });
        self.session_call("POST", "/window/rect", Some(&rect)).expect("window size");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One HTTP/1.1 request: the status and the body (read by its
/// Content-Length or chunks; chromedriver may keep the connection open).
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(90)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(bad("connection closed before the end of the headers"));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut content = raw[split + 4..].to_vec();
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status line"))?;
    let header = |name: &str| {
        head.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(|v| v.trim().to_string()))
    };
    if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| bad("bad content-length"))?;
        while content.len() < length {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(bad("connection closed inside the body"));
            }
            content.extend_from_slice(&buf[..n]);
        }
        content.truncate(length);
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            if let Some(body) = dechunk(&content) {
                content = body;
                break;
            }
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(bad("connection closed inside a chunked body"));
            }
            content.extend_from_slice(&buf[..n]);
        }
    } else {
        stream.read_to_end(&mut content)?;
    }
    Ok((status, String::from_utf8_lossy(&content).into_owned()))
}

/// A complete chunked body decoded, or `None` while it is incomplete.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        acc = (acc << 6 | u32::from(value(c)?)) & 0xFF_FFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
