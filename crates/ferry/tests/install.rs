//! Black-box tests of config files and installing as a service, through the
//! real binary: `--check-config` on good and broken files, the precedence of
//! flags, environment and file on a running server, `ferry server install`
//! and `ferry agent install --root` (the agent enrolling with a real server,
//! over TLS as in production), and `systemd-analyze verify` on the shipped
//! units.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ferry_testkit::{free_port, wait_for};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn dist(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist").join(path)
}

fn ferry(args: &[&str]) -> Output {
    Command::new(FERRY).args(args).env_remove("FERRY_LISTEN").env_remove("FERRY_DATA_DIR").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn write(path: &Path, content: &str) -> String {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

#[test]
fn check_config_says_ok_or_names_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(
        &tmp.path().join("good.toml"),
        &format!(
            "data_dir = \"{}\"\nlisten = [\"127.0.0.1:7801\", \"127.0.0.1:7802\"]\npoll-hold-seconds = 10\n\
             alarm-interval = \"10s\"\ninsecure-http = true\n",
            tmp.path().join("data").display()
        ),
    );
    let out = ferry(&["server", "--config", &good, "--check-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{good}: ok"));

    let broken = write(
        &tmp.path().join("broken.toml"),
        &format!(
            "data-dir = \"{missing}/a/b\"\nlissten = \"127.0.0.1:1\"\npoll-hold-seconds = \"soon\"\n\
             insecure-http = \"yes\"\ntls-cert = \"{missing}/cert.pem\"\nlisten = [\"127.0.0.1:99999\"]\n\
             git-base-url = 7\n[agent]\nserver = \"x\"\n",
            missing = tmp.path().join("missing").display()
        ),
    );
    let out = ferry(&["server", "--config", &broken, "--check-config"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for expected in [
        format!(
            "{broken}:1: data-dir: neither {}/a/b nor its parent directory exists",
            tmp.path().join("missing").display()
        ),
        format!("{broken}:2: unknown key `lissten`; did you mean `listen`?"),
        format!("{broken}:3: poll-hold-seconds: invalid value 'soon' for '--poll-hold-seconds <SECONDS>'"),
        format!("{broken}:4: insecure-http: expected true or false, found a string"),
        format!("{broken}:5: tls-cert: {}/cert.pem does not exist", tmp.path().join("missing").display()),
        format!("{broken}:6: listen: invalid value '127.0.0.1:99999' for '--listen <ADDR>'"),
        format!("{broken}:8: unknown key `agent`"),
        "ferry server: 7 problems".to_string(),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    // An integer is text to a string setting: git-base-url = 7 is not a problem.
    assert!(!stderr.contains("git-base-url"), "{stderr}");
    // Without --check-config nothing starts either (exit 2, usage error).
    let out = ferry(&["server", "--config", &broken]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not starting"));

    // A missing file, a required setting missing, bad values of the agent's settings.
    let out = ferry(&["agent", "--config", &tmp.path().join("nope.toml").display().to_string(), "--check-config"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.toml: cannot read the config file"), "{}", text(&out.stderr));
    let agent =
        write(&tmp.path().join("agent.toml"), "name = \"web1\"\ntag = [\"role=web\", \"=x\"]\nmax-revisions = -1\n");
    let out = ferry(&["agent", "--config", &agent, "--check-config"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for expected in [
        format!("{agent}:2: tag: invalid value '=x' for '--tag <KEY=VALUE>'"),
        format!("{agent}:3: max-revisions: invalid value '-1'"),
        "the following required arguments were not provided: --server <URL>".to_string(),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    // The flag supplies what the file lacks.
    let agent = write(&tmp.path().join("agent.toml"), "name = \"web1\"\ntag = [\"role=web\"]\n");
    let out = ferry(&["agent", "--config", &agent, "--server", "https://x:7800", "--check-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The shipped references are what the binary prints, and check clean.
    for (service, file) in [("server", "ferry.toml"), ("agent", "agent.toml")] {
        let out = ferry(&[service, "print-config"]);
        assert_eq!(text(&out.stdout), std::fs::read_to_string(dist(file)).unwrap(), "dist/{file}");
    }
    let out = ferry(&["server", "--config", &dist("ferry.toml").display().to_string(), "--check-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A server started from a config file, on the port the settings choose.
struct Server(Child);

impl Server {
    fn start(config: &str, envs: &[(&str, String)], args: &[&str]) -> Server {
        let child = Command::new(FERRY)
            .args(["server", "--config", config])
            .args(args)
            .env_remove("FERRY_LISTEN")
            .env_remove("FERRY_DATA_DIR")
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server(child)
    }

    /// Which of `ports` it listens on (waits for one).
    fn listening_on(&mut self, ports: &[u16]) -> u16 {
        wait_for("the server to listen", Duration::from_secs(20), || {
            assert!(self.0.try_wait().unwrap().is_none(), "the server exited");
            ports.iter().copied().find(|port| {
                TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], *port)), Duration::from_millis(100))
                    .is_ok()
            })
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let [file_port, env_port, flag_port] = [free_port(), free_port(), free_port()];
    let config = write(
        &tmp.path().join("ferry.toml"),
        &format!(
            "data-dir = \"{}\"\nlisten = \"127.0.0.1:{file_port}\"\ninsecure-http = true\n",
            tmp.path().join("data").display()
        ),
    );
    let ports = [file_port, env_port, flag_port];
    let env = [("FERRY_LISTEN", format!("127.0.0.1:{env_port}"))];
    let mut server = Server::start(&config, &[], &[]);
    assert_eq!(server.listening_on(&ports), file_port);
    wait_for("the data directory the file names", Duration::from_secs(20), || {
        tmp.path().join("data/join-token").exists().then_some(())
    });
    drop(server);
    assert_eq!(Server::start(&config, &env, &[]).listening_on(&ports), env_port);
    let flag = format!("127.0.0.1:{flag_port}");
    assert_eq!(Server::start(&config, &env, &["--listen", &flag]).listening_on(&ports), flag_port);
}

#[test]
fn server_install_writes_the_config_the_unit_and_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let root_arg = root.display().to_string();
    let install = |extra: &[&str]| {
        let mut args = vec!["server", "install", "--root", &root_arg, "--set", "poll-hold-seconds=15"];
        args.extend_from_slice(extra);
        ferry(&args)
    };
    let out = install(&[]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    let config = root.join("etc/ferry/ferry.toml");
    let unit = root.join("etc/systemd/system/ferry-server.service");
    let proxy_unit = root.join("etc/systemd/system/ferry-proxy.service");
    for written in [&config, &unit, &proxy_unit, &root.join("usr/local/bin/ferry")] {
        assert!(stdout.contains(&written.display().to_string()), "{written:?} not reported in:\n{stdout}");
    }
    assert!(
        stdout.contains(
            "not started; to start it: systemctl daemon-reload && systemctl enable --now ferry-server.service"
        ),
        "{stdout}"
    );
    assert_eq!(mode(&config), 0o600);
    let toml = std::fs::read_to_string(&config).unwrap();
    for line in [
        "\ndata-dir = \"/var/lib/ferry\"\n",
        "\nlisten = [\"0.0.0.0:7800\"]\n",
        "\npoll-hold-seconds = 15\n",
        "\n#aws-region = ",
        "\nproxy-socket = \"/run/ferry-proxy/control.sock\"\n",
    ] {
        assert!(toml.contains(line), "{line:?} not in:\n{toml}");
    }
    assert_eq!(
        std::fs::read_to_string(&unit).unwrap(),
        std::fs::read_to_string(dist("systemd/ferry-server.service")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&proxy_unit).unwrap(),
        std::fs::read_to_string(dist("systemd/ferry-proxy.service")).unwrap()
    );
    assert_eq!(mode(&root.join("usr/local/bin/ferry")), 0o755);
    assert_eq!(mode(&root.join("var/lib/ferry")), 0o700);
    // The written file is a valid config (its data dir is the host's /var/lib/ferry, which may not exist).
    let out = ferry(&["server", "--config", &config.display().to_string(), "--check-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Nothing is overwritten without --force; with it, another data directory reaches the unit.
    let out = install(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--force overwrites"), "{}", text(&out.stderr));
    let out = install(&["--force", "--data-dir", "/srv/ferry", "--no-binary"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let unit = std::fs::read_to_string(&unit).unwrap();
    assert!(
        unit.contains("\nReadWritePaths=/srv/ferry\n") && !unit.contains("ReadWritePaths=/var/lib/ferry"),
        "{unit}"
    );
    assert!(root.join("srv/ferry").is_dir());

    // Bad settings: nothing written, every problem named.
    let out = install(&["--force", "--set", "pol-hold-seconds=1", "--set", "listen=x", "--data-dir", "relative"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for expected in ["did you mean `poll-hold-seconds`", "`listen` has its own flag", "absolute path"] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn agent_install_writes_its_files_and_enrols_with_a_real_server() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = tmp.path().join("data");
    let mut server = Server(
        Command::new(FERRY)
            .args(["server", "--data-dir", &data.display().to_string(), "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("FERRY_LISTEN")
            .env_remove("FERRY_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join("server.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let token = wait_for("the join token", Duration::from_secs(20), || {
        assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
        std::fs::read_to_string(data.join("join-token")).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
    });
    let url = format!("https://127.0.0.1:{port}");
    let root = tmp.path().join("host");
    let root_arg = root.display().to_string();
    let install = |extra: &[&str]| {
        let mut args = vec!["agent", "install", "--root", &root_arg, "--server", &url, "--no-binary"];
        args.extend_from_slice(extra);
        Command::new(FERRY).args(&args).env("FERRY_SERVER", "http://wrong:1").output().unwrap()
    };

    // A wrong token: refused by the server, said so, the token stays in the file.
    let out = install(&["--join-token", "wrong", "--name", "web1"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("enrolment failed"), "{}", text(&out.stderr));

    let out = install(&[
        "--force",
        "--join-token",
        &token,
        "--name",
        "web1",
        "--tag",
        "role=web",
        "--tag",
        "env=test",
        "--set",
        "max-revisions=3",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let config = root.join("etc/ferry/agent.toml");
    let unit = root.join("etc/systemd/system/ferry-agent.service");
    assert!(stdout.contains(&format!("wrote {} (mode 0600)", config.display())), "{stdout}");
    assert!(stdout.contains("enrolled"), "{stdout}");
    assert!(stdout.contains("removed the join token"), "{stdout}");
    assert!(
        stdout.contains(
            "not started; to start it: systemctl daemon-reload && systemctl enable --now ferry-agent.service"
        ),
        "{stdout}"
    );
    assert_eq!(mode(&config), 0o600);
    let toml = std::fs::read_to_string(&config).unwrap();
    for line in [
        &format!("\nserver = \"{url}\"\n"),
        "\nname = \"web1\"\n",
        "\ntag = [\"role=web\", \"env=test\"]\n",
        "\nmax-revisions = 3\n",
        "\n#join-token = <TOKEN>\n",
    ] {
        assert!(toml.contains(line), "{line:?} not in:\n{toml}");
    }
    assert!(!toml.contains(&token), "the join token is gone after enrolment:\n{toml}");
    assert_eq!(
        std::fs::read_to_string(&unit).unwrap(),
        std::fs::read_to_string(dist("systemd/ferry-agent.service")).unwrap()
    );
    let credentials = root.join("opt/ferry/state/credentials");
    assert_eq!(mode(&credentials), 0o600);
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert_eq!(stored["instance_name"], "web1");
    assert!(!root.join("usr/local/bin/ferry").exists(), "--no-binary");

    // The server knows the instance and its tags.
    let out = Command::new(FERRY)
        .args([
            "instances",
            "--json",
            "--server",
            &url,
            "--credentials",
            &data.join("credentials").display().to_string(),
        ])
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let instances: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let web1 = instances.as_array().unwrap().iter().find(|i| i["name"] == "web1").expect("web1 enrolled");
    assert!(web1.to_string().contains("role") && web1.to_string().contains("env"), "{web1}");

    // Installed already: refused without --force; with it, no token is needed and none is written.
    let out = install(&["--name", "web1"]);
    assert_eq!(out.status.code(), Some(1));
    let out = install(&["--force", "--name", "web1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("enrolled already"), "{}", text(&out.stdout));
    // A fresh host without a token is told what to give.
    let out = Command::new(FERRY)
        .args(["agent", "install", "--root", &tmp.path().join("other").display().to_string(), "--server", &url])
        .env_remove("FERRY_JOIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--join-token"), "{}", text(&out.stderr));
}

#[test]
fn the_shipped_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        ferry_testkit::skip("systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for name in ["ferry-server.service", "ferry-agent.service", "ferry-proxy.service"] {
        let shipped = std::fs::read_to_string(dist(&format!("systemd/{name}"))).unwrap();
        assert!(shipped.contains("ExecStart=/usr/local/bin/ferry "), "{name}");
        // verify checks that ExecStart's program exists: point it at this build.
        let unit = tmp.path().join(name);
        std::fs::write(&unit, shipped.replace("/usr/local/bin/ferry", FERRY)).unwrap();
        let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify {name}: {}\n{}",
            out.status,
            text(&out.stderr)
        );
    }
}
