//! The console as an adapter over the operations, in process: signing in,
//! a deployment's page, and its actions with their role and CSRF checks.

mod support;

use serde_json::json;
use support::*;

/// `application/x-www-form-urlencoded`, as a browser sends a form.
fn encode(form: &[(&str, &str)]) -> String {
    let part = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter().map(|(k, v)| format!("{}={}", part(k), part(v))).collect::<Vec<_>>().join("&")
}

/// A browser: one session cookie, no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    async fn sign_in(server: &TestServer, key_id: &str, secret: &str) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let base = format!("http://{}", server.addr);
        let response = http
            .post(format!("{base}/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&[("access_key_id", key_id), ("secret_access_key", secret), ("next", "/console")]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "signed in");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        assert!(cookie.starts_with("ferry_session="), "{cookie}");
        Browser { http, base, cookie }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response =
            self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(form))
            .send()
            .await
            .unwrap();
        let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        (response.status().as_u16(), location.unwrap_or_default())
    }

    /// The CSRF token the page's forms carry.
    async fn csrf(&self, page: &str) -> String {
        let (status, html) = self.get(page).await;
        assert_eq!(status, 200, "{html}");
        let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        html[at..].split('"').next().unwrap().to_string()
    }
}

/// A group whose tags select no instance: its deployments end at once.
async fn a_finished_deployment(server: &TestServer) -> String {
    let (status, body) = server.admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    assert_eq!(status, 200, "{body}");
    let group = json!({ "name": "web", "tag_filters": [{ "key": "app", "value": "none", "type": "KEY_AND_VALUE" }] });
    let (status, body) = server.admin.post("/api/v1/applications/shop/groups", group).await;
    assert_eq!(status, 200, "{body}");
    let revision = server.admin.push_tar("shop", tar_bundle(APPSPEC)).await;
    let request = json!({ "application_name": "shop", "group_name": "web", "revision_id": revision["id"] });
    let (status, created) = server.admin.post("/api/v1/deployments", request).await;
    assert_eq!(status, 200, "{created}");
    let id = created["deployment_id"].as_str().unwrap().to_string();
    eventually("the deployment to end", std::time::Duration::from_secs(10), || async {
        let status = native_status(&server.admin, &id).await;
        (status != "Created" && status != "InProgress" && status != "Queued").then_some(())
    })
    .await;
    id
}

async fn deployment_count(server: &TestServer) -> usize {
    let (status, list) = server.admin.get("/api/v1/deployments?application=shop").await;
    assert_eq!(status, 200);
    list.as_array().unwrap().len()
}

#[tokio::test]
async fn redeploy_from_the_console_goes_through_the_same_operation_and_checks() {
    let server = TestServer::start().await;
    let id = a_finished_deployment(&server).await;
    let page = format!("/console/deployments/{id}");

    let admin = Browser::sign_in(&server, ADMIN_KEY_ID, ADMIN_SECRET).await;
    let (status, html) = admin.get(&page).await;
    assert_eq!(status, 200);
    assert!(html.contains(&id) && html.contains("Redeploy"), "the page and its action");
    let csrf = admin.csrf(&page).await;

    // A forged form (no or another session's token) changes nothing.
    let (status, _) = admin.post(&format!("{page}/redeploy"), &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    assert_eq!(deployment_count(&server).await, 1);

    // A read-only key sees the page, not the action.
    let reader = server.key("read-only", &[]).await;
    let reader =
        Browser::sign_in(&server, &reader.credentials.access_key_id, &reader.credentials.secret_access_key).await;
    let (status, html) = reader.get(&page).await;
    assert_eq!(status, 200);
    assert!(!html.contains("Redeploy</button>"), "no action buttons for a read-only key");
    let reader_csrf = reader.csrf("/console").await;
    let (status, _) = reader.post(&format!("{page}/redeploy"), &[("csrf", &reader_csrf)]).await;
    assert_eq!(status, 403);
    assert_eq!(deployment_count(&server).await, 1);

    // The admin's redeploy creates a deployment of the same revision, as the API would.
    let (status, location) = admin.post(&format!("{page}/redeploy"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 303, "{location}");
    let (path, message) = location.split_once('?').unwrap_or((&location, ""));
    let new = path.trim_start_matches("/console/deployments/");
    assert!(new.starts_with("d-") && new != id, "{location}");
    assert!(message.starts_with("ok="), "{location}");
    assert_eq!(deployment_count(&server).await, 2);
    let (status, view) = server.admin.get(&format!("/api/v1/deployments/{new}")).await;
    assert_eq!(status, 200, "{view}");
    let (_, old) = server.admin.get(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(view["revision_id"], old["revision_id"]);

    // Stopping a finished deployment is refused by the operation, said on the page.
    let (status, location) = admin.post(&format!("{page}/stop"), &[("csrf", &csrf), ("rollback", "false")]).await;
    assert_eq!(status, 303);
    assert!(location.contains("error=") && location.contains("already%20completed"), "{location}");
}
