//! Unauthenticated callers against a real server, black-box: refused calls
//! with huge fields do not fill the disk or the log, failed sign-ins and
//! enrolments back off per address, what callers and scripts wrote reaches
//! neither the log nor the admin's terminal as control characters, signing
//! out ends a session on the server, and the console sends HSTS.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(120);

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What the database and its write-ahead log take on disk.
fn db_size(c: &Cluster) -> u64 {
    let data = c.data_dir();
    ["ferry.db", "ferry.db-wal", "ferry.db-shm"].iter().map(|f| file_size(&data.join(f))).sum()
}

fn server_log(c: &Cluster) -> String {
    std::fs::read_to_string(c.tmp.path().join("server.log")).unwrap_or_default()
}

/// Percent-encodes a form value.
fn form_value(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A raw request: `(status, head, body)`.
fn request(c: &Cluster, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n", c.port);
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    c.server_request(&text).expect("the server answers")
}

fn sign_in(c: &Cluster, key_id: &str, secret: &str) -> (u16, String, String) {
    let form = format!("access_key_id={}&secret_access_key={}&next=%2Fconsole", form_value(key_id), form_value(secret));
    request(c, "POST", "/console/login", &[("Content-Type", "application/x-www-form-urlencoded")], &form)
}

fn enrol(c: &Cluster, token: &str, name: &str) -> (u16, String, String) {
    let body = serde_json::json!({
        "join_token": token, "name": name, "tags": [], "agent_version": "0.0.0",
        "protocol_version": ferry_proto::AGENT_PROTOCOL_VERSION,
    });
    request(c, "POST", "/agent/v1/enrol", &[("Content-Type", "application/json")], &body.to_string())
}

fn admin_key(c: &Cluster) -> (String, String) {
    let text = std::fs::read_to_string(c.data_dir().join("credentials")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_string()))
            .unwrap()
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

fn cookie_of(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

fn audit(c: &Cluster) -> Vec<Value> {
    serde_json::from_str(&c.ferry_ok(&["audit", "--limit", "5000", "--json"])).unwrap()
}

#[test]
fn refused_calls_with_huge_fields_do_not_fill_the_disk() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    let (db_before, log_before) = (db_size(&c), server_log(&c).len());
    // 50 each: sign-ins with a 12 KB key id, signed-looking calls claiming a
    // 48 KB key id, and calls to a 24 KB path; 7.2 MB of caller-chosen text.
    let long_key = "K".repeat(12 * 1024);
    let credential = format!(
        "AWS4-HMAC-SHA256 Credential={}/20250101/us-east-1/ferry/aws4_request, SignedHeaders=host, Signature=00",
        "C".repeat(48 * 1024)
    );
    let long_path = format!("/api/v1/{}", "p".repeat(24 * 1024));
    for _ in 0..50 {
        let (status, _, _) = sign_in(&c, &long_key, "wrong");
        assert!(status == 401 || status == 429 || status == 413, "{status}");
        let (status, _, _) = request(&c, "POST", "/api/v1/applications", &[("Authorization", &credential)], "{}");
        assert!(status >= 400, "{status}");
        let (status, _, _) = request(&c, "POST", &long_path, &[], "{}");
        assert!(status >= 400, "{status}");
    }
    let growth = db_size(&c).saturating_sub(db_before);
    let log_growth = server_log(&c).len() - log_before;
    eprintln!("150 refused calls: database +{growth} bytes, log +{log_growth} bytes");
    assert!(growth < 1 << 20, "the database grew by {growth} bytes");
    assert!(log_growth < 64 << 10, "the log grew by {log_growth} bytes");

    let entries = audit(&c);
    let unauthenticated: Vec<&Value> =
        entries.iter().filter(|e| e["role"].is_null() && e["source"] == "127.0.0.1" && e["api"] != "audit").collect();
    assert!(
        unauthenticated.len() <= 30,
        "{} refusals recorded one by one in a minute, past the limit",
        unauthenticated.len()
    );
    for e in &entries {
        for field in ["key_id", "action", "target"] {
            let len = e[field].as_str().map_or(0, |s| s.chars().count());
            assert!(len <= 200, "{field} kept {len} characters: {e}");
        }
    }
    assert!(
        entries.iter().any(|e| e["key_id"].as_str().is_some_and(|k| k.starts_with("KKKK") && k.contains("[cut, "))),
        "a cut key id is marked as cut"
    );
    let table = c.ferry_ok(&["audit", "--limit", "50"]);
    assert!(table.len() < 32 << 10, "`ferry audit --limit 50` printed {} bytes", table.len());
    // The refusals past the limit are counted in a summary once their minute ended.
    let summary = wait_for("the summary of the refusals past the limit", Duration::from_secs(90), || {
        audit(&c).into_iter().find(|e| e["api"] == "audit" && e["source"] == "127.0.0.1")
    });
    let counted: u64 =
        summary["target"].as_str().unwrap().split_whitespace().next().and_then(|n| n.parse().ok()).unwrap();
    assert_eq!(counted as usize + unauthenticated.len(), 150, "{summary}");
}

#[test]
fn failed_sign_ins_and_enrolments_back_off_per_address() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    let (id, secret) = admin_key(&c);
    // Sign-ins: a few failures are answered; then the address waits.
    let statuses: Vec<u16> = (0..20).map(|_| sign_in(&c, &id, "wrong secret").0).collect();
    let refused = statuses.iter().filter(|s| **s == 401).count();
    assert!(refused <= 7, "{refused} wrong secrets were checked in a row: {statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // While blocked, even the right secret is not looked at; the page says why.
    let (status, head, body) = sign_in(&c, &id, &secret);
    assert_eq!(status, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: "), "{head}");
    assert!(body.contains("Too many failed sign-ins from your address"), "{body}");
    // The block ends (seconds, not forever).
    wait_for("the sign-in block to end", Duration::from_secs(30), || {
        let (status, _, _) = sign_in(&c, &id, &secret);
        (status == 303).then_some(())
    });

    // Enrolments with a wrong join token: the same.
    let wrong = format!("ferry-join-WRONGWRONGWRONGWRONG.sha256-{}", c.ca_fingerprint());
    let statuses: Vec<u16> = (0..20).map(|i| enrol(&c, &wrong, &format!("guess-{i}")).0).collect();
    let refused = statuses.iter().filter(|s| **s == 403).count();
    assert!(refused <= 7, "{refused} join tokens were checked in a row: {statuses:?}");
    let (status, _, body) = enrol(&c, &c.join_token(), "right-token-while-blocked");
    assert_eq!(status, 429, "{body}");
    // The agent prints why.
    let out = std::process::Command::new(FERRY)
        .args(["agent", "--server", &c.url(), "--join-token", &wrong, "--name", "intruder"])
        .args(["--root", c.tmp.path().join("intruder").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("429") && stderr.contains("too many enrolments with a wrong join token"), "{stderr}");
    assert!(server_log(&c).contains("too many enrolments with a wrong join token from this address"));
}

#[test]
fn what_callers_chose_reaches_no_log_or_terminal_as_control_characters() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    // A key id that would clear the admin's screen and set its title.
    let hostile_key = "\u{1b}[2J\u{1b}]0;pwned\u{7}EVIL";
    assert_eq!(sign_in(&c, hostile_key, "x").0, 401);
    // An instance name that would forge a log line.
    let wrong = format!("ferry-join-WRONGWRONGWRONGWRONG.sha256-{}", c.ca_fingerprint());
    assert_eq!(enrol(&c, &wrong, "evil\nFORGED enrolment accepted").0, 403);
    let log = server_log(&c);
    assert!(!log.lines().any(|l| l.starts_with("FORGED")), "a forged log line:\n{log}");
    assert!(log.contains(r"evil\nFORGED"), "the name is logged escaped:\n{log}");
    assert!(!log.contains("\u{1b}[2J"), "an escape sequence reached the log");

    let table = c.ferry_ok(&["audit"]);
    assert!(!table.contains('\u{1b}') && !table.contains('\u{7}'), "control characters in `ferry audit`:\n{table:?}");
    assert!(table.contains(r"\u{1b}[2J\u{1b}]0;pwned\u{7}EVIL"), "{table}");

    // A deployment whose description and hook output carry escape codes.
    let dir = c.tmp.path().join("rev");
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(
        dir.join("scripts/hook.sh"),
        "#!/bin/sh\nprintf 'first line\\n\\033[2J\\033]0;pwned\\007cleared\\nthird line\\n'\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("scripts/hook.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("appspec.yml"),
        "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: scripts/hook.sh\n      timeout: 60\n",
    )
    .unwrap();
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo"]);
    let revision = c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string();
    let description = "release \u{1b}[31mred\u{1b}[0m\r\u{9b}2J";
    let out = c.ferry(&["deploy", "shop", "web", "--revision", &revision, "--description", description]);
    let deploy_output = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = deploy_output.lines().find(|l| l.starts_with("d-")).unwrap_or_else(|| deploy_output.trim()).to_string();
    let id = id.split_whitespace().next().unwrap().to_string();
    assert_eq!(c.wait_done(&id, LONG)["status"], "Failed");
    for printed in [c.ferry(&["get", &id]), c.ferry(&["logs", &id])] {
        let text = String::from_utf8_lossy(&printed.stdout).into_owned();
        let bad = text.chars().find(|ch| ch.is_control() && *ch != '\n');
        assert_eq!(bad, None, "a control character in:\n{text:?}");
        assert!(text.contains(r"\u{1b}[2J\u{1b}]0;pwned\u{7}cleared"), "{text}");
        // Hook output keeps its lines.
        assert!(text.lines().any(|l| l.trim_end().ends_with("first line")), "{text}");
        assert!(text.lines().any(|l| l.trim_end().ends_with("third line")), "{text}");
    }
    let get = String::from_utf8_lossy(&c.ferry(&["get", &id]).stdout).into_owned();
    assert!(get.contains(r"release \u{1b}[31mred\u{1b}[0m\r\u{9b}2J"), "{get}");
    for text in [deploy_output, String::from_utf8_lossy(&out.stderr).into_owned()] {
        assert!(!text.chars().any(|ch| ch.is_control() && ch != '\n'), "{text:?}");
    }
}

#[test]
fn signing_out_ends_the_session_on_the_server() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    let (id, secret) = admin_key(&c);
    let (status, head, _) = sign_in(&c, &id, &secret);
    assert_eq!(status, 303, "{head}");
    let cookie = cookie_of(&head);
    let (status, page) = c.server_get("/console", &[("cookie", &cookie)]).unwrap();
    assert_eq!(status, 200);
    let at = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = &page[at..at + page[at..].find('"').unwrap()];
    let form = format!("csrf={csrf}");
    let (status, _, _) = request(
        &c,
        "POST",
        "/console/logout",
        &[("Cookie", &cookie), ("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(status, 303);
    // A copy of the cookie kept from before is signed out too.
    let (status, head, _) = request(&c, "GET", "/console", &[("Cookie", &cookie)], "");
    assert_eq!(status, 303, "{head}");
    assert!(head.to_ascii_lowercase().contains("location: /console/login"), "{head}");
    // Another session of the same key lives on.
    let (_, head, _) = sign_in(&c, &id, &secret);
    assert_eq!(c.server_get("/console", &[("cookie", &cookie_of(&head))]).unwrap().0, 200);

    // A POST without a session does not look successful.
    let (status, _, body) = request(
        &c,
        "POST",
        "/console/deployments/d-NOTHING/stop",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "csrf=x",
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("You are not signed in"), "{body}");
}

#[test]
fn the_console_sends_hsts_over_tls_only_and_bearer_is_case_insensitive() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    let (status, head, _) = request(&c, "GET", "/console/login", &[], "");
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("strict-transport-security: max-age=31536000"), "{head}");
    let token = std::fs::read_to_string(c.data_dir().join("metrics-token")).unwrap();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, body) =
            c.server_get("/metrics", &[("authorization", &format!("{scheme} {}", token.trim()))]).unwrap();
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    assert_eq!(c.server_get("/metrics", &[("authorization", "bearer wrong")]).unwrap().0, 403);

    let plain = Cluster::start(ClusterOptions { hosts: 1, insecure_http: true, ..Default::default() });
    let (status, head, _) = request(&plain, "GET", "/console/login", &[], "");
    assert_eq!(status, 200);
    assert!(!head.to_ascii_lowercase().contains("strict-transport-security"), "{head}");
}
