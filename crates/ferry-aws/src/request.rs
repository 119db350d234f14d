//! What a mutating request changes, read from its decoded input: the very
//! members its handler acts on, so the permission check and the action can
//! never be about two different things.

use crate::Request;

/// A resource a request names, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named<'a> {
    /// Nothing inside one application (configs, instances, external ids),
    /// or a name the request lacks: the strictest subject.
    Everything,
    Application(&'a str),
    /// Registering a revision of an application.
    Revisions(&'a str),
    Group(&'a str, &'a str),
    /// A deployment, by id: whoever may change its group may change it.
    Deployment(&'a str),
    /// A resource by ARN (tagging).
    Arn(&'a str),
}

fn application(name: &Option<String>) -> Named<'_> {
    name.as_deref().map_or(Named::Everything, Named::Application)
}

fn group<'a>(application: &'a Option<String>, group: &'a Option<String>) -> Named<'a> {
    match (application.as_deref(), group.as_deref()) {
        (Some(a), Some(g)) => Named::Group(a, g),
        _ => Named::Everything,
    }
}

fn deployment(id: &Option<String>) -> Named<'_> {
    id.as_deref().map_or(Named::Everything, Named::Deployment)
}

fn arn(arn: &Option<String>) -> Named<'_> {
    arn.as_deref().map_or(Named::Everything, Named::Arn)
}

impl Request {
    /// What the request would change: empty for operations that change
    /// nothing. Every operation is listed, so a new one needs a decision.
    pub fn changes(&self) -> Vec<Named<'_>> {
        use Request::*;
        match self {
            CreateApplication(i) => vec![application(&i.application_name)],
            DeleteApplication(i) => vec![application(&i.application_name)],
            UpdateApplication(i) => vec![application(&i.application_name), application(&i.new_application_name)],
            RegisterApplicationRevision(i) => {
                vec![i.application_name.as_deref().map_or(Named::Everything, Named::Revisions)]
            }
            CreateDeploymentGroup(i) => vec![group(&i.application_name, &i.deployment_group_name)],
            DeleteDeploymentGroup(i) => vec![group(&i.application_name, &i.deployment_group_name)],
            UpdateDeploymentGroup(i) => {
                let mut names = vec![group(&i.application_name, &i.current_deployment_group_name)];
                if i.new_deployment_group_name.is_some() {
                    names.push(group(&i.application_name, &i.new_deployment_group_name));
                }
                names
            }
            CreateDeployment(i) => vec![group(&i.application_name, &i.deployment_group_name)],
            StopDeployment(i) => vec![deployment(&i.deployment_id)],
            ContinueDeployment(i) => vec![deployment(&i.deployment_id)],
            SkipWaitTimeForInstanceTermination(i) => vec![deployment(&i.deployment_id)],
            PutLifecycleEventHookExecutionStatus(i) => vec![deployment(&i.deployment_id)],
            TagResource(i) => vec![arn(&i.resource_arn)],
            UntagResource(i) => vec![arn(&i.resource_arn)],
            CreateDeploymentConfig(_)
            | DeleteDeploymentConfig(_)
            | DeleteGitHubAccountToken(_)
            | DeleteResourcesByExternalId(_)
            | RegisterOnPremisesInstance(_)
            | DeregisterOnPremisesInstance(_)
            | AddTagsToOnPremisesInstances(_)
            | RemoveTagsFromOnPremisesInstances(_) => vec![Named::Everything],
            BatchGetApplicationRevisions(_)
            | BatchGetApplications(_)
            | BatchGetDeploymentGroups(_)
            | BatchGetDeploymentInstances(_)
            | BatchGetDeploymentTargets(_)
            | BatchGetDeployments(_)
            | BatchGetOnPremisesInstances(_)
            | GetApplication(_)
            | GetApplicationRevision(_)
            | GetDeployment(_)
            | GetDeploymentConfig(_)
            | GetDeploymentGroup(_)
            | GetDeploymentInstance(_)
            | GetDeploymentTarget(_)
            | GetOnPremisesInstance(_)
            | ListApplicationRevisions(_)
            | ListApplications(_)
            | ListDeploymentConfigs(_)
            | ListDeploymentGroups(_)
            | ListDeploymentInstances(_)
            | ListDeploymentTargets(_)
            | ListDeployments(_)
            | ListGitHubAccountTokenNames(_)
            | ListOnPremisesInstances(_)
            | ListTagsForResource(_) => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation;

    #[test]
    fn every_mutating_operation_names_what_it_changes_and_only_those_do() {
        for op in Operation::ALL {
            let request = Request::decode(*op, b"{}").unwrap();
            assert_eq!(request.operation(), *op);
            assert_eq!(!request.changes().is_empty(), op.mutates(), "{}", op.name());
        }
    }

    #[test]
    fn injected_members_are_refused_not_read() {
        // The injections a security probe used: a member of another
        // operation placed beside the real one.
        let cases: &[(Operation, &str)] = &[
            (
                Operation::CreateDeployment,
                r#"{"applicationName":"victim","deploymentGroupName":"prod","deploymentId":"d-1"}"#,
            ),
            (
                Operation::DeleteApplication,
                r#"{"applicationName":"victim","resourceArn":"arn:aws:codedeploy:r:1:application:shop"}"#,
            ),
            (
                Operation::UpdateDeploymentGroup,
                r#"{"applicationName":"shop","currentDeploymentGroupName":"prod","deploymentGroupName":"web"}"#,
            ),
            (
                Operation::DeleteDeploymentGroup,
                r#"{"applicationName":"shop","deploymentGroupName":"prod","deploymentId":"d-1"}"#,
            ),
            (Operation::TagResource, r#"{"ResourceArn":"arn:x","resourceArn":"arn:y","Tags":[]}"#),
            (Operation::CreateDeploymentConfig, r#"{"deploymentConfigName":"c","applicationName":"shop"}"#),
            (
                Operation::CreateDeployment,
                r#"{"applicationName":"a","deploymentGroupName":"g","revision":{"s3Location":{"bucket":"b","evil":1}}}"#,
            ),
        ];
        for (op, body) in cases {
            let err = Request::decode(*op, body.as_bytes()).unwrap_err();
            assert_eq!(err.code, "SerializationException", "{} {body}", op.name());
            assert!(err.message.contains("unknown field"), "{}", err.message);
        }
    }

    #[test]
    fn the_names_come_from_the_members_the_handler_reads() {
        let request = Request::decode(
            Operation::UpdateDeploymentGroup,
            br#"{"applicationName":"shop","currentDeploymentGroupName":"web","newDeploymentGroupName":"web2"}"#,
        )
        .unwrap();
        assert_eq!(request.changes(), vec![Named::Group("shop", "web"), Named::Group("shop", "web2")]);
        let request = Request::decode(Operation::TagResource, br#"{"ResourceArn":"arn:a"}"#).unwrap();
        assert_eq!(request.changes(), vec![Named::Arn("arn:a")]);
        let request = Request::decode(Operation::CreateDeployment, br#"{"applicationName":"shop"}"#).unwrap();
        assert_eq!(request.changes(), vec![Named::Everything]);
    }
}
