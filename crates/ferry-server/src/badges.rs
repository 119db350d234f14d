//! Build badges (CodeBuild's `badgeEnabled`): `GET /badges/builds/<project>.svg`
//! `[?branch=B]` answers an SVG saying whether the project's latest build
//! (of that branch) passed, without authentication, for README files. Only
//! projects with the badge turned on answer; any other name is a 404, so the
//! route tells nobody which projects exist.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ferry_core::build::{Build, BuildStatus};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/badges/builds/{file}", get(badge))
}

#[derive(serde::Deserialize)]
struct BadgeQuery {
    branch: Option<String>,
}

/// What a badge says, as CodeBuild's badges do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadgeState {
    Passing,
    Failing,
    InProgress,
    Unknown,
}

impl BadgeState {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            BadgeState::Passing => ("passing", "#4c1"),
            BadgeState::Failing => ("failing", "#e05d44"),
            BadgeState::InProgress => ("in progress", "#dfb317"),
            BadgeState::Unknown => ("unknown", "#9f9f9f"),
        }
    }
}

/// The state of the newest build of `branch` (any branch when `None`) that
/// says something: stopped builds are passed over.
pub fn badge_state(newest_first: &[Build], branch: Option<&str>) -> BadgeState {
    let of_branch = |b: &&Build| match branch {
        None => true,
        Some(want) => b.source_version.as_deref().is_some_and(|v| {
            v == want || v.strip_prefix("refs/heads/") == Some(want) || v.strip_prefix("branch/") == Some(want)
        }),
    };
    for b in newest_first.iter().filter(of_branch) {
        return match b.status {
            BuildStatus::Succeeded => BadgeState::Passing,
            BuildStatus::Failed | BuildStatus::Fault | BuildStatus::TimedOut => BadgeState::Failing,
            BuildStatus::Queued | BuildStatus::InProgress => BadgeState::InProgress,
            BuildStatus::Stopped => continue,
        };
    }
    BadgeState::Unknown
}

/// A flat two-part badge: "build" and the state.
pub fn render(state: BadgeState) -> String {
    let (words, color) = state.words();
    // Verdana 11px averages about 7 px a character; the badge need not be exact.
    let left = 37;
    let right = 14 + 7 * words.len();
    let width = left + right;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="build: {words}"><title>build: {words}</title><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{color}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">build</text><text x="{rx}" y="14">{words}</text></g></svg>"##,
        lx = left / 2,
        rx = left + right / 2,
    )
}

async fn badge(State(state): State<AppState>, Path(file): Path<String>, Query(q): Query<BadgeQuery>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such badge\n").into_response();
    let Some(name) = file.strip_suffix(".svg") else { return not_found() };
    let Ok(project) = crate::ops::builds::get_project(&state, name).await else { return not_found() };
    if !project.badge {
        return not_found();
    }
    let builds = match crate::ops::builds::list(&state, Some(name), 100).await {
        Ok(builds) => builds,
        Err(e) => {
            tracing::warn!(project = name, error = %e, "cannot read builds for a badge");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response();
        }
    };
    let svg = render(badge_state(&builds, q.branch.as_deref()));
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            // Image proxies (GitHub's camo) must ask again each time.
            (header::CACHE_CONTROL, "no-cache, max-age=0"),
        ],
        svg,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::build::{BuildProject, BuildSource, Initiator, queue_build};

    fn build(status: BuildStatus, version: Option<&str>) -> Build {
        let project = BuildProject {
            id: "p".into(),
            name: "shop".into(),
            description: String::new(),
            source: BuildSource::NoSource,
            buildspec: Some("version: 0.2\n".into()),
            image: None,
            variables: Vec::new(),
            timeout_minutes: 60,
            queued_timeout_minutes: 60,
            concurrent_build_limit: None,
            cache: false,
            badge: true,
            webhook: None,
            tags: Vec::new(),
            create_time: 0,
            last_modified: 0,
            poll_seconds: None,
            notify: Vec::new(),
        };
        let mut b = queue_build(&project, 1, "u", Initiator::Webhook, version.map(Into::into), 0);
        b.status = status;
        b
    }

    #[test]
    fn the_newest_build_of_the_branch_that_says_something_decides() {
        let builds = [
            build(BuildStatus::Stopped, Some("main")),
            build(BuildStatus::Failed, Some("feature")),
            build(BuildStatus::Succeeded, Some("refs/heads/main")),
        ];
        assert_eq!(badge_state(&builds, Some("main")), BadgeState::Passing, "stopped builds are passed over");
        assert_eq!(badge_state(&builds, Some("feature")), BadgeState::Failing);
        assert_eq!(badge_state(&builds, None), BadgeState::Failing);
        assert_eq!(badge_state(&builds, Some("other")), BadgeState::Unknown);
        assert_eq!(badge_state(&[build(BuildStatus::Queued, None)], None), BadgeState::InProgress);
        let svg = render(BadgeState::Passing);
        assert!(svg.starts_with("<svg") && svg.contains(">passing</text>") && svg.contains("#4c1"), "{svg}");
    }
}
