//! CodeBuild's report operations over the test reports ferry keeps per
//! build (`ops::builds::reports`). A buildspec's report group `unit` of
//! project `web` is the report group `web-unit`; each build that ran it
//! made one report there, whose id is the build's (`report/web-unit:<uuid>`).
//! Report groups exist through their reports: made with the first, gone
//! with the builds. Listings read every build's reports (one query per
//! build), newest first.

use ferry_aws::AwsResult;
use ferry_aws::codebuild::wire::*;
use ferry_aws::codebuild::{Operation, arn, convert, validate};
use ferry_core::build::{Build, BuildReport};
use serde_json::Value;

use super::{Ctx, LIST_LIMIT, page};
use crate::aws::json;
use crate::ops::builds;

/// A report and the build that made it.
struct Found {
    build: Build,
    report: BuildReport,
    group: String,
}

impl Found {
    fn arn(&self, ctx: &Ctx<'_>) -> String {
        convert::report_arn(&self.build, &self.report, &ctx.arns)
    }

    fn time(&self) -> ferry_core::Millis {
        convert::report_time(&self.build)
    }
}

/// Every report of every build, newest build first.
async fn all(ctx: &Ctx<'_>) -> AwsResult<Vec<Found>> {
    let mut found = Vec::new();
    for build in builds::list(ctx.state, None, LIST_LIMIT).await? {
        for report in builds::reports(ctx.state, &build.id).await? {
            let group = convert::report_group_name(&build.project, &report.name);
            found.push(Found { build: build.clone(), report, group });
        }
    }
    Ok(found)
}

fn size(max_results: Option<i64>) -> usize {
    max_results.and_then(|n| usize::try_from(n).ok()).unwrap_or(100)
}

/// ListReports and ListReportsForReportGroup: report ARNs, newest first
/// unless `ASCENDING`, filtered by status.
pub(super) async fn list(
    ctx: &Ctx<'_>,
    group: Option<&str>,
    sort_order: Option<&str>,
    filter: Option<&ReportFilter>,
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> AwsResult<Value> {
    let mut found = all(ctx).await?;
    if let Some(group) = group {
        found.retain(|f| f.group == group);
        if found.is_empty() {
            return Err(validate::not_found(format!("Report group not found: {}", ctx.arns.report_group(group))));
        }
    }
    if let Some(status) = filter.and_then(|f| f.status.as_deref()) {
        found.retain(|f| convert::report_status(&f.report) == status);
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.time()));
    if sort_order == Some("ASCENDING") {
        found.reverse();
    }
    let arns: Vec<String> = found.iter().map(|f| f.arn(ctx)).collect();
    let op = if group.is_some() { Operation::ListReportsForReportGroup } else { Operation::ListReports };
    let (reports, next_token) = page(op, arns, next_token, size(max_results))?;
    json(&ReportArnsOutput { reports, next_token })
}

pub(super) async fn batch_get(ctx: &Ctx<'_>, i: BatchGetReportsInput) -> AwsResult<Value> {
    let found = all(ctx).await?;
    let mut out = BatchGetReportsOutput::default();
    for asked in i.report_arns.unwrap_or_default() {
        let (group, id) = arn::parse_report(&asked)?;
        match found.iter().find(|f| f.group == group && convert::build_uuid(&f.build.id) == id) {
            Some(f) => out.reports.push(convert::report(&f.build, &f.report, &ctx.arns)),
            None => out.reports_not_found.push(asked),
        }
    }
    json(&out)
}

/// A report's cases, filtered by status and by a keyword in their names.
pub(super) async fn describe_test_cases(ctx: &Ctx<'_>, i: DescribeTestCasesInput) -> AwsResult<Value> {
    let asked = i.report_arn.as_deref().unwrap_or_default();
    let (group, id) = arn::parse_report(asked)?;
    let found = all(ctx).await?;
    let f = found
        .iter()
        .find(|f| f.group == group && convert::build_uuid(&f.build.id) == id)
        .ok_or_else(|| validate::not_found(format!("Report not found: {asked}")))?;
    let filter = i.filter.unwrap_or_default();
    let cases: Vec<TestCase> = f
        .report
        .cases
        .iter()
        .filter(|c| filter.status.as_deref().is_none_or(|s| c.status == s))
        .filter(|c| filter.keyword.as_deref().is_none_or(|k| c.name.contains(k) || c.prefix.contains(k)))
        .map(|c| convert::test_case(asked, c))
        .collect();
    let (test_cases, next_token) =
        page(Operation::DescribeTestCases, cases, i.next_token.as_deref(), size(i.max_results))?;
    json(&DescribeTestCasesOutput { test_cases, next_token })
}

/// Report groups by name: when their first report was made, and their last.
fn groups(found: &[Found]) -> Vec<(String, ferry_core::Millis, ferry_core::Millis)> {
    let mut groups: std::collections::BTreeMap<&str, (ferry_core::Millis, ferry_core::Millis)> = Default::default();
    for f in found {
        let t = f.time();
        let entry = groups.entry(&f.group).or_insert((t, t));
        entry.0 = entry.0.min(t);
        entry.1 = entry.1.max(t);
    }
    groups.into_iter().map(|(name, (created, modified))| (name.to_string(), created, modified)).collect()
}

pub(super) async fn list_groups(ctx: &Ctx<'_>, i: ListReportGroupsInput) -> AwsResult<Value> {
    let mut groups = groups(&all(ctx).await?);
    match i.sort_by.as_deref() {
        Some("CREATED_TIME") => groups.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0))),
        Some("LAST_MODIFIED_TIME") => groups.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0))),
        _ => {} // by name already
    }
    if i.sort_order.as_deref() == Some("DESCENDING") {
        groups.reverse();
    }
    let arns: Vec<String> = groups.iter().map(|(name, ..)| ctx.arns.report_group(name)).collect();
    let (report_groups, next_token) =
        page(Operation::ListReportGroups, arns, i.next_token.as_deref(), size(i.max_results))?;
    json(&ReportGroupArnsOutput { report_groups, next_token })
}

pub(super) async fn batch_get_groups(ctx: &Ctx<'_>, i: BatchGetReportGroupsInput) -> AwsResult<Value> {
    let groups = groups(&all(ctx).await?);
    let mut out = BatchGetReportGroupsOutput::default();
    for asked in i.report_group_arns.unwrap_or_default() {
        let name = arn::parse_report_group(&asked)?;
        match groups.iter().find(|(n, ..)| n == name) {
            Some((name, created, modified)) => {
                out.report_groups.push(convert::report_group(name, *created, *modified, &ctx.arns))
            }
            None => out.report_groups_not_found.push(asked),
        }
    }
    json(&out)
}
