//! Interop with the real botocore (what the AWS CLI and boto3 sign with):
//! botocore's `SigV4Auth` signs requests, `verify` must accept them, and
//! `sign` must produce the very same `Authorization` header.
//!
//! Skipped, with a printed reason, when python3 or botocore is missing.

use std::process::Command;
use std::time::Duration;

use ferry_sigv4::{Credentials, DEFAULT_MAX_SKEW, Payload, RequestParts, parse_amz_date, sign, verify};
use serde_json::{Value, json};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Reads a JSON list of cases from argv[1], signs each with botocore and
/// prints the resulting headers (a JSON list of header maps).
const SIGNER: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
out = []
for case in json.loads(sys.argv[1]):
    request = AWSRequest(method=case["method"], url=case["url"], data=case["body"].encode(), headers=case["headers"])
    creds = Credentials(case["akid"], case["secret"], case.get("token"))
    SigV4Auth(creds, case["service"], case["region"]).add_auth(request)
    out.append(dict(request.headers.items()))
print(json.dumps(out))
"#;

struct Case {
    method: &'static str,
    host: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    service: &'static str,
    region: &'static str,
    token: Option<&'static str>,
}

const CASES: &[Case] = &[
    // `aws --endpoint-url http://127.0.0.1:7800 deploy list-applications`
    Case {
        method: "POST",
        host: "127.0.0.1:7800",
        path: "/",
        query: "",
        headers: &[
            ("X-Amz-Target", "CodeDeploy_20141006.ListApplications"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body: "{}",
        service: "codedeploy",
        region: "us-east-1",
        token: None,
    },
    // The same with temporary credentials.
    Case {
        method: "POST",
        host: "127.0.0.1:7800",
        path: "/",
        query: "",
        headers: &[
            ("X-Amz-Target", "CodeDeploy_20141006.CreateDeployment"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body: r#"{"applicationName": "web", "deploymentGroupName": "prod"}"#,
        service: "codedeploy",
        region: "eu-west-1",
        token: Some("IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="),
    },
    // ferry's native API: a path needing encoding and a query string.
    Case {
        method: "GET",
        host: "127.0.0.1:7800",
        path: "/api/v1/applications/my%20app/groups",
        query: "next=a%2Fb%3Dc&limit=10&filter=name%20with%20spaces&empty=",
        headers: &[("Accept", "application/json")],
        body: "",
        service: "ferry",
        region: "local",
        token: None,
    },
    Case {
        method: "POST",
        host: "localhost:7800",
        path: "/agent/v1/instances/i-0123%2Bweb/events",
        query: "seq=42",
        headers: &[("Content-Type", "application/json"), ("X-Ferry-Agent", "0.1.0  (linux)")],
        body: r#"{"events":[{"hook":"AfterInstall","status":"Succeeded"}]}"#,
        service: "ferry",
        region: "local",
        token: None,
    },
];

fn run_botocore(cases: &Value) -> Option<Vec<Value>> {
    let output = match Command::new("python3").arg("-c").arg(SIGNER).arg(cases.to_string()).output() {
        Ok(output) => output,
        Err(e) => {
            ferry_testkit::skip(&format!("cannot run python3: {e}"));
            return None;
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named 'botocore'") {
            ferry_testkit::skip("botocore is not installed for python3");
            return None;
        }
        panic!("botocore signer failed: {stderr}");
    }
    let parsed: Value = serde_json::from_slice(&output.stdout).expect("botocore output is JSON");
    Some(parsed.as_array().expect("a list").clone())
}

#[test]
fn botocore_signed_requests_verify_and_match() {
    let input: Vec<Value> = CASES
        .iter()
        .map(|c| {
            let url = if c.query.is_empty() {
                format!("http://{}{}", c.host, c.path)
            } else {
                format!("http://{}{}?{}", c.host, c.path, c.query)
            };
            json!({
                "method": c.method, "url": url, "body": c.body,
                "headers": c.headers.iter().map(|(n, v)| (n.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "akid": AKID, "secret": SECRET, "token": c.token,
                "service": c.service, "region": c.region,
            })
        })
        .collect();
    let Some(signed) = run_botocore(&Value::Array(input)) else { return };
    assert_eq!(signed.len(), CASES.len());

    for (case, botocore_headers) in CASES.iter().zip(&signed) {
        let botocore_headers: Vec<(String, String)> = botocore_headers
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let get =
            |name: &str| botocore_headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let authorization = get("authorization").expect("botocore set Authorization");
        let amz_date = get("x-amz-date").expect("botocore set X-Amz-Date");
        let time = parse_amz_date(&amz_date).unwrap();

        // On the wire: botocore's headers, plus what the HTTP stack adds.
        let mut wire = botocore_headers.clone();
        wire.push(("Host".into(), case.host.into()));
        wire.push(("User-Agent".into(), "aws-cli/2.27.0 md/Botocore#1.43".into()));
        wire.push(("Content-Length".into(), case.body.len().to_string()));
        wire.push(("Accept-Encoding".into(), "identity".into()));
        let parts = RequestParts {
            method: case.method,
            path: case.path,
            query: case.query,
            headers: &wire,
            body: case.body.as_bytes(),
        };
        let verified = verify(&parts, Some(case.service), time + Duration::from_secs(2), DEFAULT_MAX_SKEW, |id| {
            (id == AKID).then(|| SECRET.to_string())
        })
        .unwrap_or_else(|e| panic!("{} {}: {e} ({authorization})", case.method, case.path));
        assert_eq!(verified.access_key_id, AKID);
        assert_eq!(verified.service, case.service);
        assert_eq!(verified.region, case.region);
        assert_eq!(verified.session_token.as_deref(), case.token);
        assert_eq!(verified.payload, Payload::Body);

        // A changed body no longer verifies.
        let tampered = RequestParts { body: b"{\"x\":1}", ..parts };
        assert!(verify(&tampered, None, time, DEFAULT_MAX_SKEW, |_| Some(SECRET.into())).is_err());

        // `sign` over the headers the client had before signing gives the same signature.
        let mut before: Vec<(String, String)> =
            case.headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        before.push(("Host".into(), case.host.into()));
        let creds = Credentials {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            session_token: case.token.map(str::to_string),
        };
        let ours = sign(&RequestParts { headers: &before, ..parts }, &creds, case.service, case.region, time);
        let ours_get = |name: &str| ours.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        assert_eq!(ours_get("authorization").as_deref(), Some(authorization.as_str()), "{} {}", case.method, case.path);
        assert_eq!(ours_get("x-amz-date"), Some(amz_date));
        assert_eq!(ours_get("x-amz-security-token"), get("x-amz-security-token"));
    }
}
