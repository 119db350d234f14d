//! `ferry task-definition …` against a real server (issue #15): the
//! `taskdef.json` users have (register input, or describe output with its
//! read-only members and an image placeholder) registers as numbered
//! revisions; ECS's rules refuse bad ones with the file and key; secrets
//! must exist; deregistered revisions stay readable, INACTIVE.

mod support;

use support::server::Server;

const TASKDEF: &str = r#"{
  "family": "web",
  "containerDefinitions": [{
    "name": "web",
    "image": "localhost/web:1",
    "portMappings": [{"containerPort": 8080}],
    "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:111111111111:parameter/web-token"}],
    "healthCheck": {"command": ["CMD-SHELL", "wget -q -O- http://localhost:8080/ || exit 1"]}
  }]
}"#;

#[test]
fn task_definitions_are_registered_described_listed_and_deregistered() {
    let server = Server::start();
    let file = server.tmp.path().join("taskdef.json");
    std::fs::write(&file, TASKDEF).unwrap();
    let path = file.to_str().unwrap();

    // The secret a container reads must exist.
    let err = server.fails(&["task-definition", "register", "--file", path], 1);
    assert!(err.contains("the secret \"web-token\", which does not exist"), "{err}");
    let token = server.tmp.path().join("token");
    std::fs::write(&token, "s3cret").unwrap();
    server.ok(&["secret", "put", "web-token", "--from-file", token.to_str().unwrap()]);
    let out = server.ok(&["task-definition", "register", "--file", path]);
    assert!(out.contains("registered task definition web:1"), "{out}");

    // describe-task-definition's output registers too: the next revision.
    let described: serde_json::Value =
        serde_json::from_str(&server.ok(&["task-definition", "describe", "web", "--json"])).unwrap();
    let mut again = described["taskDefinition"].clone();
    again["taskDefinitionArn"] = "arn:aws:ecs:us-east-1:111111111111:task-definition/web:1".into();
    again["revision"] = 1.into();
    again["containerDefinitions"][0]["image"] = "<IMAGE1_NAME>".into();
    std::fs::write(&file, serde_json::json!({ "taskDefinition": again }).to_string()).unwrap();
    assert!(server.ok(&["task-definition", "register", "--file", path]).contains("web:2"));
    let shown = server.ok(&["task-definition", "describe", "web"]);
    assert!(shown.contains("web:2") && shown.contains("<IMAGE1_NAME>") && shown.contains("8080"), "{shown}");

    // Deregistered: INACTIVE, still readable; the family's newest ACTIVE is web:1 again.
    assert!(server.ok(&["task-definition", "deregister", "web:2"]).contains("web:2 is INACTIVE"));
    let newest: serde_json::Value =
        serde_json::from_str(&server.ok(&["task-definition", "describe", "web", "--json"])).unwrap();
    assert_eq!(newest["revision"], 1);
    let listed = server.ok(&["task-definition", "list", "--family", "web"]);
    assert!(listed.contains("web:2") && listed.contains("INACTIVE") && listed.contains("web:1"), "{listed}");

    // ECS's rules, with the file and the key; unknown revisions.
    std::fs::write(
        &file,
        TASKDEF.replace("8080}", "0}").replace("\"name\": \"web\",", "\"name\": \"web\", \"essential\": false,"),
    )
    .unwrap();
    let err = server.fails(&["task-definition", "register", "--file", path], 1);
    assert!(err.contains("taskdef.json: containerDefinitions[0].portMappings[0].containerPort"), "{err}");
    assert!(err.contains("at least one container must be essential"), "{err}");
    let err = server.fails(&["task-definition", "describe", "web:9"], 1);
    assert!(err.contains("task definition web:9 does not exist"), "{err}");
}
