//! sign → verify round trips, and every way a request can fail verification.

use std::time::{Duration, SystemTime};

use ferry_sigv4::{
    Credentials, DEFAULT_MAX_SKEW, Payload, RequestParts, SigV4Error, Verified, canonical_request, parse_amz_date,
    sign, signing_key, string_to_sign, verify,
};

const AKID: &str = "AKIAFERRYTEST";
const SECRET: &str = "s3cr3t/Key+WithSymbols==";
const AMZ_DATE: &str = "20250314T092653Z";

fn t0() -> SystemTime {
    parse_amz_date(AMZ_DATE).unwrap()
}

/// An owned request, signed then mutated by a test.
#[derive(Clone)]
struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn new(method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Req {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.to_vec(),
        }
    }

    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    /// Signs with `creds` at `time` and appends the signature headers.
    fn signed_with(mut self, creds: &Credentials, service: &str, time: SystemTime) -> Self {
        let added = sign(&self.parts(), creds, service, "local", time);
        self.headers.extend(added);
        self
    }

    fn signed(self) -> Self {
        self.signed_with(&Credentials::new(AKID, SECRET), "ferry", t0())
    }

    fn header(&self, name: &str) -> &str {
        &self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap().1
    }

    fn set_header(&mut self, name: &str, value: &str) {
        let slot = self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap();
        slot.1 = value.to_string();
    }

    fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    fn map_authorization(&mut self, f: impl FnOnce(&str) -> String) {
        let new = f(self.header("authorization"));
        self.set_header("authorization", &new);
    }

    fn verify_at(&self, now: SystemTime) -> Result<Verified, SigV4Error> {
        verify(&self.parts(), Some("ferry"), now, DEFAULT_MAX_SKEW, |id| (id == AKID).then(|| SECRET.to_string()))
    }

    fn verify(&self) -> Result<Verified, SigV4Error> {
        self.verify_at(t0() + Duration::from_secs(3))
    }
}

fn api_request() -> Req {
    Req::new(
        "POST",
        "/api/v1/applications/my%20app/groups",
        "limit=10&next=a%2Fb",
        &[("Host", "127.0.0.1:7800"), ("Content-Type", "application/json"), ("User-Agent", "ferry/0.1")],
        br#"{"name":"web"}"#,
    )
}

fn assert_incomplete(result: Result<Verified, SigV4Error>, needle: &str) {
    match result {
        Err(e @ SigV4Error::IncompleteSignature(_)) => {
            assert_eq!(e.aws_code(), "IncompleteSignatureException");
            assert_eq!(e.http_status(), 400);
            let message = e.to_string();
            assert!(message.contains(needle), "{message:?} should mention {needle:?}");
            assert!(!message.contains(SECRET));
        }
        other => panic!("expected IncompleteSignature mentioning {needle:?}, got {other:?}"),
    }
}

fn assert_mismatch(result: Result<Verified, SigV4Error>) {
    match result {
        Err(e @ SigV4Error::SignatureDoesNotMatch) => {
            assert_eq!(e.aws_code(), "InvalidSignatureException");
            assert_eq!(e.http_status(), 403);
            assert_eq!(
                e.to_string(),
                "The request signature we calculated does not match the signature you provided. Check your AWS \
                 Secret Access Key and signing method. Consult the service documentation for details."
            );
        }
        other => panic!("expected SignatureDoesNotMatch, got {other:?}"),
    }
}

#[test]
fn round_trip() {
    let req = api_request().signed();
    assert_eq!(req.header("x-amz-date"), AMZ_DATE);
    assert_eq!(
        req.header("authorization").split(", Signature=").next().unwrap(),
        "AWS4-HMAC-SHA256 Credential=AKIAFERRYTEST/20250314/local/ferry/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date"
    );
    let verified = req.verify().unwrap();
    assert_eq!(verified.access_key_id, AKID);
    assert_eq!(verified.region, "local");
    assert_eq!(verified.service, "ferry");
    assert_eq!(verified.session_token, None);
    assert_eq!(verified.payload, Payload::Body);
    // Any service is fine when none is expected.
    assert!(verify(&req.parts(), None, t0(), DEFAULT_MAX_SKEW, |_| Some(SECRET.into())).is_ok());
}

#[test]
fn round_trip_with_session_token() {
    let mut creds = Credentials::new(AKID, SECRET);
    creds.session_token = Some("FQoGZXIvYXdzE//token==".into());
    let req = api_request().signed_with(&creds, "ferry", t0());
    assert_eq!(req.header("x-amz-security-token"), "FQoGZXIvYXdzE//token==");
    assert!(req.header("authorization").contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"));
    let verified = req.verify().unwrap();
    assert_eq!(verified.session_token.as_deref(), Some("FQoGZXIvYXdzE//token=="));
    assert!(!format!("{verified:?}").contains("token=="));

    let mut tampered = req.clone();
    tampered.set_header("x-amz-security-token", "other");
    assert_mismatch(tampered.verify());
}

#[test]
fn headers_any_case_unsigned_extras_and_whitespace() {
    let mut req = api_request();
    req.add_header("X-Custom", "  a   b ");
    req.add_header("x-custom", "c");
    let mut req = req.signed();
    assert!(req.header("authorization").contains("SignedHeaders=content-type;host;x-amz-date;x-custom,"));
    // Header names change case and unsigned headers come and go on the way.
    for (name, _) in &mut req.headers {
        *name = name.to_ascii_uppercase();
    }
    req.add_header("Content-Length", "14");
    req.add_header("Accept-Encoding", "identity");
    req.set_header("user-agent", "a proxy changed this");
    req.set_header("x-custom", "a b");
    req.verify().unwrap();

    // The order of repeated headers is signed.
    let mut swapped = req.clone();
    let idx: Vec<usize> =
        swapped.headers.iter().enumerate().filter(|(_, (n, _))| n == "X-CUSTOM").map(|(i, _)| i).collect();
    swapped.headers.swap(idx[0], idx[1]);
    assert_mismatch(swapped.verify());
}

#[test]
fn tampering_is_rejected() {
    let req = api_request().signed();

    let mut r = req.clone();
    r.body = br#"{"name":"db"}"#.to_vec();
    assert_mismatch(r.verify());

    let mut r = req.clone();
    r.set_header("content-type", "text/plain");
    assert_mismatch(r.verify());

    let mut r = req.clone();
    r.set_header("host", "127.0.0.1:7801");
    assert_mismatch(r.verify());

    let mut r = req.clone();
    r.path = "/api/v1/applications/my%20app/instances".into();
    assert_mismatch(r.verify());

    let mut r = req.clone();
    r.path = "/api/v1/applications/my app/groups".into();
    assert_mismatch(r.verify());

    let mut r = req.clone();
    r.query = "limit=1000&next=a%2Fb".into();
    assert_mismatch(r.verify());

    let mut r = req.clone();
    r.query.clear();
    assert_mismatch(r.verify());

    let mut r = req.clone();
    r.method = "PUT".into();
    assert_mismatch(r.verify());

    // Another time the same day: the scope still matches, the signature does not.
    let mut r = req.clone();
    r.set_header("x-amz-date", "20250314T092654Z");
    assert_mismatch(r.verify());

    // Another day: the credential scope no longer matches.
    let mut r = req.clone();
    r.set_header("x-amz-date", "20250315T092653Z");
    assert_incomplete(r.verify_at(t0() + Duration::from_secs(86_400)), "Date in Credential scope does not match");

    let mut r = req.clone();
    r.map_authorization(|a| {
        let (head, sig) = a.rsplit_once('=').unwrap();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        format!("{head}={flipped}{}", &sig[1..])
    });
    assert_mismatch(r.verify());

    // Wrong secret.
    assert_mismatch(verify(&req.parts(), None, t0(), DEFAULT_MAX_SKEW, |_| Some("not the secret".into())));

    // Query parameter order and redundant encoding do not matter.
    let mut r = req.clone();
    r.query = "next=a%2fb&limit=%31%30".into();
    r.verify().unwrap();
}

#[test]
fn unknown_access_key() {
    let req = api_request().signed();
    let e = verify(&req.parts(), None, t0(), DEFAULT_MAX_SKEW, |_| None).unwrap_err();
    assert_eq!(e, SigV4Error::UnrecognizedClient);
    assert_eq!(e.aws_code(), "UnrecognizedClientException");
    assert_eq!(e.http_status(), 403);
    assert_eq!(e.to_string(), "The security token included in the request is invalid.");

    let mut asked = None;
    let _ = verify(&req.parts(), None, t0(), DEFAULT_MAX_SKEW, |id| {
        asked = Some(id.to_string());
        None
    });
    assert_eq!(asked.as_deref(), Some(AKID));
}

#[test]
fn clock_skew() {
    let req = api_request().signed();
    let min = |m: u64| Duration::from_secs(60 * m);
    req.verify_at(t0() + min(15)).unwrap();
    req.verify_at(t0() - min(15)).unwrap();

    let e = req.verify_at(t0() + min(16)).unwrap_err();
    assert!(matches!(e, SigV4Error::SignatureExpired(_)), "{e:?}");
    assert_eq!(e.aws_code(), "InvalidSignatureException");
    assert_eq!(e.http_status(), 403);
    assert_eq!(
        e.to_string(),
        "Signature expired: 20250314T092653Z is now earlier than 20250314T092753Z (20250314T094253Z - 15 min.)"
    );

    let e = req.verify_at(t0() - min(16)).unwrap_err();
    assert!(matches!(e, SigV4Error::SignatureNotYetCurrent(_)), "{e:?}");
    assert_eq!(e.aws_code(), "InvalidSignatureException");
    assert_eq!(
        e.to_string(),
        "Signature not yet current: 20250314T092653Z is still later than 20250314T092553Z (20250314T091053Z + 15 min.)"
    );

    // A custom window.
    let tight =
        verify(&req.parts(), None, t0() + Duration::from_secs(90), Duration::from_secs(30), |_| Some(SECRET.into()));
    assert!(matches!(tight, Err(SigV4Error::SignatureExpired(ref m)) if m.ends_with("- 30 sec.)")), "{tight:?}");
}

#[test]
fn missing_pieces() {
    let req = api_request().signed();

    let mut r = req.clone();
    r.remove_header("authorization");
    let e = r.verify().unwrap_err();
    assert_eq!(e, SigV4Error::MissingAuthenticationToken);
    assert_eq!(e.aws_code(), "MissingAuthenticationTokenException");
    assert_eq!(e.http_status(), 403);
    assert_eq!(e.to_string(), "Missing Authentication Token");

    let mut r = req.clone();
    r.remove_header("authorization");
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc".into();
    assert_incomplete(r.verify(), "presigned");

    let mut r = req.clone();
    r.remove_header("x-amz-date");
    assert_incomplete(r.verify(), "'X-Amz-Date' or a 'Date' header");

    let mut r = req.clone();
    r.remove_header("content-type");
    assert_incomplete(r.verify(), "'content-type' is a signed header but the request has no such header");

    let mut r = req.clone();
    r.remove_header("host");
    assert_incomplete(r.verify(), "'host' is a signed header");

    let mut r = req.clone();
    r.add_header("authorization", "AWS4-HMAC-SHA256 again");
    assert_incomplete(r.verify(), "more than one 'Authorization'");

    let mut r = req.clone();
    r.add_header("X-Amz-Date", AMZ_DATE);
    assert_incomplete(r.verify(), "more than one 'X-Amz-Date'");

    let mut r = req.clone();
    r.set_header("x-amz-date", "2025-03-14T09:26:53Z");
    assert_incomplete(r.verify(), "ISO-8601 'basic format'");

    // host must be signed.
    let no_host = Req::new("GET", "/", "", &[("Content-Type", "application/json")], b"").signed();
    let mut no_host = no_host;
    no_host.add_header("Host", "127.0.0.1:7800");
    assert_incomplete(no_host.verify(), "'Host' must be a 'SignedHeader'");

    // A session token added after signing is not signed.
    let mut r = req.clone();
    r.add_header("X-Amz-Security-Token", "sneaky");
    assert_incomplete(r.verify(), "'X-Amz-Security-Token' must be a 'SignedHeader'");
}

/// Rewrites an Authorization header.
type Mutation = dyn Fn(&str) -> String;

#[test]
fn malformed_authorization_headers() {
    let req = api_request().signed();
    let cases: &[(&Mutation, &str)] = &[
        (&|a| a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'"),
        (&|_| "AWS AKIAFERRYTEST:c2lnbmF0dXJl".into(), "Unsupported AWS 'algorithm': 'AWS'"),
        (&|_| "Bearer abc".into(), "Unsupported AWS 'algorithm'"),
        (&|_| String::new(), "Unsupported AWS 'algorithm'"),
        (&|_| "AWS4-HMAC-SHA256".into(), "requires 'Credential' parameter"),
        (&|a| a.replace(", Signature=", ", Sig="), "Unknown parameter 'Sig'"),
        (&|a| a.split(", Signature=").next().unwrap().to_string(), "requires 'Signature' parameter"),
        (&|a| a.replace("SignedHeaders=content-type;host;x-amz-date, ", ""), "requires 'SignedHeaders' parameter"),
        (&|a| format!("{a}, Signature=00"), "'Signature' appears more than once"),
        (&|a| a.replace("Credential=", "Credential "), "missing equal-sign"),
        (&|a| a.replace("/aws4_request", "/aws4_reqest"), "valid terminator: 'aws4_request', not 'aws4_reqest'"),
        (&|a| a.replace("/aws4_request", ""), "exactly 5 slash-delimited elements"),
        (&|a| a.replace("/aws4_request", "/aws4_request/x"), "exactly 5 slash-delimited elements"),
        (&|a| a.replace("/20250314/", "/2025-03-14/"), "valid date (YYYYMMDD), not '2025-03-14'"),
        (&|a| a.replace("/20250314/", "/20250230/"), "valid date"),
        (&|a| a.replace("/20250314/", "/20250313/"), "'20250313' != '20250314', from '20250314T092653Z'"),
        (&|a| a.replace("/local/", "//"), "valid region"),
        (&|a| a.replace("/ferry/", "//"), "valid service"),
        (&|a| a.replace("/ferry/", "/codedeploy/"), "scoped to correct service: 'ferry'"),
        (&|a| a.replace("Credential=AKIAFERRYTEST", "Credential="), "access key id"),
        (&|a| a.replace("SignedHeaders=content-type;", "SignedHeaders=content-type;;"), "SignedHeaders must be"),
        (&|a| a.replace("SignedHeaders=", "SignedHeaders=content type;"), "SignedHeaders must be"),
        (&|a| a.replace(";host", ""), "'Host' must be a 'SignedHeader'"),
        (&|a| a.replace(";x-amz-date", ""), "'X-Amz-Date' must be a 'SignedHeader'"),
        (&|a| a.replace("x-amz-date,", "x-amz-date;x-missing,"), "'x-missing' is a signed header"),
        (&|a| format!("{a}00"), "64 hexadecimal characters"),
        (&|a| format!("{}zz", &a[..a.len() - 2]), "64 hexadecimal characters"),
    ];
    for (mutate, needle) in cases {
        let mut r = req.clone();
        r.map_authorization(mutate);
        assert_incomplete(r.verify(), needle);
    }

    // Harmless variations verify: no space after commas, extra spaces, upper-case hex.
    for mutate in
        [&(|a: &str| a.replace(", ", ",")) as &Mutation, &|a| a.replace(", ", " ,  ").replacen(' ', "   ", 1), &|a| {
            let (head, sig) = a.rsplit_once('=').unwrap();
            format!("{head}={}", sig.to_ascii_uppercase())
        }]
    {
        let mut r = req.clone();
        r.map_authorization(mutate);
        r.verify().unwrap();
    }
}

#[test]
fn date_header_fallback() {
    // A client that signs with `Date` (HTTP format) instead of X-Amz-Date.
    let h = vec![
        ("Host".to_string(), "127.0.0.1:7800".to_string()),
        ("Date".to_string(), "Fri, 14 Mar 2025 09:26:53 GMT".to_string()),
    ];
    let parts = RequestParts { method: "GET", path: "/api/v1/applications", query: "", headers: &h, body: b"" };
    let canonical = canonical_request(&parts, &["date", "host"]).unwrap();
    let sts = string_to_sign(AMZ_DATE, "20250314/local/ferry/aws4_request", &canonical);
    let signature = signing_key(SECRET, "20250314", "local", "ferry").signature(&sts);
    let mut headers = h.clone();
    headers.push((
        "Authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20250314/local/ferry/aws4_request, SignedHeaders=date;host, Signature={signature}"
        ),
    ));
    let signed = RequestParts { headers: &headers, ..parts };
    verify(&signed, Some("ferry"), t0(), DEFAULT_MAX_SKEW, |_| Some(SECRET.into())).unwrap();

    let mut wrong = headers.clone();
    wrong[1].1 = "Fri, 14 Mar 2025 09:26:54 GMT".into();
    let e = verify(&RequestParts { headers: &wrong, ..parts }, None, t0(), DEFAULT_MAX_SKEW, |_| Some(SECRET.into()));
    assert_mismatch(e);

    let mut bad = headers.clone();
    bad[1].1 = "yesterday".into();
    let e = verify(&RequestParts { headers: &bad, ..parts }, None, t0(), DEFAULT_MAX_SKEW, |_| Some(SECRET.into()));
    assert_incomplete(e, "Date header must be");
}

#[test]
fn declared_payload_hashes() {
    let body = br#"{"name":"web"}"#;
    let not_the_body = "ab".repeat(32);
    let digest = not_the_body.as_str();
    let body_digest = {
        // The real digest, via the canonical request of a request without the header.
        let h = vec![("host".to_string(), "h".to_string())];
        let parts = RequestParts { method: "GET", path: "/", query: "", headers: &h, body };
        canonical_request(&parts, &["host"]).unwrap().rsplit('\n').next().unwrap().to_string()
    };

    let with = |value: &str, body: &[u8]| {
        Req::new(
            "PUT",
            "/agent/v1/bundles/abc",
            "",
            &[("Host", "127.0.0.1:7800"), ("x-amz-content-sha256", value)],
            body,
        )
        .signed()
    };

    // The declared digest is the body's.
    let r = with(&body_digest, body);
    assert!(r.header("authorization").contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    assert_eq!(r.verify().unwrap().payload, Payload::Body);

    // Streamed: the caller passes no body and must check the declared digest itself.
    let r = with(digest, b"");
    assert_eq!(r.verify().unwrap().payload, Payload::Declared(digest.to_string()));

    // A body that is not the declared one.
    let mut r = with(digest, b"");
    r.body = body.to_vec();
    let e = r.verify().unwrap_err();
    assert_eq!(e, SigV4Error::ContentSha256Mismatch);
    assert_eq!((e.aws_code(), e.http_status()), ("XAmzContentSHA256Mismatch", 400));

    // UNSIGNED-PAYLOAD: anything goes, and verify says so.
    let mut r = with("UNSIGNED-PAYLOAD", body);
    r.body = b"changed".to_vec();
    assert_eq!(r.verify().unwrap().payload, Payload::Unsigned);

    // Chunked signing is not supported.
    let r = with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", body);
    assert_incomplete(r.verify(), "STREAMING");

    let r = with("nonsense", body);
    assert_incomplete(r.verify(), "UNSIGNED-PAYLOAD or a valid sha256");

    // Added after signing: refused, or anyone could claim UNSIGNED-PAYLOAD.
    let mut r = api_request().signed();
    r.add_header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    assert_incomplete(r.verify(), "'x-amz-content-sha256' must be a 'SignedHeader'");
}

#[test]
fn errors_and_debug_never_show_secrets() {
    let creds = Credentials::new(AKID, SECRET);
    assert!(!format!("{creds:?}").contains(SECRET));
    assert!(!format!("{:?}", signing_key(SECRET, "20250314", "local", "ferry")).contains("SigningKey(["));

    let req = api_request().signed();
    let mut messages = Vec::new();
    for now in [t0(), t0() + Duration::from_secs(3600), t0() - Duration::from_secs(3600)] {
        for secret in [SECRET, "other"] {
            let mut r = req.clone();
            r.body.push(b' ');
            if let Err(e) = verify(&r.parts(), Some("ferry"), now, DEFAULT_MAX_SKEW, |_| Some(secret.into())) {
                messages.push(format!("{e} {e:?}"));
            }
        }
    }
    assert!(!messages.is_empty());
    for m in messages {
        assert!(!m.contains(SECRET) && !m.contains("s3cr3t"), "{m}");
    }
}

/// A captured request cannot be given another meaning by a header added
/// after signing: e.g. an `X-Amz-Target` turning GetApplication into
/// DeleteApplication.
#[test]
fn every_x_amz_header_must_be_signed() {
    let mut req = api_request().signed();
    req.add_header("X-Amz-Target", "CodeDeploy_20141006.DeleteApplication");
    assert_incomplete(req.verify(), "'X-Amz-Target' must be a 'SignedHeader'");

    // Signed, it is fine; then changing it breaks the signature.
    let mut req = api_request();
    req.add_header("X-Amz-Target", "CodeDeploy_20141006.GetApplication");
    let mut req = req.signed();
    req.verify().unwrap();
    req.set_header("x-amz-target", "CodeDeploy_20141006.DeleteApplication");
    assert_mismatch(req.verify());

    // Other headers may still come and go unsigned.
    let mut req = api_request().signed();
    req.add_header("X-Amzn-Trace-Id", "Root=1-2-3");
    req.add_header("X-Forwarded-For", "10.0.0.1");
    req.verify().unwrap();
}
