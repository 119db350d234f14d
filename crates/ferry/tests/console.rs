//! The web console in a real browser: headless Chromium driven through
//! ChromeDriver's W3C WebDriver API, against a real `ferry server` and a
//! local fleet of agents.

mod support;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
use webdriver::Browser;

const WAIT: Duration = Duration::from_secs(30);

/// The key in an AWS-style credentials file.
fn credentials(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("{key} in {}", path.display()))
    };
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

fn deploy(c: &Cluster, extra: &[&str]) -> String {
    let mut args = vec!["deploy", "shop", "web"];
    args.extend_from_slice(extra);
    c.ferry_ok(&args).lines().last().unwrap().trim().to_string()
}

/// Runs a script in the page; `None` while it cannot (a page loading).
fn js(b: &Browser, script: &str) -> Option<Value> {
    b.execute(script, Vec::new()).ok()
}

/// The status the console page shows for the deployment.
fn shown_status(b: &Browser) -> Option<String> {
    let status =
        js(b, "var e = document.querySelector('[data-deployment-status]'); return e && e.dataset.deploymentStatus;")?;
    status.as_str().map(String::from)
}

/// With FERRY_TEST_SCREENSHOTS=DIR, saves what the browser shows as DIR/NAME.png.
fn shot(b: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("FERRY_TEST_SCREENSHOTS") {
        b.screenshot(&Path::new(&dir).join(format!("{name}.png")));
    }
}

fn sign_in(b: &Browser, base: &str, key_id: &str, secret: &str) {
    b.goto(&format!("{base}/console/login"));
    let id_field = b.find("#access_key_id").expect("the sign-in form");
    b.fill(&id_field, key_id);
    b.fill(&b.find("#secret_access_key").unwrap(), secret);
    b.click(&b.find("#sign-in").unwrap()).expect("click Sign in");
}

#[test]
fn the_console_signs_in_updates_live_stops_and_respects_roles() {
    if !fleet_supported() {
        return;
    }
    let started = Instant::now();
    let c = Cluster::start(ClusterOptions { hosts: 3, ..Default::default() });
    let base = c.url();
    let (admin_id, admin_secret) = credentials(&c.data_dir().join("credentials"));
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo", "--config", "CodeDeployDefault.OneAtATime"]);
    // ApplicationStart sleeps 1.5 s on each host, one host at a time.
    let rev = revision(&c.tmp.path().join("rev1"), "v1", 1500, None);
    c.ferry_ok(&["push", "shop", rev.to_str().unwrap()]);
    let b = Browser::start();
    b.window_size(1400, 1000);

    // (1) Not signed in: sent to sign in. A wrong secret is refused with an
    // error; the admin key signs in and lands on the deployments list.
    b.goto(&format!("{base}/console/applications"));
    assert!(b.url().contains("/console/login?next=%2Fconsole%2Fapplications"), "{}", b.url());
    sign_in(&b, &base, &admin_id, "not-the-secret");
    let error = wait_for("the sign-in error", WAIT, || b.find("#login-error").map(|e| b.text(&e)));
    assert!(error.contains("Wrong access key id or secret"), "{error}");
    shot(&b, "1-login-error");
    assert!(b.find("#who").is_none(), "a wrong secret must not sign in");
    sign_in(&b, &base, &admin_id, &admin_secret);
    let who = wait_for("the signed-in page", WAIT, || b.find("#who").map(|e| b.text(&e)));
    assert!(who.contains(&admin_id) && who.contains("admin"), "{who}");
    assert_eq!(b.url(), format!("{base}/console"), "back to the console's front page");

    // (2) A running deployment's page follows it live, without a reload.
    let xss = "<img src=x onerror=\"window.__xss=1\">";
    let a = deploy(&c, &["--description", xss]);
    let page = format!("{base}/console/deployments/{a}");
    b.goto(&page);
    let pending = wait_for("the page to show pending lifecycle events", WAIT, || {
        let cells = js(
            &b,
            "return Array.from(document.querySelectorAll('td.ev[data-status=\"Pending\"]'))\
             .map(td => [td.dataset.instance, td.dataset.event]);",
        )?;
        if cells.as_array().is_some_and(|a| !a.is_empty()) {
            return Some(cells);
        }
        b.goto(&page); // not started yet: look again
        None
    });
    // From here on the page is never navigated: the marker must survive.
    js(&b, "window.__marker = 1; return true;").expect("set the marker");
    let became = wait_for("an event that was Pending on load to show Succeeded", WAIT, || {
        let found = b
            .execute(
                "return arguments[0].map(([i, e]) => document.querySelector(\
                 `td.ev[data-instance=\"${i}\"][data-event=\"${e}\"]`))\
                 .filter(td => td && td.dataset.status === 'Succeeded')\
                 .map(td => td.dataset.instance + ' ' + td.dataset.event);",
                vec![pending.clone()],
            )
            .ok()?;
        found.as_array().and_then(|a| a.first().cloned())
    });
    assert_eq!(js(&b, "return window.__marker;"), Some(json!(1)), "the page was reloaded ({became} turned Succeeded)");
    let updates = js(&b, "return Number(document.getElementById('live').dataset.updates || 0);").unwrap();
    assert!(updates.as_u64().unwrap() >= 1, "no live fragment arrived: {updates}");
    // The description is shown as text, never as markup.
    assert_eq!(js(&b, "return document.getElementById('description').textContent;"), Some(json!(xss)));
    assert_eq!(
        js(&b, "return window.__xss === undefined && !document.querySelector('#facts img');"),
        Some(json!(true))
    );
    assert_eq!(c.get(&a)["status"], "InProgress", "still running when Stop is clicked");
    shot(&b, "2-running");

    // (3) Stop stops it: the store says Stopped, and the page shows it.
    b.click(&b.find("#action-stop").expect("an admin sees Stop")).ok();
    // A click that lands while the page is busy (a live fragment replacing
    // the button) opens nothing: click again until the dialog shows.
    let question = wait_for("the confirmation", WAIT, || {
        b.dialog_text().or_else(|| {
            if let Some(stop) = b.find("#action-stop") {
                b.click(&stop).ok();
            }
            None
        })
    });
    assert!(question.contains(&format!("Stop deployment {a}")), "{question}");
    b.accept_dialog().expect("confirm");
    let flash = wait_for("the flash message after Stop", WAIT, || {
        b.url().contains("?ok=").then(|| b.find("#flash").map(|e| b.text(&e))).flatten()
    });
    assert!(flash.contains("Stopping") || flash.contains("stopped"), "{flash}");
    wait_for("the deployment to be Stopped", WAIT, || (c.get(&a)["status"] == "Stopped").then_some(()));
    wait_for("the page to show Stopped", WAIT, || (shown_status(&b)? == "Stopped").then_some(()));
    let view = c.get(&a);
    let unfinished = view["instances"].as_array().unwrap().iter().filter(|t| t["status"] != "Succeeded").count();
    assert!(unfinished >= 1, "Stop came too late to stop anything: {view:#}");
    shot(&b, "3-stopped");

    // The list and the application pages show what the CLI shows.
    b.goto(&format!("{base}/console?application=shop&status=Stopped"));
    let row = b.find(&format!("tr[data-deployment=\"{a}\"]")).map(|e| b.text(&e)).unwrap_or_default();
    assert!(row.contains("shop") && row.contains("web") && row.contains("Stopped"), "{row}");
    shot(&b, "4-list");
    b.goto(&format!("{base}/console?status=Succeeded"));
    assert!(b.find(&format!("tr[data-deployment=\"{a}\"]")).is_none(), "the status filter");
    b.goto(&format!("{base}/console/applications/shop"));
    let group = b.find("#group-web").map(|e| b.text(&e)).unwrap_or_default();
    assert!(group.contains("CodeDeployDefault.OneAtATime") && group.contains("app=demo"), "{group}");
    assert!(group.contains("host1") && group.contains("host3"), "{group}");
    shot(&b, "5-application");
    b.goto(&format!("{base}/console/applications/nosuch"));
    assert!(b.find("#problem").is_some_and(|e| b.text(&e).contains("There is no application nosuch")));

    // Redeploy: a new deployment of the same revision to the same group.
    b.goto(&page);
    b.click(&b.find("#action-redeploy").expect("an admin sees Redeploy")).ok();
    let question = wait_for("the confirmation", WAIT, || b.dialog_text());
    assert!(question.contains("again?"), "{question}");
    b.accept_dialog().expect("confirm");
    let again = wait_for("the new deployment's page", WAIT, || {
        let url = b.url();
        let id = url.strip_prefix(&format!("{base}/console/deployments/"))?.split('?').next()?.to_string();
        (id != a && url.contains("?ok=")).then_some(id)
    });
    let (old, new) = (c.get(&a), c.get(&again));
    assert_eq!((&new["revision_id"], &new["group_name"]), (&old["revision_id"], &old["group_name"]), "{new:#}");
    c.ferry_ok(&["stop", &again]);
    c.wait_done(&again, WAIT);

    // A page that does not exist is a 404 page.
    b.goto(&format!("{base}/console/deployments/d-NOSUCHONE"));
    let problem = b.find("#problem").map(|e| b.text(&e)).unwrap_or_default();
    assert!(problem.contains("There is no deployment d-NOSUCHONE"), "{problem}");

    // (4) A read-only key sees no actions, and its POST is refused.
    let ro_file = c.tmp.path().join("read-only.credentials");
    c.ferry_ok(&["keys", "create", "--role", "read-only", "--write", ro_file.to_str().unwrap()]);
    let (ro_id, ro_secret) = credentials(&ro_file);
    b.click(&b.find("#logout button").expect("Sign out")).expect("click Sign out");
    wait_for("the sign-in page", WAIT, || b.find("#sign-in"));
    sign_in(&b, &base, &ro_id, &ro_secret);
    let who = wait_for("the read-only session", WAIT, || b.find("#who").map(|e| b.text(&e)));
    assert!(who.contains(&ro_id) && who.contains("read-only"), "{who}");
    let rev = revision(&c.tmp.path().join("rev2"), "v2", 3000, None);
    c.ferry_ok(&["push", "shop", rev.to_str().unwrap()]);
    let d = deploy(&c, &["--file-exists-behavior", "OVERWRITE"]);
    let page = format!("{base}/console/deployments/{d}");
    b.goto(&page);
    wait_for("the read-only page to show the deployment running", WAIT, || {
        if shown_status(&b)? == "InProgress" {
            return Some(());
        }
        b.goto(&page);
        None
    });
    assert!(b.find("#read-only").is_some(), "the read-only note");
    shot(&b, "6-read-only");
    for selector in ["#action-stop", "#action-stop-rollback", "#action-redeploy", "form[action$=\"/stop\"]"] {
        assert!(b.find(selector).is_none(), "a read-only key sees {selector}");
    }
    // The session's own CSRF token (of its Sign out form) does not make it a writer.
    let reply = b
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             const csrf = document.querySelector('#logout input[name=csrf]').value;\
             fetch(arguments[0], { method: 'POST', credentials: 'same-origin', redirect: 'manual',\
                                   body: new URLSearchParams({ csrf: csrf, rollback: 'false' }) })\
               .then(r => r.text().then(t => done({ status: r.status, body: t })))\
               .catch(e => done({ status: 0, body: String(e) }));",
            vec![json!(format!("/console/deployments/{d}/stop"))],
        )
        .expect("the POST");
    assert_eq!(reply["status"], 403, "{reply:#}");
    assert!(reply["body"].as_str().unwrap().contains("is read-only"), "{reply:#}");
    assert_eq!(c.get(&d)["status"], "InProgress");
    let view = c.wait_done(&d, Duration::from_secs(60));
    assert_eq!(view["status"], "Succeeded", "the read-only POST must not have stopped it: {view:#}");
    eprintln!("console test took {:?}", started.elapsed());
}

/// A build's page in a real browser: the log grows and the build ends on
/// the page without a reload, and a log line's markup stays text.
#[test]
fn a_build_page_follows_its_log_live_in_a_browser() {
    if !fleet_supported() {
        return;
    }
    let started = Instant::now();
    let c = Cluster::start(ClusterOptions {
        hosts: 1,
        agent_args: |_| vec!["--builds".into(), "1".into()],
        ..Default::default()
    });
    let base = c.url();
    let (admin_id, admin_secret) = credentials(&c.data_dir().join("credentials"));
    // The build waits for a file the test creates (it runs as nobody).
    let gate_dir = c.tmp.path().join("gate");
    std::fs::create_dir_all(&gate_dir).unwrap();
    std::fs::set_permissions(c.tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&gate_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let gate = gate_dir.join("open");
    let src = c.tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let xss = "<img src=x onerror=\"window.__xss=1\">";
    let buildspec = format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo 'before the gate {xss}'\n      \
         - while [ ! -f {gate} ]; do sleep 0.1; done\n      - echo through the gate\n",
        gate = gate.display()
    );
    std::fs::write(src.join("buildspec.yml"), buildspec).unwrap();
    c.ferry_ok(&["build", "project", "create", "gated", "--source", "upload"]);
    let id = c.ferry_ok(&["build", "start", "gated", "--source", src.to_str().unwrap()]);
    let id = id.lines().next().unwrap().trim().to_string();

    let b = Browser::start();
    b.window_size(1400, 1000);
    sign_in(&b, &base, &admin_id, &admin_secret);
    wait_for("the signed-in page", WAIT, || b.find("#who"));
    let page = format!("{base}/console/builds/{}", id.replace(':', "%3A"));
    b.goto(&page);
    let log_text = |b: &Browser| {
        js(b, "var l = document.getElementById('log-lines'); return l ? l.textContent : '';")
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    };
    wait_for("the first log line on the page", WAIT, || log_text(&b).contains("before the gate").then_some(()));
    // From here on the page is never navigated: the marker must survive.
    js(&b, "window.__marker = 1; return true;").expect("set the marker");
    let shown = |b: &Browser| {
        js(b, "var e = document.querySelector('[data-build-status]'); return e && e.dataset.buildStatus;")
            .and_then(|v| v.as_str().map(String::from))
    };
    assert_eq!(shown(&b).as_deref(), Some("IN_PROGRESS"));
    shot(&b, "7-build-running");
    std::fs::write(&gate, "").unwrap();
    wait_for("the last log line on the page", WAIT, || log_text(&b).contains("through the gate").then_some(()));
    wait_for("the page to show the build SUCCEEDED", WAIT, || (shown(&b)? == "SUCCEEDED").then_some(()));
    wait_for("the page to stop following the build", WAIT, || {
        (js(&b, "return document.getElementById('live').classList.contains('connected');")? == json!(false))
            .then_some(())
    });
    assert_eq!(js(&b, "return window.__marker;"), Some(json!(1)), "the page was reloaded");
    // The line's markup is text: no element was made of it.
    assert!(log_text(&b).contains(xss), "{}", log_text(&b));
    assert_eq!(
        js(&b, "return window.__xss === undefined && !document.querySelector('#log-lines img');"),
        Some(json!(true))
    );
    let phases = js(&b, "return document.getElementById('phases').textContent;").unwrap();
    assert!(phases.as_str().unwrap().contains("BUILD"), "{phases}");
    shot(&b, "8-build-done");

    // The builds page lists it, from the navigation.
    b.click(&b.find("#nav-builds").expect("Builds in the navigation")).expect("click Builds");
    let row = wait_for("the build's row", WAIT, || b.find(&format!("tr[data-build=\"{id}\"]")).map(|e| b.text(&e)));
    assert!(row.contains("gated #1") && row.contains("SUCCEEDED"), "{row}");
    eprintln!("console build test took {:?}", started.elapsed());
}
