//! `/api/v1/secrets` over HTTP: admin only, values taken and never given
//! back (not in answers, not in the audit log, not in the database files).

mod support;

use serde_json::{Value, json};
use support::TestServer;

const VALUE: &str = "s3cr3t-VALUE-never-shown-0123456789";

fn holds(body: &Value, text: &str) -> bool {
    body.to_string().contains(text)
}

#[tokio::test]
async fn secrets_are_admin_only_and_their_values_never_come_back() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let path = "/api/v1/secrets/%2Fprod%2Fdb%2Fpassword";

    let (status, body) = admin.native("PUT", path, json!({ "value": VALUE, "description": "shop db" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "/prod/db/password");
    assert!(!holds(&body, VALUE), "{body}");
    let (status, body) = admin.native("PUT", "/api/v1/secrets/token", json!({ "value": "tok" })).await;
    assert_eq!(status, 200, "{body}");

    let (status, list) = admin.get("/api/v1/secrets").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["/prod/db/password", "token"]);
    assert_eq!(list[0]["description"], "shop db");
    assert!(list[0]["create_time"].as_u64().unwrap() > 0);
    assert!(!holds(&list, VALUE) && !holds(&list, "\"tok\""), "{list}");

    // Nobody but an admin lists, puts or deletes.
    for role in ["deployer", "read-only"] {
        let other = server.key(role, &[]).await;
        assert_eq!(other.get("/api/v1/secrets").await.0, 403, "{role} lists");
        assert_eq!(other.native("PUT", path, json!({ "value": "x" })).await.0, 403, "{role} puts");
        assert_eq!(other.native("DELETE", path, Value::Null).await.0, 403, "{role} deletes");
    }

    // Bad names and values are refused with the rule.
    let (status, err) = admin.native("PUT", "/api/v1/secrets/a%20b", json!({ "value": "x" })).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    let big = "x".repeat(64 * 1024 + 1);
    let (status, err) = admin.native("PUT", "/api/v1/secrets/big", json!({ "value": big })).await;
    assert_eq!(status, 400, "{err}");
    assert!(err["message"].as_str().unwrap().contains("65536"), "{err}");

    // The audit log names the secret, never its value.
    let (status, audit) = admin.get("/api/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    assert!(holds(&audit, "%2Fprod%2Fdb%2Fpassword") || holds(&audit, "/prod/db/password"), "{audit}");
    assert!(!holds(&audit, VALUE), "{audit}");

    // Deleted once; a second time it is not there.
    let (status, body) = admin.native("DELETE", path, Value::Null).await;
    assert_eq!(status, 200, "{body}");
    let (status, err) = admin.native("DELETE", path, Value::Null).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("NoSuchSecret")), "{err}");

    // The value never reached the database files in plain text.
    admin.native("PUT", "/api/v1/secrets/again", json!({ "value": VALUE })).await;
    let data = server.data.path().join("data");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()), "plain text in {}", path.display());
        }
    }
    server.stop().await;
}
