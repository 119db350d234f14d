//! Signing in to the console, sessions, CSRF tokens and roles.
//!
//! People sign in with an access key (id and secret), the same keys the CLI
//! and the AWS API use; agent keys may not. A session is a cookie
//! `ferry_session=<key id>.<expiry ms>.<hmac>`, the HMAC-SHA256 of
//! `<key id>.<expiry ms>` under a key derived from a random secret made at
//! server start, valid 12 hours (HttpOnly, SameSite=Strict, Path=/console).
//! The secret lives only in this process's memory: **restarting the server
//! signs everyone out**, and several server processes do not share sessions.
//! Every request re-reads the key from the store, so a revoked or disabled
//! key is signed out at its next request (a live stream ends within a tick).
//! Signing out revokes the session on the server too: its MAC is kept in
//! a revocation list until it would have expired anyway (bounded: when the
//! list is full, signing out ends every session of that key issued so far),
//! so a copied cookie stops working when its owner signs out.
//!
//! After a few failed sign-ins from one address, further attempts are
//! answered 429 for an exponentially growing time without looking at the
//! credentials (`throttle::Throttle`). A POST without a valid session is
//! answered 401 with the sign-in page and an error, never a redirect that
//! would look like success.
//!
//! Forms that change something carry a CSRF token, the HMAC of the session
//! cookie's value under a second derived key, and are refused when the
//! browser says they come from another origin. Only admin and deployer keys
//! may act; read-only keys see no action buttons and their POSTs get 403.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ferry_core::resources::Role;
use ferry_sigv4::hex;
use ferry_store::StoreError;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Flash, Html, Problem, enc, page};
use crate::AppState;
use crate::clock::now_millis;

const COOKIE: &str = "ferry_session";
const SESSION_MS: u64 = 12 * 3600 * 1000;

/// Keys derived from the random secret made at server start (see the module doc).
struct Keys {
    session: [u8; 32],
    csrf: [u8; 32],
}

static KEYS: OnceLock<Keys> = OnceLock::new();

fn keys() -> &'static Keys {
    KEYS.get_or_init(|| {
        let secret: [u8; 32] = crate::random::bytes();
        Keys { session: hmac(&secret, b"ferry console session"), csrf: hmac(&secret, b"ferry console csrf") }
    })
}

/// Sessions ended by signing out, until they would have expired.
#[derive(Default)]
struct Revocations {
    /// A session's MAC → its expiry.
    sessions: HashMap<String, u64>,
    /// A key id → the time before which (inclusive) every session of the key
    /// was issued is revoked (used when `sessions` is full).
    keys: HashMap<String, u64>,
}

/// Sessions the revocation list holds at most (then whole keys are signed out).
const MAX_REVOKED_SESSIONS: usize = 10_000;

impl Revocations {
    fn revoke(&mut self, key_id: &str, mac: &str, expiry_ms: u64, now: u64) {
        self.sessions.retain(|_, expiry| *expiry > now);
        self.keys.retain(|_, before| before.saturating_add(SESSION_MS) > now);
        if self.sessions.len() < MAX_REVOKED_SESSIONS {
            self.sessions.insert(mac.to_string(), expiry_ms);
        } else {
            self.keys.insert(key_id.to_string(), now);
        }
    }

    fn is_revoked(&self, key_id: &str, mac: &str, expiry_ms: u64) -> bool {
        let issued = expiry_ms.saturating_sub(SESSION_MS);
        self.sessions.contains_key(mac) || self.keys.get(key_id).is_some_and(|before| issued <= *before)
    }
}

static REVOKED: OnceLock<Mutex<Revocations>> = OnceLock::new();

fn revoked() -> std::sync::MutexGuard<'static, Revocations> {
    REVOKED.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes the secret now (at server start) rather than at the first request.
pub fn init() {
    keys();
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A signed-in person, as of this request.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub key_id: String,
    pub role: Role,
    /// A deployer key's applications and groups (empty: all).
    pub scopes: Vec<String>,
    pub expiry_ms: u64,
    /// The cookie's value, which CSRF tokens are derived from.
    cookie: String,
}

impl Session {
    #[cfg(test)]
    pub fn for_test(role: Role) -> Self {
        Session {
            key_id: "FKIATEST".into(),
            role,
            scopes: Vec::new(),
            expiry_ms: u64::MAX,
            cookie: "FKIATEST.1.00".into(),
        }
    }

    /// Admins and deployers may stop, continue and redeploy.
    pub fn can_act(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Deployer)
    }

    /// The caller as the APIs see it, for the one rule of who may change what.
    fn caller(&self) -> crate::auth::Caller {
        crate::auth::Caller {
            key_id: self.key_id.clone(),
            role: self.role,
            instance: None,
            scopes: self.scopes.clone(),
        }
    }

    /// Whether this session may act on a deployment of `app`/`group`.
    pub fn can_act_on(&self, app: &str, group: &str) -> bool {
        self.can_act() && self.caller().may_change(ferry_core::resources::Subject::Group(app, group)).is_ok()
    }

    /// Whether this session may start, stop and retry builds: they belong
    /// to no application (`Subject::Global`, as on the native API).
    pub fn can_change_builds(&self) -> bool {
        self.can_act() && self.caller().may_change(ferry_core::resources::Subject::Global).is_ok()
    }

    /// The CSRF token of this session's forms.
    pub fn csrf(&self) -> String {
        hex(&hmac(&keys().csrf, self.cookie.as_bytes()))
    }

    fn csrf_matches(&self, token: &str) -> bool {
        bool::from(self.csrf().as_bytes().ct_eq(token.trim().as_bytes()))
    }

    /// Whether the key still signs this session in (re-read from the store).
    pub async fn still_valid(&self, state: &AppState) -> bool {
        self.expiry_ms > now_millis()
            && matches!(state.store.get_access_key(&self.key_id).await, Ok(k) if !k.disabled && k.role == self.role)
    }

    /// May this session's POST change something? Role first (a read-only key
    /// is refused whatever token it sends), then origin, then the token.
    pub fn authorize_action(
        &self,
        headers: &HeaderMap,
        csrf: &str,
        subject: ferry_core::resources::Subject<'_>,
    ) -> Result<(), Problem> {
        if !self.can_act() {
            return Err(Problem::forbidden(format!(
                "Access key {} is read-only: it may look at everything in the console, but not change \
                 anything (deployments or builds).",
                self.key_id
            )));
        }
        if let Err(why) = self.caller().may_change(subject) {
            return Err(Problem::forbidden(format!("{why}.")));
        }
        if !same_origin(headers) {
            return Err(Problem::forbidden("This request came from another site and was refused."));
        }
        if !self.csrf_matches(csrf) {
            return Err(Problem::forbidden(
                "This form did not come from your console session (its CSRF token does not match). \
                 Reload the page and try again.",
            ));
        }
        Ok(())
    }
}

/// The cookie value for `key_id`, valid until `expiry_ms`.
fn cookie_value(key_id: &str, expiry_ms: u64) -> String {
    let signed = format!("{key_id}.{expiry_ms}");
    let mac = hex(&hmac(&keys().session, signed.as_bytes()));
    format!("{signed}.{mac}")
}

/// The key id and expiry of a cookie value whose HMAC is right and which
/// has not expired.
fn verify_cookie(value: &str, now: u64) -> Option<(&str, u64)> {
    let mut parts = value.splitn(3, '.');
    let (key_id, expiry, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let expected = hex(&hmac(&keys().session, format!("{key_id}.{expiry}").as_bytes()));
    if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
        return None;
    }
    let expiry: u64 = expiry.parse().ok()?;
    (expiry > now).then_some((key_id, expiry))
}

/// The MAC part of a cookie value.
fn mac_of(value: &str) -> &str {
    value.rsplit('.').next().unwrap_or_default()
}

/// Every value of the session cookie the request carries.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The request's session, if it has a valid one (its key re-read now).
pub(crate) async fn session_from(headers: &HeaderMap, state: &AppState) -> Result<Option<Session>, Problem> {
    for value in cookies(headers) {
        let Some((key_id, expiry_ms)) = verify_cookie(value, now_millis()) else { continue };
        if revoked().is_revoked(key_id, mac_of(value), expiry_ms) {
            continue;
        }
        match state.store.get_access_key(key_id).await {
            Ok(key) if !key.disabled && key.role != Role::Agent => {
                crate::audit::note_caller(&key.id, key.role);
                return Ok(Some(Session {
                    key_id: key.id,
                    role: key.role,
                    scopes: key.scopes,
                    expiry_ms,
                    cookie: value.to_string(),
                }));
            }
            Ok(_) | Err(StoreError::NotFound) => continue,
            Err(e) => return Err(Problem::internal(e)),
        }
    }
    Ok(None)
}

/// Pages that need a session take a `Session`: without one, the browser is
/// sent to sign in (and back here afterwards, for a GET).
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match session_from(&parts.headers, state).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) if parts.method != Method::GET && parts.method != Method::HEAD => {
                // Nothing was done: say so (a redirect would look like success).
                Err(login_page(
                    StatusCode::UNAUTHORIZED,
                    "/console",
                    "",
                    Some("You are not signed in (or your session ended), so nothing was done: sign in and try again."),
                ))
            }
            Ok(None) => {
                let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/console");
                let next = safe_next(here);
                let to = if next == "/console" {
                    "/console/login".to_string()
                } else {
                    format!("/console/login?next={}", enc(next))
                };
                Err(Redirect::to(&to).into_response())
            }
            Err(problem) => Err(problem.render(None)),
        }
    }
}

/// `next` if it is a console path (`/console`, `/console/…`, `/console?…`)
/// that cannot lead elsewhere, else `/console`.
pub(crate) fn safe_next(next: &str) -> &str {
    let path = next.split(['?', '#']).next().unwrap_or("");
    let console = path == "/console" || path.starts_with("/console/") || next.starts_with("/console?");
    let clean = !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c == ' ')
        && !path.to_ascii_lowercase().contains("%2e")
        && !path.split('/').any(|segment| segment == "." || segment == "..");
    if console && clean { next } else { "/console" }
}

/// Whether a POST comes from this console's origin (when the browser says
/// where it comes from at all: browsers send `Origin` on every POST).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let origin = origin.to_str().unwrap_or("");
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(|o| o == host)
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    secret_access_key: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

fn login_page(status: StatusCode, next: &str, key_id: &str, error: Option<&str>) -> Response {
    let mut h = Html::new();
    h.raw("<div class=\"card login\"><h1>Sign in to ferry</h1>")
        .raw("<p class=\"muted\">Use an access key: the admin key in <code>DATA_DIR/credentials</code>, or one ")
        .raw("made with <code>ferry keys create</code>.</p>");
    if let Some(error) = error {
        h.raw("<p class=\"flash error\" role=\"alert\" id=\"login-error\">").text(error).raw("</p>");
    }
    h.raw("<form method=\"post\" action=\"/console/login\">")
        .raw("<input type=\"hidden\" name=\"next\" value=\"")
        .text(safe_next(next))
        .raw("\"><label>Access key id <input name=\"access_key_id\" id=\"access_key_id\" autocomplete=\"username\" ")
        .raw("spellcheck=\"false\" required value=\"")
        .text(key_id)
        .raw("\"></label><label>Secret access key <input type=\"password\" name=\"secret_access_key\" ")
        .raw("id=\"secret_access_key\" autocomplete=\"current-password\" required></label>")
        .raw("<button class=\"btn primary\" type=\"submit\" id=\"sign-in\">Sign in</button></form></div>");
    page(status, "Sign in", None, &Flash::default(), &h)
}

/// GET `/console/login`: the form (or straight on, when already signed in).
pub(crate) async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    match session_from(&headers, &state).await {
        Ok(Some(_)) => Redirect::to(safe_next(&query.next)).into_response(),
        Ok(None) => login_page(StatusCode::OK, &query.next, "", None),
        Err(problem) => problem.render(None),
    }
}

/// POST `/console/login`.
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return Problem::forbidden("This sign-in came from another site and was refused.").render(None);
    }
    let key_id = form.access_key_id.trim();
    crate::audit::note_action("console sign-in");
    if !key_id.is_empty() {
        crate::audit::note_claimed_key(key_id);
    }
    // An absurd key id is not shown back in the form.
    let shown = if key_id.chars().count() <= crate::audit::MAX_FIELD { key_id } else { "" };
    if let Err(wait) = state.throttles.sign_in.check(peer.ip(), Instant::now()) {
        crate::audit::note_error("TooManyFailedSignIns");
        return too_many_failures(&form.next, shown, wait);
    }
    let key = if key_id.is_empty() {
        None
    } else {
        match state.store.get_access_key(key_id).await {
            Ok(key) => Some(key),
            Err(StoreError::NotFound) => None,
            Err(e) => return Problem::internal(e).render(None),
        }
    };
    let given = form.secret_access_key.trim().as_bytes();
    let secret_ok = match &key {
        Some(key) => bool::from(key.secret.as_bytes().ct_eq(given)),
        None => {
            // The same work as for a real key, so timing tells nothing.
            let _ = [0u8; 40].ct_eq(given);
            false
        }
    };
    let key = match key {
        Some(key) if secret_ok && !key.disabled => key,
        _ => {
            let key_id = crate::audit::bounded(key_id);
            tracing::info!(%key_id, address = %peer.ip(), "console: sign-in refused");
            if let Some(block) = state.throttles.sign_in.failed(peer.ip(), Instant::now()) {
                tracing::warn!(
                    address = %peer.ip(),
                    seconds = block.as_secs(),
                    "console: too many failed sign-ins from this address; refusing its sign-ins for a while"
                );
            }
            return login_page(
                StatusCode::UNAUTHORIZED,
                &form.next,
                shown,
                Some("Wrong access key id or secret, or the key was revoked."),
            );
        }
    };
    crate::audit::note_caller(&key.id, key.role);
    if key.role == Role::Agent {
        return login_page(
            StatusCode::FORBIDDEN,
            &form.next,
            shown,
            Some("Agent keys cannot sign in to the console: use an admin, deployer or read-only key."),
        );
    }
    state.throttles.sign_in.succeeded(peer.ip());
    let value = cookie_value(&key.id, now_millis() + SESSION_MS);
    // Secure unless the server speaks plain HTTP (--insecure-http).
    let secure = if state.config.tls == crate::TlsMode::Off { "" } else { "; Secure" };
    let cookie =
        format!("{COOKIE}={value}; Path=/console; Max-Age={}; HttpOnly; SameSite=Strict{secure}", SESSION_MS / 1000);
    tracing::info!(key_id = %key.id, role = key.role.as_str(), "console: signed in");
    let mut response = Redirect::to(safe_next(&form.next)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// 429: the address failed to sign in too often; it may try again after `wait`.
fn too_many_failures(next: &str, key_id: &str, wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let message = format!(
        "Too many failed sign-ins from your address: wait {seconds} s before trying again \
         (each further failure doubles the wait)."
    );
    let mut response = login_page(StatusCode::TOO_MANY_REQUESTS, next, key_id, Some(&message));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// POST `/console/logout`: ends the session on the server (its cookie no
/// longer signs anyone in, even a copy of it) and forgets the cookie.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    match session_from(&headers, &state).await {
        Ok(Some(session)) if !session.csrf_matches(&form.csrf) || !same_origin(&headers) => {
            return Problem::forbidden("This sign-out did not come from your console session.").render(Some(&session));
        }
        Ok(Some(session)) => {
            revoked().revoke(&session.key_id, mac_of(&session.cookie), session.expiry_ms, now_millis());
            tracing::info!(key_id = %session.key_id, "console: signed out");
        }
        Err(problem) => return problem.render(None),
        Ok(None) => {}
    }
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("ferry_session=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_verify_only_as_issued() {
        let now = 1_000_000;
        let value = cookie_value("FKIAABC", now + 10);
        assert_eq!(verify_cookie(&value, now), Some(("FKIAABC", now + 10)));
        // Expired.
        assert_eq!(verify_cookie(&value, now + 10), None);
        // Another key id, a later expiry, a changed MAC: all refused.
        let mac = value.rsplit('.').next().unwrap();
        assert_eq!(verify_cookie(&format!("FKIAABD.{}.{mac}", now + 10), now), None);
        assert_eq!(verify_cookie(&format!("FKIAABC.{}.{mac}", now + 99), now), None);
        let mut flipped = value.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(verify_cookie(&flipped, now), None);
        assert_eq!(verify_cookie("", now), None);
        assert_eq!(verify_cookie("a.b.c.d", now), None);
    }

    #[test]
    fn signed_out_sessions_stay_revoked_and_the_list_is_bounded() {
        let now = 1_000_000;
        let mut r = Revocations::default();
        let (a, b) = (cookie_value("FKIAA", now + SESSION_MS), cookie_value("FKIAA", now + SESSION_MS + 1));
        r.revoke("FKIAA", mac_of(&a), now + SESSION_MS, now);
        assert!(r.is_revoked("FKIAA", mac_of(&a), now + SESSION_MS));
        assert!(!r.is_revoked("FKIAA", mac_of(&b), now + SESSION_MS + 1), "another session of the key lives on");
        // Expired entries are dropped at the next revocation.
        r.revoke("FKIAA", mac_of(&b), now + SESSION_MS + 1, now + SESSION_MS + 1);
        assert_eq!(r.sessions.len(), 1);
        // Full: the whole key is signed out instead (sessions issued up to now).
        for i in r.sessions.len()..MAX_REVOKED_SESSIONS {
            r.sessions.insert(format!("mac{i}"), u64::MAX);
        }
        let later = now + 5_000;
        let c = cookie_value("FKIAC", later + SESSION_MS);
        r.revoke("FKIAC", mac_of(&c), later + SESSION_MS, later);
        assert_eq!(r.sessions.len(), MAX_REVOKED_SESSIONS);
        assert!(r.is_revoked("FKIAC", mac_of(&c), later + SESSION_MS));
        assert!(r.is_revoked("FKIAC", "older", later - 1 + SESSION_MS));
        assert!(!r.is_revoked("FKIAC", "newer", later + 1 + SESSION_MS), "a later sign-in works");
        assert!(!r.is_revoked("FKIAA", "fresh", later + SESSION_MS), "other keys are untouched");
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let session = |cookie: &str| Session {
            key_id: "K".into(),
            role: Role::Admin,
            scopes: Vec::new(),
            expiry_ms: u64::MAX,
            cookie: cookie.into(),
        };
        let (a, b) = (session("K.1.aa"), session("K.1.bb"));
        assert!(a.csrf_matches(&a.csrf()));
        assert!(!a.csrf_matches(&b.csrf()));
        assert!(!a.csrf_matches(""));
    }

    #[test]
    fn read_only_sessions_are_refused_whatever_their_token() {
        use ferry_core::resources::Subject;
        let web = Subject::Group("shop", "web");
        let s = Session {
            key_id: "K".into(),
            role: Role::ReadOnly,
            scopes: Vec::new(),
            expiry_ms: u64::MAX,
            cookie: "K.1.aa".into(),
        };
        let e = s.authorize_action(&HeaderMap::new(), &s.csrf(), web).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("read-only"), "{}", e.message);
        let admin = Session { role: Role::Admin, ..s.clone() };
        assert!(admin.authorize_action(&HeaderMap::new(), &admin.csrf(), web).is_ok());
        assert!(admin.authorize_action(&HeaderMap::new(), "bad", web).is_err());
        let scoped = Session { role: Role::Deployer, scopes: vec!["blog".into()], ..s };
        let e = scoped.authorize_action(&HeaderMap::new(), &scoped.csrf(), web).unwrap_err();
        assert!(e.message.contains("limited to blog"), "{}", e.message);
        assert!(scoped.authorize_action(&HeaderMap::new(), &scoped.csrf(), Subject::Group("blog", "x")).is_ok());
        assert!(!scoped.can_act_on("shop", "web") && scoped.can_act_on("blog", "web"));
    }

    #[test]
    fn next_stays_in_the_console() {
        for good in ["/console", "/console/deployments/d-ABC?ok=x", "/console?status=Failed"] {
            assert_eq!(safe_next(good), good);
        }
        for bad in [
            "https://evil.example/console",
            "//evil.example/console",
            "/consolex",
            "/console/../api/v1/keys",
            "/console/%2e%2e/api",
            "/console/\\evil",
            "/api/v1",
            "",
            "/console//evil.example",
        ] {
            assert_eq!(safe_next(bad), "/console", "{bad}");
        }
    }

    #[test]
    fn origins_must_match_the_host() {
        let headers = |origin: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7800"));
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            h
        };
        assert!(same_origin(&headers("http://127.0.0.1:7800")));
        assert!(!same_origin(&headers("http://evil.example")));
        assert!(!same_origin(&headers("null")));
        assert!(same_origin(&HeaderMap::new()));
    }
}
