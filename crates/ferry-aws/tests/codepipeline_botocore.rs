//! Every CodePipeline answer shape ferry-aws defines, filled in completely
//! and serialized, is checked against the installed botocore's output shapes
//! by `crates/ferry/tests/aws/codepipeline_model.py`, which also holds
//! `codepipeline-model-inputs.json` (what ferry validates requests by) to
//! botocore's input shapes, constraints and declared exceptions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use ferry_aws::arn::Arns;
use ferry_aws::codepipeline::wire::*;
use ferry_aws::codepipeline::{Operation, Request, validate};
use serde_json::{Value, json};

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ferry/tests/aws/codepipeline_model.py");
const EXECUTION: &str = "0b1c2d3e-aaaa-4bbb-8ccc-123456789012";
const JOB: &str = "11111111-2222-4333-8444-555555555555";

fn arns() -> Arns {
    Arns { region: "us-east-1".into(), account: "000000000000".into() }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn type_id(category: &str, owner: &str, provider: &str) -> ActionTypeId {
    ActionTypeId { category: s(category), owner: s(owner), provider: s(provider), version: s("1") }
}

/// A declaration as GetPipeline answers it, read from the JSON a user wrote.
fn declaration() -> PipelineDeclaration {
    serde_json::from_value(json!({
        "name": "web",
        "roleArn": "arn:aws:iam::000000000000:role/pipeline",
        "artifactStore": {"type": "S3", "location": "ferry-artifacts", "encryptionKey": {"id": "k", "type": "KMS"}},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "runOrder": 1,
                "configuration": {"RepositoryName": "web", "BranchName": "main"},
                "outputArtifacts": [{"name": "src"}],
                "inputArtifacts": [],
                "namespace": "SourceVariables",
                "region": "us-east-1",
            }]},
            {"name": "Build", "actions": [{
                "name": "Build",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["make"],
                "inputArtifacts": [{"name": "src"}],
                "outputArtifacts": [{"name": "bin", "files": ["app.zip"]}],
                "outputVariables": ["VERSION"],
                "environmentVariables": [{"name": "STAGE", "value": "test", "type": "PLAINTEXT"}],
                "roleArn": "arn:aws:iam::000000000000:role/build",
                "timeoutInMinutes": 60,
            }],
             "onFailure": {"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"}},
             "blockers": [{"name": "freeze", "type": "Schedule"}],
             "beforeEntry": {"conditions": [{"result": "FAIL", "rules": [{
                "name": "Window",
                "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"},
                "configuration": {"Cron": "0 9 ? * MON-FRI *"},
             }]}]},
             "onSuccess": {"conditions": [{"rules": [{"name": "Ok", "ruleTypeId": {"category": "Rule", "provider": "VariableCheck"}}]}]}},
        ],
        "version": 3,
        "executionMode": "QUEUED",
        "pipelineType": "V2",
        "variables": [{"name": "env", "defaultValue": "staging", "description": "where to"}],
        "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "Source",
            "push": [{"branches": {"includes": ["main"]}, "filePaths": {"excludes": ["docs/**"]}},
                     {"tags": {"includes": ["v*"]}}],
            "pullRequest": [{"events": ["OPEN", "CLOSED"], "branches": {"includes": ["main"]}}],
        }}],
    }))
    .unwrap()
}

fn error_details() -> ErrorDetails {
    ErrorDetails { code: s("JobFailed"), message: s("make: *** [all] Error 1") }
}

fn stage_state() -> StageState {
    let execution = |status: &str| StageExecution {
        pipeline_execution_id: EXECUTION.into(),
        status: status.into(),
        kind: s("STANDARD"),
    };
    StageState {
        stage_name: s("Build"),
        inbound_execution: Some(execution("InProgress")),
        inbound_executions: Some(vec![execution("InProgress")]),
        inbound_transition_state: Some(TransitionState {
            enabled: Some(false),
            last_changed_by: s("alice"),
            last_changed_at: Some(1_700_000_000.0),
            disabled_reason: s("release freeze"),
        }),
        action_states: Some(vec![ActionState {
            action_name: s("Approve"),
            current_revision: Some(ActionRevision {
                revision_id: "abc".into(),
                revision_change_id: "c1".into(),
                created: 1_700_000_000.0,
            }),
            latest_execution: Some(ActionExecution {
                action_execution_id: s("ae-1"),
                status: s("InProgress"),
                summary: s("waiting for approval"),
                last_status_change: Some(1_700_000_001.5),
                token: s(JOB),
                last_updated_by: s("ferry"),
                external_execution_id: s("web:1"),
                external_execution_url: s("https://ferry.example/builds/web:1"),
                percent_complete: Some(50),
                error_details: Some(error_details()),
                log_stream_arn: s("arn:aws:logs:us-east-1:000000000000:log-group:ferry:log-stream:web/1"),
            }),
            entity_url: s("https://ferry.example/projects/web"),
            revision_url: s("https://git.example/web/commit/abc"),
        }]),
        latest_execution: Some(execution("Failed")),
        retry_stage_metadata: Some(RetryStageMetadata {
            auto_stage_retry_attempt: Some(1),
            manual_stage_retry_attempt: Some(2),
            latest_retry_trigger: s("ManualStageRetry"),
        }),
    }
}

fn trigger() -> ExecutionTrigger {
    ExecutionTrigger { trigger_type: s("WebhookV2"), trigger_detail: s("push to main by alice") }
}

fn action_execution_detail() -> ActionExecutionDetail {
    let artifact = |name: &str| ArtifactDetail {
        name: s(name),
        s3location: Some(S3Location { bucket: s("ferry-artifacts"), key: s("web/src.zip") }),
    };
    ActionExecutionDetail {
        pipeline_execution_id: s(EXECUTION),
        action_execution_id: s("ae-1"),
        pipeline_version: Some(3),
        stage_name: s("Build"),
        action_name: s("Build"),
        start_time: Some(1_700_000_000.0),
        last_update_time: Some(1_700_000_060.0),
        updated_by: s("ferry"),
        status: s("Failed"),
        input: Some(ActionExecutionInput {
            action_type_id: Some(type_id("Build", "AWS", "CodeBuild")),
            configuration: Some(BTreeMap::from([("ProjectName".into(), "#{variables.env}-web".into())])),
            resolved_configuration: Some(BTreeMap::from([("ProjectName".into(), "staging-web".into())])),
            role_arn: s("arn:aws:iam::000000000000:role/build"),
            region: s("us-east-1"),
            input_artifacts: Some(vec![artifact("src")]),
            namespace: s("BuildVariables"),
        }),
        output: Some(ActionExecutionOutput {
            output_artifacts: Some(vec![artifact("bin")]),
            execution_result: Some(ActionExecutionResult {
                external_execution_id: s("web:1"),
                external_execution_summary: s("build failed"),
                external_execution_url: s("https://ferry.example/builds/web:1"),
                error_details: Some(error_details()),
                log_stream_arn: s("arn:aws:logs:us-east-1:000000000000:log-group:ferry"),
            }),
            output_variables: Some(BTreeMap::from([("VERSION".into(), "1.2".into())])),
        }),
    }
}

fn job_data() -> JobData {
    let artifact = |name: &str| Artifact {
        name: s(name),
        revision: s("abc"),
        location: Some(ArtifactLocation {
            kind: s("S3"),
            s3_location: Some(S3ArtifactLocation {
                bucket_name: "ferry-artifacts".into(),
                object_key: format!("web/{name}.zip"),
            }),
        }),
    };
    JobData {
        action_type_id: Some(type_id("Build", "Custom", "Make")),
        action_configuration: Some(ActionConfiguration {
            configuration: Some(BTreeMap::from([("Target".into(), "all".into())])),
        }),
        pipeline_context: Some(PipelineContext {
            pipeline_name: s("web"),
            stage: Some(StageContext { name: s("Build") }),
            action: Some(ActionContext { name: s("Make"), action_execution_id: s("ae-2") }),
            pipeline_arn: Some(arns().pipeline("web")),
            pipeline_execution_id: s(EXECUTION),
        }),
        input_artifacts: Some(vec![artifact("src")]),
        output_artifacts: Some(vec![artifact("bin")]),
        artifact_credentials: Some(AWSSessionCredentials {
            access_key_id: "AKIAFERRY".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
        }),
        continuation_token: s("step-2"),
        encryption_key: Some(EncryptionKey { id: s("k"), kind: s("KMS") }),
    }
}

fn samples() -> Value {
    let a = arns();
    let tags = vec![Tag { key: s("team"), value: s("web") }];
    let summary = PipelineExecutionSummary {
        pipeline_execution_id: s(EXECUTION),
        status: s("Superseded"),
        status_summary: s("a newer execution overtook this one"),
        start_time: Some(1_700_000_000.0),
        last_update_time: Some(1_700_000_100.0),
        source_revisions: Some(vec![SourceRevision {
            action_name: "Source".into(),
            revision_id: s("abc"),
            revision_summary: s("Fix the build"),
            revision_url: s("https://git.example/web/commit/abc"),
        }]),
        trigger: Some(trigger()),
        stop_trigger: Some(StopExecutionTrigger { reason: s("wrong commit") }),
        execution_mode: s("SUPERSEDED"),
        execution_type: s("STANDARD"),
        rollback_metadata: Some(PipelineRollbackMetadata { rollback_target_pipeline_execution_id: s(EXECUTION) }),
    };
    let execution = PipelineExecution {
        pipeline_name: s("web"),
        pipeline_version: Some(3),
        pipeline_execution_id: s(EXECUTION),
        status: s("InProgress"),
        status_summary: s("waiting for approval"),
        artifact_revisions: Some(vec![ArtifactRevision {
            name: s("src"),
            revision_id: s("abc"),
            revision_change_identifier: s("c1"),
            revision_summary: s("Fix the build"),
            created: Some(1_700_000_000.0),
            revision_url: s("https://git.example/web/commit/abc"),
        }]),
        variables: Some(vec![ResolvedPipelineVariable { name: s("env"), resolved_value: s("prod") }]),
        trigger: Some(trigger()),
        execution_mode: s("QUEUED"),
        execution_type: s("ROLLBACK"),
        rollback_metadata: Some(PipelineRollbackMetadata { rollback_target_pipeline_execution_id: s(EXECUTION) }),
    };
    let action_type = ActionType {
        id: type_id("Build", "Custom", "Make"),
        input_artifact_details: ArtifactDetails { minimum_count: 0, maximum_count: 5 },
        output_artifact_details: ArtifactDetails { minimum_count: 0, maximum_count: 5 },
        settings: Some(ActionTypeSettings {
            third_party_configuration_url: s("https://ferry.example/action-types/make"),
            entity_url_template: s("https://ferry.example/make/{Config:Target}"),
            execution_url_template: s("https://ferry.example/make/{ExternalExecutionId}"),
            revision_url_template: s("https://ferry.example/make/rev"),
        }),
        action_configuration_properties: Some(vec![ActionConfigurationProperty {
            name: "Target".into(),
            required: true,
            key: true,
            secret: false,
            queryable: Some(true),
            description: s("the make target"),
            kind: s("String"),
        }]),
    };
    let id = value(&PipelineExecutionIdOutput { pipeline_execution_id: s(EXECUTION) });
    let empty = value(&Empty {});
    json!({
        "CreatePipeline": [value(&CreatePipelineOutput { pipeline: Some(declaration()), tags: Some(tags.clone()) })],
        "GetPipeline": [value(&GetPipelineOutput {
            pipeline: Some(declaration()),
            metadata: Some(PipelineMetadata {
                pipeline_arn: Some(a.pipeline("web")),
                created: Some(1_700_000_000.0),
                updated: Some(1_700_000_100.0),
                polling_disabled_at: Some(1_700_000_200.0),
            }),
        })],
        "UpdatePipeline": [value(&UpdatePipelineOutput { pipeline: Some(declaration()) })],
        "DeletePipeline": [empty],
        "ListPipelines": [
            value(&ListPipelinesOutput {
                pipelines: Some(vec![PipelineSummary {
                    name: s("web"),
                    version: Some(3),
                    pipeline_type: s("V2"),
                    execution_mode: s("PARALLEL"),
                    created: Some(1_700_000_000.0),
                    updated: Some(1_700_000_100.0),
                }]),
                next_token: s("t"),
            }),
            value(&ListPipelinesOutput::default()),
        ],
        "StartPipelineExecution": [id],
        "StopPipelineExecution": [id],
        "RetryStageExecution": [id],
        "GetPipelineState": [value(&GetPipelineStateOutput {
            pipeline_name: s("web"),
            pipeline_version: Some(3),
            stage_states: Some(vec![stage_state(), StageState::default()]),
            created: Some(1_700_000_000.0),
            updated: Some(1_700_000_100.0),
        })],
        "GetPipelineExecution": [value(&GetPipelineExecutionOutput { pipeline_execution: Some(execution) })],
        "ListPipelineExecutions": [value(&ListPipelineExecutionsOutput {
            pipeline_execution_summaries: Some(vec![summary]),
            next_token: s("t"),
        })],
        "ListActionExecutions": [value(&ListActionExecutionsOutput {
            action_execution_details: Some(vec![action_execution_detail()]),
            next_token: None,
        })],
        "PutApprovalResult": [value(&PutApprovalResultOutput { approved_at: Some(1_700_000_300.25) })],
        "EnableStageTransition": [empty],
        "DisableStageTransition": [empty],
        "ListActionTypes": [value(&ListActionTypesOutput { action_types: vec![action_type], next_token: s("t") })],
        "PollForJobs": [value(&PollForJobsOutput {
            jobs: Some(vec![Job { id: s(JOB), data: Some(job_data()), nonce: s("n1"), account_id: s("000000000000") }]),
        })],
        "AcknowledgeJob": [value(&AcknowledgeJobOutput { status: s("InProgress") })],
        "PutJobSuccessResult": [empty],
        "PutJobFailureResult": [empty],
        "GetJobDetails": [value(&GetJobDetailsOutput {
            job_details: Some(JobDetails { id: s(JOB), data: Some(job_data()), account_id: s("000000000000") }),
        })],
        "TagResource": [empty],
        "UntagResource": [empty],
        "ListTagsForResource": [value(&ListTagsForResourceOutput { tags: Some(tags), next_token: s("t") })],
    })
}

fn run_checker(samples: &Value, name: &str) -> (bool, String) {
    let path: PathBuf = std::env::temp_dir().join(format!("ferry-codepipeline-{name}-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec_pretty(samples).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(CHECKER)
        .arg(&path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 with botocore runs the CodePipeline model check");
    let _ = std::fs::remove_file(&path);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn every_codepipeline_answer_and_the_input_model_agree_with_botocore() {
    let samples = samples();
    let operations = samples.as_object().unwrap();
    assert_eq!(operations.len(), Operation::ALL.len());
    for op in Operation::ALL {
        assert!(operations.contains_key(op.name()), "no sample of {}", op.name());
    }
    let (ok, text) = run_checker(&samples, "good");
    assert!(ok, "botocore disagrees:\n{text}");
}

#[test]
fn the_declaration_answered_is_one_ferry_accepts() {
    // What GetPipeline answers, fed back to UpdatePipeline (as
    // `aws codepipeline get-pipeline` → edit → update-pipeline does).
    let body = json!({ "pipeline": value(&declaration()) });
    Request::decode(Operation::UpdatePipeline, body.to_string().as_bytes()).unwrap().validate().unwrap();
}

#[test]
fn errors_ferry_answers_are_declared_by_the_model() {
    // One error answer of each operation, as the handlers build them.
    let errors: Vec<(Operation, ferry_aws::AwsError)> = vec![
        (Operation::GetPipeline, validate::pipeline_not_found("web")),
        (Operation::GetPipeline, validate::pipeline_version_not_found("web", 9)),
        (Operation::CreatePipeline, validate::pipeline_name_in_use("web")),
        (Operation::GetPipelineExecution, validate::execution_not_found("web", EXECUTION)),
        (Operation::RetryStageExecution, validate::stage_not_retryable("nothing failed")),
        (Operation::RetryStageExecution, validate::not_latest_execution("a newer execution ran")),
        (Operation::RetryStageExecution, validate::stage_not_found("web", "Nope")),
        (Operation::PutApprovalResult, validate::action_not_found("Deploy", "Nope")),
        (Operation::PutApprovalResult, validate::invalid_approval_token("not the current approval")),
        (Operation::PutApprovalResult, validate::approval_already_completed("already approved")),
        (Operation::StartPipelineExecution, validate::conflict("same clientRequestToken, other request")),
        (Operation::StopPipelineExecution, validate::execution_not_stoppable("already finished")),
        (Operation::StopPipelineExecution, validate::duplicated_stop("already stopping")),
        (Operation::PollForJobs, validate::action_type_not_found("no such action type")),
        (Operation::AcknowledgeJob, validate::invalid_nonce("wrong nonce")),
        (Operation::AcknowledgeJob, validate::job_not_found(JOB)),
        (Operation::PutJobSuccessResult, validate::invalid_job_state("not in progress")),
        (Operation::PutJobSuccessResult, validate::output_variables_too_large("too large")),
        (Operation::TagResource, validate::resource_not_found("arn:aws:codepipeline:r:000000000000:gone")),
        (Operation::ListTagsForResource, validate::invalid_arn("bad")),
        (Operation::ListPipelines, ferry_aws::token::page(Operation::ListPipelines, vec![1], Some("zz")).unwrap_err()),
    ];
    let mut samples = serde_json::Map::new();
    for (op, error) in errors {
        assert!(op.declared_errors().iter().any(|d| *d == error.code), "{} does not declare {}", op.name(), error.code);
        let body: Value = serde_json::from_str(&error.body()).unwrap();
        samples.entry(op.name()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(body);
    }
    let (ok, text) = run_checker(&Value::Object(samples), "errors");
    assert!(ok, "botocore disagrees:\n{text}");
}

#[test]
fn the_checker_catches_a_wrong_answer() {
    let mut state = value(&GetPipelineStateOutput { stage_states: Some(vec![stage_state()]), ..Default::default() });
    state["stageStates"][0]["latestExecution"]["status"] = json!("Done");
    state["stageStates"][0]["actionStates"][0]["latestExecution"]["percentComplete"] = json!("50");
    state["stageStates"][0]["secret"] = json!("x");
    let (ok, text) =
        run_checker(&json!({ "GetPipelineState": [state, {"__type": "BuildFailedException", "message": "m"}] }), "bad");
    assert!(!ok, "{text}");
    for expected in ["'Done' is not in the enum", "expected an integer", "no member 'secret'", "does not declare"] {
        assert!(text.contains(expected), "{expected:?} not reported:\n{text}");
    }
}
