//! `S3Source` against a real S3 API: moto's server (`pip install 'moto[server]'`),
//! started on a free loopback port. Buckets and objects are made with boto3.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ferry_blob::{BlobError, FetchError, LocalBlobs, S3Credentials, S3Source};
use ferry_testkit::Moto;
use sha2::{Digest, Sha256};

/// The shared server, started by the first test that needs it and killed
/// when the last one using it is done.
fn moto() -> Arc<Moto> {
    static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(moto) = shared.upgrade() {
        return moto;
    }
    let moto = Arc::new(Moto::start());
    *shared = Arc::downgrade(&moto);
    moto
}

const SETUP: &str = r#"
import json, sys, boto3
spec = json.load(sys.stdin)
s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
s3.create_bucket(Bucket=spec["bucket"])
if spec["versioned"]:
    s3.put_bucket_versioning(Bucket=spec["bucket"], VersioningConfiguration={"Status": "Enabled"})
for key, content in spec["objects"]:
    r = s3.put_object(Bucket=spec["bucket"], Key=key, Body=bytes.fromhex(content))
    print(r["ETag"], r.get("VersionId") or "-")
"#;

/// What boto3 got back for each object put: (quoted ETag, version id).
fn setup(moto: &Moto, bucket: &str, versioned: bool, objects: &[(&str, &[u8])]) -> Vec<(String, Option<String>)> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let objects: Vec<String> = objects.iter().map(|(k, c)| format!("[\"{k}\", \"{}\"]", hex(c))).collect();
    let spec = format!(
        "{{\"endpoint\": \"{}\", \"bucket\": \"{bucket}\", \"versioned\": {}, \"objects\": [{}]}}",
        moto.endpoint,
        if versioned { "true" } else { "false" },
        objects.join(", ")
    );
    let mut child = Command::new("python3")
        .args(["-c", SETUP])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(spec.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "boto3 setup failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_pairs(&String::from_utf8(out.stdout).unwrap())
}

/// One `"<etag>" <version id or ->` line per object.
fn parse_pairs(out: &str) -> Vec<(String, Option<String>)> {
    out.lines()
        .map(|line| {
            let (etag, version) = line.split_once(' ').unwrap();
            (etag.to_string(), (version != "-").then(|| version.to_string()))
        })
        .collect()
}

fn source(moto: &Moto) -> S3Source {
    let credentials =
        S3Credentials { access_key_id: "testing".into(), secret_access_key: "testing".into(), session_token: None };
    S3Source::new(Some(&moto.endpoint), Some("us-east-1"), Some(credentials)).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn unquoted(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

async fn blobs() -> (tempfile::TempDir, LocalBlobs) {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = LocalBlobs::open(tmp.path()).await.unwrap();
    (tmp, blobs)
}

async fn content(blobs: &LocalBlobs, key: &str) -> Vec<u8> {
    let (mut file, _) = blobs.open_blob(key).await.unwrap();
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut file, &mut out).await.unwrap();
    out
}

fn stored(blobs: &LocalBlobs) -> usize {
    std::fs::read_dir(blobs.dir().join("sha256")).unwrap().count()
        + std::fs::read_dir(blobs.dir().join("tmp")).unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_an_object_by_key_streaming_it_into_a_blob() {
    let moto = moto();
    // Several MiB: many chunks on the wire.
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 17).map(|i| (i * 31 % 251) as u8).collect();
    let put = setup(&moto, "plain-bucket", false, &[("releases/app.tar", b"tar bytes"), ("big.zip", &big)]);
    let (_tmp, blobs) = blobs().await;
    let s3 = source(&moto);

    let got = s3.fetch_s3(&blobs, "plain-bucket", "releases/app.tar", None, None, 1 << 30).await.unwrap();
    assert_eq!(got.etag, unquoted(&put[0].0));
    assert_eq!(got.version, None);
    assert_eq!(got.info.sha256, sha256(b"tar bytes"));
    assert_eq!(got.info.size, 9);
    assert_eq!(content(&blobs, &got.info.key).await, b"tar bytes");

    // Counted as it streams in (what `ferry get` shows of a long copy).
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let got =
        s3.fetch_s3_counting(&blobs, "plain-bucket", "big.zip", None, None, 1 << 30, progress.clone()).await.unwrap();
    assert_eq!(got.info.sha256, sha256(&big));
    assert_eq!(got.info.size, big.len() as u64);
    assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), big.len() as u64);

    let stat = s3.stat_s3("plain-bucket", "big.zip", None).await.unwrap();
    assert_eq!((stat.etag, stat.version, stat.size), (unquoted(&put[1].0), None, big.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_versions_of_a_versioned_bucket() {
    let moto = moto();
    let put = setup(&moto, "versioned-bucket", true, &[("app.zip", b"version one"), ("app.zip", b"version two!")]);
    let (v1, v2) = (put[0].1.clone().unwrap(), put[1].1.clone().unwrap());
    assert_ne!(v1, v2);
    let (_tmp, blobs) = blobs().await;
    let s3 = source(&moto);

    let latest = s3.fetch_s3(&blobs, "versioned-bucket", "app.zip", None, None, 1 << 20).await.unwrap();
    assert_eq!(latest.version.as_deref(), Some(v2.as_str()));
    assert_eq!(content(&blobs, &latest.info.key).await, b"version two!");

    let first = s3.fetch_s3(&blobs, "versioned-bucket", "app.zip", Some(&v1), None, 1 << 20).await.unwrap();
    assert_eq!(first.version.as_deref(), Some(v1.as_str()));
    assert_eq!(first.etag, unquoted(&put[0].0));
    assert_eq!(content(&blobs, &first.info.key).await, b"version one");

    let stat = s3.stat_s3("versioned-bucket", "app.zip", Some(&v1)).await.unwrap();
    assert_eq!((stat.etag, stat.version, stat.size), (unquoted(&put[0].0), Some(v1.clone()), 11));

    // The etag and the version together.
    let both = s3.fetch_s3(&blobs, "versioned-bucket", "app.zip", Some(&v2), Some(&put[1].0), 1 << 20).await;
    assert_eq!(both.unwrap().info, latest.info);

    let err = s3
        .fetch_s3(&blobs, "versioned-bucket", "app.zip", Some("no-such-version-id"), None, 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(&err, FetchError::NotFound(m) if m.contains("version")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_the_etag_before_storing_anything() {
    let moto = moto();
    let put = setup(&moto, "etag-bucket", false, &[("app.tgz", b"gzip bytes")]);
    let etag = unquoted(&put[0].0);
    let (_tmp, blobs) = blobs().await;
    let s3 = source(&moto);

    // Quotes and case do not matter; an empty ETag is no ETag.
    for expected in [etag.clone(), format!("\"{etag}\""), etag.to_ascii_uppercase(), String::new()] {
        let got = s3.fetch_s3(&blobs, "etag-bucket", "app.tgz", None, Some(&expected), 1 << 20).await.unwrap();
        assert_eq!(got.etag, etag);
    }
    let before = stored(&blobs);

    let wrong = "0123456789abcdef0123456789abcdef";
    let err = s3.fetch_s3(&blobs, "etag-bucket", "app.tgz", None, Some(wrong), 1 << 20).await.unwrap_err();
    assert!(matches!(err, FetchError::EtagMismatch { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("Expected deployment artifact bundle etag {wrong} but was actually {etag}"));
    let err = s3.fetch_s3(&blobs, "etag-bucket", "app.tgz", None, Some("\"abc\""), 1 << 20).await.unwrap_err();
    assert_eq!(err.to_string(), format!("Expected deployment artifact bundle etag abc but was actually {etag}"));
    assert_eq!(stored(&blobs), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_buckets_and_keys_are_not_found() {
    let moto = moto();
    setup(&moto, "present-bucket", false, &[("present.zip", b"x")]);
    let (_tmp, blobs) = blobs().await;
    let s3 = source(&moto);

    let err = s3.fetch_s3(&blobs, "present-bucket", "absent.zip", None, None, 1 << 20).await.unwrap_err();
    match err {
        FetchError::NotFound(m) => assert_eq!(m, "The specified key does not exist: s3://present-bucket/absent.zip"),
        other => panic!("{other:?}"),
    }
    let err = s3.fetch_s3(&blobs, "absent-bucket", "present.zip", None, None, 1 << 20).await.unwrap_err();
    match err {
        FetchError::NotFound(m) => assert_eq!(m, "The specified bucket does not exist: absent-bucket"),
        other => panic!("{other:?}"),
    }
    let err = s3.stat_s3("present-bucket", "absent.zip", None).await.unwrap_err();
    assert!(matches!(&err, FetchError::NotFound(m) if m.contains("s3://present-bucket/absent.zip")), "{err:?}");
    assert_eq!(stored(&blobs), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_objects_over_the_limit() {
    let moto = moto();
    let body = vec![7u8; 64 * 1024];
    setup(&moto, "limit-bucket", false, &[("big.tar", &body)]);
    let (_tmp, blobs) = blobs().await;
    let s3 = source(&moto);
    let err = s3.fetch_s3(&blobs, "limit-bucket", "big.tar", None, None, 1000).await.unwrap_err();
    assert!(matches!(err, FetchError::Blob(BlobError::TooLarge(1000))), "{err:?}");
    assert_eq!(stored(&blobs), 0);
    // Exactly at the limit is fine.
    let got = s3.fetch_s3(&blobs, "limit-bucket", "big.tar", None, None, body.len() as u64).await.unwrap();
    assert_eq!(got.info.size, body.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_reported() {
    // A port nothing listens on.
    let port = ferry_testkit::free_port();
    let s3 = S3Source::new(Some(&format!("http://127.0.0.1:{port}")), None, None)
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let (_tmp, blobs) = blobs().await;
    let err = s3.fetch_s3(&blobs, "some-bucket", "key", None, None, 1 << 20).await.unwrap_err();
    assert!(matches!(&err, FetchError::Unreachable(m) if m.contains("s3://some-bucket/key")), "{err:?}");
}

#[tokio::test]
async fn refuses_malformed_locations_without_a_request() {
    let s3 = S3Source::new(Some("http://127.0.0.1:9"), None, None).unwrap();
    let (_tmp, blobs) = blobs().await;
    for (bucket, key) in [("ok-bucket", ""), ("ok-bucket", "/abs"), ("ok-bucket", "a//b"), ("ok-bucket", "a/../b")] {
        let err = s3.fetch_s3(&blobs, bucket, key, None, None, 1).await.unwrap_err();
        assert!(matches!(err, FetchError::Invalid(_)), "{bucket} {key}: {err:?}");
    }
    for bucket in ["a", "bucket/../other", "bucket?x=1", "-bucket"] {
        let err = s3.stat_s3(bucket, "key", None).await.unwrap_err();
        assert!(matches!(err, FetchError::Invalid(_)), "{bucket}: {err:?}");
    }
    assert!(matches!(S3Source::new(Some("localhost:9000"), None, None), Err(FetchError::Invalid(_))));
}
