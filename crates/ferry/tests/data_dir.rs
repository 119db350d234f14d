//! The server's data directory and secrets at rest, black-box: under the
//! most permissive umask the data directory is 0700 and every file in it
//! 0600 (the database's -wal and -shm, blobs, TLS keys included); a
//! directory others can reach is refused unless `--allow-open-data-dir`;
//! the database alone holds no secret (sealed with `secret.key`, kept apart),
//! plain-text secrets of an earlier ferry are sealed on start, and the server
//! still authenticates every key, across restarts.
//!
//! Every test here runs with umask 000 (process-wide, so all of them do).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::*;

fn permissive_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every path under `dir` (itself included) with its mode.
fn tree(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = vec![(dir.to_path_buf(), mode(dir), true)];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(tree(&path));
        } else {
            out.push((path.clone(), mode(&path), false));
        }
    }
    out
}

/// The database as a copy of it would carry it: the file, its WAL and shared memory.
fn database_bytes(data: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["ferry.db", "ferry.db-wal", "ferry.db-shm"] {
        bytes.extend(std::fs::read(data.join(name)).unwrap_or_default());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn credentials_field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[test]
fn the_data_dir_is_private_and_the_database_alone_reveals_no_secret() {
    if !fleet_supported() {
        return;
    }
    permissive_umask();
    let mut c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    c.ferry_ok(&["app", "create", "shop"]);
    let dir = revision(&c.tmp.path().join("r1"), "r1", 0, None);
    c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]);

    let data = c.data_dir();
    let files = tree(&data);
    for name in ["ferry.db", "ferry.db-wal", "ferry.db-shm", "secret.key", "credentials", "tls/ca-key.pem"] {
        assert!(files.iter().any(|(p, _, _)| p == &data.join(name)), "{name} exists: {files:?}");
    }
    assert!(files.iter().any(|(p, _, d)| !d && p.starts_with(data.join("blobs/sha256"))), "a blob: {files:?}");
    for (path, mode, is_dir) in &files {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:04o}, not {want:04o}", path.display());
    }

    let admin = std::fs::read_to_string(data.join("credentials")).unwrap();
    let admin_secret = credentials_field(&admin, "aws_secret_access_key");
    let agent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.host_file(0, "/opt/ferry/state/credentials")).unwrap())
            .unwrap();
    let agent_secret = agent["secret_access_key"].as_str().unwrap().to_string();
    let agent_id = agent["access_key_id"].as_str().unwrap().to_string();
    let bytes = database_bytes(&data);
    assert!(contains(&bytes, &agent_id), "the scan finds what the database holds");
    assert!(!contains(&bytes, &admin_secret), "the admin's secret is in the database in plain text");
    assert!(!contains(&bytes, &agent_secret), "the agent's secret is in the database in plain text");

    // The sealed secrets still authenticate, after a restart too: the CLI
    // with the admin key, the agent with its own (it polls again).
    c.stop_server();
    c.start_server();
    c.ferry_ok(&["app", "list"]);
    let heard_before = wait_for("the agent to poll the restarted server", Duration::from_secs(30), || {
        let list: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["instances", "--json"])).ok()?;
        list[0]["last_seen"].as_u64()
    });
    wait_for("the agent to authenticate again", Duration::from_secs(30), || {
        let list: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["instances", "--json"])).ok()?;
        (list[0]["last_seen"].as_u64()? > heard_before).then_some(())
    });
    let bytes = database_bytes(&data);
    assert!(!contains(&bytes, &admin_secret) && !contains(&bytes, &agent_secret));
}

/// Runs `ferry server` until it exits (it must, within the deadline): its output.
fn server_exits(args: &[&str]) -> Output {
    let mut child = Command::new(FERRY)
        .arg("server")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("the server did not refuse to start:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the server was expected to refuse to start");
    out
}

/// A running `ferry server` on `port`, killed when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(data: &Path, port: u16, extra: &[&str]) -> Server {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let mut child = Command::new(FERRY)
        .args(["server", "--data-dir", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for("the server to start", Duration::from_secs(20), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited with {status}: {}", std::fs::read_to_string(data.with_extension("log")).unwrap());
        }
        let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
        log.contains("listening").then_some(())
    });
    Server(child)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_open_data_dir_is_refused_unless_allowed() {
    permissive_umask();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap();
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = server_exits(&["--data-dir", data_arg, "--listen", "127.0.0.1:0"]);
    let message = stderr(&out);
    assert!(message.contains(&format!("data dir {data_arg} is open to other users")), "{message}");
    assert!(message.contains(&format!("{data_arg} (mode 0755)")), "{message}");
    assert!(message.contains(&format!("chmod -R go-rwx {data_arg}")), "{message}");
    assert!(message.contains("--allow-open-data-dir"), "{message}");
    assert!(!data.join("ferry.db").exists(), "nothing was written before the refusal");

    // Told otherwise, it starts (with a warning).
    let server = start_server(&data, ferry_testkit::free_port(), &["--allow-open-data-dir"]);
    drop(server);
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("--allow-open-data-dir: the data directory is open to other users"), "{log}");

    // A private directory with a file others can read in it (an older
    // ferry's database) is refused too, naming the file.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(data.join("ferry.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = server_exits(&["--data-dir", data_arg, "--listen", "127.0.0.1:0"]);
    assert!(stderr(&out).contains(&format!("{}/ferry.db (mode 0644)", data_arg)), "{}", stderr(&out));
}

#[test]
fn plain_text_secrets_of_an_earlier_ferry_are_sealed_on_start_and_still_authenticate() {
    permissive_umask();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A database as an earlier ferry left it: a key whose secret is plain text.
    let (id, secret) = ("FKIAEARLIERFERRY0001", "plain-secret-of-an-earlier-ferry-0123456789");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = ferry_store::Store::open_sqlite(&data.join("ferry.db")).await.unwrap();
        store
            .put_access_key(&ferry_core::resources::AccessKey {
                id: id.into(),
                secret: secret.into(),
                role: ferry_core::resources::Role::Admin,
                instance: None,
                description: "from an earlier ferry".into(),
                create_time: 1,
                disabled: false,
                scopes: Vec::new(),
            })
            .await
            .unwrap();
        store.close().await;
    });
    for name in ["ferry.db", "ferry.db-wal", "ferry.db-shm"] {
        let _ = std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(0o600));
    }
    assert!(contains(&database_bytes(&data), secret), "the seeded database holds the secret in plain text");

    let port = ferry_testkit::free_port();
    let server = start_server(&data, port, &[]);
    let bytes = database_bytes(&data);
    assert!(!contains(&bytes, secret), "the plain-text secret is still in the database (or its WAL)");
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("sealed access key secrets that an earlier ferry stored in plain text"), "{log}");
    let cli = |key_id: &str, key_secret: &str| {
        Command::new(FERRY)
            .args(["app", "list"])
            .env("FERRY_SERVER", format!("https://127.0.0.1:{port}"))
            .env("FERRY_CA_FILE", data.join("tls/ca.pem"))
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", key_secret)
            .output()
            .unwrap()
    };
    let out = cli(id, secret);
    assert!(out.status.success(), "the sealed key authenticates: {}", stderr(&out));
    let out = cli(id, "plain-secret-of-an-earlier-ferry-0000000000");
    assert!(!out.status.success(), "a wrong secret is refused");
    drop(server);

    // The key file is what unlocks the database: without it the server
    // refuses to start (it never makes a new one for a sealed database).
    std::fs::rename(data.join("secret.key"), tmp.path().join("secret.key")).unwrap();
    let out = server_exits(&["--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let message = stderr(&out);
    assert!(message.contains("are sealed with a secrets key"), "{message}");
    assert!(message.contains(&format!("{}/secret.key does not exist", data.display())), "{message}");
    assert!(!data.join("secret.key").exists());
    // Kept elsewhere and named, it does.
    let key = tmp.path().join("secret.key");
    let server = start_server(&data, port, &["--secrets-key-file", key.to_str().unwrap()]);
    let out = cli(id, secret);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(server);
}
