//! A `ferry server` alone (TLS, its own CA; no fleet, no root needed) and
//! the CLI against it, with the server's store opened beside it for tests
//! that write what a build host or a forge would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{FERRY, wait_for};

/// A running `ferry server` with its data directory, killed when dropped.
pub struct Server {
    child: Child,
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub url: String,
    pub runtime: tokio::runtime::Runtime,
    pub store: ferry_store::Store,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default());
        }
    }
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[], &[])
    }

    /// A server with more arguments and environment.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log_path = data.with_extension("log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(FERRY)
            .args(["server", "--data-dir", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for("the server to start", Duration::from_secs(20), || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the server exited with {status}: {}", std::fs::read_to_string(&log_path).unwrap());
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            (log.contains("listening") && data.join("credentials").exists()).then_some(())
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = runtime.block_on(ferry_store::Store::open_sqlite(&data.join("ferry.db"))).unwrap();
        Server { child, tmp, data, url: format!("https://127.0.0.1:{port}"), runtime, store }
    }

    /// The CLI with `args`, against this server, as the holder of `credentials`.
    pub fn command(&self, args: &[&str], credentials: &Path) -> Command {
        let mut command = Command::new(FERRY);
        command
            .args(args)
            .env("FERRY_SERVER", &self.url)
            .env("AWS_ACCESS_KEY_ID", "")
            .env("AWS_SECRET_ACCESS_KEY", "")
            .env("FERRY_CA_FILE", self.data.join("tls/ca.pem"))
            .arg("--credentials")
            .arg(credentials);
        command
    }

    /// The CLI as the server's admin.
    pub fn ferry(&self, args: &[&str]) -> Output {
        self.command(args, &self.data.join("credentials")).output().unwrap()
    }

    /// Runs the CLI, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args);
        assert!(out.status.success(), "ferry {args:?} failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs the CLI, which must fail with `code`; its stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.ferry(args);
        assert_eq!(out.status.code(), Some(code), "ferry {args:?}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
        text(&out.stderr)
    }

    /// Runs the CLI with `input` on standard input.
    pub fn ferry_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args, &self.data.join("credentials"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Server {
    /// The real AWS CLI (`aws SERVICE ARGS`) against this server with the
    /// admin's credentials: the JSON answer, or stderr.
    pub fn aws(&self, service: &str, args: &[&str]) -> Result<serde_json::Value, String> {
        let out = Command::new("aws")
            .args(["--endpoint-url", &self.url, "--output", "json", service])
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("AWS_SHARED_CREDENTIALS_FILE", self.data.join("credentials"))
            .env("AWS_CA_BUNDLE", self.data.join("tls/ca.pem"))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_PAGER", "")
            .output()
            .expect("the AWS CLI (pip install awscli)");
        if !out.status.success() {
            return Err(text(&out.stderr));
        }
        let stdout = text(&out.stdout);
        Ok(if stdout.trim().is_empty() { serde_json::Value::Null } else { serde_json::from_str(&stdout).unwrap() })
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
