//! Every CodeBuild answer shape ferry-aws defines, filled in completely and
//! serialized, is checked against the installed botocore's output shapes by
//! `crates/ferry/tests/aws/codebuild_model.py`, which also holds
//! `codebuild-model-inputs.json` to botocore's input shapes and enums.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use ferry_aws::arn::Arns;
use ferry_aws::codebuild::wire::*;
use serde_json::{Value, json};

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ferry/tests/aws/codebuild_model.py");

fn arns() -> Arns {
    Arns { region: "us-east-1".into(), account: "000000000000".into() }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn source() -> ProjectSource {
    ProjectSource {
        kind: s("GITHUB"),
        location: s("https://git.example/o/r.git"),
        git_clone_depth: Some(1),
        git_submodules_config: Some(GitSubmodulesConfig { fetch_submodules: Some(true) }),
        buildspec: s("buildspec.yml"),
        auth: Some(SourceAuth { kind: s("OAUTH"), resource: s("token") }),
        report_build_status: Some(true),
        build_status_config: Some(BuildStatusConfig { context: s("ferry"), target_url: s("https://ferry/b/1") }),
        insecure_ssl: Some(false),
        source_identifier: s("main_src"),
    }
}

fn environment() -> ProjectEnvironment {
    ProjectEnvironment {
        kind: s("LINUX_CONTAINER"),
        image: s("busybox:latest"),
        compute_type: s("BUILD_GENERAL1_SMALL"),
        environment_variables: Some(vec![
            EnvironmentVariable { name: s("STAGE"), value: s("test"), kind: s("PLAINTEXT") },
            EnvironmentVariable { name: s("TOKEN"), value: s("deploy-token"), kind: s("SECRETS_MANAGER") },
        ]),
        privileged_mode: Some(false),
        image_pull_credentials_type: s("CODEBUILD"),
        ..Default::default()
    }
}

fn logs_config() -> LogsConfig {
    LogsConfig {
        cloud_watch_logs: Some(CloudWatchLogsConfig {
            status: s("ENABLED"),
            group_name: s("ferry"),
            stream_name: s("web"),
        }),
        s3_logs: Some(S3LogsConfig {
            status: s("DISABLED"),
            location: None,
            encryption_disabled: Some(false),
            bucket_owner_access: s("NONE"),
        }),
    }
}

fn project() -> Project {
    let a = arns();
    Project {
        name: "web".into(),
        arn: a.project("web"),
        description: s("the web app"),
        source: source(),
        secondary_sources: vec![ProjectSource {
            kind: s("S3"),
            location: s("bucket/extra.zip"),
            source_identifier: s("extra"),
            ..Default::default()
        }],
        source_version: s("main"),
        secondary_source_versions: vec![ProjectSourceVersion {
            source_identifier: s("extra"),
            source_version: s("v2"),
        }],
        artifacts: ProjectArtifacts {
            kind: s("S3"),
            location: s("artifacts"),
            path: s("web"),
            namespace_type: s("BUILD_ID"),
            name: s("web.zip"),
            packaging: s("ZIP"),
            override_artifact_name: Some(false),
            encryption_disabled: Some(true),
            artifact_identifier: None,
            bucket_owner_access: s("NONE"),
        },
        secondary_artifacts: vec![ProjectArtifacts {
            kind: s("NO_ARTIFACTS"),
            artifact_identifier: s("docs"),
            ..Default::default()
        }],
        cache: ProjectCache {
            kind: s("LOCAL"),
            location: None,
            modes: Some(vec!["LOCAL_SOURCE_CACHE".into()]),
            cache_namespace: None,
        },
        environment: environment(),
        service_role: s("arn:aws:iam::000000000000:role/build"),
        timeout_in_minutes: 60,
        queued_timeout_in_minutes: 480,
        encryption_key: s("alias/aws/s3"),
        tags: vec![Tag { key: s("team"), value: s("web") }],
        created: 1_700_000_000.123,
        last_modified: 1_700_000_100.5,
        webhook: Some(Webhook {
            url: "https://ferry.example/webhooks/web".into(),
            payload_url: s("https://ferry.example/webhooks/web"),
            branch_filter: None,
            filter_groups: vec![vec![WebhookFilter {
                kind: "EVENT".into(),
                pattern: "PUSH".into(),
                exclude_matched_pattern: false,
            }]],
            build_type: s("BUILD"),
            last_modified_secret: Some(1_700_000_000.0),
            status: s("ACTIVE"),
        }),
        badge: ProjectBadge { badge_enabled: true, badge_request_url: s("https://ferry.example/badges/web") },
        logs_config: Some(logs_config()),
        concurrent_build_limit: Some(2),
        project_visibility: "PRIVATE".into(),
        auto_retry_limit: Some(0),
    }
}

fn build() -> Build {
    let a = arns();
    let phase = |kind: &str, status: Option<&str>| BuildPhase {
        phase_type: kind.into(),
        phase_status: status.map(str::to_string),
        start_time: 1_700_000_200.0,
        end_time: status.map(|_| 1_700_000_201.25),
        duration_in_seconds: status.map(|_| 1),
        contexts: vec![PhaseContext { status_code: "COMMAND_EXECUTION_ERROR".into(), message: "exit 1".into() }],
    };
    Build {
        id: "web:0b1c2d3e-aaaa-bbbb-cccc-123456789012".into(),
        arn: a.build("web:0b1c2d3e-aaaa-bbbb-cccc-123456789012"),
        build_number: 7,
        start_time: 1_700_000_200.0,
        end_time: Some(1_700_000_260.0),
        current_phase: "COMPLETED".into(),
        build_status: "FAILED".into(),
        source_version: s("main"),
        resolved_source_version: s("0123456789abcdef0123456789abcdef01234567"),
        project_name: "web".into(),
        phases: vec![phase("SUBMITTED", Some("SUCCEEDED")), phase("BUILD", Some("FAILED")), phase("COMPLETED", None)],
        source: source(),
        secondary_sources: vec![],
        secondary_source_versions: vec![],
        artifacts: BuildArtifacts {
            location: s("arn:aws:s3:::artifacts/web/web.zip"),
            sha256sum: s("ab"),
            md5sum: s("cd"),
            override_artifact_name: Some(false),
            encryption_disabled: Some(true),
            artifact_identifier: None,
        },
        secondary_artifacts: vec![BuildArtifacts { artifact_identifier: s("docs"), ..Default::default() }],
        cache: ProjectCache { kind: s("NO_CACHE"), ..Default::default() },
        environment: environment(),
        service_role: s("arn:aws:iam::000000000000:role/build"),
        logs: LogsLocation {
            group_name: s("ferry"),
            stream_name: s("web/0b1c"),
            deep_link: s("https://ferry.example/builds/web:0b1c/log"),
            cloud_watch_logs: logs_config().cloud_watch_logs,
            s3_logs: logs_config().s3_logs,
        },
        timeout_in_minutes: 60,
        queued_timeout_in_minutes: 480,
        build_complete: true,
        initiator: "alice".into(),
        encryption_key: s("alias/aws/s3"),
        exported_environment_variables: vec![ExportedEnvironmentVariable {
            name: "VERSION".into(),
            value: "1.2".into(),
        }],
        report_arns: vec![a.report("web-unit", "r1")],
        auto_retry_config: Some(AutoRetryConfig {
            auto_retry_limit: 1,
            auto_retry_number: 0,
            next_auto_retry: None,
            previous_auto_retry: None,
        }),
    }
}

fn report() -> Report {
    let a = arns();
    Report {
        arn: a.report("web-unit", "r1"),
        kind: "TEST".into(),
        name: "unit".into(),
        report_group_arn: a.report_group("web-unit"),
        execution_id: build().arn,
        status: "FAILED".into(),
        created: 1_700_000_250.0,
        expired: Some(1_702_592_250.0),
        export_config: ReportExportConfig { export_config_type: "NO_EXPORT".into(), s3_destination: None },
        truncated: false,
        test_summary: Some(TestReportSummary {
            total: 3,
            status_counts: BTreeMap::from([("SUCCEEDED".into(), 2), ("FAILED".into(), 1)]),
            duration_in_nano_seconds: 1_500_000,
        }),
    }
}

fn samples() -> Value {
    let a = arns();
    let report_group = ReportGroup {
        arn: a.report_group("web-unit"),
        name: "web-unit".into(),
        kind: "TEST".into(),
        export_config: ReportExportConfig {
            export_config_type: "S3".into(),
            s3_destination: Some(S3ReportExportConfig {
                bucket: s("reports"),
                path: s("web"),
                packaging: s("ZIP"),
                encryption_disabled: Some(true),
            }),
        },
        created: 1_700_000_000.0,
        last_modified: 1_700_000_000.0,
        tags: vec![],
        status: "ACTIVE".into(),
    };
    let test_case = TestCase {
        report_arn: a.report("web-unit", "r1"),
        test_raw_data_path: s("reports/junit.xml"),
        prefix: s("web.tests"),
        name: "renders_home".into(),
        status: "FAILED".into(),
        duration_in_nano_seconds: 500_000,
        message: s("expected 200, got 500"),
        expired: Some(1_702_592_250.0),
        test_suite_name: s("web"),
    };
    let project_out = value(&ProjectOutput { project: project() });
    let build_out = value(&BuildOutput { build: build() });
    json!({
        "CreateProject": [project_out],
        "UpdateProject": [project_out],
        "DeleteProject": [{}],
        "BatchGetProjects": [
            value(&BatchGetProjectsOutput { projects: vec![project()], projects_not_found: vec!["gone".into()] }),
        ],
        "ListProjects": [
            value(&ProjectNamesOutput { projects: vec!["web".into()], next_token: s("abc") }),
            value(&ProjectNamesOutput::default()),
        ],
        "StartBuild": [build_out],
        "StopBuild": [build_out],
        "RetryBuild": [build_out],
        "BatchGetBuilds": [value(&BatchGetBuildsOutput { builds: vec![build()], builds_not_found: vec!["web:x".into()] })],
        "ListBuilds": [value(&BuildIdsOutput { ids: vec![build().id], next_token: s("t") })],
        "ListBuildsForProject": [value(&BuildIdsOutput { ids: vec![build().id], next_token: None })],
        "ListReports": [value(&ReportArnsOutput { reports: vec![report().arn], next_token: s("t") })],
        "ListReportsForReportGroup": [value(&ReportArnsOutput { reports: vec![report().arn], next_token: None })],
        "BatchGetReports": [value(&BatchGetReportsOutput { reports: vec![report()], reports_not_found: vec![] })],
        "DescribeTestCases": [value(&DescribeTestCasesOutput { test_cases: vec![test_case], next_token: s("t") })],
        "ListReportGroups": [value(&ReportGroupArnsOutput { report_groups: vec![report_group.arn.clone()], next_token: None })],
        "BatchGetReportGroups": [value(&BatchGetReportGroupsOutput { report_groups: vec![report_group], report_groups_not_found: vec![] })],
    })
}

fn run_checker(samples: &Value, name: &str) -> (bool, String) {
    let path: PathBuf = std::env::temp_dir().join(format!("ferry-codebuild-{name}-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec_pretty(samples).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(CHECKER)
        .arg(&path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 with botocore runs the CodeBuild model check");
    let _ = std::fs::remove_file(&path);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn every_codebuild_answer_and_input_member_agrees_with_botocore() {
    let samples = samples();
    let operations = samples.as_object().unwrap();
    assert_eq!(operations.len(), ferry_aws::codebuild::Operation::ALL.len());
    for op in ferry_aws::codebuild::Operation::ALL {
        assert!(operations.contains_key(op.name()), "no sample of {}", op.name());
    }
    let (ok, text) = run_checker(&samples, "good");
    assert!(ok, "botocore disagrees:\n{text}");
}

#[test]
fn the_checker_catches_a_wrong_answer() {
    let mut build = value(&BuildOutput { build: build() });
    build["build"]["phases"][0]["phaseStatus"] = json!("DONE");
    build["build"]["buildNumber"] = json!("7");
    build["build"]["secret"] = json!("x");
    let (ok, text) = run_checker(&json!({ "StartBuild": [build] }), "bad");
    assert!(!ok, "{text}");
    for expected in ["'DONE' is not in the enum", "expected an integer", "no member 'secret'"] {
        assert!(text.contains(expected), "{expected:?} not reported:\n{text}");
    }
}
