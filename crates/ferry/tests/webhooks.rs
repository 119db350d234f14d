//! Ferry secrets and build webhooks, black-box: a real `ferry server` (TLS,
//! its own CA), the CLI, `git` and `curl`. No root needed.
//!
//! A bare repository's `post-receive` hook posts a GitHub-format push
//! payload signed with the webhook's secret, as GitHub would: a `git push`
//! queues a build of the pushed commit. No build host runs here, so builds
//! stay QUEUED; the test reads them from the server's database.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferry_core::build::{Initiator, WebhookEventType};
use support::server::{Server, text};
use support::wait_for;

impl Server {
    /// POSTs `body` to `path` with `headers` through curl; returns the status and body.
    fn curl(&self, path: &str, headers: &[String], body: &Path) -> (u16, String) {
        let mut command = Command::new("curl");
        command.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"]).arg(self.data.join("tls/ca.pem"));
        for h in headers {
            command.args(["-H", h]);
        }
        let out = command.arg("--data-binary").arg(format!("@{}", body.display())).arg(format!("{}{path}", self.url));
        let out = out.output().unwrap();
        let all = text(&out.stdout);
        let (body, code) = all.rsplit_once('\n').unwrap_or(("", &all));
        (code.trim().parse().unwrap_or_else(|_| panic!("curl: {all} {}", text(&out.stderr))), body.to_string())
    }
}

const VALUE: &str = "db-pass-Q7w9-never-printed";

#[test]
fn secrets_through_the_cli() {
    let server = Server::start();
    let put = server
        .ferry_with_stdin(&["secret", "put", "/prod/db/password", "--description", "shop db"], &format!("{VALUE}\n"));
    assert!(put.status.success(), "{}{}", text(&put.stdout), text(&put.stderr));
    assert!(text(&put.stdout).contains("stored secret /prod/db/password"));
    let file = server.tmp.path().join("token");
    std::fs::write(&file, "tok-from-file").unwrap();
    server.ok(&["secret", "put", "api-token", "--from-file", file.to_str().unwrap()]);

    let list = server.ok(&["secret", "list"]);
    assert!(list.contains("/prod/db/password") && list.contains("api-token") && list.contains("shop db"), "{list}");
    assert!(!list.contains(VALUE) && !list.contains("tok-from-file"), "{list}");
    let json: serde_json::Value = serde_json::from_str(&server.ok(&["secret", "list", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(!json.to_string().contains(VALUE));

    // The value never comes from an argument; --help says why.
    let out = server.ferry(&["secret", "put", "x", VALUE]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let help = server.ok(&["secret", "put", "--help"]);
    assert!(help.contains("never from an argument") && help.contains("shell history"), "{help}");
    let empty = server.ferry_with_stdin(&["secret", "put", "x"], "");
    assert!(!empty.status.success() && text(&empty.stderr).contains("empty"), "{}", text(&empty.stderr));

    // Only admins.
    let reader = server.tmp.path().join("reader.credentials");
    server.ok(&["keys", "create", "--role", "read-only", "--write", reader.to_str().unwrap()]);
    let out = server.command(&["secret", "list"], &reader).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not an admin key"), "{}", text(&out.stderr));

    server.ok(&["secret", "delete", "/prod/db/password"]);
    let out = server.ferry(&["secret", "delete", "/prod/db/password"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does not exist"), "{}", text(&out.stderr));
    assert!(!server.ok(&["secret", "list"]).contains("/prod/db/password"));

    // Nothing the server logged or wrote holds the value in plain text.
    let mut files = vec![server.data.with_extension("log")];
    files.extend(std::fs::read_dir(&server.data).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()), "the value is in {}", path.display());
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[test]
fn a_git_push_to_a_repository_with_a_hook_starts_a_build() {
    let server = Server::start();
    let repo = server.tmp.path().join("shop.git");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "--bare", "-q"]);
    let source = format!("git+file://{}", repo.display());
    server.ok(&["build", "project", "create", "shop", "--source", &source]);

    let out =
        server.ok(&["build", "webhook", "create", "shop", "--filter-group", "EVENT=PUSH;HEAD_REF=^refs/heads/main$"]);
    let url = out.lines().find_map(|l| l.strip_prefix("payload URL: ")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(url, format!("{}/webhooks/build/shop", server.url));
    let secret =
        out.lines().find_map(|l| l.split("shown once: ").nth(1)).unwrap_or_else(|| panic!("{out}")).to_string();
    assert_eq!(secret.len(), 40);

    // The hook posts what GitHub would, signed with the shared secret.
    let responses = server.tmp.path().join("hook-responses");
    let hook = format!(
        r#"#!/bin/sh
while read old new ref; do
  msg=$(git log -1 --format=%s "$new")
  body=$(printf '{{"ref":"%s","before":"%s","after":"%s","repository":{{"clone_url":"%s"}},"sender":{{"id":583231}},"head_commit":{{"id":"%s","message":"%s"}},"commits":[{{"id":"%s","message":"%s","added":["src/app.rs"],"removed":[],"modified":[]}}]}}' "$ref" "$old" "$new" "{repo}" "$new" "$msg" "$new" "$msg")
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //')
  curl -sS -o /dev/null -w '%{{http_code}}\n' --cacert '{ca}' -H 'Content-Type: application/json' \
    -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" '{url}' >> '{responses}'
done
"#,
        repo = repo.display(),
        ca = server.data.join("tls/ca.pem").display(),
        responses = responses.display(),
    );
    let hook_path = repo.join("hooks/post-receive");
    std::fs::write(&hook_path, hook).unwrap();
    std::fs::set_permissions(&hook_path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let work = server.tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("app.rs"), "fn main() {}\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "First commit"]);
    let commit = git(&work, &["rev-parse", "HEAD"]);
    git(&work, &["push", "-q", repo.to_str().unwrap(), "main"]);

    let builds = wait_for("the pushed commit's build", Duration::from_secs(20), || {
        let builds = server.runtime.block_on(server.store.list_builds(Some("shop"), 10)).unwrap();
        (!builds.is_empty()).then_some(builds)
    });
    assert_eq!(std::fs::read_to_string(&responses).unwrap().trim(), "202");
    assert_eq!(builds.len(), 1);
    let build = &builds[0];
    assert_eq!(build.source_version.as_deref(), Some(commit.as_str()));
    assert_eq!(build.initiator, Initiator::Webhook);
    let hook = build.webhook.as_ref().unwrap();
    assert_eq!(
        (hook.event, hook.trigger.as_str(), hook.commit.as_str()),
        (WebhookEventType::Push, "branch/main", commit.as_str())
    );
    assert_eq!(hook.actor_account_id.as_deref(), Some("583231"));
    assert_eq!(build.status.aws_name(), "IN_PROGRESS", "queued: no build host here");

    // A push to another branch matches no group: nothing more is queued.
    git(&work, &["push", "-q", repo.to_str().unwrap(), "main:feature"]);
    assert_eq!(std::fs::read_to_string(&responses).unwrap().lines().last(), Some("200"));

    // A pull request matches no group (the only one is for pushes): 200, no build.
    let pr = server.tmp.path().join("pr.json");
    let pr_body = serde_json::json!({
        "action": "opened", "number": 7,
        "pull_request": { "number": 7, "merged": false, "head": { "ref": "feature", "sha": commit }, "base": { "ref": "main" } },
        "repository": { "clone_url": repo.display().to_string() },
        "sender": { "id": 1 }
    });
    std::fs::write(&pr, pr_body.to_string()).unwrap();
    let signed = |path: &Path| {
        let sig = ferry_webhook::github_signature(&secret, &std::fs::read(path).unwrap());
        vec!["X-GitHub-Event: pull_request".to_string(), format!("X-Hub-Signature-256: {sig}")]
    };
    let (status, body) = server.curl("/webhooks/build/shop", &signed(&pr), &pr);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("no filter group matched"), "{body}");

    // A wrong signature is refused, for this project and for one that does not exist, alike.
    let wrong = vec![
        "X-GitHub-Event: pull_request".to_string(),
        format!("X-Hub-Signature-256: {}", ferry_webhook::github_signature("guess", b"x")),
    ];
    let (status, known) = server.curl("/webhooks/build/shop", &wrong, &pr);
    assert_eq!(status, 401, "{known}");
    let (status, unknown) = server.curl("/webhooks/build/nothing-here", &wrong, &pr);
    assert_eq!((status, &unknown), (401, &known), "the same answer whatever exists");
    // Payloads over 1 MiB are refused unread.
    let big = server.tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; (1 << 20) + 1]).unwrap();
    let (status, body) = server.curl("/webhooks/build/shop", &signed(&big), &big);
    assert_eq!(status, 413, "{body}");

    assert_eq!(server.runtime.block_on(server.store.list_builds(Some("shop"), 10)).unwrap().len(), 1);

    // Off: deliveries are refused and the generated secret is gone.
    server.ok(&["build", "webhook", "delete", "shop"]);
    assert!(!server.ok(&["secret", "list"]).contains("webhook/shop"));
    git(&work, &["commit", "-q", "--allow-empty", "-m", "Second"]);
    git(&work, &["push", "-q", repo.to_str().unwrap(), "main"]);
    assert_eq!(std::fs::read_to_string(&responses).unwrap().lines().last(), Some("401"));
}
