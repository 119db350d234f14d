"""Shared fixtures of the CodeDeploy compatibility suite.

The suite runs against a real `ferry server` with real agents in a local
fleet and a real S3 API (moto_server), all started by `tests/aws.rs`, which
passes their addresses in the environment:

- FERRY_ENDPOINT: the server's URL; FERRY_CREDENTIALS: its admin credentials file;
- FERRY_CA_BUNDLE: the server's TLS CA (DATA_DIR/tls/ca.pem), given to boto3
  (`verify=`), the AWS CLI (AWS_CA_BUNDLE) and urllib;
- FERRY_S3_ENDPOINT: the S3 endpoint the server fetches revisions from;
- FERRY_HOST_SRV: for each fleet host, where its /srv is seen from here.

Every boto3 client made here checks each answer against botocore's model
(see shapecheck.py) and records which operations were called.
"""

import configparser
import io
import json
import os
import subprocess
import tempfile
import time
import zipfile

import boto3
import botocore.config

import shapecheck

ENDPOINT = os.environ["FERRY_ENDPOINT"]
S3_ENDPOINT = os.environ["FERRY_S3_ENDPOINT"]
HOST_SRV = os.environ["FERRY_HOST_SRV"].split(",")
CREDENTIALS_FILE = os.environ["FERRY_CREDENTIALS"]
# None: a plain-HTTP server (or one with a publicly trusted certificate).
CA_BUNDLE = os.environ.get("FERRY_CA_BUNDLE") or None
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/CodeDeployServiceRole"

_creds = configparser.ConfigParser()
_creds.read(CREDENTIALS_FILE)
ACCESS_KEY = _creds["default"]["aws_access_key_id"]
SECRET_KEY = _creds["default"]["aws_secret_access_key"]

CALLED = set()
PROBLEMS = []


def _check(http_response, parsed, model, **_):
    CALLED.add(model.name)
    for problem in shapecheck.check_response(model, http_response.status_code, http_response.content):
        PROBLEMS.append(f"{model.name}: {problem}")


def client(access_key=ACCESS_KEY, secret_key=SECRET_KEY, check=True):
    c = boto3.client(
        "codedeploy",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        verify=CA_BUNDLE,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    if check:
        c.meta.events.register("after-call.codedeploy", _check)
    return c


def s3():
    return boto3.client(
        "s3",
        endpoint_url=S3_ENDPOINT,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def cli(*args, check=True, env=None):
    """Runs the real AWS CLI against ferry; returns (exit code, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full_env.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": CREDENTIALS_FILE,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": S3_ENDPOINT,
            "AWS_PAGER": "",
        }
    )
    if CA_BUNDLE:
        full_env["AWS_CA_BUNDLE"] = CA_BUNDLE
    full_env.update(env or {})
    p = subprocess.run(
        ["aws", "--endpoint-url", ENDPOINT, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    if check and p.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.returncode, p.stdout, p.stderr


def urlopen(request):
    """urllib's urlopen, trusting the server's CA."""
    import ssl
    import urllib.request

    return urllib.request.urlopen(request, context=ssl.create_default_context(cafile=CA_BUNDLE))


def cli_json(*args):
    return json.loads(cli(*args)[1] or "{}")


def revision_dir(app, version, fail_at=None, slow_event=None, slow_seconds=0):
    """A revision: www/VERSION installed to /srv/compat/<app>/, and one hook
    script for every hook that logs the event and the BUNDLE_* variables."""
    root = tempfile.mkdtemp(prefix=f"rev-{app}-{version}-")
    os.makedirs(f"{root}/www")
    os.makedirs(f"{root}/scripts")
    with open(f"{root}/www/VERSION", "w") as f:
        f.write(version + "\n")
    script = f"""#!/bin/sh
mkdir -p /srv/compat/{app}-log
echo "{version} $LIFECYCLE_EVENT $DEPLOYMENT_ID" >> /srv/compat/{app}-log/events
env | grep '^BUNDLE_' | sort > /srv/compat/{app}-log/bundle-env
if [ "$LIFECYCLE_EVENT" = "{slow_event or '-'}" ]; then sleep {slow_seconds}; fi
if [ "$LIFECYCLE_EVENT" = "{fail_at or '-'}" ]; then echo "failing on purpose" >&2; exit 3; fi
exit 0
"""
    with open(f"{root}/scripts/hook.sh", "w") as f:
        f.write(script)
    os.chmod(f"{root}/scripts/hook.sh", 0o755)
    hooks = "".join(
        f"  {e}:\n    - location: scripts/hook.sh\n      timeout: 60\n"
        for e in ["ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"]
    )
    with open(f"{root}/appspec.yml", "w") as f:
        f.write(
            f"version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /srv/compat/{app}\nhooks:\n{hooks}"
        )
    return root


def zip_dir(root):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                info = zipfile.ZipInfo(os.path.relpath(path, root))
                info.external_attr = (os.stat(path).st_mode & 0o777) << 16
                with open(path, "rb") as f:
                    z.writestr(info, f.read())
    return buf.getvalue()


def upload(bucket, key, root):
    """Zips and uploads a revision; returns its S3 revision location."""
    body = zip_dir(root)
    etag = s3().put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    return {"revisionType": "S3", "s3Location": {"bucket": bucket, "key": key, "bundleType": "zip", "eTag": etag}}


def ensure_bucket(name):
    try:
        s3().create_bucket(Bucket=name)
    except s3().exceptions.BucketAlreadyOwnedByYou:
        pass


def installed_versions(app):
    """What each host has installed for `app` (None where nothing)."""
    out = []
    for srv in HOST_SRV:
        try:
            with open(f"{srv}/compat/{app}/VERSION") as f:
                out.append(f.read().strip())
        except FileNotFoundError:
            out.append(None)
    return out


def host_log(app, host, name):
    try:
        with open(f"{HOST_SRV[host]}/compat/{app}-log/{name}") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=120):
    deadline = time.time() + timeout
    pause = 0.05
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def wait_done(cd, deployment_id, timeout=120):
    def done():
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        return info if info["status"] in ("Succeeded", "Failed", "Stopped") else None

    return wait_for(f"deployment {deployment_id} to finish", done, timeout)


def make_group(cd, app, group="web", **extra):
    cd.create_application(applicationName=app)
    cd.create_deployment_group(
        applicationName=app,
        deploymentGroupName=group,
        serviceRoleArn=ROLE,
        onPremisesInstanceTagFilters=[{"Key": "app", "Value": "demo", "Type": "KEY_AND_VALUE"}],
        **extra,
    )
