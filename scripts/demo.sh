#!/usr/bin/env bash
# The main job: a ferry server with embedded defaults, a local fleet of three
# isolated hosts each running a ferry agent, and the example web app deployed
# to them with HalfAtATime. Everything keeps running; `scripts/demo.sh stop`
# ends it. Needs root (the fleet uses network and mount namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
demo=./ferry-demo
ferry=target/release/ferry

stop() {
    for pidfile in "$demo/fleet.pid" "$demo/server.pid"; do
        if [ -f "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
}

if [ "${1:-}" = stop ]; then
    stop
    echo "demo stopped (state is kept in $demo; remove it to start afresh)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "the demo's local fleet needs root (network and mount namespaces)" >&2
    exit 1
fi
command -v ip >/dev/null || { apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; }

cargo build --release --locked -p ferry
stop
if [ -f "$demo/join-token" ]; then
    # A demo from before TLS: its agents trust no CA. Start afresh.
    echo "removing the plain-HTTP demo state in $demo (made by an earlier ferry)"
    rm -rf "$demo"
fi
mkdir -p "$demo"
port=7800

echo "== starting a local fleet of 3 hosts (and 2 spare ones for a scaling group)"
rm -f "$demo/fleet/gateway"
# The agents start once the server has written its join token (which carries
# the fingerprint of the server's own TLS CA, so agents verify the server).
nohup "$ferry" fleet run --hosts 3 --spare 2 --dir "$demo/fleet" --server-port "$port" --tag app=hello --builds 1 \
    --join-token-file "$demo/data/join-token" > "$demo/fleet.log" 2>&1 &
echo $! > "$demo/fleet.pid"
for _ in $(seq 1 100); do [ -f "$demo/fleet/gateway" ] && break; sleep 0.1; done
[ -f "$demo/fleet/gateway" ] || { cat "$demo/fleet.log"; exit 1; }
gateway=$(cat "$demo/fleet/gateway")

echo "== starting ferry server (data in $demo/data; agents reach it on $gateway:$port)"
nohup "$ferry" server --data-dir "$demo/data" --listen "127.0.0.1:$port,$gateway:$port" \
    > "$demo/server.log" 2>&1 &
echo $! > "$demo/server.pid"
# The CLI trusts the server's CA in $demo/data/tls/ca.pem, beside the credentials file.
export FERRY_SERVER="https://127.0.0.1:$port"
export AWS_SHARED_CREDENTIALS_FILE="$demo/data/credentials"
for _ in $(seq 1 100); do [ -f "$demo/data/credentials" ] && break; sleep 0.1; done
creds=(--credentials "$demo/data/credentials")

echo "== waiting for the 3 agents to enrol"
for _ in $(seq 1 150); do
    online=$("$ferry" instances --json "${creds[@]}" 2>/dev/null | grep -c '"online": true' || true)
    [ "$online" -ge 3 ] && break
    sleep 0.2
done
"$ferry" instances "${creds[@]}"

echo "== creating the application and its deployment group"
"$ferry" app create hello "${creds[@]}" 2>/dev/null || true
"$ferry" group create hello web --tag app=hello --config CodeDeployDefault.HalfAtATime --auto-rollback "${creds[@]}" 2>/dev/null || true

echo "== pushing examples/hello-app"
revision=$("$ferry" push hello examples/hello-app "${creds[@]}")

echo "== deploying $revision with HalfAtATime"
"$ferry" deploy hello web --revision "$revision" --wait "${creds[@]}"

echo "== building examples/hello-build on a build host (its tests, artifact and report)"
"$ferry" build project create hello-build --source upload --badge "${creds[@]}" 2>/dev/null || true
"$ferry" build start hello-build --source examples/hello-build --follow "${creds[@]}" | tail -n 5

services=""
if podman version > /dev/null 2>&1; then
    echo "== a container service: examples/hello-container, 3 tasks on the hosts' podman"
    examples/hello-container/make-image.sh
    lb_port=$((port + 1))
    "$ferry" lb create hello-containers --port 8080 --listen "127.0.0.1:$lb_port" --health-path /index.html "${creds[@]}" 2>/dev/null || true
    "$ferry" task-definition register --file examples/hello-container/taskdef.json "${creds[@]}"
    "$ferry" service create hello --task-definition hello --desired 3 --target-group hello-containers "${creds[@]}" 2>/dev/null || true
    for _ in $(seq 1 300); do
        "$ferry" service show hello "${creds[@]}" | grep -q " 3 running, 0 pending" && break
        sleep 0.2
    done
    "$ferry" service show hello "${creds[@]}" | head -n 8
    services="  hello (containers): http://127.0.0.1:$lb_port/index.html"
else
    echo "== (no podman here: skipping the container service example)"
fi

echo
echo "hello-app is running on every host:"
prefix=${gateway%.*}
for i in 1 2 3; do
    echo "  host$i: http://$prefix.$((10 + i)):8080/"
done
[ -n "$services" ] && echo "$services"
cat <<EOT

Try next (credentials: --credentials $demo/data/credentials, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from it):
  export FERRY_SERVER=$FERRY_SERVER
  $ferry instances --credentials $demo/data/credentials
  $ferry list --credentials $demo/data/credentials
  $ferry get <deployment-id> --credentials $demo/data/credentials
  (edit examples/hello-app/www/index.html)
  $ferry push hello examples/hello-app --credentials $demo/data/credentials
  $ferry deploy hello web --wait --credentials $demo/data/credentials
  $ferry build list --credentials $demo/data/credentials
  $ferry build start hello-build --source examples/hello-build --follow --credentials $demo/data/credentials
  console: $FERRY_SERVER/console/builds   badge: $FERRY_SERVER/badges/builds/hello-build.svg

Grow the fleet: two spare hosts wait. A scaling group launches them, and each
gets hello-app (the group's last good revision) before anything else:
  $ferry scaling-group create extra --provider local --fleet-dir $(cd "$demo" && pwd)/fleet --desired 1 --max 2 --tag app=hello --credentials $demo/data/credentials
  $ferry scaling-group set-capacity extra 2 --credentials $demo/data/credentials
  $ferry group show hello web --credentials $demo/data/credentials     # extra-1, extra-2: joining, then current

The AWS CLI works too (ferry speaks CodeDeploy's API):
  AWS_SHARED_CREDENTIALS_FILE=$demo/data/credentials AWS_DEFAULT_REGION=us-east-1 \\
    AWS_CA_BUNDLE=$demo/data/tls/ca.pem aws --endpoint-url $FERRY_SERVER deploy list-deployments --application-name hello --deployment-group-name web

  scripts/demo.sh stop
EOT
