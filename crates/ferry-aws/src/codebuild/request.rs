//! What a mutating CodeBuild request changes, read from its decoded input:
//! the very members its handler acts on, so the permission check and the
//! action can never be about two different projects.

use super::{Request, validate};

/// A resource a request changes, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named<'a> {
    /// A name the request lacks or that is malformed: the strictest
    /// subject (validation refuses the request anyway).
    Everything,
    /// A build project, by name; a build's project for StopBuild and
    /// RetryBuild (a build id is `<project>:<id>`).
    Project(&'a str),
}

fn project(name: &Option<String>) -> Named<'_> {
    name.as_deref().filter(|n| !n.is_empty()).map_or(Named::Everything, Named::Project)
}

fn build(id: &Option<String>) -> Named<'_> {
    id.as_deref().and_then(|id| validate::build_id(id).ok()).map_or(Named::Everything, |(p, _)| Named::Project(p))
}

impl Request {
    /// What the request would change: empty for operations that change
    /// nothing. Every operation is listed, so a new one needs a decision.
    pub fn changes(&self) -> Vec<Named<'_>> {
        use Request::*;
        match self {
            CreateProject(i) => vec![project(&i.name)],
            UpdateProject(i) => vec![project(&i.name)],
            DeleteProject(i) => vec![project(&i.name)],
            StartBuild(i) => vec![project(&i.project_name)],
            StopBuild(i) => vec![build(&i.id)],
            RetryBuild(i) => vec![build(&i.id)],
            BatchGetBuilds(_)
            | BatchGetProjects(_)
            | BatchGetReportGroups(_)
            | BatchGetReports(_)
            | DescribeTestCases(_)
            | ListBuilds(_)
            | ListBuildsForProject(_)
            | ListProjects(_)
            | ListReportGroups(_)
            | ListReports(_)
            | ListReportsForReportGroup(_) => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebuild::Operation;

    #[test]
    fn every_mutating_operation_names_what_it_changes_and_only_those_do() {
        for op in Operation::ALL {
            let request = Request::decode(*op, b"{}").unwrap();
            assert_eq!(request.operation(), *op);
            assert_eq!(!request.changes().is_empty(), op.mutates(), "{}", op.name());
        }
    }

    #[test]
    fn the_project_comes_from_the_member_the_handler_reads() {
        let cases: &[(Operation, &str, Named<'_>)] = &[
            (Operation::CreateProject, r#"{"name":"web"}"#, Named::Project("web")),
            (Operation::UpdateProject, r#"{"name":"web"}"#, Named::Project("web")),
            (Operation::DeleteProject, r#"{"name":"web"}"#, Named::Project("web")),
            (Operation::StartBuild, r#"{"projectName":"web"}"#, Named::Project("web")),
            (Operation::StopBuild, r#"{"id":"web:0b1c"}"#, Named::Project("web")),
            (Operation::RetryBuild, r#"{"id":"api:77"}"#, Named::Project("api")),
            (Operation::StopBuild, r#"{"id":"no-colon"}"#, Named::Everything),
            (Operation::StopBuild, r#"{"id":"a:b:c"}"#, Named::Everything),
            (Operation::StartBuild, r#"{"projectName":""}"#, Named::Everything),
            (Operation::RetryBuild, r#"{}"#, Named::Everything),
        ];
        for (op, body, named) in cases {
            let request = Request::decode(*op, body.as_bytes()).unwrap();
            assert_eq!(request.changes(), vec![*named], "{} {body}", op.name());
        }
    }

    #[test]
    fn injected_members_are_refused_not_read() {
        // A member of another operation placed beside the real one.
        let cases: &[(Operation, &str)] = &[
            (Operation::StartBuild, r#"{"projectName":"mine","name":"victim"}"#),
            (Operation::StopBuild, r#"{"id":"mine:1","projectName":"victim"}"#),
            (Operation::DeleteProject, r#"{"name":"mine","names":["victim"]}"#),
            (Operation::UpdateProject, r#"{"name":"mine","projectName":"victim"}"#),
            (Operation::CreateProject, r#"{"name":"p","source":{"type":"S3","location":"b/k","bucket":"x"}}"#),
        ];
        for (op, body) in cases {
            let err = Request::decode(*op, body.as_bytes()).unwrap_err();
            assert_eq!(err.code, "SerializationException", "{} {body}", op.name());
            assert!(err.message.contains("unknown field"), "{}", err.message);
        }
    }
}
