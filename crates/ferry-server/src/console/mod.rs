//! `/console`: the web console, server-rendered HTML pages for people over
//! the same store and driver the APIs use.
//!
//! No front-end build and no template engine: markup is written with
//! [`Html`], which takes markup only as `&'static str` and escapes every
//! other value (`&<>"'`), so a dynamic string cannot reach a page
//! unescaped. One small script (`console.js`) adds progressive enhancement:
//! the live part of a deployment's page follows an `EventSource` on
//! `/console/deployments/{id}/live` (server-sent events carrying the
//! re-rendered fragment), a build's page `/console/builds/{id}/live` (the
//! fragment, and new log lines appended), and running timers tick. Every page works without
//! it: a reload shows the current state. The Content-Security-Policy allows
//! only the console's own script and style sheet (no inline code at all).
//!
//! - `auth`: sign-in with an access key, the session cookie, CSRF tokens, roles.
//! - `pages`: the deployments list and the applications.
//! - `deployment`: one deployment, its live fragment, and the actions.
//! - `builds`: build projects and builds, a build's live page (log lines
//!   streamed as they arrive), artifact downloads, Start / Stop / Retry.
//! - `assets`: the style sheet and the script.

mod assets;
mod auth;
mod builds;
mod deployment;
mod pages;
mod pipelines;
mod services;

use std::fmt::{self, Write as _};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
use auth::Session;

/// The console's routes; `https`: it is served over TLS, so every answer
/// carries HSTS (browsers then refuse plain HTTP to this host).
pub fn routes(https: bool) -> Router<AppState> {
    // Generated now, at server start (see `auth::secret`).
    auth::init();
    let router = Router::new()
        .route("/console", get(pages::deployments))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/login", get(auth::login_form).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/applications", get(pages::applications))
        .route("/console/applications/{app}", get(pages::application))
        .route("/console/audit", get(pages::audit))
        .route("/console/deployments/{id}", get(deployment::page))
        .route("/console/deployments/{id}/live", get(deployment::live))
        .route("/console/deployments/{id}/stop", post(deployment::stop))
        .route("/console/deployments/{id}/continue", post(deployment::continue_))
        .route("/console/deployments/{id}/redeploy", post(deployment::redeploy))
        .route("/console/builds", get(builds::list))
        .route("/console/build-projects/{name}", get(builds::project))
        .route("/console/build-projects/{name}/start", post(builds::start))
        .route("/console/builds/{id}", get(builds::page))
        .route("/console/builds/{id}/live", get(builds::live))
        .route("/console/builds/{id}/log", get(builds::log_page))
        .route("/console/builds/{id}/log.txt", get(builds::log_text))
        .route("/console/builds/{id}/artifacts/{name}", get(builds::artifact))
        .route("/console/builds/{id}/stop", post(builds::stop))
        .route("/console/builds/{id}/retry", post(builds::retry))
        .route("/console/services", get(services::list))
        .route("/console/services/{name}", get(services::page))
        .route("/console/pipelines", get(pipelines::list))
        .route("/console/pipelines/{name}", get(pipelines::page))
        .route("/console/pipelines/{name}/start", post(pipelines::start))
        .route("/console/pipelines/{name}/approvals", post(pipelines::decide))
        .route("/console/pipelines/{name}/executions/{id}/retry", post(pipelines::retry))
        .route("/console/pipelines/{name}/executions/{id}/stop", post(pipelines::stop))
        .route("/console/console.css", get(assets::css))
        .route("/console/console.js", get(assets::js))
        .route("/console/{*rest}", get(not_found).post(not_found));
    if https { router.layer(axum::middleware::map_response(with_hsts)) } else { router }
}

/// A year; subdomains are left alone (the console may share a name with others).
const HSTS: &str = "max-age=31536000";

async fn with_hsts(mut response: Response) -> Response {
    response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}

async fn not_found(session: Session) -> Response {
    Problem::not_found("There is no such page in the console.").render(Some(&session))
}

/// HTML under construction. Markup goes in only as string literals
/// ([`Html::raw`]); everything else through [`Html::text`], escaped.
#[derive(Default)]
pub(crate) struct Html(String);

impl Html {
    pub fn new() -> Self {
        Self(String::with_capacity(4096))
    }

    /// Markup. `'static` so that no runtime string can be passed here.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Text, or an attribute value (always inside quotes in the markup), escaped.
    pub fn text(&mut self, value: impl fmt::Display) -> &mut Self {
        let _ = write!(Escaper(&mut self.0), "{value}");
        self
    }

    /// A fragment built (and so escaped) elsewhere.
    pub fn html(&mut self, fragment: &Html) -> &mut Self {
        self.0.push_str(&fragment.0);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Writes through, escaping `&<>"'`.
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// `s` escaped for HTML text and quoted attribute values.
#[cfg(test)]
fn escape(s: &str) -> String {
    let mut h = Html::new();
    h.text(s);
    h.into_string()
}

/// `s` percent-encoded for a URL path segment or query value (all but
/// `A-Za-z0-9-._~`).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A status as a CSS class suffix: its letters, lower-cased.
fn class_of(status: &str) -> String {
    status.chars().filter(char::is_ascii_alphabetic).map(|c| c.to_ascii_lowercase()).collect()
}

/// A status pill.
pub(crate) fn badge(h: &mut Html, status: &str) {
    h.raw("<span class=\"st st-").text(class_of(status)).raw("\">").text(status).raw("</span>");
}

/// A duration as the CLI prints it (`console.js` formats the same way).
pub(crate) fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {:02} s", ms / 60_000, ms / 1000 % 60)
    } else {
        format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60)
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest / 60 % 60, rest % 60)
}

/// `?ok=…` or `?error=…` after an action (shown escaped, like everything).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Flash {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

impl Flash {
    fn render(&self, h: &mut Html) {
        if let Some(m) = self.ok.as_deref().filter(|m| !m.is_empty()) {
            h.raw("<p class=\"flash ok\" role=\"status\" id=\"flash\">").text(m).raw("</p>");
        }
        if let Some(m) = self.error.as_deref().filter(|m| !m.is_empty()) {
            h.raw("<p class=\"flash error\" role=\"alert\" id=\"flash\">").text(m).raw("</p>");
        }
    }
}

/// A whole page: the top bar (with the signed-in key and Sign out when
/// there is a session), the flash message and `body`.
pub(crate) fn page(status: StatusCode, title: &str, session: Option<&Session>, flash: &Flash, body: &Html) -> Response {
    let mut h = Html::new();
    h.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<title>")
        .text(title)
        .raw(" · ferry</title>")
        .raw("<link rel=\"stylesheet\" href=\"/console/console.css\">")
        .raw("<script src=\"/console/console.js\" defer></script></head><body>")
        .raw("<header class=\"top\"><a class=\"brand\" href=\"/console\">ferry</a>");
    if let Some(s) = session {
        h.raw("<nav><a href=\"/console\">Deployments</a><a href=\"/console/applications\">Applications</a>")
            .raw("<a href=\"/console/builds\" id=\"nav-builds\">Builds</a>")
            .raw("<a href=\"/console/pipelines\" id=\"nav-pipelines\">Pipelines</a>")
            .raw("<a href=\"/console/services\" id=\"nav-services\">Services</a>");
        if s.role == ferry_core::resources::Role::Admin {
            h.raw("<a href=\"/console/audit\">Audit</a>");
        }
        h.raw("</nav>")
            .raw("<span class=\"who\" id=\"who\">")
            .text(&s.key_id)
            .raw(" · ")
            .text(s.role.as_str())
            .raw("</span>")
            .raw("<form method=\"post\" action=\"/console/logout\" id=\"logout\">")
            .raw("<input type=\"hidden\" name=\"csrf\" value=\"")
            .text(s.csrf())
            .raw("\"><button class=\"btn small\" type=\"submit\">Sign out</button></form>");
    }
    h.raw("</header><main>");
    flash.render(&mut h);
    h.html(body).raw("</main></body></html>\n");
    html_response(status, h.into_string())
}

/// Pages are never cached and may only load the console's own assets.
pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why a page cannot be shown.
#[derive(Debug)]
pub(crate) struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl Problem {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, title: "Not found", message: message.into() }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, title: "Not allowed", message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, title: "Bad request", message: message.into() }
    }
    pub fn internal(message: impl fmt::Display) -> Self {
        tracing::error!(%message, "console: internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Server error",
            message: format!("The server could not do this: {message}"),
        }
    }

    pub fn render(&self, session: Option<&Session>) -> Response {
        let mut body = Html::new();
        body.raw("<div class=\"card problem\" id=\"problem\"><h1>")
            .text(self.title)
            .raw("</h1><p>")
            .text(&self.message)
            .raw("</p><p><a href=\"/console\">Back to the deployments</a></p></div>");
        page(self.status, self.title, session, &Flash::default(), &body)
    }
}

impl From<ferry_store::StoreError> for Problem {
    fn from(e: ferry_store::StoreError) -> Self {
        match e {
            ferry_store::StoreError::NotFound => Problem::not_found("Not found."),
            e => Problem::internal(e),
        }
    }
}

impl From<crate::driver::OpError> for Problem {
    fn from(e: crate::driver::OpError) -> Self {
        Problem::internal(e)
    }
}

/// A handler's outcome: its response, or a problem rendered for `session`.
pub(crate) fn respond(session: &Session, result: Result<Response, Problem>) -> Response {
    result.unwrap_or_else(|p| p.render(Some(session)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape("<a href=\"x\" onclick='y'>&amp;</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        let mut h = Html::new();
        h.raw("<p title=\"").text("\"><script>").raw("\">").text(42).raw("</p>");
        assert_eq!(h.as_str(), "<p title=\"&quot;&gt;&lt;script&gt;\">42</p>");
    }

    #[test]
    fn encodes_url_components() {
        assert_eq!(enc("web+1 a/b?c=d&e"), "web%2B1%20a%2Fb%3Fc%3Dd%26e");
        assert_eq!(enc("d-ABC_1.2~"), "d-ABC_1.2~");
        assert_eq!(enc("é"), "%C3%A9");
    }

    #[test]
    fn formats_times_and_durations() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
    }

    #[test]
    fn status_classes_are_letters_only() {
        assert_eq!(class_of("InProgress"), "inprogress");
        assert_eq!(class_of("x\" onload=\"y"), "xonloady");
    }
}
