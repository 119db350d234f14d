//! README.md's shell examples run as written, top to bottom, against a live
//! cluster, so they cannot drift from what ferry does.
//!
//! Every ```` ```sh ```` block of README.md is split into commands
//! (continuation lines joined), and each command runs through `sh -c` as a
//! reader would type it: in one working directory, with `ferry` on the PATH
//! (this build), `FERRY_SERVER` naming the cluster, `./ferry-data` being the
//! server's data directory (where the CLI finds the admin credentials and the
//! CA), and the variables earlier commands exported. The only edits are the
//! README's own placeholders ([`Placeholders`]); commands that cannot run in
//! a test are in [`SKIPPED`], each with why. Every other command must exit 0
//! (one that runs until interrupted, [`STREAMS`], must stream). Like a
//! reader, the test moves to the next section once no deployment runs, and
//! waits where the README says to wait ([`WAITS`]). A command that fails is
//! a README bug (or a ferry one): the test prints the command, its output
//! and the cluster's logs.
//!
//! Hosts: a fleet of four, `host1`..`host3` tagged `role=web` and `host4`
//! `color=green`; the revisions the README pushes are written into the
//! working directory first ([`write_revision`]).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const README: &str = include_str!("../../../README.md");

/// How long one command may take (a blue/green deployment with the README's
/// 30 s canary interval is the longest).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// Commands not run, by the start of their text (whitespace collapsed), and
/// why. Each must still start some command of the README (checked), so the
/// list cannot outlive what it excuses.
const SKIPPED: &[(&str, &str)] = &[
    ("scripts/demo.sh", "starts a server and a fleet of its own; it is the demo"),
    ("scripts/test.sh", "the whole suite, this test included"),
    ("ferry local --bundle-location ./my-app", "installs into this machine's /; tests/local.rs covers `ferry local`"),
    ("ferry local --bundle-location app.zip", "runs hooks on this machine; tests/local.rs covers `ferry local`"),
    (
        "ferry server --data-dir /var/lib/ferry --listen 0.0.0.0:7800",
        "a second server: the cluster's server stands in for it",
    ),
    ("ferry agent --server https://server:7800", "the cluster's agents stand in for it (a fleet of 4 hosts)"),
    ("ferry server install", "writes /etc and starts systemd units; tests/install.rs runs it under --root"),
    ("ferry agent install", "writes /etc and starts systemd units; tests/install.rs runs it under --root"),
    (
        "AWS_ACCESS_KEY_ID=store-key AWS_SECRET_ACCESS_KEY=store-secret AWS_REGION=us-east-1 ferry server",
        "a second server: the cluster's server is started with these settings (the S3 store is moto)",
    ),
    (
        "ferry lb create web --port 8000 --haproxy-socket",
        "the HAProxy alternative to the line before; tests/traffic.rs",
    ),
    ("ferry server --prometheus-url", "a second server, with a Prometheus; tests/alarms.rs"),
];

/// Commands that run until interrupted, by their start: each must print
/// the event stream (a deployment's id) and still be running; it is then
/// interrupted (SIGINT, as Ctrl-C would).
const STREAMS: &[&str] = &["ferry events --follow"];

/// Where the README tells the reader to wait for a blue/green deployment's
/// phase (as `ferry get` shows it) before a command: the command's start and
/// the phase. The first that matches applies.
const WAITS: &[(&str, &str)] =
    &[("ferry continue d-XXXXXXXXX --termination", "TerminationWait"), ("ferry continue d-XXXXXXXXX", "Ready")];

/// The hosts: three `role=web` (the README's web servers, `web1` being the
/// first) and one `color=green`, the blue/green example's replacement fleet.
fn tags(host: usize) -> Vec<(String, String)> {
    if host < 3 { vec![("role".into(), "web".into())] } else { vec![("color".into(), "green".into())] }
}

/// The README's placeholders and what stands for them here. Nothing else
/// of a command is changed.
struct Placeholders {
    fixed: Vec<(String, String)>,
    /// The last deployment id (`d-…`) a command printed: `d-XXXXXXXXX`.
    deployment: Option<String>,
    /// The access key id (`FKIA…`) the last `ferry keys create` printed:
    /// `FKIA...` (not any listed key: the admin's cannot be disabled).
    key: Option<String>,
}

impl Placeholders {
    fn new(cluster: &Cluster, moto: &Moto, lb_ports: [u16; 2]) -> Placeholders {
        let fixed = vec![
            // The server's URL and data directory (its credentials and CA).
            ("https://server:7800".to_string(), cluster.url()),
            ("/var/lib/ferry".to_string(), cluster.data_dir().display().to_string()),
            // The S3-compatible store: moto takes any key, store-key/store-secret included.
            ("http://minio:9000".to_string(), moto.endpoint.clone()),
            // The load balancer's listeners: free ports (other tests run beside this one).
            ("0.0.0.0:8080".to_string(), format!("0.0.0.0:{}", lb_ports[0])),
            ("0.0.0.0:8081".to_string(), format!("0.0.0.0:{}", lb_ports[1])),
            // A host's name.
            ("web1".to_string(), cluster.fleet.hosts()[0].name.clone()),
        ];
        Placeholders { fixed, deployment: None, key: None }
    }

    fn apply(&self, command: &str) -> String {
        let mut text = command.to_string();
        for (placeholder, value) in &self.fixed {
            text = replace_word(&text, placeholder, value);
        }
        if text.contains("d-XXXXXXXXX") {
            let id = self.deployment.as_deref().unwrap_or_else(|| panic!("`{command}`: no deployment id printed yet"));
            text = text.replace("d-XXXXXXXXX", id);
        }
        if text.contains("FKIA...") {
            let id = self.key.as_deref().unwrap_or_else(|| panic!("`{command}`: no access key id printed yet"));
            text = text.replace("FKIA...", id);
        }
        text
    }

    /// Remembers the ids `command` printed, for the commands after it.
    fn learn(&mut self, command: &str, output: &str) {
        if let Some(id) = tokens(output, "d-", 9).last() {
            self.deployment = Some(id.clone());
        }
        if !collapse(command).starts_with("ferry keys create") {
            return;
        }
        if let Some(id) = tokens(output, "FKIA", 16).last() {
            self.key = Some(id.clone());
        }
    }
}

/// `text` with each `placeholder` that is not part of a longer word replaced.
fn replace_word(text: &str, placeholder: &str, value: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(placeholder) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + placeholder.len()..].chars().next();
        let whole = !before.is_some_and(|c| word(c) && placeholder.starts_with(word))
            && !after.is_some_and(|c| word(c) && placeholder.ends_with(word));
        out.push_str(&rest[..at]);
        out.push_str(if whole { value } else { placeholder });
        rest = &rest[at + placeholder.len()..];
    }
    out.push_str(rest);
    out
}

/// Every `prefix` followed by exactly `n` capital letters or digits, as a word.
fn tokens(text: &str, prefix: &str, n: usize) -> Vec<String> {
    let id_char = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(prefix).map(|i| i + from) {
        let start = at + prefix.len();
        let len = bytes[start..].iter().take_while(|b| id_char(**b)).count();
        let clean_start = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        if len == n && clean_start {
            found.push(text[at..start + n].to_string());
        }
        from = start;
    }
    found
}

/// The README's shell commands in order: `(section, command)`, continuation
/// lines joined, whole-line comments dropped (a trailing comment stays: sh
/// drops it).
fn readme_commands() -> Vec<(String, String)> {
    let mut commands = Vec::new();
    let (mut section, mut in_block, mut current) = (String::new(), false, String::new());
    for line in README.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block {
            if let Some(title) = line.strip_prefix("### ").or_else(|| line.strip_prefix("## ")) {
                section = title.to_string();
            }
            continue;
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                if !current.trim().is_empty() {
                    commands.push((section.clone(), std::mem::take(&mut current)));
                }
                current.clear();
            }
        }
    }
    commands
}

fn collapse(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn skipped(command: &str) -> Option<&'static str> {
    let text = collapse(command);
    SKIPPED.iter().find(|(start, _)| text.starts_with(start)).map(|(_, why)| *why)
}

/// A revision as a reader's would be: a small HTTP app on port 8000 (the
/// README's load balancer's `--port`) answering `/health`, installed in
/// `/srv/<name>`, started and stopped by its hooks. Whichever application
/// runs on the host keeps its pid in `/srv/app.pid`, and starting stops it
/// first, so two applications deployed to one host take turns on the port.
fn write_revision(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("app")).unwrap();
    let app = format!(
        r#"import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"ok\n" if self.path == "/health" else b"{name}\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
Server(("0.0.0.0", 8000), Handler).serve_forever()
"#
    );
    std::fs::write(dir.join("app/app.py"), app).unwrap();
    // Start stops what runs on the port first (another application's
    // deployment to this host may have started it).
    let stop_running = "if [ -f /srv/app.pid ]; then\n  pid=$(cat /srv/app.pid); kill $pid 2>/dev/null\n  \
                        for i in $(seq 1 200); do kill -0 $pid 2>/dev/null || break; sleep 0.02; done\n  \
                        rm -f /srv/app.pid\nfi\n";
    let scripts = [
        ("stop.sh", format!("#!/bin/sh\n{stop_running}")),
        (
            "start.sh",
            format!(
                "#!/bin/sh\n{stop_running}cd /srv/{name}\n\
                 setsid python3 /srv/{name}/app.py > /srv/{name}/app.log 2>&1 < /dev/null &\necho $! > /srv/app.pid\n"
            ),
        ),
        (
            "validate.sh",
            "#!/bin/sh\nfor i in $(seq 1 250); do\n  python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8000), 1)' \
             2>/dev/null && exit 0\n  sleep 0.02\ndone\necho 'the app did not listen on 8000'; exit 1\n"
                .to_string(),
        ),
    ];
    use std::os::unix::fs::PermissionsExt;
    for (file, text) in scripts {
        let path = dir.join("scripts").join(file);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        dir.join("appspec.yml"),
        // OVERWRITE: the README deploys one application through several
        // groups to the same hosts, and each group's Install finds the files
        // an earlier group installed.
        format!(
            "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv/{name}\n\
                 file_exists_behavior: OVERWRITE\nhooks:\n\
         \x20 ApplicationStop:\n    - location: scripts/stop.sh\n\
         \x20 ApplicationStart:\n    - location: scripts/start.sh\n\
         \x20 ValidateService:\n    - location: scripts/validate.sh\n"
        ),
    )
    .unwrap();
}

/// A reader's shell: a working directory, the environment, and what each
/// command exported for the next.
struct Shell {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl Shell {
    /// Runs `command` with `sh -c`: `(exit status, stdout and stderr)`. A
    /// command that `streams` is interrupted once it printed a deployment
    /// id, and then counts as exit 0 (`None` if it never does).
    fn run(&mut self, command: &str, streams: bool) -> (Option<i32>, String) {
        use std::os::unix::process::CommandExt;
        let env_file = self.dir.join(".env-after");
        let _ = std::fs::remove_file(&env_file);
        let output_file = self.dir.join(".output");
        let script = format!("{command}\nstatus=$?\nenv -0 > '{}'\nexit $status\n", env_file.display());
        let out = std::fs::File::create(&output_file).unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        // The whole process group: sh and what it started.
        let group = nix::unistd::Pid::from_raw(child.id() as i32);
        let interrupt = |signal| {
            let _ = nix::sys::signal::killpg(group, signal);
        };
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break if streams { None } else { status.code() };
            }
            let printed = || std::fs::read_to_string(&output_file).unwrap_or_default();
            if streams && !tokens(&printed(), "d-", 9).is_empty() {
                interrupt(nix::sys::signal::Signal::SIGINT);
                let _ = child.wait();
                break Some(0);
            }
            if Instant::now() > deadline {
                interrupt(nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Ok(bytes) = std::fs::read(&env_file) {
            self.env = String::from_utf8_lossy(&bytes)
                .split('\0')
                .filter_map(|pair| pair.split_once('='))
                .filter(|(k, _)| !matches!(*k, "PWD" | "OLDPWD" | "SHLVL" | "_"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        (status, std::fs::read_to_string(&output_file).unwrap_or_default())
    }
}

#[test]
fn the_readme_runs_as_written() {
    if !support::fleet_supported() {
        return;
    }
    let commands = readme_commands();
    for (start, _) in SKIPPED {
        assert!(
            commands.iter().any(|(_, c)| collapse(c).starts_with(start)),
            "SKIPPED names `{start}`, which no README command starts with any more: remove it"
        );
    }
    for start in STREAMS.iter().chain(WAITS.iter().map(|(start, _)| start)) {
        assert!(
            commands.iter().any(|(_, c)| collapse(c).starts_with(start)),
            "STREAMS or WAITS names `{start}`, which no README command starts with any more: remove it"
        );
    }

    let moto = Moto::start();
    let mut cluster = Cluster::start(ClusterOptions {
        hosts: 4,
        tags,
        // What the README's AWS CLI section starts the server with.
        server_args: vec!["--s3-endpoint".into(), moto.endpoint.clone()],
        server_env: vec![
            ("AWS_ACCESS_KEY_ID".into(), "store-key".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "store-secret".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ],
        ..Default::default()
    });
    let lb_ports = [ferry_testkit::free_port(), ferry_testkit::free_port()];
    let mut placeholders = Placeholders::new(&cluster, &moto, lb_ports);

    // The reader's working directory: the revisions the README pushes
    // (`./shop-release`, and `blog` for the AWS CLI), and the server's data
    // directory as `./ferry-data`, where the CLI looks for credentials.
    let dir = cluster.tmp.path().join("reader");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    write_revision(&dir.join("shop-release"), "shop");
    write_revision(&dir.join("blog"), "blog");
    std::os::unix::fs::symlink(cluster.data_dir(), dir.join("ferry-data")).unwrap();
    std::os::unix::fs::symlink(FERRY, dir.join("bin/ferry")).unwrap();
    let mut env: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| !k.starts_with("AWS_") && !k.starts_with("FERRY_")).collect();
    let path = std::env::var("PATH").unwrap_or_default();
    env.insert("PATH".into(), format!("{}:{path}", dir.join("bin").display()));
    env.insert("FERRY_SERVER".into(), cluster.url());
    // No AWS CLI configuration of this machine's user.
    env.insert("AWS_CONFIG_FILE".into(), dir.join("no-aws-config").display().to_string());
    let mut shell = Shell { dir, env };

    let started = Instant::now();
    let mut ran = 0;
    let mut previous_section = "";
    for (section, command) in &commands {
        if let Some(why) = skipped(command) {
            eprintln!("[{section}] skipped: {}\n    ({why})", collapse(command));
            continue;
        }
        if section != previous_section {
            // A reader moves on once what the last section started is over.
            wait_idle(&cluster);
            previous_section = section;
        }
        if let Some((_, phase)) = WAITS.iter().find(|(start, _)| collapse(command).starts_with(start)) {
            let id = placeholders.deployment.clone().expect("a deployment id");
            wait_for(&format!("{id} to reach phase {phase}"), COMMAND_TIMEOUT, || {
                (cluster.get(&id)["blue_green"]["phase"] == *phase).then_some(())
            });
        }
        let text = placeholders.apply(command);
        let at = Instant::now();
        let streams = STREAMS.iter().any(|start| collapse(command).starts_with(start));
        let (status, output) = shell.run(&text, streams);
        eprintln!(
            "[{section}] $ {}\n{}    exit {status:?} after {:.1?}",
            collapse(&text),
            output.lines().map(|l| format!("    | {l}\n")).collect::<String>(),
            at.elapsed()
        );
        // (The cluster prints its logs as the test fails.)
        assert!(status == Some(0), "README ({section}): `{}` exited {status:?}:\n{output}", collapse(command));
        if !streams {
            // (A stream cut short ends anywhere: no "last id" in it.)
            placeholders.learn(command, &output);
        }
        ran += 1;
        if collapse(command).starts_with("ferry instances revoke") {
            // The README: "A revoked agent … must enrol again with the join token."
            // The operator does so, and the rest of the README has its host back.
            reenrol(&mut cluster, 0);
        }
    }
    eprintln!("ran {ran} README commands in {:.1?}", started.elapsed());
    assert!(ran >= 40, "only {ran} README commands ran");
    // What the README built serves: its load balancer's listener answers
    // with the app the blue/green example moved the traffic to.
    let listener = std::net::SocketAddr::from(([127, 0, 0, 1], lb_ports[0]));
    assert_eq!(http_get(listener, "/", &[]), Some((200, "shop\n".to_string())));
}

/// Waits until no deployment is running.
fn wait_idle(cluster: &Cluster) {
    wait_for("the deployments to end", COMMAND_TIMEOUT, || {
        let list: serde_json::Value = serde_json::from_str(&cluster.ferry_ok(&["list", "--json"])).ok()?;
        let running =
            list.as_array()?.iter().any(|d| !matches!(d["status"].as_str(), Some("Succeeded" | "Failed" | "Stopped")));
        (!running).then_some(())
    });
}

/// Enrols `host` again after its credential was revoked, as the README
/// says to: its agent's state removed, started with the join token.
fn reenrol(cluster: &mut Cluster, host: usize) {
    cluster.kill_agent(host);
    for file in ["/opt/ferry/state/credentials", "/opt/ferry/state/ca.pem"] {
        let _ = std::fs::remove_file(cluster.host_file(host, file));
    }
    cluster.start_agent(host);
    cluster.wait_enrolled(cluster.fleet.hosts().len());
}
