//! Declarations shared by the tests.

use crate::PipelineDeclaration;

/// `aws codepipeline get-pipeline` output for the issue's flow, with every
/// default written out (as get-pipeline prints it).
pub const GET_PIPELINE: &str = r##"{
    "pipeline": {
        "name": "web",
        "roleArn": "arn:aws:iam::000000000000:role/pipeline",
        "artifactStore": {"type": "S3", "location": "ferry-artifacts"},
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                        "runOrder": 1,
                        "configuration": {"FullRepositoryId": "file:///srv/git/web.git", "BranchName": "main"},
                        "outputArtifacts": [{"name": "SourceOutput"}],
                        "inputArtifacts": [],
                        "namespace": "SourceVariables"
                    }
                ]
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Build",
                        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                        "runOrder": 1,
                        "configuration": {
                            "ProjectName": "web",
                            "EnvironmentVariables": "[{\"name\":\"COMMIT\",\"value\":\"#{SourceVariables.CommitId}\",\"type\":\"PLAINTEXT\"}]"
                        },
                        "outputArtifacts": [{"name": "BuildOutput"}],
                        "inputArtifacts": [{"name": "SourceOutput"}],
                        "namespace": "BuildVariables"
                    }
                ]
            },
            {
                "name": "Staging",
                "actions": [
                    {
                        "name": "Deploy",
                        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
                        "runOrder": 1,
                        "configuration": {"ApplicationName": "web", "DeploymentGroupName": "staging"},
                        "outputArtifacts": [],
                        "inputArtifacts": [{"name": "BuildOutput"}]
                    }
                ]
            },
            {
                "name": "Approve",
                "actions": [
                    {
                        "name": "Approve",
                        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                        "runOrder": 1,
                        "configuration": {"CustomData": "Release #{BuildVariables.VERSION}?"},
                        "outputArtifacts": [],
                        "inputArtifacts": [],
                        "timeoutInMinutes": 60
                    }
                ]
            },
            {
                "name": "Production",
                "actions": [
                    {
                        "name": "DeployEast",
                        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
                        "runOrder": 1,
                        "configuration": {"ApplicationName": "web", "DeploymentGroupName": "prod-east"},
                        "outputArtifacts": [],
                        "inputArtifacts": [{"name": "BuildOutput"}]
                    },
                    {
                        "name": "DeployWest",
                        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
                        "runOrder": 1,
                        "configuration": {"ApplicationName": "web", "DeploymentGroupName": "prod-west"},
                        "outputArtifacts": [],
                        "inputArtifacts": [{"name": "BuildOutput"}]
                    },
                    {
                        "name": "Smoke",
                        "actionTypeId": {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                        "runOrder": 2,
                        "configuration": {"ProjectName": "smoke-#{codepipeline.PipelineExecutionId}"},
                        "outputArtifacts": [],
                        "inputArtifacts": [{"name": "BuildOutput"}]
                    }
                ]
            }
        ],
        "version": 3,
        "pipelineType": "V2",
        "executionMode": "SUPERSEDED",
        "variables": [{"name": "Region", "defaultValue": "home", "description": "where"}],
        "triggers": [
            {
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {
                    "sourceActionName": "Source",
                    "push": [{"branches": {"includes": ["main"], "excludes": ["wip/*"]}, "filePaths": {"includes": ["src/**"]}}],
                    "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}]
                }
            }
        ]
    },
    "metadata": {
        "pipelineArn": "arn:aws:codepipeline:us-east-1:000000000000:web",
        "created": 1700000000.0,
        "updated": 1700000100.0
    }
}"##;

/// The declaration of [`GET_PIPELINE`].
pub fn web() -> PipelineDeclaration {
    crate::parse("web.json", GET_PIPELINE).unwrap()
}
