use super::*;
use crate::fixtures::web;

fn action(p: &mut PipelineDeclaration, stage: usize, action: usize) -> &mut ActionDeclaration {
    &mut p.stages[stage].actions[action]
}

fn set(p: &mut PipelineDeclaration, stage: usize, a: usize, key: &str, value: &str) {
    action(p, stage, a).configuration.insert(key.to_owned(), value.to_owned());
}

fn source_action(name: &str, output: &str) -> ActionDeclaration {
    let mut a = web().stages[0].actions[0].clone();
    a.name = name.to_owned();
    a.namespace = None;
    a.output_artifacts = vec![Artifact { name: output.to_owned() }];
    a
}

type Edit = fn(&mut PipelineDeclaration);

#[test]
fn the_fixture_is_valid() {
    assert_eq!(check(&web()), Ok(()));
}

#[test]
fn each_rule_names_the_key_and_says_why() {
    let cases: &[(&str, Edit, &str, &str)] = &[
        ("pipeline name charset", |p| p.name = "web app".into(), "name", "contains ' '"),
        ("pipeline name length", |p| p.name = "x".repeat(101), "name", "1 to 100 characters, got 101"),
        ("dot names", |p| p.stages[1].name = "..".into(), "stages[1].name", "cannot be \"..\""),
        ("one stage", |p| p.stages.truncate(1), "stages", "at least 2 stages"),
        ("duplicate stage", |p| p.stages[2].name = "Build".into(), "stages[2].name", "\"Build\" is used twice"),
        ("empty stage", |p| p.stages[3].actions.clear(), "stages[3].actions", "1 to 50 actions, got 0"),
        (
            "duplicate action",
            |p| p.stages[4].actions[1].name = "DeployEast".into(),
            "stages[4].actions[1].name",
            "used twice in stage \"Production\"",
        ),
        (
            "runOrder range",
            |p| p.stages[4].actions[2].run_order = 1000,
            "stages[4].actions[2].runOrder",
            "from 1 to 999, got 1000",
        ),
        (
            "non-source first",
            |p| {
                let approve = p.stages[3].actions[0].clone();
                p.stages[0].actions.push(approve);
            },
            "stages[0].actions[1].actionTypeId.category",
            "the first stage holds only Source actions",
        ),
        (
            "source later",
            |p| p.stages[1].actions.push(source_action("Other", "Other")),
            "stages[1].actions[1].actionTypeId.category",
            "Source actions belong in the first stage only; move \"Other\" to stage \"Source\"",
        ),
        (
            "input from the same runOrder",
            |p| {
                p.stages[4].actions[2].run_order = 1;
                p.stages[4].actions[0].output_artifacts = vec![Artifact { name: "East".into() }];
                p.stages[4].actions[0].action_type_id = web().stages[1].actions[0].action_type_id.clone();
                p.stages[4].actions[0].configuration = [("ProjectName".to_owned(), "x".to_owned())].into();
                p.stages[4].actions[2].input_artifacts = vec![Artifact { name: "East".into() }];
            },
            "stages[4].actions[2].inputArtifacts[0].name",
            "produced by action \"DeployEast\" in stage \"Production\", which does not run before this action",
        ),
        (
            "input from a later stage",
            |p| p.stages[1].actions[0].input_artifacts[0].name = "BuildOutput".into(),
            "stages[1].actions[0].inputArtifacts[0].name",
            "produced by action \"Build\" in stage \"Build\", which does not run before",
        ),
        (
            "duplicate output",
            |p| p.stages[4].actions[2].output_artifacts = vec![Artifact { name: "BuildOutput".into() }],
            "stages[4].actions[2].outputArtifacts[0].name",
            "also produced by action \"Build\" in stage \"Build\"",
        ),
        (
            "artifact charset",
            |p| p.stages[0].actions[0].output_artifacts[0].name = "Source.Output".into(),
            "stages[0].actions[0].outputArtifacts[0].name",
            "contains '.'",
        ),
        (
            "unsupported provider",
            |p| p.stages[2].actions[0].action_type_id.provider = "ECS".into(),
            "stages[2].actions[0].actionTypeId",
            "ferry does not run Deploy/AWS/ECS actions; it runs: Source/AWS/CodeCommit, Source/AWS/CodeStarSourceConnection, Source/ThirdParty/GitHub, Source/AWS/S3, Build/AWS/CodeBuild, Test/AWS/CodeBuild, Deploy/AWS/CodeDeploy, Approval/AWS/Manual",
        ),
        (
            "lambda invoke",
            |p| {
                let a = &mut p.stages[2].actions[0];
                a.action_type_id = ActionTypeId {
                    category: Category::Invoke,
                    owner: Owner::Aws,
                    provider: "Lambda".into(),
                    version: "1".into(),
                };
            },
            "stages[2].actions[0].actionTypeId",
            "ferry does not run Invoke/AWS/Lambda actions",
        ),
        (
            "custom approval",
            |p| p.stages[3].actions[0].action_type_id.owner = Owner::Custom,
            "stages[3].actions[0].actionTypeId",
            "custom action types cannot be in the Approval category",
        ),
        (
            "version",
            |p| p.stages[2].actions[0].action_type_id.version = "2".into(),
            "stages[2].actions[0].actionTypeId.version",
            "has version 1",
        ),
        (
            "codedeploy takes one input",
            |p| p.stages[2].actions[0].input_artifacts.clear(),
            "stages[2].actions[0].inputArtifacts",
            "Deploy/AWS/CodeDeploy actions take exactly 1 input artifacts, got 0",
        ),
        (
            "codedeploy has no outputs",
            |p| p.stages[2].actions[0].output_artifacts = vec![Artifact { name: "X".into() }],
            "stages[2].actions[0].outputArtifacts",
            "take exactly 0 output artifacts, got 1",
        ),
        (
            "source has one output",
            |p| p.stages[0].actions[0].output_artifacts.clear(),
            "stages[0].actions[0].outputArtifacts",
            "take exactly 1 output artifacts, got 0",
        ),
        (
            "codebuild needs an input",
            |p| p.stages[1].actions[0].input_artifacts.clear(),
            "stages[1].actions[0].inputArtifacts",
            "Build/AWS/CodeBuild actions take 1 to 5 input artifacts, got 0",
        ),
        (
            "manual has no inputs",
            |p| p.stages[3].actions[0].input_artifacts = vec![Artifact { name: "BuildOutput".into() }],
            "stages[3].actions[0].inputArtifacts",
            "take exactly 0 input artifacts, got 1",
        ),
        (
            "required key",
            |p| {
                p.stages[2].actions[0].configuration.remove("DeploymentGroupName");
            },
            "stages[2].actions[0].configuration.DeploymentGroupName",
            "Deploy/AWS/CodeDeploy actions need configuration `DeploymentGroupName`",
        ),
        (
            "unknown key",
            |p| set(p, 1, 0, "Projectname", "x"),
            "stages[1].actions[0].configuration.Projectname",
            "have no configuration `Projectname` (did you mean `ProjectName`?)",
        ),
        (
            "long value",
            |p| set(p, 1, 0, "ProjectName", &"x".repeat(1001)),
            "stages[1].actions[0].configuration.ProjectName",
            "1 to 1000 characters, got 1001",
        ),
        (
            "owner/repo needs a connection",
            |p| set(p, 0, 0, "FullRepositoryId", "acme/web"),
            "stages[0].actions[0].configuration.FullRepositoryId",
            "\"acme/web\" is not a git URL",
        ),
        (
            "s3 source",
            |p| {
                let a = action(p, 0, 0);
                a.action_type_id.provider = "S3".into();
                a.configuration = [("S3Bucket".to_owned(), "b".to_owned())].into();
            },
            "stages[0].actions[0].configuration.S3ObjectKey",
            "need configuration `S3ObjectKey`",
        ),
        (
            "primary source",
            |p| set(p, 1, 0, "PrimarySource", "Nope"),
            "stages[1].actions[0].configuration.PrimarySource",
            "not one of this action's input artifacts",
        ),
        (
            "batch",
            |p| set(p, 1, 0, "BatchEnabled", "true"),
            "stages[1].actions[0].configuration.BatchEnabled",
            "batch builds are not supported",
        ),
        (
            "environment variables JSON",
            |p| set(p, 4, 2, "EnvironmentVariables", r#"[{"name":"A","value":"1","type":"VAULT"}]"#),
            "stages[4].actions[2].configuration.EnvironmentVariables",
            "type is PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER, got \"VAULT\"",
        ),
        (
            "approval link",
            |p| set(p, 3, 0, "ExternalEntityLink", "ftp://x"),
            "stages[3].actions[0].configuration.ExternalEntityLink",
            "expected an http(s) URL",
        ),
        (
            "timeout on a deploy",
            |p| action(p, 2, 0).timeout_in_minutes = Some(10),
            "stages[2].actions[0].timeoutInMinutes",
            "Approval actions only",
        ),
        (
            "duplicate namespace",
            |p| action(p, 1, 0).namespace = Some("SourceVariables".into()),
            "stages[1].actions[0].namespace",
            "also declared by action \"Source\"",
        ),
        (
            "reserved namespace",
            |p| action(p, 1, 0).namespace = Some("codepipeline".into()),
            "stages[1].actions[0].namespace",
            "reserved",
        ),
        (
            "namespace charset",
            |p| action(p, 1, 0).namespace = Some("Build.Vars".into()),
            "stages[1].actions[0].namespace",
            "contains '.'",
        ),
        (
            "namespace vs artifact",
            |p| action(p, 1, 0).namespace = Some("SourceOutput".into()),
            "",
            "also an output artifact name",
        ),
        (
            "reference to a later namespace",
            |p| set(p, 1, 0, "ProjectName", "#{BuildVariables.X}"),
            "stages[1].actions[0].configuration.ProjectName",
            "#{BuildVariables.X}: namespace \"BuildVariables\" belongs to action \"Build\" in stage \"Build\", which does not run before this action",
        ),
        (
            "reference to an unknown namespace",
            |p| set(p, 2, 0, "DeploymentGroupName", "#{BuildVariable.X}"),
            "stages[2].actions[0].configuration.DeploymentGroupName",
            "no action declares namespace \"BuildVariable\" (did you mean \"BuildVariables\"?)",
        ),
        (
            "codepipeline namespace",
            |p| set(p, 1, 0, "ProjectName", "#{codepipeline.Id}"),
            "stages[1].actions[0].configuration.ProjectName",
            "has only PipelineExecutionId",
        ),
        (
            "undeclared variable",
            |p| set(p, 1, 0, "ProjectName", "#{variables.Stage}"),
            "stages[1].actions[0].configuration.ProjectName",
            "declares no variable \"Stage\"",
        ),
        (
            "variables need V2",
            |p| {
                p.pipeline_type = PipelineType::V1;
                p.triggers.clear();
            },
            "variables",
            "need pipelineType V2",
        ),
        (
            "queued needs V2",
            |p| {
                p.pipeline_type = PipelineType::V1;
                p.variables.clear();
                p.triggers.clear();
                p.execution_mode = ExecutionMode::Queued;
                set(p, 4, 2, "ProjectName", "smoke");
            },
            "executionMode",
            "QUEUED needs pipelineType V2",
        ),
        ("duplicate variable", |p| p.variables.push(p.variables[0].clone()), "variables[1].name", "declared twice"),
        (
            "rollback",
            |p| {
                p.stages[2].on_failure =
                    Some(FailureConditions { result: Some(StageFailureResult::Rollback), retry_configuration: None })
            },
            "stages[2].onFailure.result",
            "ROLLBACK is not supported",
        ),
        (
            "both stores",
            |p| {
                let s = p.artifact_store.clone().unwrap();
                p.artifact_stores.insert("us-east-1".into(), s);
            },
            "artifactStores",
            "not both",
        ),
        (
            "trigger names no action",
            |p| p.triggers[0].git_configuration.source_action_name = "Src".into(),
            "triggers[0].gitConfiguration.sourceActionName",
            "the first stage has no action \"Src\"",
        ),
        (
            "trigger on S3",
            |p| {
                let a = action(p, 0, 0);
                a.action_type_id.provider = "S3".into();
                a.configuration =
                    [("S3Bucket".to_owned(), "b".to_owned()), ("S3ObjectKey".to_owned(), "k".to_owned())].into();
            },
            "triggers[0].gitConfiguration.sourceActionName",
            "triggers start git sources",
        ),
        (
            "push on branches and tags",
            |p| {
                p.triggers[0].git_configuration.push[0].tags =
                    Some(IncludeExclude { includes: vec!["v*".into()], excludes: vec![] })
            },
            "triggers[0].gitConfiguration.push[0]",
            "not both",
        ),
        (
            "empty criteria",
            |p| p.triggers[0].git_configuration.push[0].branches = Some(IncludeExclude::default()),
            "triggers[0].gitConfiguration.push[0].branches",
            "give includes or excludes",
        ),
        (
            "too many patterns",
            |p| p.triggers[0].git_configuration.push[0].branches.as_mut().unwrap().includes = vec!["a".into(); 9],
            "triggers[0].gitConfiguration.push[0].branches.includes",
            "at most 8 patterns, got 9",
        ),
        (
            "pull request without branches",
            |p| p.triggers[0].git_configuration.pull_request[0].branches = None,
            "triggers[0].gitConfiguration.pullRequest[0]",
            "needs branches",
        ),
        (
            "two triggers for one action",
            |p| p.triggers.push(p.triggers[0].clone()),
            "triggers[1].gitConfiguration.sourceActionName",
            "already has a trigger",
        ),
    ];
    for (what, edit, key, message) in cases {
        let mut p = web();
        edit(&mut p);
        let problems = check(&p).expect_err(what);
        assert!(
            problems.iter().any(|pr| pr.key == *key && pr.message.contains(message)),
            "{what}: want {key}: …{message}…\n got {problems:#?}"
        );
    }
}

#[test]
fn git_sources_and_urls() {
    for url in [
        "https://git.example.com/web.git",
        "ssh://git@h/web.git",
        "git@github.com:acme/web.git",
        "/srv/git/web.git",
        "file:///srv/git/web.git",
    ] {
        assert!(is_git_url(url), "{url}");
    }
    for not in ["acme/web", "web", "c:", "@h:x", "a/b@c:d"] {
        assert!(!is_git_url(not), "{not}");
    }
    let p = web();
    let src = git_source(&p.stages[0].actions[0]).unwrap();
    assert_eq!(
        (src.repository.as_str(), src.branch.as_str(), src.connection),
        ("file:///srv/git/web.git", "main", None)
    );
    let mut gh = p.stages[0].actions[0].clone();
    gh.action_type_id = ActionTypeId {
        category: Category::Source,
        owner: Owner::ThirdParty,
        provider: "GitHub".into(),
        version: "1".into(),
    };
    gh.configuration =
        [("Owner", "acme"), ("Repo", "web"), ("Branch", "dev")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    assert_eq!(git_source(&gh).unwrap().repository, "https://github.com/acme/web.git");
    assert!(git_source(&p.stages[1].actions[0]).is_none());
    // owner/repo with a connection is fine (the server maps the connection).
    let mut q = web();
    set(&mut q, 0, 0, "FullRepositoryId", "acme/web");
    set(&mut q, 0, 0, "ConnectionArn", "arn:aws:codeconnections:us-east-1:000000000000:connection/x");
    assert_eq!(check(&q), Ok(()));
}

#[test]
fn timeouts_by_provider() {
    let p = web();
    assert_eq!(timeout_minutes(&p.stages[1].actions[0]), 8 * 60);
    assert_eq!(timeout_minutes(&p.stages[2].actions[0]), 5 * 24 * 60);
    assert_eq!(timeout_minutes(&p.stages[3].actions[0]), 60, "timeoutInMinutes wins for approvals");
    let mut a = p.stages[3].actions[0].clone();
    a.timeout_in_minutes = None;
    assert_eq!(timeout_minutes(&a), 7 * 24 * 60);
    a.action_type_id = ActionTypeId {
        category: Category::Invoke,
        owner: Owner::Custom,
        provider: "Notify".into(),
        version: "1".into(),
    };
    assert_eq!(timeout_minutes(&a), 24 * 60);
}

#[test]
fn custom_actions_take_any_configuration() {
    let mut p = web();
    let a = action(&mut p, 3, 0);
    a.action_type_id = ActionTypeId {
        category: Category::Invoke,
        owner: Owner::Custom,
        provider: "Notify".into(),
        version: "2".into(),
    };
    a.timeout_in_minutes = None;
    a.configuration = [("Url".to_owned(), "https://hooks.example.com/#{BuildVariables.VERSION}".to_owned())].into();
    assert_eq!(check(&p), Ok(()));
}

#[test]
fn every_problem_is_reported() {
    let mut p = web();
    p.name = "a b".into();
    p.stages[2].actions[0].run_order = 0;
    p.stages[4].actions[0].configuration.clear();
    let problems = check(&p).unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "name",
            "stages[2].actions[0].runOrder",
            "stages[4].actions[0].configuration.ApplicationName",
            "stages[4].actions[0].configuration.DeploymentGroupName"
        ]
    );
    let e = check_named("api", &p).unwrap_err();
    assert!(e.to_string().starts_with("api: name: the pipeline name \"a b\" contains ' '"), "{e}");
}
