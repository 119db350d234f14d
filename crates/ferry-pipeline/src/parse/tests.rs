use super::*;

use crate::fixtures::GET_PIPELINE;

const YAML: &str = r##"
name: web
roleArn: arn:aws:iam::000000000000:role/pipeline
artifactStore: {type: S3, location: ferry-artifacts}
version: 3
pipelineType: V2
variables:
  - {name: Region, defaultValue: home, description: where}
triggers:
  - providerType: CodeStarSourceConnection
    gitConfiguration:
      sourceActionName: Source
      push:
        - branches: {includes: [main], excludes: ["wip/*"]}
          filePaths: {includes: ["src/**"]}
      pullRequest:
        - events: [OPEN, UPDATED]
          branches: {includes: [main]}
stages:
  - name: Source
    actions:
      - name: Source
        actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: 1}
        configuration:
          FullRepositoryId: file:///srv/git/web.git
          BranchName: main
        outputArtifacts: [{name: SourceOutput}]
        namespace: SourceVariables
  - name: Build
    actions:
      - name: Build
        actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
        configuration:
          ProjectName: web
          EnvironmentVariables: '[{"name":"COMMIT","value":"#{SourceVariables.CommitId}","type":"PLAINTEXT"}]'
        inputArtifacts: [{name: SourceOutput}]
        outputArtifacts: [{name: BuildOutput}]
        namespace: BuildVariables
  - name: Staging
    actions:
      - name: Deploy
        actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}
        configuration: {ApplicationName: web, DeploymentGroupName: staging}
        inputArtifacts: [{name: BuildOutput}]
  - name: Approve
    actions:
      - name: Approve
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
        configuration: {CustomData: "Release #{BuildVariables.VERSION}?"}
        timeoutInMinutes: 60
  - name: Production
    actions:
      - name: DeployEast
        actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}
        configuration: {ApplicationName: web, DeploymentGroupName: prod-east}
        inputArtifacts: [{name: BuildOutput}]
      - name: DeployWest
        actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}
        configuration: {ApplicationName: web, DeploymentGroupName: prod-west}
        inputArtifacts: [{name: BuildOutput}]
      - name: Smoke
        runOrder: 2
        actionTypeId: {category: Test, owner: AWS, provider: CodeBuild, version: "1"}
        configuration: {ProjectName: "smoke-#{codepipeline.PipelineExecutionId}"}
        inputArtifacts: [{name: BuildOutput}]
"##;

fn err(text: &str) -> PipelineError {
    parse("pipeline.yml", text).expect_err("should be refused")
}

#[test]
fn get_pipeline_output_round_trips() {
    let p = parse("web.json", GET_PIPELINE).unwrap();
    assert_eq!(p.name, "web");
    assert_eq!(p.stages.len(), 5);
    assert_eq!(p.stages[4].actions[2].run_order, 2);
    assert_eq!(p.execution_mode, ExecutionMode::Superseded);
    assert_eq!(
        p.triggers[0].git_configuration.pull_request[0].events,
        [PullRequestEvent::Open, PullRequestEvent::Updated]
    );
    let original: serde_json::Value = serde_json::from_str(GET_PIPELINE).unwrap();
    assert_eq!(p.to_json(), original["pipeline"], "serialising gives get-pipeline's JSON back");
    // The bare declaration (create-pipeline --pipeline file://…) is the same.
    let bare = serde_json::to_string(&original["pipeline"]).unwrap();
    assert_eq!(parse("bare.json", &bare).unwrap(), p);
    // And serde reads back what it wrote (the store).
    let stored: PipelineDeclaration = serde_json::from_value(p.to_json()).unwrap();
    assert_eq!(stored, p);
}

#[test]
fn yaml_with_the_same_keys_is_the_same_pipeline() {
    assert_eq!(parse("web.yml", YAML).unwrap(), parse("web.json", GET_PIPELINE).unwrap());
}

#[test]
fn defaults_are_filled_in_and_written_out() {
    let text = r#"
name: p
stages:
  - name: S
    actions:
      - name: A
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: b, S3ObjectKey: k.zip, PollForSourceChanges: false}
        outputArtifacts: [{name: Out}]
  - name: D
    actions:
      - name: Approve
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
"#;
    let p = parse("p.yml", text).unwrap();
    assert_eq!(p.pipeline_type, PipelineType::V1);
    assert_eq!(p.stages[1].actions[0].run_order, 1);
    assert_eq!(p.stages[0].actions[0].configuration["PollForSourceChanges"], "false");
    let json = p.to_json();
    assert_eq!(json["pipelineType"], "V1");
    assert_eq!(json["executionMode"], "SUPERSEDED");
    assert_eq!(json["stages"][1]["actions"][0]["runOrder"], 1);
    assert_eq!(json["stages"][1]["actions"][0]["inputArtifacts"], serde_json::json!([]));
    assert!(json.get("variables").is_none() && json.get("roleArn").is_none());
}

#[test]
fn shape_errors_name_file_key_expectation_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "runOrder: 2",
            "runOrder: 0",
            "pipeline.yml: stages[4].actions[2].runOrder: expected a whole number from 1 to 999, got 0 (line 62)",
        ),
        (
            "runOrder: 2",
            "runOrder: two",
            "pipeline.yml: stages[4].actions[2].runOrder: expected a whole number from 1 to 999, got \"two\" (line 62)",
        ),
        (
            "runOrder: 2",
            "runorder: 2",
            "pipeline.yml: stages[4].actions[2].runorder: unknown key `runorder` (did you mean `runOrder`?)",
        ),
        (
            "category: Build,",
            "category: Biuld,",
            "expected Source, Build, Deploy, Test, Invoke, Approval or Compute, got \"Biuld\" (did you mean Build?)",
        ),
        ("pipelineType: V2", "pipelineType: V3", "pipelineType: expected V1 or V2, got \"V3\""),
        (
            "events: [OPEN, UPDATED]",
            "events: [OPEN, MERGED]",
            "pullRequest[0].events[1]: expected OPEN, UPDATED or CLOSED",
        ),
        ("name: web\n", "nme: web\n", "unknown key `nme` (did you mean `name`?)"),
        (
            "  - name: Build\n    actions:",
            "  - name: Build\n    beforeEntry: {}\n    actions:",
            "stages[1].beforeEntry: stage conditions (`beforeEntry`) are not supported",
        ),
        (
            "namespace: BuildVariables",
            "namespace: BuildVariables\n        commands: [make]",
            "stages[1].actions[0].commands: `commands` belongs to the Compute category",
        ),
        (
            "{ApplicationName: web, DeploymentGroupName: staging}",
            "{ApplicationName: [web], DeploymentGroupName: staging}",
            "configuration.ApplicationName: expected a single value (text), got a list",
        ),
        (
            "timeoutInMinutes: 60",
            "timeoutInMinutes: 1",
            "stages[3].actions[0].timeoutInMinutes: expected a whole number from 5 to 86400, got 1",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(YAML.contains(from), "fixture lacks {from:?}");
        let text = YAML.replacen(from, to, 1);
        let e = err(&text);
        assert!(e.to_string().contains(expected), "{to:?}:\n got {e}\nwant {expected}");
    }
}

#[test]
fn missing_and_misplaced_values() {
    assert_eq!(err("").to_string(), "pipeline.yml: the file is empty; expected a pipeline declaration (name, stages)");
    assert!(
        err("[1, 2]")
            .to_string()
            .contains("expected a pipeline declaration (a mapping with name and stages), got a list")
    );
    assert!(
        err("name: p\n")
            .to_string()
            .contains("stages: missing required key `stages`; expected a list of stages (line 1)")
    );
    let e = err("{\"pipeline\": {\"name\": \"p\", \"stages\": []}, \"metadata\": {}, \"extra\": 1}");
    assert!(e.to_string().contains("extra: unknown key `extra`"), "{e}");
    let e = err(
        "name: p\nstages:\n  - name: S\n    actions:\n      - name: A\n        actionTypeId: {category: Source, owner: AWS, version: '1'}\n",
    );
    assert!(
        e.to_string().contains("stages[0].actions[0].actionTypeId.provider: missing required key `provider`"),
        "{e}"
    );
    let e = err("{\"name\": \"p\", \"stages\": [}");
    assert!(e.to_string().starts_with("pipeline.yml: "), "{e}");
    assert!(e.problems[0].line.is_some(), "{e:?}");
}

#[test]
fn structure_problems_get_lines_and_are_all_reported() {
    let text = YAML
        .replacen("inputArtifacts: [{name: SourceOutput}]", "inputArtifacts: [{name: SourceOutpt}]", 1)
        .replacen("DeploymentGroupName: prod-west}", "DeploymentGroupName: prod-west, Extra: x}", 1);
    let e = err(&text);
    assert_eq!(e.problems.len(), 2, "{e}");
    let first = &e.problems[0];
    assert_eq!(first.key, "stages[1].actions[0].inputArtifacts[0].name");
    assert_eq!(first.line, Some(36));
    assert!(
        first.message.contains(
            "no earlier action has an output artifact named \"SourceOutpt\" (did you mean \"SourceOutput\"?)"
        ),
        "{e}"
    );
    assert_eq!(e.problems[1].key, "stages[4].actions[1].configuration.Extra");
    assert_eq!(e.problems[1].line, Some(59));
    assert_eq!(e.to_string().lines().count(), 2);
}

#[test]
fn bounded_input() {
    let big = "#".repeat(MAX_DECLARATION_BYTES + 1);
    assert!(err(&big).to_string().contains("up to 1 MiB"));
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(err(&deep).to_string().contains("nests deeper"));
}

#[test]
fn never_panics_on_cut_or_damaged_text() {
    for text in [GET_PIPELINE, YAML] {
        let mut cuts = 0;
        // Every 7th prefix, and the text with that character dropped: a
        // sample through keys, values and brackets (all positions take ~20 s
        // in a debug build).
        for (at, _) in text.char_indices().step_by(7) {
            let _ = parse("cut", &text[..at]);
            let mut damaged = text.to_owned();
            damaged.remove(at);
            let _ = parse("damaged", &damaged);
            cuts += 1;
        }
        assert!(cuts > 300);
    }
}
