//! Webhook operations on a real (in-memory) store, and commit statuses
//! posted to a small local HTTP server standing in for the forge.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use ferry_core::build::{BuildProject, BuildVariable, Initiator, VariableKind, WebhookEventType};
use ferry_store::SecretsKey;
use serde_json::json;

use super::*;

const SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

fn project(name: &str, source_url: &str) -> BuildProject {
    BuildProject {
        id: "p".into(),
        name: name.into(),
        description: String::new(),
        source: BuildSource::Git { url: source_url.into(), version: None },
        buildspec: None,
        image: None,
        variables: vec![BuildVariable { name: "MODE".into(), value: "dev".into(), kind: VariableKind::Plaintext }],
        timeout_minutes: 60,
        queued_timeout_minutes: 5,
        concurrent_build_limit: None,
        cache: false,
        badge: false,
        tags: Vec::new(),
        create_time: 0,
        last_modified: 0,
        poll_seconds: None,
        notify: Vec::new(),
        webhook: None,
    }
}

async fn state(dir: &std::path::Path) -> AppState {
    let mut state = AppState::for_tests(dir).await;
    state.store = state.store.clone().with_secrets_key(SecretsKey::generate().unwrap().0);
    state
}

fn push(branch: &str) -> Vec<u8> {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": "1f0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f",
        "after": SHA,
        "repository": { "clone_url": "https://github.com/octo/shop.git" },
        "sender": { "id": 583231 },
        "head_commit": { "id": SHA, "message": "Fix the cart" },
        "commits": [{ "id": SHA, "message": "Fix the cart", "added": [], "removed": [], "modified": ["src/cart.rs"] }]
    })
    .to_string()
    .into_bytes()
}

fn github_headers<'a>(event: &'a str, signature: &'a str) -> impl Fn(&str) -> Option<&'a str> {
    move |name: &str| match name {
        "x-github-event" => Some(event),
        "x-hub-signature-256" => Some(signature),
        _ => None,
    }
}

#[tokio::test]
async fn webhooks_are_turned_on_checked_and_start_builds() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    ops::builds::create_project(&state, project("shop-build", "https://github.com/octo/shop.git")).await.unwrap();

    // Refused: filter groups against CodeBuild's rules, secrets that do not exist, projects that do not.
    let groups = vec![ferry_webhook::parse_filter_group("HEAD_REF=^refs/heads/main$").unwrap()];
    let bad = NewWebhook { filter_groups: groups, ..NewWebhook::default() };
    let err = ops::webhooks::create(&state, "shop-build", bad).await.unwrap_err();
    assert!(err.to_string().contains("EVENT"), "{err}");
    let missing = NewWebhook { secret_name: Some("nope".into()), ..NewWebhook::default() };
    assert!(ops::webhooks::create(&state, "shop-build", missing).await.unwrap_err().to_string().contains("nope"));
    assert!(matches!(
        ops::webhooks::create(&state, "other", NewWebhook::default()).await,
        Err(OpError::ProjectNotFound(_))
    ));

    // On, with a generated secret kept as a ferry secret.
    let groups = vec![ferry_webhook::parse_filter_group("EVENT=PUSH;HEAD_REF=^refs/heads/main$").unwrap()];
    let request = NewWebhook { filter_groups: groups, ..NewWebhook::default() };
    let (webhook, generated) = ops::webhooks::create(&state, "shop-build", request).await.unwrap();
    let secret = generated.expect("a generated secret");
    assert_eq!(webhook.secret_name, "webhook/shop-build");
    assert_eq!(ops::secrets::resolve(&state, "webhook/shop-build").await.unwrap(), secret);
    assert_eq!(ops::builds::get_project(&state, "shop-build").await.unwrap().webhook, Some(webhook));

    // A signed push to main starts a build of the pushed commit.
    let body = push("main");
    let signature = ferry_webhook::github_signature(&secret, &body);
    let server = Some("https://ferry.example:7800".to_string());
    let received =
        ops::webhooks::receive(&state, "shop-build", github_headers("push", &signature), &body, server.clone()).await;
    let Ok(Received::Started(build)) = received else { panic!("{received:?}") };
    assert_eq!((build.initiator.clone(), build.source_version.as_deref()), (Initiator::Webhook, Some(SHA)));
    let hook = build.webhook.clone().unwrap();
    assert_eq!((hook.event, hook.trigger.as_str()), (WebhookEventType::Push, "branch/main"));
    assert_eq!(hook.server_url, server);
    assert_eq!(ops::builds::get(&state, &build.id).await.unwrap().webhook, Some(hook), "stored with the build");

    // Another branch matches no group; a ping starts nothing; a wrong signature or project is refused alike.
    let body = push("dev");
    let signature = ferry_webhook::github_signature(&secret, &body);
    let received = ops::webhooks::receive(&state, "shop-build", github_headers("push", &signature), &body, None).await;
    assert!(matches!(received, Ok(Received::NoMatch)), "{received:?}");
    let ping = br#"{"zen":"hi"}"#;
    let signature = ferry_webhook::github_signature(&secret, ping);
    let received = ops::webhooks::receive(&state, "shop-build", github_headers("ping", &signature), ping, None).await;
    assert!(matches!(received, Ok(Received::Ignored(_))), "{received:?}");
    let wrong = ferry_webhook::github_signature("guess", &body);
    for project in ["shop-build", "no-such-project"] {
        let received = ops::webhooks::receive(&state, project, github_headers("push", &wrong), &body, None).await;
        assert!(matches!(received, Err(Refused::Unauthorized(_))), "{project}: {received:?}");
    }
    let received = ops::webhooks::receive(&state, "shop-build", |_: &str| None, &body, None).await;
    assert!(matches!(received, Err(Refused::UnknownForge)), "{received:?}");
    assert_eq!(ops::builds::list(&state, Some("shop-build"), 10).await.unwrap().len(), 1, "one build only");

    // Off: the generated secret goes too, and deliveries are refused.
    ops::webhooks::delete(&state, "shop-build").await.unwrap();
    assert!(ops::secrets::resolve(&state, "webhook/shop-build").await.is_err());
    assert!(ops::webhooks::delete(&state, "shop-build").await.is_err(), "already off");
    let signature = ferry_webhook::github_signature(&secret, &body);
    let received = ops::webhooks::receive(&state, "shop-build", github_headers("push", &signature), &body, None).await;
    assert!(matches!(received, Err(Refused::Unauthorized(_))), "{received:?}");
}

/// A stand-in forge: records each request's method, path, headers and body; answers `status`.
async fn forge(status: u16) -> (String, Arc<Mutex<Vec<(String, String, HeaderMap, serde_json::Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = Router::new().fallback(move |request: Request| {
        let record = record.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            record.lock().unwrap().push((parts.method.to_string(), parts.uri.path().to_string(), parts.headers, json));
            StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn commit_statuses_reach_the_forge_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (origin, seen) = forge(201).await;
    ops::builds::create_project(&state, project("shop-build", &format!("{origin}/org/shop.git"))).await.unwrap();
    ops::secrets::put(&state, "hook", "shared", "").await.unwrap();
    ops::secrets::put(&state, "gitea-token", "tok-123", "").await.unwrap();
    let request = NewWebhook {
        secret_name: Some("hook".into()),
        status_token_secret: Some("gitea-token".into()),
        ..NewWebhook::default()
    };
    ops::webhooks::create(&state, "shop-build", request).await.unwrap();
    let body = push("main");
    let signature = ferry_webhook::gitea_signature("shared", &body);
    let headers = |name: &str| match name {
        "x-gitea-event" => Some("push"),
        "x-gitea-signature" => Some(signature.as_str()),
        _ => None,
    };
    let server = Some("https://ferry.example:7800".to_string());
    let Ok(Received::Started(mut build)) = ops::webhooks::receive(&state, "shop-build", headers, &body, server).await
    else {
        panic!("no build")
    };

    assert_eq!(post_commit_status(&state, &build).await, Ok(true));
    build.status = BuildStatus::Failed;
    assert_eq!(post_commit_status(&state, &build).await, Ok(true));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (method, path, headers, json) = &seen[0];
    assert_eq!((method.as_str(), path.as_str()), ("POST", format!("/api/v1/repos/org/shop/statuses/{SHA}").as_str()));
    assert_eq!(headers["authorization"], "token tok-123");
    assert_eq!(json["state"], "pending");
    assert_eq!(json["context"], "ferry/shop-build");
    assert_eq!(json["target_url"], format!("https://ferry.example:7800/console/builds/{}", build.id));
    assert_eq!(seen[1].3["state"], "failure");
    assert!(seen[1].3["description"].as_str().unwrap().contains("failed"));

    // A forge that refuses is an error; a build without a webhook or token posts nothing.
    let (refusing, _) = forge(500).await;
    build.settings.source = BuildSource::Git { url: format!("{refusing}/org/shop.git"), version: None };
    let err = post_commit_status(&state, &build).await.unwrap_err();
    assert!(err.contains("500"), "{err}");
    build.settings.webhook.as_mut().unwrap().status_token_secret = None;
    assert_eq!(post_commit_status(&state, &build).await, Ok(false));
    build.webhook = None;
    assert_eq!(post_commit_status(&state, &build).await, Ok(false));
}
