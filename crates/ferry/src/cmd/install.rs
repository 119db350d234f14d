//! `ferry server install` and `ferry agent install`: write the config file
//! (`/etc/ferry/ferry.toml`, `/etc/ferry/agent.toml`, mode 0600), the shipped
//! systemd unit (for the server also `ferry-proxy.service`, the load balancer
//! the server drives through `proxy-socket`, unless that is set empty), and this executable as `/usr/local/bin/ferry`; the agent
//! then enrols once (`ferry agent --enrol-only`, a child process reading the
//! written file); then `systemctl daemon-reload`, `enable`, `restart` when
//! systemd runs here. `--root DIR` prefixes every path and never runs
//! systemctl (images, tests). Existing files are kept unless `--force`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use super::output::parse_duration_ms;
use super::service::service;
use crate::settings;

/// The shipped units, written as they are.
pub const SERVER_UNIT: &str = include_str!("../../../../dist/systemd/ferry-server.service");
pub const AGENT_UNIT: &str = include_str!("../../../../dist/systemd/ferry-agent.service");
pub const PROXY_UNIT: &str = include_str!("../../../../dist/systemd/ferry-proxy.service");
/// The control socket `ferry-proxy.service` listens on.
const PROXY_SOCKET: &str = "/run/ferry-proxy/control.sock";

const BINARY: &str = "/usr/local/bin/ferry";
const UNIT_DIR: &str = "/etc/systemd/system";
const SERVER_CONFIG: &str = "/etc/ferry/ferry.toml";
const AGENT_CONFIG: &str = "/etc/ferry/agent.toml";
const DEFAULT_DATA_DIR: &str = "/var/lib/ferry";
/// The data directory's line in the server unit, replaced for another `--data-dir`.
const DATA_DIR_LINE: &str = "ReadWritePaths=/var/lib/ferry\n";

#[derive(Debug, Args)]
pub struct InstallOptions {
    /// Write every file under DIR instead of / (building an image, tests); systemctl is not run then.
    #[arg(long, default_value = "/", value_name = "DIR")]
    root: PathBuf,
    /// Overwrite the config file, the unit and /usr/local/bin/ferry if they exist.
    #[arg(long)]
    force: bool,
    /// Write the files but do not enable or start the service.
    #[arg(long)]
    no_start: bool,
    /// Do not copy this executable to /usr/local/bin/ferry (the unit runs that path).
    #[arg(long)]
    no_binary: bool,
}

#[derive(Debug, Args)]
pub struct ServerInstallArgs {
    /// The server's data directory (state, revisions, `credentials`, `join-token`).
    #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    data_dir: PathBuf,
    /// Address to listen on; repeat for several.
    #[arg(long, value_delimiter = ',', default_value = "0.0.0.0:7800", value_name = "ADDR")]
    listen: Vec<String>,
    /// Any other `ferry server` setting for ferry.toml (`ferry server print-config` lists them); repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    options: InstallOptions,
}

#[derive(Debug, Args)]
pub struct AgentInstallArgs {
    /// The server, e.g. http://10.0.0.5:7800.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The fleet's join token (the server's DATA_DIR/join-token); not needed once this host is enrolled.
    #[arg(long, env = "FERRY_JOIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    join_token: Option<String>,
    /// This host's instance name [default: the host name].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// A tag for this instance, sent at enrolment; repeat for several.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    /// Any other `ferry agent` setting for agent.toml (`ferry agent print-config` lists them); repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Do not enrol now: the agent enrols when it first starts (the join token stays in agent.toml).
    #[arg(long, alias = "no-enroll")]
    no_enrol: bool,
    /// How long to wait for the server to accept the enrolment.
    #[arg(long, alias = "enroll-timeout", default_value = "60s", value_parser = parse_duration_ms, value_name = "DURATION")]
    enrol_timeout: u64,
    #[command(flatten)]
    options: InstallOptions,
}

pub fn server(args: ServerInstallArgs) -> ExitCode {
    match install_server(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry server install: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn agent(args: AgentInstallArgs) -> ExitCode {
    match install_agent(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry agent install: {e}");
            ExitCode::FAILURE
        }
    }
}

fn install_server(args: ServerInstallArgs) -> Result<(), String> {
    let cmd = service("server");
    let base =
        vec![("data-dir".to_string(), vec![args.data_dir.display().to_string()]), ("listen".to_string(), args.listen)];
    let mut values = collect(&cmd, base, &args.set)?;
    // The load balancer runs as its own service unless told otherwise
    // (`--set proxy-socket=`: inside the server, stopping with it).
    let proxy_socket = values.entry("proxy-socket".into()).or_insert_with(|| vec![PROXY_SOCKET.into()]);
    let with_proxy = match proxy_socket.first().map(String::as_str) {
        Some(PROXY_SOCKET) => true,
        Some("") | None => false,
        Some(other) => {
            return Err(format!(
                "proxy-socket = {other:?}: ferry-proxy.service listens on {PROXY_SOCKET}; give that, or an empty \
                 value to run the load balancer inside the server"
            ));
        }
    };
    let data_dir = PathBuf::from(&values["data-dir"][0]);
    if data_dir.to_string_lossy().contains(|c: char| c.is_whitespace() || "\"'\\%".contains(c)) {
        return Err(format!(
            "{}: the unit cannot name a data directory with blanks, quotes, `\\` or `%`",
            data_dir.display()
        ));
    }
    let root = &args.options.root;
    let config = under(root, SERVER_CONFIG);
    let unit = under(root, UNIT_DIR).join("ferry-server.service");
    let proxy_unit = under(root, UNIT_DIR).join("ferry-proxy.service");
    let mut written: Vec<&Path> = vec![&config, &unit];
    if with_proxy {
        written.push(&proxy_unit);
    }
    refuse_overwrite(&written, args.options.force)?;
    install_binary(&args.options)?;
    let text = format!("# Written by `ferry server install`.\n{}", settings::reference(&cmd, &values));
    write_file(&config, text.as_bytes(), 0o600)?;
    println!("wrote {} (mode 0600)", config.display());
    write_file(&unit, server_unit(&data_dir).as_bytes(), 0o644)?;
    println!("wrote {}", unit.display());
    if with_proxy {
        write_file(&proxy_unit, PROXY_UNIT.as_bytes(), 0o644)?;
        println!("wrote {}", proxy_unit.display());
    }
    let data = under(root, &data_dir);
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict {}: {e}", data.display()))?;
    if with_proxy {
        start("ferry-proxy.service", &args.options)?;
    }
    start("ferry-server.service", &args.options)?;
    let scheme = if values.get("insecure-http").is_some_and(|v| v == &["true"]) { "http" } else { "https" };
    println!(
        "on its first start the server writes the admin key to {dir}/credentials and the agents' join token to \
         {dir}/join-token; on each host: ferry agent install --server {scheme}://THIS-HOST:PORT --join-token TOKEN",
        dir = data_dir.display()
    );
    Ok(())
}

/// The shipped server unit, with another data directory on its `ReadWritePaths` line.
pub fn server_unit(data_dir: &Path) -> String {
    if data_dir == Path::new(DEFAULT_DATA_DIR) {
        SERVER_UNIT.to_string()
    } else {
        SERVER_UNIT.replace(DATA_DIR_LINE, &format!("ReadWritePaths={}\n", data_dir.display()))
    }
}

fn install_agent(args: AgentInstallArgs) -> Result<(), String> {
    let cmd = service("agent");
    let root = &args.options.root;
    let mut base = vec![("server".to_string(), vec![args.server.clone()])];
    if let Some(name) = &args.name {
        base.push(("name".into(), vec![name.clone()]));
    }
    if !args.tags.is_empty() {
        base.push(("tag".into(), args.tags.clone()));
    }
    let mut values = collect(&cmd, base, &args.set)?;
    let agent_root = values.get("root").cloned().unwrap_or_else(|| settings::default_of(&cmd, "root"));
    let agent_root = under(root, agent_root.first().map(String::as_str).unwrap_or(ferry_agent::DEFAULT_ROOT));
    let mut layout = ferry_agent::AgentConfig::new("", "");
    layout.root = agent_root.clone();
    let credentials = layout.credentials_file();
    let enrolled = credentials.exists();
    match (&args.join_token, enrolled) {
        (_, true) => println!("this host is enrolled already ({}); no join token needed", credentials.display()),
        (None, false) => {
            return Err("this host is not enrolled yet: give --join-token (the server's DATA_DIR/join-token)".into());
        }
        (Some(token), false) => {
            values.insert("join-token".into(), vec![token.clone()]);
        }
    }
    let config = under(root, AGENT_CONFIG);
    let unit = under(root, UNIT_DIR).join("ferry-agent.service");
    refuse_overwrite(&[&config, &unit], args.options.force)?;
    install_binary(&args.options)?;
    let render = |values: &BTreeMap<String, Vec<String>>| {
        format!("# Written by `ferry agent install`.\n{}", settings::reference(&cmd, values))
    };
    write_file(&config, render(&values).as_bytes(), 0o600)?;
    println!("wrote {} (mode 0600)", config.display());
    write_file(&unit, AGENT_UNIT.as_bytes(), 0o644)?;
    println!("wrote {}", unit.display());
    if !enrolled && !args.no_enrol {
        enrol(&config, &agent_root, Duration::from_millis(args.enrol_timeout))?;
        values.remove("join-token");
        write_file(&config, render(&values).as_bytes(), 0o600)?;
        println!(
            "removed the join token from {} (the host key in {} replaces it)",
            config.display(),
            credentials.display()
        );
    }
    start("ferry-agent.service", &args.options)
}

/// Runs `ferry agent --config CONFIG --root ROOT --enrol-only`, with none of
/// this process's FERRY_* variables (they would win over the file).
fn enrol(config: &Path, agent_root: &Path, timeout: Duration) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut command = Command::new(exe);
    command.arg("agent").arg("--config").arg(config).arg("--root").arg(agent_root).arg("--enrol-only");
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("FERRY_")) {
            command.env_remove(name);
        }
    }
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn");
    }
    let mut child = command.stdin(Stdio::null()).spawn().map_err(|e| format!("cannot run the agent to enrol: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the server did not accept the enrolment within {} s; the files are written: start the agent \
                     and it enrols once the server answers, or re-run with --force",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for the enrolment: {e}")),
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!("enrolment failed ({status}); the files are written: fix the settings and re-run with --force"))
    }
}

/// The settings to write: `base` (from the install flags) and `--set KEY=VALUE`s,
/// under their canonical keys, checked as a config file's would be.
fn collect(
    cmd: &clap::Command,
    base: Vec<(String, Vec<String>)>,
    sets: &[String],
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut problems = Vec::new();
    let mut values: BTreeMap<String, Vec<String>> = base.into_iter().collect();
    let given: Vec<String> = values.keys().cloned().collect();
    for set in sets {
        let Some((name, value)) = set.split_once('=') else {
            problems.push(format!("--set {set}: expected KEY=VALUE"));
            continue;
        };
        let key = settings::canonical_key(cmd, name).unwrap_or_else(|| name.to_string());
        if given.contains(&key) {
            problems.push(format!("--set {set}: `{key}` has its own flag, --{key}"));
            continue;
        }
        values.entry(key).or_default().push(value.to_string());
    }
    let texts: Vec<(String, Vec<String>)> = values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    problems.extend(settings::check_texts(cmd, &texts));
    for (key, texts) in &values {
        if settings::is_path(cmd, key) && texts.iter().any(|t| Path::new(t).is_relative()) {
            problems.push(format!("{key}: the service runs in /, so give an absolute path"));
        }
    }
    if problems.is_empty() { Ok(values) } else { Err(format!("nothing written:\n  {}", problems.join("\n  "))) }
}

fn under(root: &Path, path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn refuse_overwrite(paths: &[&Path], force: bool) -> Result<(), String> {
    let existing: Vec<String> = paths.iter().filter(|p| p.exists()).map(|p| p.display().to_string()).collect();
    if existing.is_empty() || force {
        Ok(())
    } else {
        Err(format!("nothing written: {} exist(s); --force overwrites", existing.join(", ")))
    }
}

/// Copies this executable to `ROOT/usr/local/bin/ferry` unless it is there.
fn install_binary(options: &InstallOptions) -> Result<(), String> {
    if options.no_binary {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let target = under(&options.root, BINARY);
    if target.exists() {
        let same = std::fs::canonicalize(&target).ok() == std::fs::canonicalize(&exe).ok();
        if same || !options.force {
            if !same {
                println!("kept {} (--force replaces it with {})", target.display(), exe.display());
            }
            return Ok(());
        }
    }
    let parent = target.parent().expect("a directory");
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let tmp = target.with_extension("tmp");
    std::fs::copy(&exe, &tmp)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::rename(&tmp, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot copy {} to {}: {e}", exe.display(), target.display())
        })?;
    println!("installed {}", target.display());
    Ok(())
}

/// Writes `path` (and its directory) via a temporary file, with `mode`.
fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), String> {
    let dir = path.parent().expect("a directory");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// Enables and (re)starts `unit` when systemd runs this system; otherwise says how.
fn start(unit: &str, options: &InstallOptions) -> Result<(), String> {
    let how = format!("systemctl daemon-reload && systemctl enable --now {unit}");
    let system = std::fs::canonicalize(&options.root).is_ok_and(|r| r == Path::new("/"));
    if options.no_start || !system {
        println!("not started; to start it: {how}");
        return Ok(());
    }
    if !Path::new("/run/systemd/system").is_dir() {
        println!("systemd is not running here; on a systemd host: {how}");
        return Ok(());
    }
    for step in [vec!["daemon-reload"], vec!["enable", unit], vec!["restart", unit]] {
        let status = Command::new("systemctl")
            .args(&step)
            .status()
            .map_err(|e| format!("cannot run systemctl {}: {e}", step.join(" ")))?;
        if !status.success() {
            return Err(format!("systemctl {} failed ({status}); see journalctl -u {unit}", step.join(" ")));
        }
    }
    println!("enabled and started {unit} (systemctl status {unit}; journalctl -u {unit})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_unit_names_another_data_directory() {
        assert!(SERVER_UNIT.contains(DATA_DIR_LINE));
        assert_eq!(server_unit(Path::new(DEFAULT_DATA_DIR)), SERVER_UNIT);
        let unit = server_unit(Path::new("/srv/ferry"));
        assert!(unit.contains("\nReadWritePaths=/srv/ferry\n") && !unit.contains(DATA_DIR_LINE), "{unit}");
        for unit in [SERVER_UNIT, AGENT_UNIT, PROXY_UNIT] {
            assert!(unit.contains(&format!("ExecStart={BINARY} ")), "{unit}");
        }
        assert!(SERVER_UNIT.contains(&format!("--config {SERVER_CONFIG}\n")));
        assert!(AGENT_UNIT.contains(&format!("--config {AGENT_CONFIG}\n")));
        assert!(PROXY_UNIT.contains(&format!("--socket {PROXY_SOCKET} ")));
    }

    #[test]
    fn install_settings_are_checked_like_a_file() {
        let cmd = service("server");
        let values = collect(&cmd, vec![("listen".into(), vec!["0.0.0.0:1".into()])], &["poll_hold_seconds=9".into()]);
        assert_eq!(values.unwrap()["poll-hold-seconds"], ["9"]);
        let e = collect(
            &cmd,
            vec![("listen".into(), vec!["nowhere".into()]), ("data-dir".into(), vec!["rel".into()])],
            &["pol-hold-seconds=1".into(), "listen=x".into(), "nothing".into()],
        )
        .unwrap_err();
        for expected in ["did you mean `poll-hold-seconds`", "has its own flag", "expected KEY=VALUE", "absolute path"]
        {
            assert!(e.contains(expected), "{expected}: {e}");
        }
        assert!(e.contains("listen: invalid value 'nowhere'"), "{e}");
    }
}
