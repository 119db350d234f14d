#!/usr/bin/env bash
# The main job: build ferry and deploy the example web app on this machine
# with `ferry local` (twice, to show a second deployment stopping the first).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p ferry
root="${FERRY_DEMO_ROOT:-/tmp/ferry-demo/deployment-root}"
echo "== first deployment"
target/release/ferry local --bundle-location examples/hello-app --application-name hello --root "$root"
echo "== second deployment (runs the first revision's ApplicationStop)"
target/release/ferry local --bundle-location examples/hello-app --application-name hello --root "$root"
echo
echo "hello-app is running: curl http://127.0.0.1:${HELLO_PORT:-8080}/"
echo "deployment root: $root"
