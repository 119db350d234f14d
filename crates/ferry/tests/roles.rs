//! Roles, scopes and the audit log, black-box: each role against each kind
//! of operation on the native API (the CLI), the AWS API (the real AWS
//! CLI) and the console's actions, allowed exactly where it should be;
//! then the audit log of that scripted sequence, refusals included.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(120);

/// The CLI as the key in `credentials`.
fn ferry_as(c: &Cluster, credentials: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(FERRY);
    command
        .args(args)
        .env("FERRY_SERVER", c.url())
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "")
        .arg("--credentials")
        .arg(credentials);
    c.trust(&mut command);
    command.output().unwrap()
}

/// The AWS CLI as the key in `credentials`: Ok(json) or Err(stderr).
fn aws_as(c: &Cluster, credentials: &Path, args: &[&str]) -> Result<Value, String> {
    let mut command = Command::new("aws");
    command
        .args(["--endpoint-url", &c.url(), "--output", "json", "deploy"])
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "");
    c.trust_aws(&mut command);
    let out = command.output().expect("the AWS CLI");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

struct Key {
    name: &'static str,
    file: PathBuf,
    id: String,
}

fn key(c: &Cluster, name: &'static str, args: &[&str]) -> Key {
    let file = c.tmp.path().join(format!("{name}.credentials"));
    let mut all = vec!["keys", "create", "--description", name, "--write", file.to_str().unwrap()];
    all.extend_from_slice(args);
    c.ferry_ok(&all);
    let text = std::fs::read_to_string(&file).unwrap();
    let id = text.lines().find_map(|l| l.strip_prefix("aws_access_key_id = ")).unwrap().trim().to_string();
    Key { name, file, id }
}

/// `args` for key `k`: `{k}` is its name, so each creates something of its own.
fn args_for(k: &Key, args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.replace("{k}", k.name)).collect()
}

/// Runs `args` as each key and checks who was allowed.
fn matrix(c: &Cluster, keys: &[&Key], allowed: &[&str], args: &[&str]) {
    for k in keys {
        let owned = args_for(k, args);
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        let out = ferry_as(c, &k.file, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = allowed.contains(&k.name);
        assert_eq!(out.status.success(), expected, "ferry {args:?} as {}: {stderr}", k.name);
        if !expected {
            assert!(
                stderr.contains("read-only")
                    || stderr.contains("is limited to")
                    || stderr.contains("not an admin key")
                    || stderr.contains("AccessDenied")
                    || stderr.contains("is disabled"),
                "ferry {args:?} as {} was refused for another reason: {stderr}",
                k.name
            );
        }
    }
}

fn aws_matrix(c: &Cluster, keys: &[&Key], allowed: &[&str], args: &[&str]) {
    for k in keys {
        let owned = args_for(k, args);
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        let outcome = aws_as(c, &k.file, &args);
        let expected = allowed.contains(&k.name);
        match &outcome {
            Ok(_) => assert!(expected, "aws deploy {args:?} as {} was allowed", k.name),
            Err(e) if expected => panic!("aws deploy {args:?} as {} was refused: {e}", k.name),
            Err(e) => assert!(e.contains("AccessDeniedException"), "aws deploy {args:?} as {}: {e}", k.name),
        }
    }
}

fn push(c: &Cluster, as_key: &Key, app: &str, dir: &Path) -> String {
    let out = ferry_as(c, &as_key.file, &["push", app, dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim().to_string()
}

#[test]
fn each_role_may_do_exactly_what_it_should_and_the_audit_log_tells_it_all() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    c.wait_enrolled(1);
    let admin = Key { name: "admin", file: c.data_dir().join("credentials"), id: String::new() };
    let deployer = key(&c, "deployer", &["--role", "deployer"]);
    let scoped = key(&c, "scoped", &["--role", "deployer", "--scope", "shop/web"]);
    let reader = key(&c, "reader", &["--role", "read-only"]);
    let refused = c.ferry(&["keys", "create", "--role", "read-only", "--scope", "shop"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only deployer keys can be limited"));
    let everyone = [&admin, &deployer, &scoped, &reader];

    // Native API, through the CLI.
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo"]);
    c.ferry_ok(&["group", "create", "shop", "api", "--tag", "app=demo"]);
    matrix(&c, &everyone, &["admin", "deployer"], &["app", "create", "blog-{k}"]);
    matrix(&c, &everyone, &["admin", "deployer"], &["group", "create", "shop", "api-{k}", "--tag", "app=demo"]);
    matrix(
        &c,
        &everyone,
        &["admin", "deployer"],
        &["config", "create", "Two-{k}", "--minimum-healthy-hosts", "HOST_COUNT:0"],
    );
    matrix(&c, &everyone, &["admin", "deployer"], &["alarm", "create", "errors-{k}", "--expr", "up == 0"]);
    matrix(&c, &everyone, &["admin"], &["keys", "list"]);
    matrix(&c, &everyone, &["admin"], &["audit"]);
    for reads in [&["list"][..], &["instances"], &["app", "list"], &["group", "list", "shop"], &["events"]] {
        matrix(&c, &everyone, &["admin", "deployer", "scoped", "reader"], reads);
    }
    // The scoped deployer pushes revisions of its application and deploys to its group only.
    let first = push(&c, &scoped, "shop", &revision(&c.tmp.path().join("r1"), "r1", 0, None));
    let refused = ferry_as(&c, &reader.file, &["push", "shop", c.tmp.path().join("r1").to_str().unwrap()]);
    assert!(!refused.status.success());
    let deploy_web = ["deploy", "shop", "web", "--revision", &first, "--wait"];
    matrix(&c, &[&scoped, &reader], &["scoped"], &deploy_web);
    let deploy_api = ["deploy", "shop", "api", "--revision", &first];
    matrix(&c, &[&scoped, &reader], &[], &deploy_api);

    // A deployment the scoped key may stop, one it may not.
    let slow = push(&c, &admin, "shop", &revision(&c.tmp.path().join("slow"), "slow", 10_000, None));
    let on_web = c.ferry_ok(&["deploy", "shop", "web", "--revision", &slow]).lines().last().unwrap().trim().to_string();
    matrix(&c, &[&reader], &[], &["stop", &on_web]);
    matrix(&c, &[&scoped], &["scoped"], &["stop", &on_web]);
    assert_eq!(c.wait_done(&on_web, LONG)["status"], "Stopped");
    let on_api = c
        .ferry_ok(&["deploy", "shop", "api", "--revision", &slow, "--file-exists-behavior", "OVERWRITE"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    matrix(&c, &[&scoped, &reader], &[], &["stop", &on_api]);

    // The console: the scoped key sees no actions on the api group's deployment, and is refused.
    let page = c.console_page_as(&scoped.file, &format!("/console/deployments/{on_api}"));
    assert!(page.contains("id=\"out-of-scope\""), "{page}");
    let (status, body) =
        c.console_post_as(&scoped.file, &format!("/console/deployments/{on_api}/stop"), "rollback=false");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("is limited to shop/web"), "{body}");
    let (status, _) = c.console_post_as(&reader.file, &format!("/console/deployments/{on_api}/stop"), "rollback=false");
    assert_eq!(status, 403);
    assert_eq!(c.get(&on_api)["status"], "InProgress", "nobody stopped it");
    c.ferry_ok(&["stop", &on_api]);

    // The AWS API: the same rules, AccessDeniedException where refused.
    aws_matrix(&c, &everyone, &["admin", "deployer"], &["create-application", "--application-name", "news-{k}"]);
    aws_matrix(
        &c,
        &everyone,
        &["admin", "deployer"],
        &[
            "create-deployment-config",
            "--deployment-config-name",
            "Half-{k}",
            "--minimum-healthy-hosts",
            "type=FLEET_PERCENT,value=50",
        ],
    );
    let location = format!("bucket=FerryServer,key={first},bundleType=tgz");
    let deploy = [
        "create-deployment",
        "--application-name",
        "shop",
        "--deployment-group-name",
        "web",
        "--s3-location",
        &location,
    ];
    aws_matrix(&c, &[&scoped, &reader], &["scoped"], &deploy);
    let other = [
        "create-deployment",
        "--application-name",
        "shop",
        "--deployment-group-name",
        "api",
        "--s3-location",
        &location,
    ];
    aws_matrix(&c, &[&scoped, &reader], &[], &other);
    aws_matrix(&c, &everyone, &["admin", "deployer", "scoped", "reader"], &["list-applications"]);
    aws_matrix(
        &c,
        &everyone,
        &["admin", "deployer", "scoped", "reader"],
        &["get-deployment", "--deployment-id", &on_web],
    );
    let wrong = c.tmp.path().join("wrong.credentials");
    std::fs::write(&wrong, format!("[default]\naws_access_key_id = {}\naws_secret_access_key = nope\n", reader.id))
        .unwrap();
    let bad = aws_as(&c, &wrong, &["create-application", "--application-name", "forged"]).unwrap_err();
    assert!(bad.contains("InvalidSignatureException"), "{bad}");

    // Disabled, enabled, deleted keys.
    c.ferry_ok(&["keys", "disable", &deployer.id]);
    matrix(&c, &[&deployer], &[], &["app", "list"]);
    c.ferry_ok(&["keys", "enable", &deployer.id]);
    matrix(&c, &[&deployer], &["deployer"], &["app", "list"]);
    c.ferry_ok(&["keys", "delete", &deployer.id]);
    assert!(!ferry_as(&c, &deployer.file, &["app", "list"]).status.success());
    let listed = c.ferry_ok(&["keys", "list"]);
    assert!(listed.contains("shop/web") && !listed.contains(&deployer.id), "{listed}");

    // The audit log of all that, refusals included.
    let text = c.ferry_ok(&["audit", "--json", "--limit", "1000"]);
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    let find = |pred: &dyn Fn(&Value) -> bool| entries.iter().find(|e| pred(e)).cloned();
    let created =
        find(&|e| e["action"] == "POST /api/v1/applications" && e["status"] == 200 && e["target"] == "blog-admin")
            .expect("the admin's app create");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["api"], "native");
    assert_eq!(created["source"], "127.0.0.1");
    let refused_native = find(&|e| {
        e["action"] == "POST /api/v1/applications"
            && e["key_id"].as_str() == Some(reader.id.as_str())
            && e["status"] == 403
    })
    .expect("the read-only key's refused app create");
    assert_eq!(refused_native["role"], "read-only");
    assert_eq!(refused_native["error"], "AccessDenied");
    let aws_refused = find(&|e| {
        e["action"] == "CreateDeployment"
            && e["key_id"].as_str() == Some(scoped.id.as_str())
            && e["error"] == "AccessDeniedException"
    })
    .expect("the scoped key's refused CreateDeployment");
    assert_eq!(aws_refused["api"], "aws");
    assert_eq!(aws_refused["target"], "shop/api");
    let forged =
        find(&|e| e["key_id"].as_str() == Some(reader.id.as_str()) && e["error"] == "InvalidSignatureException")
            .expect("the forged signature");
    assert!(forged["role"].is_null(), "an unverified caller has no role: {forged}");
    let console =
        find(&|e| e["api"] == "console" && e["key_id"].as_str() == Some(scoped.id.as_str()) && e["status"] == 403)
            .expect("the console refusal");
    assert_eq!(console["target"].as_str(), Some(on_api.as_str()));
    assert!(find(&|e| e["action"] == "POST /api/v1/keys/".to_string() + &deployer.id + "/disable").is_some());
    assert!(entries.iter().all(|e| !e["action"].as_str().unwrap().starts_with("GET ")), "reads are not audited");
    assert!(entries.iter().all(|e| e["action"] != "GetDeployment" && e["action"] != "ListApplications"));
    // The console shows the log to admins only.
    let page = c.console_page("/console/audit?refused=on");
    assert!(page.contains("id=\"audit\"") && page.contains(&scoped.id) && page.contains("AccessDenied"), "{page}");
    let (status, _) = c.console_get_as(&reader.file, "/console/audit");
    assert_eq!(status, 403, "the audit log is for admins");
    let refused_only: Vec<Value> =
        serde_json::from_str(&c.ferry_ok(&["audit", "--json", "--refused", "--key", &scoped.id])).unwrap();
    assert!(!refused_only.is_empty() && refused_only.iter().all(|e| e["status"].as_u64() >= Some(400)));

    // An agent whose credential is revoked is refused at once.
    let instance = c.ferry_ok(&["instances", "--json"]);
    let name = serde_json::from_str::<Value>(&instance).unwrap()[0]["name"].as_str().unwrap().to_string();
    matrix(&c, &[&scoped, &reader], &[], &["instances", "revoke", &name]);
    c.ferry_ok(&["instances", "revoke", &name]);
    wait_for("the agent to be refused", LONG, || c.logs().contains("was revoked").then_some(()));
}
