//! AWS's published SigV4 examples: the IAM ListUsers walkthrough of the
//! SigV4 documentation and a few cases of the aws-sig-v4-test-suite.

use std::time::Duration;

use ferry_sigv4::{
    Credentials, DEFAULT_MAX_SKEW, Payload, RequestParts, canonical_request, hex, parse_amz_date, sign, signing_key,
    string_to_sign, verify,
};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20150830T123600Z";

fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn iam_list_users_walkthrough() {
    let h = headers(&[
        ("Host", "iam.amazonaws.com"),
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("X-Amz-Date", AMZ_DATE),
    ]);
    let parts =
        RequestParts { method: "GET", path: "/", query: "Action=ListUsers&Version=2010-05-08", headers: &h, body: b"" };

    let canonical = canonical_request(&parts, &["content-type", "host", "x-amz-date"]).unwrap();
    assert_eq!(
        canonical,
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
         content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\n\
         x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );

    let sts = string_to_sign(AMZ_DATE, "20150830/us-east-1/iam/aws4_request", &canonical);
    assert_eq!(
        sts,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
         f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );

    let key = signing_key(SECRET, "20150830", "us-east-1", "iam");
    assert_eq!(hex(key.as_bytes()), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    assert_eq!(key.signature(&sts), "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");

    // `sign` produces the same header from the headers a client has before signing.
    let time = parse_amz_date(AMZ_DATE).unwrap();
    let unsigned = headers(&[
        ("Host", "iam.amazonaws.com"),
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("User-Agent", "not signed"),
    ]);
    let to_sign = RequestParts { headers: &unsigned, ..parts };
    let added = sign(&to_sign, &Credentials::new(AKID, SECRET), "iam", "us-east-1", time);
    assert_eq!(
        added,
        headers(&[
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
            ),
            ("X-Amz-Date", AMZ_DATE),
        ])
    );

    // And the server side accepts it.
    let mut wire = unsigned.clone();
    wire.extend(added);
    let received = RequestParts { headers: &wire, ..parts };
    let verified = verify(&received, Some("iam"), time + Duration::from_secs(60), DEFAULT_MAX_SKEW, |id| {
        (id == AKID).then(|| SECRET.to_string())
    })
    .unwrap();
    assert_eq!(verified.access_key_id, AKID);
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.service, "iam");
    assert_eq!(verified.session_token, None);
    assert_eq!(verified.payload, Payload::Body);
}

/// get-vanilla, get-vanilla-query-order-key and get-relative-relative of the
/// aws-sig-v4-test-suite (service "service", region us-east-1).
#[test]
fn test_suite_cases() {
    let cases = [
        ("/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("/", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("/example1/example2/../..", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ];
    let time = parse_amz_date(AMZ_DATE).unwrap();
    for (path, query, signature) in cases {
        let h = headers(&[("Host", "example.amazonaws.com")]);
        let parts = RequestParts { method: "GET", path, query, headers: &h, body: b"" };
        let added = sign(&parts, &Credentials::new(AKID, SECRET), "service", "us-east-1", time);
        let expected = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={signature}"
        );
        assert_eq!(added[0], ("Authorization".to_string(), expected), "{path}?{query}");
    }
}
