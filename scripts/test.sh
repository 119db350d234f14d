#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need,
# then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use (Debian names → a binary each provides).
declare -A needs=([iproute2]=ip [util-linux]=unshare [acl]=setfacl [zip]=zip [unzip]=unzip [passwd]=useradd
                  [python3]=python3 [python3-pip]=pip3 [git]=git [haproxy]=haproxy [wrk]=wrk
                  [chromium]=chromium [chromium-driver]=chromedriver [prometheus]=prometheus
                  [systemd]=systemd-analyze)
missing=()
for pkg in "${!needs[@]}"; do
    command -v "${needs[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing: ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing packages (install them as root): ${missing[*]}" >&2
        exit 1
    fi
fi

# The CodeDeploy compatibility suite drives ferry with the real AWS CLI and
# boto3, and fetches S3 revisions from a real S3 API (moto_server).
if ! python3 -c "import boto3, botocore, moto.server" 2>/dev/null || ! command -v aws >/dev/null || ! command -v moto_server >/dev/null; then
    echo "installing: awscli boto3 moto[server] (pip)"
    python3 -m pip install -q awscli boto3 'moto[server]' || python3 -m pip install -q --break-system-packages awscli boto3 'moto[server]'
fi

# Container builds (ferry-container) and their tests: podman with runc,
# busybox-static for locally imported test images, containers.conf for these
# hosts; checked by running a container.
if [ "$(id -u)" -eq 0 ]; then
    bash scripts/setup-podman.sh
else
    echo "not root: skipping podman setup (container tests will report themselves skipped)" >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Every test binary, two at a time (most black-box tests wait on real
# processes; see scripts/run-tests.py). The workspace has no doc tests.
# A test that reports itself skipped (no root, a missing tool) fails the
# run: CI must not pass on tests that did not run.
python3 scripts/run-tests.py --jobs "${FERRY_TEST_JOBS:-2}"
