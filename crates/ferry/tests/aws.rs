//! CodeDeploy API compatibility: the real AWS CLI and boto3
//! (`tests/aws/*.py`) drive a real `ferry server`, real agents in a local
//! fleet and a real S3 API (`moto_server`) on loopback. The Python runner
//! also checks every answer against botocore's model and that each of the
//! model's 47 operations was called.

mod support;

use std::process::Command;

use support::*;

#[test]
fn the_aws_cli_and_boto3_drive_ferry_unchanged() {
    if !fleet_supported() {
        return;
    }
    let moto = Moto::start();
    let c = Cluster::start(ClusterOptions {
        server_args: vec!["--s3-endpoint".into(), moto.endpoint.clone()],
        // What the server signs its S3 requests with (moto accepts any key).
        server_env: vec![
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ],
        ..Default::default()
    });
    let srv: Vec<String> = (0..3).map(|h| c.host_file(h, "/srv").display().to_string()).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/aws/run.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .args(std::env::var("FERRY_AWS_TESTS").ok().iter().flat_map(|t| t.split(',')))
        .env("FERRY_ENDPOINT", c.url())
        .env("FERRY_CREDENTIALS", c.data_dir().join("credentials"))
        // The server's own CA, for boto3, the AWS CLI and urllib.
        .env("FERRY_CA_BUNDLE", c.ca_file())
        .env("FERRY_S3_ENDPOINT", &moto.endpoint)
        .env("FERRY_HOST_SRV", srv.join(","))
        .env("FERRY_BIN", FERRY)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = command.output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the compatibility suite failed:\n{stdout}\n{stderr}\n{}", c.logs());
    println!("{stdout}\n{stderr}");
}
