//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), signing and verifying,
//! framework-agnostic: requests are plain strings and bytes ([`RequestParts`]).
//!
//! - [`sign`] computes the headers a client adds (`Authorization`,
//!   `X-Amz-Date`, and `X-Amz-Security-Token` with session credentials), the
//!   way botocore does; ferry's CLI and agent use it.
//! - [`verify`] checks a signed request on the server side: the
//!   `Authorization` header's shape, the credential scope (date, optionally
//!   the service, the `aws4_request` terminator), the request date against a
//!   clock-skew window, that `host` and the date header are signed and that
//!   every signed header is present, then recomputes the signature with the
//!   secret looked up by access key id and compares it in constant time.
//!   Requests from the real AWS CLI / boto3 verify as they are.
//!
//! The canonical request follows AWS's rules for every service but S3: the
//! path is normalized (dot segments and repeated slashes removed) and encoded
//! once more than on the wire ("double encoding"); query parameters are
//! decoded, re-encoded strictly and sorted; header values are trimmed with
//! inner whitespace collapsed, repeated headers joined with `,`; the payload
//! hash is `x-amz-content-sha256` when present, else the hex SHA-256 of the body.
//!
//! # Limits
//!
//! - Header authentication only: no query-string (presigned URL)
//!   authentication, no `AWS4-ECDSA-P256-SHA256` (SigV4a), no SigV2.
//! - No chunked payload signing (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD` and
//!   friends are refused). `UNSIGNED-PAYLOAD` is accepted but reported as
//!   [`Payload::Unsigned`]: the body is then not authenticated.
//! - S3's single-encoded canonical URI is not supported.
//! - Replay within the skew window is not detected (as with AWS).
//! - The canonical URI removes dot segments like AWS does, so `/a/../b` verifies
//!   with a signature over `/b`: a server should not route such paths as given.
//! - HTTP/2's `:authority` is not looked at: pass it as a `host` header.
//!
//! Secrets never appear in an error, a `Debug` output or a log line.

mod canonical;
mod error;
mod time;

use std::fmt;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use canonical::{canonical_query, canonical_uri};
pub use error::SigV4Error;

/// The only algorithm supported.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash a client declares when it does not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// AWS's clock-skew allowance.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Headers [`sign`] never signs: proxies and HTTP stacks change them (the
/// list botocore uses), or they are the ones `sign` itself sets.
const UNSIGNABLE_HEADERS: &[&str] = &[
    "authorization",
    "expect",
    "transfer-encoding",
    "user-agent",
    "x-amzn-trace-id",
    "x-amz-date",
    "x-amz-security-token",
];

/// An access key: id, secret and, for temporary credentials, a session token.
/// `Debug` redacts the secret and the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self { access_key_id: access_key_id.into(), secret_access_key: secret_access_key.into(), session_token: None }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A request as it goes on the wire.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// `GET`, `POST`, ... (used as given: pass it upper-case).
    pub method: &'a str,
    /// The raw path, percent-encoded as sent, without the query.
    pub path: &'a str,
    /// The raw query string without `?`; may be empty.
    pub query: &'a str,
    /// Header names and values as sent or received: any case, names may repeat.
    /// Must include `host` (and `content-type` when the request has one).
    pub headers: &'a [(String, String)],
    /// The body. When verifying a streamed body, pass it empty: see [`Payload::Declared`].
    pub body: &'a [u8],
}

impl<'a> RequestParts<'a> {
    /// Every value of a header, in order, name compared case-insensitively.
    fn header_values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        let headers: &'a [(String, String)] = self.headers;
        headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The single value of a header: `Ok(None)` if absent, an error if repeated.
    fn single_header(&self, name: &str, display: &str) -> Result<Option<&'a str>, SigV4Error> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(SigV4Error::incomplete(format!("The request has more than one '{display}' header.")));
        }
        Ok(first.map(str::trim))
    }

    /// The payload hash of the canonical request: `x-amz-content-sha256` when
    /// present, else the hex SHA-256 of the body.
    fn payload_hash(&self) -> String {
        match self.header_values("x-amz-content-sha256").next() {
            Some(declared) => declared.trim().to_string(),
            None => hex(&Sha256::digest(self.body)),
        }
    }
}

/// Whether the body is covered by a verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The signature covers the body that was passed to [`verify`] (either
    /// hashed directly, or `x-amz-content-sha256` was checked against it).
    Body,
    /// An empty body was passed and the client declared this hex SHA-256 in
    /// a signed `x-amz-content-sha256` header: the signature covers the
    /// declared digest, and the caller must check the streamed body against it.
    Declared(String),
    /// The client sent `x-amz-content-sha256: UNSIGNED-PAYLOAD`: the body is
    /// NOT authenticated. Reject it where the body matters.
    Unsigned,
}

/// Who signed a request that [`verify`] accepted. `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    /// The region of the credential scope (not checked by `verify`).
    pub region: String,
    /// The service of the credential scope.
    pub service: String,
    /// The (signed) `X-Amz-Security-Token`, if the request had one.
    pub session_token: Option<String>,
    /// Whether the signature covers the body.
    pub payload: Payload,
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("payload", &self.payload)
            .finish()
    }
}

/// A derived SigV4 signing key (`kSigning`), valid for one date, region and
/// service: cache it per (key id, date, region, service) to skip four HMACs.
/// `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// The lower-case hex signature of a string to sign.
    pub fn signature(&self, string_to_sign: &str) -> String {
        hex(&self.raw_signature(string_to_sign))
    }

    fn raw_signature(&self, string_to_sign: &str) -> [u8; 32] {
        hmac_sha256(&self.0, string_to_sign.as_bytes())
    }

    /// The key bytes (secret material: handle with care).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`,
/// `date` being `YYYYMMDD`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
    let mut seed = Vec::with_capacity(4 + secret.len());
    seed.extend_from_slice(b"AWS4");
    seed.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&seed, date.as_bytes());
    seed.fill(0);
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    SigningKey(hmac_sha256(&k_service, b"aws4_request"))
}

/// `YYYYMMDD'T'HHMMSS'Z'` (the `X-Amz-Date` format) of a time, in UTC.
pub fn format_amz_date(time: SystemTime) -> String {
    time::format_amz_time(time)
}

/// Parses the `X-Amz-Date` format strictly; `None` if malformed or before 1970.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let secs = u64::try_from(time::parse_amz(s)?).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// The canonical request of `parts` over the given signed header names (any
/// case; emitted lower-case, in the order given — pass them sorted).
/// Fails if a signed header is missing from `parts.headers`.
pub fn canonical_request(parts: &RequestParts<'_>, signed_headers: &[&str]) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(256 + parts.path.len() + parts.query.len());
    out.push_str(parts.method);
    out.push('\n');
    out.push_str(&canonical_uri(parts.path));
    out.push('\n');
    out.push_str(&canonical_query(parts.query));
    out.push('\n');
    for name in signed_headers {
        let mut values = parts.header_values(name).peekable();
        if values.peek().is_none() {
            return Err(SigV4Error::incomplete(format!(
                "'{}' is a signed header but the request has no such header.",
                printable(name)
            )));
        }
        out.push_str(&name.to_ascii_lowercase());
        out.push(':');
        out.push_str(&canonical::canonical_header_value(values));
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(&name.to_ascii_lowercase());
    }
    out.push('\n');
    out.push_str(&parts.payload_hash());
    Ok(out)
}

/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>`,
/// `scope` being `<YYYYMMDD>/<region>/<service>/aws4_request`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())))
}

/// Signs a request: returns the headers to add to it, `Authorization` and
/// `X-Amz-Date`, plus `X-Amz-Security-Token` for session credentials.
///
/// Signs `x-amz-date`, the token, and every header in `parts.headers`
/// (lower-cased) except `authorization`, `user-agent`, `expect`,
/// `transfer-encoding` and `x-amzn-trace-id`; so pass `host` (exactly as it
/// will be sent, port included unless default) and `content-type`, and only
/// headers the HTTP stack will send unchanged. The payload hash is the one of
/// `parts.body`, unless `parts.headers` has `x-amz-content-sha256`.
pub fn sign(
    parts: &RequestParts<'_>,
    creds: &Credentials,
    service: &str,
    region: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    let amz_date = time::format_amz_time(time);
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| !UNSIGNABLE_HEADERS.iter().any(|u| name.eq_ignore_ascii_case(u)))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    headers.push(("x-amz-date".to_string(), amz_date.clone()));
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".to_string(), token.clone()));
    }
    let mut names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names.dedup();

    let signed = RequestParts { headers: &headers, ..*parts };
    let canonical = canonical_request(&signed, &names).expect("every signed header is present by construction");
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = string_to_sign(&amz_date, &scope, &canonical);
    let signature = signing_key(&creds.secret_access_key, date, region, service).signature(&sts);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id,
        names.join(";")
    );

    let mut out = vec![("Authorization".to_string(), authorization), ("X-Amz-Date".to_string(), amz_date)];
    if let Some(token) = &creds.session_token {
        out.push(("X-Amz-Security-Token".to_string(), token.clone()));
    }
    out
}

/// The parsed `Authorization` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    scope_date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
}

/// Verifies a header-signed request (see the crate docs for what is checked).
///
/// `expected_service`, when given, must be the credential scope's service.
/// The request's date must be within `max_skew` of `now` (AWS uses
/// [`DEFAULT_MAX_SKEW`]). `lookup_secret` maps the access key id to its secret
/// (`None`: unknown key); it is called once the request is well-formed.
pub fn verify(
    parts: &RequestParts<'_>,
    expected_service: Option<&str>,
    now: SystemTime,
    max_skew: Duration,
    lookup_secret: impl FnOnce(&str) -> Option<String>,
) -> Result<Verified, SigV4Error> {
    let Some(header) = parts.single_header("authorization", "Authorization")? else {
        if parts.query.split('&').any(|p| p.starts_with("X-Amz-Algorithm=") || p.starts_with("X-Amz-Signature=")) {
            return Err(SigV4Error::incomplete(
                "Query-string (presigned URL) authentication is not supported: sign with the Authorization header.",
            ));
        }
        return Err(SigV4Error::MissingAuthenticationToken);
    };
    let auth = parse_authorization(header)?;

    // The date: X-Amz-Date, else Date; the one used must be signed.
    let (amz_date, date_header) = match parts.single_header("x-amz-date", "X-Amz-Date")? {
        Some(value) => match time::parse_amz(value) {
            Some(secs) => (secs, "x-amz-date"),
            None => {
                return Err(SigV4Error::incomplete(format!(
                    "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
                    printable(value)
                )));
            }
        },
        None => match parts.single_header("date", "Date")? {
            Some(value) => match time::parse_amz(value).or_else(|| time::parse_http_date(value)) {
                Some(secs) => (secs, "date"),
                None => {
                    return Err(SigV4Error::incomplete(format!(
                        "Date header must be in ISO-8601 'basic format' or an HTTP date. Got '{}'.",
                        printable(value)
                    )));
                }
            },
            None => {
                return Err(SigV4Error::incomplete(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                ));
            }
        },
    };
    let amz_date_str = time::format_amz(amz_date);

    if auth.scope_date != &amz_date_str[..8] {
        return Err(SigV4Error::incomplete(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            auth.scope_date,
            &amz_date_str[..8],
            amz_date_str
        )));
    }
    if let Some(expected) = expected_service
        && auth.service != expected
    {
        return Err(SigV4Error::incomplete(format!(
            "Credential should be scoped to correct service: '{}'.",
            printable(expected)
        )));
    }

    // Which headers must be signed.
    let is_signed = |name: &str| auth.signed_headers.iter().any(|s| s.eq_ignore_ascii_case(name));
    if !is_signed("host") {
        return Err(SigV4Error::incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization."));
    }
    if !is_signed(date_header) {
        let display = if date_header == "date" { "Date" } else { "X-Amz-Date" };
        return Err(SigV4Error::incomplete(format!("'{display}' must be a 'SignedHeader' in the AWS Authorization.")));
    }
    let session_token = parts.single_header("x-amz-security-token", "X-Amz-Security-Token")?;
    if session_token.is_some() && !is_signed("x-amz-security-token") {
        return Err(SigV4Error::incomplete(
            "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let declared = parts.single_header("x-amz-content-sha256", "x-amz-content-sha256")?;
    if declared.is_some() && !is_signed("x-amz-content-sha256") {
        return Err(SigV4Error::incomplete(
            "'x-amz-content-sha256' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let declared = match declared {
        None => None,
        Some(UNSIGNED_PAYLOAD) => Some(None),
        Some(value) if value.len() == 64 && value.bytes().all(|b| canonical::hex_value(b).is_some()) => {
            Some(Some(value))
        }
        Some(value) if value.starts_with("STREAMING-") => {
            return Err(SigV4Error::incomplete("Chunked payload signing (STREAMING-*) is not supported."));
        }
        Some(_) => {
            return Err(SigV4Error::incomplete(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.",
            ));
        }
    };
    // Every x-amz-* header sent must be signed, as AWS requires: otherwise
    // one added after signing (say, a different X-Amz-Target) would change
    // what a captured request means without breaking its signature.
    if let Some((name, _)) = parts
        .headers
        .iter()
        .find(|(name, _)| name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")) && !is_signed(name))
    {
        return Err(SigV4Error::incomplete(format!(
            "'{}' must be a 'SignedHeader' in the AWS Authorization: every x-amz-* header sent is signed.",
            printable(name)
        )));
    }
    for name in &auth.signed_headers {
        if parts.header_values(name).next().is_none() {
            return Err(SigV4Error::incomplete(format!(
                "'{}' is a signed header but the request has no such header.",
                printable(name)
            )));
        }
    }

    // The clock.
    let now_secs = time::unix_seconds(now);
    let skew = i64::try_from(max_skew.as_secs()).unwrap_or(i64::MAX);
    if amz_date < now_secs.saturating_sub(skew) {
        return Err(SigV4Error::SignatureExpired(format!(
            "Signature expired: {amz_date_str} is now earlier than {} ({} - {})",
            time::format_amz(now_secs.saturating_sub(skew)),
            time::format_amz(now_secs),
            time::describe_skew(max_skew)
        )));
    }
    if amz_date > now_secs.saturating_add(skew) {
        return Err(SigV4Error::SignatureNotYetCurrent(format!(
            "Signature not yet current: {amz_date_str} is still later than {} ({} + {})",
            time::format_amz(now_secs.saturating_add(skew)),
            time::format_amz(now_secs),
            time::describe_skew(max_skew)
        )));
    }

    // The signature.
    let Some(secret) = lookup_secret(auth.access_key_id) else {
        return Err(SigV4Error::UnrecognizedClient);
    };
    let canonical = canonical_request(parts, &auth.signed_headers)?;
    let scope = format!("{}/{}/{}/aws4_request", auth.scope_date, auth.region, auth.service);
    let sts = string_to_sign(&amz_date_str, &scope, &canonical);
    let expected = signing_key(&secret, auth.scope_date, auth.region, auth.service).raw_signature(&sts);
    drop(secret);
    if !signatures_match(&expected, &auth.signature) {
        return Err(SigV4Error::SignatureDoesNotMatch);
    }

    // The body against the declared digest, once the signature is known good.
    let payload = match declared {
        None => Payload::Body,
        Some(None) => Payload::Unsigned,
        Some(Some(digest)) => {
            let actual = hex(&Sha256::digest(parts.body));
            if digest.eq_ignore_ascii_case(&actual) {
                Payload::Body
            } else if parts.body.is_empty() {
                Payload::Declared(digest.to_ascii_lowercase())
            } else {
                return Err(SigV4Error::ContentSha256Mismatch);
            }
        }
    };

    Ok(Verified {
        access_key_id: auth.access_key_id.to_string(),
        region: auth.region.to_string(),
        service: auth.service.to_string(),
        session_token: session_token.map(str::to_string),
        payload,
    })
}

/// Constant-time comparison of two signatures.
fn signatures_match(expected: &[u8; 32], provided: &[u8; 32]) -> bool {
    bool::from(expected.ct_eq(provided))
}

/// Parses `AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=<a;b;c>, Signature=<64 hex>`.
fn parse_authorization(header: &str) -> Result<Authorization<'_>, SigV4Error> {
    let (algorithm, rest) = header.split_once(|c: char| c.is_ascii_whitespace()).unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::incomplete(format!(
            "Unsupported AWS 'algorithm': '{}' (only {ALGORITHM} header authentication is supported).",
            printable(algorithm)
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let Some((key, value)) = component.split_once('=') else {
            return Err(SigV4Error::incomplete(format!(
                "'{}' not a valid key=value pair (missing equal-sign) in Authorization header.",
                printable(component)
            )));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(SigV4Error::incomplete(format!(
                    "Unknown parameter '{}' in Authorization header.",
                    printable(other)
                )));
            }
        };
        if slot.replace(value.trim()).is_some() {
            return Err(SigV4Error::incomplete(format!(
                "Parameter '{}' appears more than once in Authorization header.",
                key.trim()
            )));
        }
    }
    let mut missing = String::new();
    for (name, value) in [("Credential", &credential), ("Signature", &signature), ("SignedHeaders", &signed_headers)] {
        if value.is_none() {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
        return Err(SigV4Error::incomplete(missing.trim_end().to_string()));
    };

    let elements: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = elements[..] else {
        return Err(SigV4Error::incomplete(format!(
            "Credential should have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'.",
            printable(credential)
        )));
    };
    if access_key_id.is_empty() {
        return Err(SigV4Error::incomplete("Credential should contain an access key id."));
    }
    if time::parse_yyyymmdd(scope_date).is_none() {
        return Err(SigV4Error::incomplete(format!(
            "Credential should be scoped to a valid date (YYYYMMDD), not '{}'.",
            printable(scope_date)
        )));
    }
    if region.is_empty() {
        return Err(SigV4Error::incomplete("Credential should be scoped to a valid region."));
    }
    if service.is_empty() {
        return Err(SigV4Error::incomplete("Credential should be scoped to a valid service."));
    }
    if terminator != "aws4_request" {
        return Err(SigV4Error::incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            printable(terminator)
        )));
    }

    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    if signed_headers.iter().any(|h| h.is_empty() || !h.bytes().all(is_token_byte)) {
        return Err(SigV4Error::incomplete("SignedHeaders must be a ';'-separated list of header names."));
    }

    let signature = parse_signature(signature).ok_or_else(|| {
        SigV4Error::incomplete("Signature should be 64 hexadecimal characters (the hex HMAC-SHA256).")
    })?;

    Ok(Authorization { access_key_id, scope_date, region, service, signed_headers, signature })
}

/// An HTTP header-name (token) byte.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_signature(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = canonical::hex_value(pair[0])? << 4 | canonical::hex_value(pair[1])?;
    }
    Some(out)
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hexadecimal, two digits a byte: the one hex encoder of the
/// workspace (signatures, digests, sealed secrets, fingerprints).
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Client input made safe to echo in an error message: printable ASCII only,
/// at most 64 characters.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    if s.chars().nth(64).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_comparison_is_constant_time_and_exact() {
        let a = [7u8; 32];
        let mut first = a;
        first[0] ^= 1;
        let mut last = a;
        last[31] ^= 0x80;
        assert!(signatures_match(&a, &a));
        assert!(!signatures_match(&a, &first));
        assert!(!signatures_match(&a, &last));
    }

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
        assert_eq!(hex(&[0xab; 3]), "ababab");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn parses_signatures() {
        assert_eq!(parse_signature(&"Ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_signature(&"ab".repeat(31)), None);
        assert_eq!(parse_signature(&"zz".repeat(32)), None);
        assert_eq!(parse_signature(&"é".repeat(32)), None);
    }

    #[test]
    fn printable_is_safe() {
        assert_eq!(printable("a\nb\u{1b}c"), "a?b?c");
        assert_eq!(printable(&"x".repeat(70)), format!("{}...", "x".repeat(64)));
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut creds = Credentials::new("AKID", "SECRETSECRET");
        creds.session_token = Some("TOKENTOKEN".into());
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKID") && !shown.contains("SECRETSECRET") && !shown.contains("TOKENTOKEN"), "{shown}");
        let key = signing_key("SECRETSECRET", "20150830", "us-east-1", "iam");
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn random_authorization_headers_never_panic() {
        // xorshift64*: deterministic, no dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let valid = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let alphabet =
            b"AWS4-HMAC-SHA256 Credential=/,;= SignedHeaders Signature aws4_request 0123456789abcdef\t\xc3\xa9";
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        for round in 0..20_000 {
            let bytes: Vec<u8> = match round % 3 {
                // Pure noise.
                0 => (0..next() % 200).map(|_| next() as u8).collect(),
                // Noise drawn from the header's own vocabulary.
                1 => (0..next() % 200).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect(),
                // A valid header, mutated.
                _ => {
                    let mut v = valid.as_bytes().to_vec();
                    for _ in 0..1 + next() % 4 {
                        let at = (next() % v.len() as u64) as usize;
                        match next() % 3 {
                            0 => v[at] = next() as u8,
                            1 => {
                                v.remove(at);
                            }
                            _ => v.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
                        }
                    }
                    v
                }
            };
            let header = String::from_utf8_lossy(&bytes).into_owned();
            let date = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned();
            for x_amz_date in ["20150830T123600Z".to_string(), date] {
                let headers = vec![
                    ("Authorization".to_string(), header.clone()),
                    ("Host".to_string(), "iam.amazonaws.com".to_string()),
                    ("X-Amz-Date".to_string(), x_amz_date),
                ];
                let parts = RequestParts { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
                let result = verify(&parts, Some("iam"), now, DEFAULT_MAX_SKEW, |_| Some("secret".into()));
                assert!(result.is_err());
            }
        }
    }
}
