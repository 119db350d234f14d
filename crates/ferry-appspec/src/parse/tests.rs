use std::time::Duration;

use super::*;
use crate::{Ace, AceKind, FileExistsBehavior, FileMapping, ObjectType, Os};

const FILE: &str = "appspec.yml";

fn server(text: &str) -> ServerAppSpec {
    match parse_server(FILE, text) {
        Ok(s) => s,
        Err(e) => panic!("expected a valid appspec, got: {e}"),
    }
}

fn error(text: &str) -> AppSpecError {
    match parse(FILE, text) {
        Ok(spec) => panic!("expected an error, got {spec:?}"),
        Err(e) => {
            assert_eq!(e.file, FILE);
            e
        }
    }
}

/// Asserts the key path and that the message holds every fragment.
fn assert_error(text: &str, key: &str, fragments: &[&str]) -> AppSpecError {
    let e = error(text);
    assert_eq!(e.key, key, "wrong key for error: {e}");
    for f in fragments {
        assert!(e.message.contains(f), "message {:?} lacks {f:?}", e.message);
    }
    e
}

/// A minimal Linux appspec followed by `rest`.
fn linux(rest: &str) -> String {
    format!("version: 0.0\nos: linux\n{rest}")
}

fn script(hooks_yaml: &str) -> String {
    linux(&format!("hooks:\n  AfterInstall:\n    - location: scripts/a.sh\n{hooks_yaml}"))
}

fn permission(lines: &str) -> String {
    linux(&format!("permissions:\n  - object: /opt/app\n{lines}"))
}

// ---------------------------------------------------------------- valid input

const WEB_APP: &str = r#"
version: 0.0
os: linux
files:
  - source: /index.html
    destination: /var/www/html/
  - source: config
    destination: /etc/webapp
hooks:
  BeforeInstall:
    - location: scripts/install_dependencies
      timeout: 300
      runas: root
    - location: scripts/start_server
      timeout: 300
      runas: root
  AfterInstall:
    - location: scripts/change_permissions.sh
      sudo: true
  ApplicationStop:
    - location: scripts/stop_server
      timeout: 300
      runas: root
  ValidateService:
  MyCustomEvent:
    - location: "  scripts/custom.sh  "
"#;

#[test]
fn typical_web_app() {
    let spec = parse_server_with_events(FILE, WEB_APP, &["MyCustomEvent".into()]).unwrap();
    assert_eq!(spec.os, Os::Linux);
    assert_eq!(
        spec.files,
        vec![
            FileMapping { source: "/index.html".into(), destination: "/var/www/html/".into() },
            FileMapping { source: "config".into(), destination: "/etc/webapp".into() },
        ]
    );
    let events: Vec<&str> = spec.hooks.iter().map(|(e, _)| e.as_str()).collect();
    // File order kept, the null ValidateService left out, declared custom events allowed.
    assert_eq!(events, ["BeforeInstall", "AfterInstall", "ApplicationStop", "MyCustomEvent"]);
    let before = spec.scripts_for("BeforeInstall");
    assert_eq!(before.len(), 2);
    assert_eq!(before[0].location, "scripts/install_dependencies");
    assert_eq!(before[0].timeout, Duration::from_secs(300));
    assert_eq!(before[0].runas.as_deref(), Some("root"));
    assert!(!before[0].sudo);
    let after = &spec.scripts_for("AfterInstall")[0];
    assert!(after.sudo);
    assert_eq!(after.timeout, crate::DEFAULT_HOOK_TIMEOUT);
    assert_eq!(after.runas, None);
    assert_eq!(spec.scripts_for("MyCustomEvent")[0].location, "scripts/custom.sh");
    assert_eq!(spec.custom_events().collect::<Vec<_>>(), ["MyCustomEvent"]);
    assert!(spec.scripts_for("ValidateService").is_empty());
    assert!(spec.permissions.is_empty());
    assert_eq!(spec.file_exists_behavior, None);
}

#[test]
fn minimal_appspec_has_nothing_to_do() {
    let spec = server("version: 0.0\nos: linux\n");
    assert!(spec.files.is_empty() && spec.hooks.is_empty() && spec.permissions.is_empty());
    let spec = server("version: 0.0\nos: linux\nfiles:\nhooks:\npermissions: []\nfile_exists_behavior:\n");
    assert!(spec.files.is_empty() && spec.hooks.is_empty() && spec.permissions.is_empty());
    assert_eq!(spec.file_exists_behavior, None);
}

#[test]
fn permissions_with_mode_acls_and_context() {
    let spec = server(&linux(
        r#"permissions:
  - object: /var/www/html
    pattern: "*.php"
    except: [wp-config.php, "secret*"]
    owner: www-data
    group: www-data
    mode: 640
    type:
      - file
    acls:
      - u:deploy:rw
      - d:g:web:r-x
      - m::rw
      - default:other::5
    context:
      name: system_u
      type: httpd_sys_content_t
      range: s0-s2:c7,c0.c3
  - object: /var/www/html
    owner: 1000
"#,
    ));
    assert_eq!(spec.permissions.len(), 2);
    let p = &spec.permissions[0];
    assert_eq!(p.object, "/var/www/html");
    assert_eq!(p.pattern, "*.php");
    assert_eq!(p.except, ["wp-config.php", "secret*"]);
    assert_eq!(p.types, [ObjectType::File]);
    assert_eq!(p.owner.as_deref(), Some("www-data"));
    assert_eq!(p.group.as_deref(), Some("www-data"));
    assert_eq!(p.mode, Some(0o640));
    assert_eq!(
        p.acls,
        [
            Ace { default: false, kind: AceKind::User, name: "deploy".into(), perms: "rw-".into() },
            Ace { default: true, kind: AceKind::Group, name: "web".into(), perms: "r-x".into() },
            Ace { default: false, kind: AceKind::Mask, name: String::new(), perms: "rw-".into() },
            Ace { default: true, kind: AceKind::Other, name: String::new(), perms: "r-x".into() },
        ]
    );
    assert_eq!(p.acls[1].to_setfacl(), "d:g:web:r-x");
    let c = p.context.as_ref().expect("context");
    assert_eq!(c.user.as_deref(), Some("system_u"));
    assert_eq!(c.type_, "httpd_sys_content_t");
    // Canonical form: categories sorted and runs joined.
    assert_eq!(c.range.as_deref(), Some("s0-s2:c0.c3,c7"));

    let q = &spec.permissions[1];
    assert_eq!(q.pattern, "**");
    assert!(q.except.is_empty());
    assert_eq!(q.types, [ObjectType::File, ObjectType::Directory]);
    assert_eq!(q.owner.as_deref(), Some("1000"));
    assert_eq!((q.mode, q.acls.len(), q.context.is_none()), (None, 0, true));
}

#[test]
fn json_form() {
    let text = r#"{
	"version": 0.0,
	"os": "linux",
	"files": [{"source": "/", "destination": "/opt/app"}],
	"permissions": [{"object": "/opt/app", "mode": 755, "type": ["directory"]}],
	"hooks": {
		"AfterInstall": [{"location": "scripts/a.sh", "timeout": 60, "runas": "app", "sudo": false}],
		"ApplicationStart": null
	},
	"file_exists_behavior": "RETAIN"
}"#;
    let spec = server(text);
    assert_eq!(spec.files, [FileMapping { source: "/".into(), destination: "/opt/app".into() }]);
    assert_eq!(spec.permissions[0].mode, Some(0o755));
    assert_eq!(spec.permissions[0].types, [ObjectType::Directory]);
    assert_eq!(spec.hooks.len(), 1);
    assert_eq!(spec.scripts_for("AfterInstall")[0].timeout, Duration::from_secs(60));
    assert_eq!(spec.scripts_for("AfterInstall")[0].runas.as_deref(), Some("app"));
    assert_eq!(spec.file_exists_behavior, Some(FileExistsBehavior::Retain));
}

#[test]
fn json_errors_have_lines_too() {
    let e = assert_error(
        "{\n  \"version\": 0.0,\n  \"os\": \"linux\",\n  \"hooks\": {\"AfterInstall\": [{\"location\": \"a\", \"timeout\": -5}]}\n}",
        "hooks.AfterInstall[0].timeout",
        &["greater than 0", "got -5"],
    );
    assert_eq!(e.line(), Some(4));
}

#[test]
fn version_quoted_and_unquoted() {
    for v in ["0.0", "0", "0.00", "\"0.0\"", "'0.0'", "!!str 0.0"] {
        let spec = parse(FILE, &format!("version: {v}\nos: linux\n"));
        assert!(spec.is_ok(), "version {v} rejected: {spec:?}");
    }
    for v in ["1", "0.1", "\"0\"", "\"1.0\"", "true", "[0.0]", "~", ""] {
        let e = assert_error(&format!("version: {v}\nos: linux\n"), "version", &["expected 0.0"]);
        assert_eq!(e.line(), Some(1), "{e}");
    }
    assert_error("os: linux\n", "version", &["missing required key `version`", "0.0"]);
}

#[test]
fn file_exists_behavior_values() {
    for (text, want) in [
        ("DISALLOW", FileExistsBehavior::Disallow),
        ("OVERWRITE", FileExistsBehavior::Overwrite),
        ("RETAIN", FileExistsBehavior::Retain),
    ] {
        assert_eq!(server(&linux(&format!("file_exists_behavior: {text}\n"))).file_exists_behavior, Some(want));
    }
    assert_error(
        &linux("file_exists_behavior: overwrite\n"),
        "file_exists_behavior",
        &["DISALLOW, OVERWRITE or RETAIN", "got \"overwrite\"", "line 3"],
    );
}

#[test]
fn windows_appspec() {
    let text = "version: 0.0\nos: windows\nfiles:\n  - source: app\\bin\n    destination: C:\\inetpub\\wwwroot\nhooks:\n  AfterInstall:\n    - location: scripts\\setup.ps1\n";
    match parse(FILE, text) {
        Ok(AppSpec::Server(s)) => {
            assert_eq!(s.os, Os::Windows);
            assert_eq!(s.files[0].destination, "C:\\inetpub\\wwwroot");
        }
        other => panic!("{other:?}"),
    }
    let e = parse_server(FILE, text).expect_err("windows on a linux host");
    assert_eq!(e.key, "os");
    assert!(e.message.contains("linux") && e.message.contains("windows"), "{e}");
    assert_eq!(e.line(), Some(2));

    assert_error(
        "version: 0.0\nos: windows\npermissions:\n  - object: C:\\app\n",
        "permissions[0]",
        &["only for os: linux", "line 4"],
    );
    assert_error(
        "version: 0.0\nos: windows\nfiles:\n  - source: ..\\..\\x\n    destination: C:\\app\n",
        "files[0].source",
        &["climbs out of the revision"],
    );
}

#[test]
fn mode_conversions() {
    for (text, want) in [
        ("644", 0o644),
        ("0644", 0o644),
        ("\"644\"", 0o644),
        ("'0644'", 0o644),
        ("0o644", 0o644),
        ("755", 0o755),
        ("4755", 0o4755),
        ("7", 0o7),
        ("44", 0o44),
        ("0", 0),
        ("0000", 0),
        ("7777", 0o7777),
    ] {
        let spec = server(&permission(&format!("    mode: {text}\n")));
        assert_eq!(spec.permissions[0].mode, Some(want), "mode {text}");
    }
    for (text, fragment) in [
        ("648", "'8' is not an octal digit"),
        ("0o9", "'9' is not an octal digit"),
        ("\"rwx\"", "'r' is not an octal digit"),
        ("6.4", "'.' is not an octal digit"),
        ("-644", "'-' is not an octal digit"),
        ("12345", "1 to 4 octal digits"),
        ("00644", "1 to 4 octal digits"),
        ("\"\"", "1 to 4 octal digits"),
        ("[644]", "got a list"),
    ] {
        assert_error(&permission(&format!("    mode: {text}\n")), "permissions[0].mode", &[fragment, "line 5"]);
    }
}

// ---------------------------------------------------------------- Lambda and ECS

const LAMBDA_YAML: &str = r#"
version: 0.0
Resources:
  - myLambdaFunction:
      Type: AWS::Lambda::Function
      Properties:
        Name: "myLambdaFunction"
        Alias: "myLambdaFunctionAlias"
        CurrentVersion: "1"
        TargetVersion: 2
Hooks:
  - BeforeAllowTraffic: "LambdaFunctionToValidateBeforeTrafficShift"
  - AfterAllowTraffic: "LambdaFunctionToValidateAfterTrafficShift"
"#;

const LAMBDA_JSON: &str = r#"{
  "version": 0.0,
  "Resources": [
    {"myLambdaFunction": {"Type": "AWS::Lambda::Function",
      "Properties": {"Name": "myLambdaFunction", "Alias": "myLambdaFunctionAlias", "CurrentVersion": "1", "TargetVersion": "2"}}}
  ],
  "Hooks": [
    {"BeforeAllowTraffic": "LambdaFunctionToValidateBeforeTrafficShift"},
    {"AfterAllowTraffic": "LambdaFunctionToValidateAfterTrafficShift"}
  ]
}"#;

#[test]
fn lambda_yaml_and_json() {
    for text in [LAMBDA_YAML, LAMBDA_JSON] {
        let Ok(AppSpec::Lambda(spec)) = parse(FILE, text) else { panic!("{:?}", parse(FILE, text)) };
        assert_eq!(
            spec.functions,
            [crate::LambdaFunction {
                logical_name: "myLambdaFunction".into(),
                name: "myLambdaFunction".into(),
                alias: "myLambdaFunctionAlias".into(),
                current_version: "1".into(),
                target_version: "2".into(),
            }]
        );
        assert_eq!(
            spec.hooks,
            [
                ("BeforeAllowTraffic".to_owned(), "LambdaFunctionToValidateBeforeTrafficShift".to_owned()),
                ("AfterAllowTraffic".to_owned(), "LambdaFunctionToValidateAfterTrafficShift".to_owned()),
            ]
        );
    }
    let e = parse_server(FILE, LAMBDA_YAML).expect_err("not a server appspec");
    assert_eq!(e.key, "Resources");
    assert!(e.message.contains("Server"), "{e}");
}

#[test]
fn lambda_errors() {
    assert_error(
        &LAMBDA_YAML.replace("TargetVersion: 2", "TargetVersion: latest"),
        "Resources[0].myLambdaFunction.Properties.TargetVersion",
        &["published version number", "got \"latest\"", "line 10"],
    );
    assert_error(
        &LAMBDA_YAML.replace("TargetVersion: 2", "TargetVersion: 0"),
        "Resources[0].myLambdaFunction.Properties.TargetVersion",
        &["published version number"],
    );
    assert_error(
        &LAMBDA_YAML.replace("        Alias: \"myLambdaFunctionAlias\"\n", ""),
        "Resources[0].myLambdaFunction.Properties.Alias",
        &["missing required key `Alias`"],
    );
    assert_error(
        &LAMBDA_YAML.replace("- AfterAllowTraffic", "- AfterInstall"),
        "Hooks[1].AfterInstall",
        &["BeforeAllowTraffic, AfterAllowTraffic", "got `AfterInstall`", "line 13"],
    );
    assert_error(
        &LAMBDA_YAML.replace("- AfterAllowTraffic", "- BeforeAllowTraffic"),
        "Hooks[1].BeforeAllowTraffic",
        &["more than once"],
    );
    assert_error(
        &LAMBDA_YAML.replace("AWS::Lambda::Function", "AWS::Lambda::Funtion"),
        "Resources[0].myLambdaFunction.Type",
        &["AWS::Lambda::Function or AWS::ECS::Service", "got \"AWS::Lambda::Funtion\""],
    );
    assert_error(
        &LAMBDA_YAML.replace("        Name:", "        Nmae:"),
        "Resources[0].myLambdaFunction.Properties.Nmae",
        &["unknown key `Nmae`", "did you mean `Name`?"],
    );
    let resource = "  - myLambdaFunction:\n      Type: AWS::Lambda::Function\n      Properties: {Name: n, Alias: a, CurrentVersion: 1, TargetVersion: 2}\n";
    assert_error(
        &LAMBDA_YAML.replace("Hooks:\n", &format!("{resource}Hooks:\n")),
        "Resources[1].myLambdaFunction",
        &["duplicate resource name `myLambdaFunction`", "first given on line 4", "line 11"],
    );
    let ecs = "  - svc:\n      Type: AWS::ECS::Service\n      Properties: {}\n";
    assert_error(
        &LAMBDA_YAML.replace("Hooks:\n", &format!("{ecs}Hooks:\n")),
        "Resources[1].svc.Type",
        &["only Lambda functions", "got \"AWS::ECS::Service\""],
    );
    assert_error("version: 0.0\nResources: []\n", "Resources", &["at least one resource"]);
    assert_error("version: 0.0\nResources:\n", "Resources", &["a list of resources", "got nothing"]);
}

const ECS_YAML: &str = r#"
version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: "arn:aws:ecs:us-east-1:111222333444:task-definition/my-task-definition-family-name:1"
        LoadBalancerInfo:
          ContainerName: "SampleApplicationName"
          ContainerPort: 80
        PlatformVersion: "LATEST"
        NetworkConfiguration:
          AwsvpcConfiguration:
            Subnets: ["subnet-1234abcd", "subnet-5678abcd"]
            SecurityGroups: ["sg-12345678"]
            AssignPublicIp: "ENABLED"
        CapacityProviderStrategy:
          - Base: 1
            CapacityProvider: "FARGATE_SPOT"
            Weight: 2
          - CapacityProvider: "FARGATE"
            Weight: 1
Hooks:
  - BeforeInstall: "LambdaFunctionToValidateBeforeInstall"
  - AfterInstall: "LambdaFunctionToValidateAfterInstall"
  - AfterAllowTestTraffic: "LambdaFunctionToValidateAfterTestTrafficStarts"
  - BeforeAllowTraffic: "LambdaFunctionToValidateBeforeAllowingProductionTraffic"
  - AfterAllowTraffic: "LambdaFunctionToValidateAfterAllowingProductionTraffic"
"#;

const ECS_JSON: &str = r#"{
  "version": 0.0,
  "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
    "TaskDefinition": "arn:aws:ecs:us-east-1:111222333444:task-definition/my-task-definition-family-name:1",
    "LoadBalancerInfo": {"ContainerName": "SampleApplicationName", "ContainerPort": 80},
    "PlatformVersion": "LATEST",
    "NetworkConfiguration": {"AwsvpcConfiguration": {
      "Subnets": ["subnet-1234abcd", "subnet-5678abcd"], "SecurityGroups": ["sg-12345678"], "AssignPublicIp": "ENABLED"}},
    "CapacityProviderStrategy": [{"Base": 1, "CapacityProvider": "FARGATE_SPOT", "Weight": 2},
                                 {"CapacityProvider": "FARGATE", "Weight": 1}]}}}],
  "Hooks": [
    {"BeforeInstall": "LambdaFunctionToValidateBeforeInstall"},
    {"AfterInstall": "LambdaFunctionToValidateAfterInstall"},
    {"AfterAllowTestTraffic": "LambdaFunctionToValidateAfterTestTrafficStarts"},
    {"BeforeAllowTraffic": "LambdaFunctionToValidateBeforeAllowingProductionTraffic"},
    {"AfterAllowTraffic": "LambdaFunctionToValidateAfterAllowingProductionTraffic"}
  ]
}"#;

#[test]
fn ecs_yaml_and_json() {
    for text in [ECS_YAML, ECS_JSON] {
        let Ok(AppSpec::Ecs(spec)) = parse(FILE, text) else { panic!("{:?}", parse(FILE, text)) };
        assert!(spec.task_definition.ends_with("my-task-definition-family-name:1"));
        assert_eq!(spec.container_name, "SampleApplicationName");
        assert_eq!(spec.container_port, 80);
        assert_eq!(spec.platform_version.as_deref(), Some("LATEST"));
        assert_eq!(
            spec.network,
            Some(crate::EcsNetwork {
                subnets: vec!["subnet-1234abcd".into(), "subnet-5678abcd".into()],
                security_groups: vec!["sg-12345678".into()],
                assign_public_ip: true,
            })
        );
        assert_eq!(
            spec.capacity_provider_strategy,
            [
                crate::CapacityProvider { name: "FARGATE_SPOT".into(), base: 1, weight: 2 },
                crate::CapacityProvider { name: "FARGATE".into(), base: 0, weight: 1 },
            ]
        );
        let events: Vec<&str> = spec.hooks.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(events, crate::ECS_HOOK_EVENTS);
    }
}

#[test]
fn ecs_minimal_and_errors() {
    let minimal = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: td\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: \"8080\"\n";
    let Ok(AppSpec::Ecs(spec)) = parse(FILE, minimal) else { panic!("{:?}", parse(FILE, minimal)) };
    assert_eq!((spec.container_port, spec.network, spec.hooks.len()), (8080, None, 0));

    let props = "Resources[0].TargetService.Properties";
    assert_error(
        &ECS_YAML.replace("ContainerPort: 80", "ContainerPort: 70000"),
        &format!("{props}.LoadBalancerInfo.ContainerPort"),
        &["1 to 65535", "got 70000", "line 10"],
    );
    assert_error(
        &ECS_YAML.replace("            SecurityGroups: [\"sg-12345678\"]\n", ""),
        &format!("{props}.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups"),
        &["missing required key `SecurityGroups`", "go together"],
    );
    assert_error(
        &ECS_YAML.replace("\"ENABLED\"", "yes"),
        &format!("{props}.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp"),
        &["ENABLED or DISABLED", "got \"yes\""],
    );
    assert_error(
        &ECS_YAML.replace("Weight: 2", "Weight: 5000"),
        &format!("{props}.CapacityProviderStrategy[0].Weight"),
        &["0 to 1000"],
    );
    assert_error(
        &ECS_YAML.replace("- AfterAllowTestTraffic", "- ApplicationStart"),
        "Hooks[2].ApplicationStart",
        &["AfterAllowTestTraffic", "got `ApplicationStart`"],
    );
    assert_error(
        &ECS_YAML.replace("Hooks:\n", "Resources2:\n"),
        "Resources2",
        &["unknown top-level key", "version, Resources, Hooks"],
    );
    let two = ECS_YAML.replace("Hooks:\n", "  - Other:\n      Type: AWS::ECS::Service\n      Properties: {}\nHooks:\n");
    assert_error(&two, "Resources[1]", &["a single AWS::ECS::Service resource"]);
}

// ---------------------------------------------------------------- errors: document

#[test]
fn empty_documents() {
    for text in ["", "   \n\n", "# just a comment\n", "---\n...\n", "~\n", "null"] {
        let e = error(text);
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("", "the application specification file is empty"),
            "{text:?}"
        );
    }
}

#[test]
fn yaml_syntax_errors_carry_the_parser_message_and_line() {
    let e = error("version: 0.0\nos: linux\nhooks:\n  AfterInstall: [\n");
    assert!(e.message.starts_with("invalid YAML: "), "{e}");
    assert_eq!(e.line(), Some(5));
    let e = error("version: 0.0\nos: linux\nfiles:\n  - source: \"unterminated\n");
    assert!(e.message.contains("invalid YAML"), "{e}");
    assert!(e.line().is_some(), "{e}");
}

#[test]
fn root_must_be_a_mapping() {
    assert_error("- version: 0.0\n", "", &["a mapping of appspec keys", "got a list"]);
    assert_error("just text\n", "", &["a mapping of appspec keys", "got \"just text\""]);
}

#[test]
fn unknown_top_level_keys() {
    let e = assert_error(
        &linux("hook:\n  AfterInstall:\n    - location: a.sh\n"),
        "hook",
        &[
            "unknown top-level key `hook`",
            "did you mean `hooks`?",
            "version, os, files, permissions, hooks, file_exists_behavior",
        ],
    );
    assert_eq!(e.line(), Some(3));
    assert_error(&linux("Files: []\n"), "Files", &["did you mean `files`?"]);
    assert_error(&linux("banana: 1\n"), "banana", &["unknown top-level key `banana`; expected one of"]);
    // No far-fetched suggestions for short keys.
    assert_error(&linux("x: 1\n"), "x", &["unknown top-level key `x`; expected one of"]);
}

#[test]
fn duplicate_keys_are_errors() {
    let e = assert_error(&linux("os: linux\n"), "os", &["duplicate key `os`", "first given on line 2"]);
    assert_eq!(e.line(), Some(3));
    assert_error(
        &script("      timeout: 5\n      timeout: 6\n"),
        "hooks.AfterInstall[0].timeout",
        &["duplicate key `timeout`"],
    );
}

#[test]
fn os_rules() {
    assert_error("version: 0.0\n", "os", &["missing required key `os`", "linux or windows"]);
    assert_error("version: 0.0\nos: Linux\n", "os", &["linux or windows", "got \"Linux\"", "line 2"]);
    assert_error("version: 0.0\nos: macos\n", "os", &["got \"macos\""]);
}

#[test]
fn size_and_depth_limits() {
    let big = format!("version: 0.0\nos: linux\n#{}\n", "x".repeat(MAX_APPSPEC_BYTES));
    let e = error(&big);
    assert!(e.message.contains("1 MiB"), "{e}");

    let deep = format!("version: 0.0\nos: linux\nhooks: {}{}\n", "[".repeat(200), "]".repeat(200));
    let e = error(&deep);
    assert!(e.message.contains("nests deeper") || e.message.contains("invalid YAML"), "{e}");
    let deep_block: String = (0..100).map(|i| format!("{}- \n", "  ".repeat(i))).collect();
    let e = error(&deep_block);
    assert!(e.message.contains("nests deeper"), "{e}");

    // A billion-laughs style alias bomb is cut off by the node budget.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let e = error(&bomb);
    assert!(e.message.contains("values (aliases included)"), "{e}");
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let spec = server(&linux(
        r#"hooks:
  BeforeInstall:
    - &common
      location: scripts/a.sh
      timeout: 120
      runas: app
  AfterInstall:
    - <<: *common
      location: scripts/b.sh
    - *common
"#,
    ));
    let after = spec.scripts_for("AfterInstall");
    assert_eq!(after[0].location, "scripts/b.sh");
    assert_eq!(after[0].timeout, Duration::from_secs(120));
    assert_eq!(after[0].runas.as_deref(), Some("app"));
    assert_eq!(after[1].location, "scripts/a.sh");
}

#[test]
fn unsupported_tags() {
    assert_error(&linux("files: !custom []\n"), "files", &["unsupported YAML tag"]);
    assert_error(&script("      timeout: !!int soon\n"), "hooks.AfterInstall[0].timeout", &["does not fit its tag"]);
}

#[test]
fn second_document_rejected() {
    assert_error(&linux("---\nos: windows\n"), "", &["second YAML document", "line 4"]);
    // An empty trailing document is harmless.
    server(&linux("---\n"));
}

// ---------------------------------------------------------------- errors: files

#[test]
fn files_rules() {
    assert_error(
        &linux("files:\n  - destination: /opt\n"),
        "files[0].source",
        &["missing required key `source`", "line 4"],
    );
    assert_error(&linux("files:\n  - source: app\n"), "files[0].destination", &["missing required key `destination`"]);
    assert_error(
        &linux("files:\n  - source: /\n    destination: /a\n  - source: x\n    destination: opt/app\n"),
        "files[1].destination",
        &["absolute destination directory", "relative path \"opt/app\"", "line 7"],
    );
    assert_error(
        &linux("files:\n  - source: ../etc\n    destination: /a\n"),
        "files[0].source",
        &["climbs out of the revision", "\"../etc\""],
    );
    assert_error(
        &linux("files:\n  - source: a/../../b\n    destination: /a\n"),
        "files[0].source",
        &["climbs out of the revision"],
    );
    // `..` that stays inside the revision is fine.
    assert_eq!(server(&linux("files:\n  - source: a/../b\n    destination: /a\n")).files[0].source, "a/../b");
    assert_error(&linux("files:\n  - source: ''\n    destination: /a\n"), "files[0].source", &["revision-relative"]);
    assert_error(
        &linux("files:\n  source: /\n  destination: /a\n"),
        "files",
        &["a list of {source, destination}", "got a mapping"],
    );
    assert_error(&linux("files:\n  - /app\n"), "files[0]", &["{source, destination} mapping", "got \"/app\""]);
    assert_error(
        &linux("files:\n  - source: /\n    destination: /a\n    owner: root\n"),
        "files[0].owner",
        &["unknown key `owner`", "source, destination"],
    );
    assert_error(&linux("files:\n  - source: /\n    destination: [/a]\n"), "files[0].destination", &["got a list"]);
}

// ---------------------------------------------------------------- errors: hooks

#[test]
fn hook_timeouts() {
    assert_eq!(server(&script("      timeout: 172800\n")).hooks[0].1[0].timeout, Duration::from_secs(172_800));
    assert_eq!(server(&script("      timeout: \"90\"\n")).hooks[0].1[0].timeout, Duration::from_secs(90));
    assert_eq!(server(&script("      timeout: 600.0\n")).hooks[0].1[0].timeout, Duration::from_secs(600));
    let key = "hooks.AfterInstall[0].timeout";
    for bad in ["soon", "0", "-1", "\"300s\"", "1.5", "true", "[1]", "\"\""] {
        assert_error(
            &script(&format!("      timeout: {bad}\n")),
            key,
            &["whole number of seconds greater than 0", "line 6"],
        );
    }
    assert_error(&script("      timeout: 172801\n"), key, &["at most 172800 seconds", "48 hours", "got 172801"]);
    assert_error(&script("      timeout: 99999999999999999999\n"), key, &["whole number"]);
}

#[test]
fn hook_script_rules() {
    let key = "hooks.AfterInstall[0]";
    assert_error(
        &linux("hooks:\n  AfterInstall:\n    - timeout: 5\n"),
        &format!("{key}.location"),
        &["missing required key `location`"],
    );
    assert_error(
        &linux("hooks:\n  AfterInstall:\n    - location: \"   \"\n"),
        &format!("{key}.location"),
        &["got \"   \""],
    );
    assert_error(&linux("hooks:\n  AfterInstall:\n    - location:\n"), &format!("{key}.location"), &["got nothing"]);
    assert_error(
        &linux("hooks:\n  AfterInstall:\n    - location: ../../bin/evil\n"),
        &format!("{key}.location"),
        &["climbs out of the revision"],
    );
    assert_error(&script("      sudo: yes\n"), &format!("{key}.sudo"), &["true or false", "got \"yes\""]);
    assert_error(&script("      runas: \"\"\n"), &format!("{key}.runas"), &["user"]);
    assert_error(
        &script("      runAs: app\n"),
        &format!("{key}.runAs"),
        &["unknown key `runAs`", "did you mean `runas`?"],
    );
    assert_error(
        &linux("hooks:\n  AfterInstall:\n    location: a.sh\n"),
        "hooks.AfterInstall",
        &["a list of scripts", "got a mapping", "line 5"],
    );
    assert_error(
        &linux("hooks:\n  - AfterInstall: a.sh\n"),
        "hooks",
        &["mapping of lifecycle event names", "got a list"],
    );
    assert_error(
        &linux("hooks:\n  AfterInstall:\n    - a.sh\n"),
        key,
        &["script mapping with location", "got \"a.sh\""],
    );
}

#[test]
fn reserved_events() {
    for event in crate::RESERVED_EVENTS {
        assert_error(
            &linux(&format!("hooks:\n  {event}:\n    - location: a.sh\n")),
            &format!("hooks.{event}"),
            &["run by ferry itself", "takes no scripts", "line 4"],
        );
    }
    // With no scripts there is nothing to reject.
    let spec = server(&linux("hooks:\n  Install:\n  AllowTraffic: []\n"));
    assert!(spec.hooks.is_empty());
}

// ---------------------------------------------------------------- errors: permissions

#[test]
fn permission_rules() {
    assert_error(
        &linux("permissions:\n  - owner: root\n"),
        "permissions[0].object",
        &["missing required key `object`"],
    );
    assert_error(
        &linux("permissions:\n  - object: opt/app\n"),
        "permissions[0].object",
        &["relative path \"opt/app\""],
    );
    assert_error(&linux("permissions:\n  object: /opt\n"), "permissions", &["a list of permission entries"]);
    assert_error(
        &permission("    type: [file, socket]\n"),
        "permissions[0].type[1]",
        &["file or directory", "got \"socket\""],
    );
    assert_error(&permission("    type: file\n"), "permissions[0].type", &["a list of object types", "got \"file\""]);
    assert_error(&permission("    type: []\n"), "permissions[0].type", &["file, directory or both"]);
    assert_eq!(server(&permission("    type: [directory, directory]\n")).permissions[0].types, [ObjectType::Directory]);
    assert_error(&permission("    except: \"*.log\"\n"), "permissions[0].except", &["a list of globs"]);
    assert_error(&permission("    pattern: sub/*.sh\n"), "permissions[0].pattern", &["cannot contain /"]);
    assert_error(&permission("    except: [a, b/c]\n"), "permissions[0].except[1]", &["cannot contain /"]);
    assert_error(&permission("    owner: [root]\n"), "permissions[0].owner", &["a user name", "got a list"]);
    assert_error(&permission("    mod: 644\n"), "permissions[0].mod", &["unknown key `mod`", "did you mean `mode`?"]);
}

#[test]
fn acl_entries() {
    let acl = |entry: &str| -> Result<Ace, AppSpecError> {
        let spec = parse_server(FILE, &permission(&format!("    acls:\n      - \"{entry}\"\n")))?;
        Ok(spec.permissions[0].acls[0].clone())
    };
    let ok = |entry: &str| acl(entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
    assert_eq!(ok("bob:rwx"), Ace { default: false, kind: AceKind::User, name: "bob".into(), perms: "rwx".into() });
    assert_eq!(ok("user:bob:r"), Ace { default: false, kind: AceKind::User, name: "bob".into(), perms: "r--".into() });
    assert_eq!(
        ok("g:staff:6"),
        Ace { default: false, kind: AceKind::Group, name: "staff".into(), perms: "rw-".into() }
    );
    assert_eq!(ok("mask:x-r"), Ace { default: false, kind: AceKind::Mask, name: String::new(), perms: "r-x".into() });
    assert_eq!(ok("d:bob:w"), Ace { default: true, kind: AceKind::User, name: "bob".into(), perms: "-w-".into() });
    assert_eq!(
        ok("default:user::rwx"),
        Ace { default: true, kind: AceKind::User, name: String::new(), perms: "rwx".into() }
    );
    assert_eq!(ok("d:o:0").to_setfacl(), "d:o::---");

    for (entry, fragment) in [
        ("rwx", "2 to 4 colon-separated parts"),
        ("d:u:bob:rw:x", "2 to 4 colon-separated parts"),
        ("x:u:bob:rw", "must be d or default"),
        ("d:d:bob:rw", "default is given twice"),
        ("q:bob:rw", "expected u, g, m, o"),
        ("o:bob:r", "take no name"),
        ("u::rw", "use mode"),
        ("o:r", "use mode"),
        ("u:bob:rwz", "r, w, x and -"),
        ("u:bob:8", "r, w, x and -"),
    ] {
        let e = acl(entry).expect_err(entry);
        assert_eq!(e.key, "permissions[0].acls[0]", "{entry}");
        assert!(e.message.contains(fragment) && e.message.contains(entry), "{entry}: {e}");
        assert_eq!(e.line(), Some(6), "{entry}");
    }
    assert_error(&permission("    acls: u:bob:rw\n"), "permissions[0].acls", &["a list of ACL entries"]);
}

#[test]
fn selinux_context() {
    let ctx_with = |lines: &str| parse_server(FILE, &permission(&format!("    context:\n{lines}")));
    let range = |r: &str| {
        ctx_with(&format!("      type: t\n      range: \"{r}\"\n"))
            .map(|s| s.permissions[0].context.clone().and_then(|c| c.range).unwrap_or_default())
    };
    assert_eq!(range("s0").unwrap(), "s0");
    assert_eq!(range("s0-s0").unwrap(), "s0");
    assert_eq!(range("s1-s15:c0.c1023").unwrap(), "s1-s15:c0.c1023");
    assert_eq!(range("s0:c5,c1,c2,c3,c9.c10").unwrap(), "s0:c1.c3,c5,c9.c10");
    for (bad, fragment) in [
        ("s2-s1", "below the low one"),
        ("s0:c1024", "above c1023"),
        ("s0:c1,c1", "more than once"),
        ("s0:c0.c5,c3", "more than once"),
        ("s0:c5.c1", "runs backwards"),
        ("x0", "sensitivity such as s0"),
        ("s", "sensitivity such as s0"),
        ("s0:", "empty part"),
        ("s0:c", "category such as c0"),
        ("s0-", "empty part"),
        ("s0:c1,", "empty part"),
        ("s99999999999999999999999", "too large"),
    ] {
        let e = range(bad).expect_err(bad);
        assert_eq!(e.key, "permissions[0].context.range", "{bad}");
        assert!(e.message.contains(fragment), "{bad}: {e}");
    }
    let spec = ctx_with("      type: httpd_sys_content_t\n").expect("type only");
    assert_eq!(
        spec.permissions[0].context,
        Some(crate::SeLinuxContext { user: None, type_: "httpd_sys_content_t".into(), range: None })
    );
    let e = ctx_with("      name: system_u\n").expect_err("type is required");
    assert_eq!(e.key, "permissions[0].context.type");
    assert!(e.message.contains("missing required key `type`"), "{e}");
    let e = ctx_with("      type: t\n      role: object_r\n").expect_err("role rejected");
    assert_eq!(e.key, "permissions[0].context.role");
    assert!(e.message.contains("role cannot be set"), "{e}");
    assert_eq!(e.line(), Some(7));
    let e = ctx_with("      type: t\n      level: s0\n").expect_err("unknown key");
    assert_eq!(e.key, "permissions[0].context.level");
}

// ---------------------------------------------------------------- robustness

#[test]
fn odd_inputs_do_not_panic() {
    let inputs = [
        "\u{feff}version: 0.0\r\nos: linux\r\n",
        "version: 0.0\nos: linux\nhooks:\n  ? [a, b]\n  : []\n",
        "version: 0.0\nos: linux\nhooks: *nothing\n",
        "version: 0.0\nos: linux\n<<: 5\n",
        "{\"version\": 0.0, \"os\": \"linux\", \"files\": [{\"source\": \"/\", \"destination\": \"/\\u0000x\"}]}",
        "version: 0.0\nos: linux\nhooks:\n  \"\":\n    - location: a\n",
        ":\n",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "&a [*a]",
        "%YAML 1.2\n---\nversion: 0.0\nos: linux\n",
        "\t",
        "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /x\n    destination: /y\n",
    ];
    for text in inputs {
        let _ = parse(FILE, text);
        let _ = parse_server(FILE, text);
    }
    assert!(parse(FILE, inputs[0]).is_ok());
    assert!(parse(FILE, inputs[9]).is_ok());
    assert_error(inputs[1], "hooks", &["used as a mapping key"]);
    assert_error(inputs[4], "files[0].destination", &["NUL"]);
    assert_error(inputs[5], "hooks.", &["empty key"]);
}

#[test]
fn error_display_names_file_key_and_line() {
    assert_eq!(error("").line(), None);
    let e = error(&script("      timeout: soon\n"));
    assert_eq!(
        e.to_string(),
        "appspec.yml: hooks.AfterInstall[0].timeout: expected a whole number of seconds greater than 0, got \"soon\" (line 6)"
    );
}

#[test]
fn a_hook_on_an_unknown_event_is_an_error_naming_the_event_it_meant() {
    let text = linux("hooks:\n  AfterInstal:\n    - location: scripts/a.sh\n");
    let e = assert_error(&text, "hooks.AfterInstal", &["not a lifecycle event", "did you mean `AfterInstall`?"]);
    assert_eq!(e.line(), Some(4), "{e}");
    let e = parse_server(FILE, &text).unwrap_err();
    assert_eq!(e.to_string(), error(&text).to_string(), "one rule for every parse");
    // Even an empty hook: the typo is what matters.
    assert_error(&linux("hooks:\n  afterinstall:\n"), "hooks.afterinstall", &["did you mean `AfterInstall`?"]);
    assert_error(
        &linux("hooks:\n  Deploy:\n    - location: a.sh\n"),
        "hooks.Deploy",
        &["expected one of", "ValidateService"],
    );
}

#[test]
fn custom_events_are_allowed_only_when_the_deployment_runs_them() {
    let text = linux("hooks:\n  Smoke:\n    - location: scripts/smoke.sh\n");
    assert!(parse_server(FILE, &text).unwrap_err().message.contains("`Smoke` is not a lifecycle event"));
    let spec = parse_server_with_events(FILE, &text, &["Smoke".into()]).unwrap();
    assert_eq!(spec.scripts_for("Smoke")[0].location, "scripts/smoke.sh");
    // A typo of a custom event is suggested too.
    let e = parse_server_with_events(FILE, &linux("hooks:\n  Smok:\n"), &["Smoke".into()]).unwrap_err();
    assert!(e.message.contains("did you mean `Smoke`?"), "{e}");
}

#[test]
fn requested_events_must_be_lifecycle_events_or_hooked_custom_ones() {
    let spec =
        parse_server_with_events(FILE, &linux("hooks:\n  Smoke:\n    - location: s.sh\n"), &["Smoke".into()]).unwrap();
    let events = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(crate::check_requested_events(&events(&["DownloadBundle", "Install", "Smoke"]), &spec), Ok(()));
    let e = crate::check_requested_events(&events(&["DownloadBundle", "Instal"]), &spec).unwrap_err();
    assert!(e.contains("`Instal` is not a lifecycle event") && e.contains("did you mean `Install`?"), "{e}");
    let e = crate::check_requested_events(&events(&["Warmup"]), &spec).unwrap_err();
    assert!(e.contains("a custom event needs a hook in the appspec"), "{e}");
}

#[test]
fn a_quoted_version_is_accepted_with_a_warning_codedeploy_would_refuse_it() {
    let quoted = "version: \"0.0\"\nos: linux\n";
    assert!(parse_server(FILE, quoted).is_ok());
    let warnings = codedeploy_warnings(FILE, quoted);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("CodeDeploy's agent") && warnings[0].contains("line 1"), "{warnings:?}");
    assert!(codedeploy_warnings(FILE, "version: 0.0\nos: linux\n").is_empty());
    assert!(codedeploy_warnings(FILE, "{\"version\": 0.0, \"os\": \"linux\"}").is_empty());
}
