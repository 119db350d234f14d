//! CodeBuild's ARNs: `arn:aws:codebuild:<region>:<account>:` then
//! `project/<name>`, `build/<project>:<id>`, `report-group/<name>` or
//! `report/<report group>:<id>`. Built with ferry's region and account
//! ([`Arns`]); any region and account are accepted on input.

use super::validate::invalid_input;
use crate::AwsResult;
use crate::arn::Arns;

impl Arns {
    fn codebuild(&self, resource: &str) -> String {
        format!("arn:aws:codebuild:{}:{}:{resource}", self.region, self.account)
    }

    pub fn project(&self, name: &str) -> String {
        self.codebuild(&format!("project/{name}"))
    }

    /// The ARN of a build, by its id (`<project>:<id>`).
    pub fn build(&self, id: &str) -> String {
        self.codebuild(&format!("build/{id}"))
    }

    pub fn report_group(&self, name: &str) -> String {
        self.codebuild(&format!("report-group/{name}"))
    }

    pub fn report(&self, group: &str, id: &str) -> String {
        self.codebuild(&format!("report/{group}:{id}"))
    }
}

/// The resource part of a CodeBuild ARN of `kind`.
fn resource<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") || parts[2] != "codebuild" {
        return None;
    }
    parts[5].strip_prefix(kind)?.strip_prefix('/').filter(|r| !r.is_empty())
}

/// A project named by name or by ARN (BatchGetProjects takes both).
pub fn project_name_or_arn(value: &str) -> AwsResult<&str> {
    if !value.starts_with("arn:") {
        return Ok(value);
    }
    resource(value, "project")
        .filter(|name| !name.contains(['/', ':']))
        .ok_or_else(|| invalid_input(format!("Invalid project ARN: {value}")))
}

/// The report group name in a report group ARN.
pub fn parse_report_group(arn: &str) -> AwsResult<&str> {
    resource(arn, "report-group")
        .filter(|name| is_report_group_name(name))
        .ok_or_else(|| invalid_input(format!("Invalid report group ARN: {arn}")))
}

/// The report group name and the report id in a report ARN.
pub fn parse_report(arn: &str) -> AwsResult<(&str, &str)> {
    resource(arn, "report")
        .and_then(|r| r.split_once(':'))
        .filter(|(group, id)| is_report_group_name(group) && !id.is_empty() && !id.contains([':', '/']))
        .ok_or_else(|| invalid_input(format!("Invalid report ARN: {arn}")))
}

/// Report group names: 2–128 of `[A-Za-z0-9][A-Za-z0-9\-_]{1,127}`.
pub fn is_report_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && (2..=128).contains(&name.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns() -> Arns {
        Arns { region: "us-east-1".into(), account: "000000000000".into() }
    }

    #[test]
    fn arns_round_trip() {
        let a = arns();
        assert_eq!(a.project("web"), "arn:aws:codebuild:us-east-1:000000000000:project/web");
        assert_eq!(a.build("web:1f2e"), "arn:aws:codebuild:us-east-1:000000000000:build/web:1f2e");
        assert_eq!(project_name_or_arn(&a.project("web")).unwrap(), "web");
        assert_eq!(project_name_or_arn("web").unwrap(), "web");
        assert_eq!(parse_report_group(&a.report_group("web-unit")).unwrap(), "web-unit");
        assert_eq!(parse_report(&a.report("web-unit", "abc-123")).unwrap(), ("web-unit", "abc-123"));
        // Another region and account are fine.
        assert_eq!(parse_report_group("arn:aws:codebuild:eu-west-1:123:report-group/x_y").unwrap(), "x_y");
    }

    #[test]
    fn bad_arns_are_invalid_input() {
        let a = arns();
        for bad in [
            "arn:aws:codedeploy:r:a:project/web",
            "arn:aws:codebuild:r:a:project/",
            "arn:aws:codebuild:r:a:build/web:1",
            "arn:aws:codebuild:r:a:project/a/b",
        ] {
            assert_eq!(project_name_or_arn(bad).unwrap_err().code, "InvalidInputException", "{bad}");
        }
        assert!(parse_report_group(&a.report("g1", "x")).is_err());
        assert!(parse_report_group("arn:aws:codebuild:r:a:report-group/-bad").is_err());
        assert!(parse_report(&a.report_group("g1")).is_err());
        assert!(parse_report("arn:aws:codebuild:r:a:report/g1:").is_err());
        assert_eq!(parse_report("x").unwrap_err().code, "InvalidInputException");
    }
}
