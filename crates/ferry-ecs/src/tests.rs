use super::*;

const WEB: &str = r#"{
  "family": "web",
  "networkMode": "bridge",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "localhost/web:2",
      "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
      "environment": [{"name": "GREETING", "value": "hello"}],
      "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:111111111111:parameter/web/token"}],
      "healthCheck": {"command": ["CMD-SHELL", "wget -q -O- http://localhost:8080/ || exit 1"], "interval": 10},
      "memory": 256
    },
    {"name": "sidecar", "image": "localhost/sidecar:1", "essential": false, "command": ["sleep", "infinity"]}
  ]
}"#;

fn problems(text: &str) -> Vec<String> {
    match parse("taskdef.json", text) {
        Ok(t) => panic!("accepted: {t:#?}"),
        Err(e) => e.problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect(),
    }
}

fn with(edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(WEB).unwrap();
    edit(&mut v);
    v.to_string()
}

#[test]
fn a_task_definition_reads_with_ecs_defaults() {
    let t = parse("taskdef.json", WEB).unwrap();
    assert_eq!(t.family, "web");
    assert_eq!(t.network_mode, NetworkMode::Bridge);
    let web = t.container("web").unwrap();
    assert!(web.essential, "essential by default");
    assert_eq!(
        web.port_mappings[0],
        PortMapping { container_port: 8080, host_port: 0, protocol: Protocol::Tcp, name: None }
    );
    let check = web.health_check.as_ref().unwrap();
    assert_eq!((check.interval, check.timeout, check.retries, check.start_period), (10, 5, 3, 0));
    assert_eq!(web.secrets[0].ferry_secret(), "web/token");
    assert!(!t.container("sidecar").unwrap().essential);
    // ECS's JSON back, and the same definition again from it.
    let again = parse("again.json", &serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(again, t);
}

#[test]
fn describe_output_and_image_placeholders_are_taken() {
    let described = format!(
        r#"{{"taskDefinition": {}, "tags": []}}"#,
        with(|v| {
            v["taskDefinitionArn"] = "arn:aws:ecs:us-east-1:111111111111:task-definition/web:7".into();
            v["revision"] = 7.into();
            v["status"] = "ACTIVE".into();
            v["containerDefinitions"][0]["image"] = "<IMAGE1_NAME>".into();
        })
    );
    let t = parse("described.json", &described).unwrap();
    assert_eq!(t.placeholders(), ["<IMAGE1_NAME>"]);
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let text = with(|v| {
        v["family"] = "web app".into();
        v["containerDefinitions"][0]["essential"] = false.into();
        v["containerDefinitions"][1]["name"] = "web".into();
        v["containerDefinitions"][0]["portMappings"][0]["containerPort"] = 0.into();
        v["containerDefinitions"][0]["healthCheck"]["command"] = serde_json::json!(["curl", "localhost"]);
        v["containerDefinitions"][0]["memoryReservation"] = 512.into();
        v["containerDefinitions"][0]["environment"] = serde_json::json!([{"name": "TOKEN", "value": "x"}]);
        v["containerDefinitions"][0]["imag"] = "x".into();
        v["containerDefinitions"][0]["logConfiguration"] = serde_json::json!({});
        v["volumes"] = serde_json::json!([]);
    });
    let found = problems(&text);
    let expect = [
        "family: 1 to 255 letters, digits, '-' or '_'",
        "containerDefinitions[0].imag: unknown member (did you mean image?)",
        "containerDefinitions[0].logConfiguration: ferry does not run this member of ECS task definitions yet",
        "volumes: ferry does not run this member of ECS task definitions yet",
        "containerDefinitions[0].secrets[0].name: variable TOKEN is set twice",
        "containerDefinitions[0].portMappings[0].containerPort: expected a whole number from 1 to 65535",
        "containerDefinitions[0].healthCheck.command: [\"CMD\", program, args…] or [\"CMD-SHELL\", \"a shell command\"]",
        "containerDefinitions[0].memoryReservation: 512 MiB is more than memory (256 MiB)",
        "containerDefinitions[1].name: container name \"web\" is used twice",
        "containerDefinitions: at least one container must be essential (the default)",
    ];
    for e in expect {
        assert!(found.iter().any(|f| f == e), "missing {e:?} in {found:#?}");
    }
}

#[test]
fn ports_follow_the_network_mode() {
    let host = with(|v| {
        v["networkMode"] = "host".into();
        v["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 80.into();
    });
    assert_eq!(
        problems(&host),
        [
            "containerDefinitions[0].portMappings[0].hostPort: with networkMode host or awsvpc the host port must equal the container port (8080)"
        ]
    );
    let twice = with(|v| {
        v["containerDefinitions"][0]["portMappings"] = serde_json::json!([{"containerPort": 80, "hostPort": 8000}]);
        v["containerDefinitions"][1]["portMappings"] = serde_json::json!([{"containerPort": 81, "hostPort": 8000}]);
    });
    assert_eq!(
        problems(&twice),
        ["containerDefinitions[1].portMappings[0].hostPort: host port 8000 is mapped twice in this task definition"]
    );
    let mode = with(|v| v["networkMode"] = "nat".into());
    assert_eq!(problems(&mode), ["networkMode: \"nat\" is not bridge, host, awsvpc or none"]);
}

#[test]
fn missing_and_malformed_parts_are_named() {
    assert_eq!(problems("[]"), [": expected a JSON object, got an array"]);
    assert!(problems("{").iter().any(|p| p.starts_with(": not JSON")));
    assert_eq!(problems(r#"{"family": "web"}"#), ["containerDefinitions: required: at least one container"]);
    assert_eq!(
        problems(r#"{"family": "web", "containerDefinitions": [{"name": "a"}]}"#),
        ["containerDefinitions[0].image: required"]
    );
    assert_eq!(problems(r#"{"containerDefinitions": [{"name": "a", "image": "i"}]}"#), ["family: required"]);
    let eleven: Vec<Value> = (0..11).map(|i| serde_json::json!({"name": format!("c{i}"), "image": "i"})).collect();
    let many = serde_json::json!({"family": "web", "containerDefinitions": eleven}).to_string();
    assert_eq!(problems(&many), ["containerDefinitions: 1 to 10 containers, got 11"]);
    let big = format!(r#"{{"family": "{}"}}"#, "x".repeat(MAX_TASK_DEFINITION_BYTES));
    assert!(problems(&big)[0].contains("larger than"));
}

#[test]
fn never_panics_on_odd_shapes() {
    for text in [
        r#"{"family": 1, "containerDefinitions": {}}"#,
        r#"{"family": "w", "containerDefinitions": [1, null, {"name": [], "image": {}}]}"#,
        r#"{"family": "w", "containerDefinitions": [{"name": "a", "image": "i", "portMappings": [{"containerPort": -1, "hostPort": 1e9}], "healthCheck": []}]}"#,
        r#"{"taskDefinition": 3}"#,
        r#"{"family": "w", "containerDefinitions": [{"name": "a", "image": "i", "environment": [{"value": "x"}], "secrets": [{}]}]}"#,
    ] {
        assert!(parse("odd.json", text).is_err(), "{text}");
    }
}
