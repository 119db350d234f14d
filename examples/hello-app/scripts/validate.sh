#!/bin/sh
# Wait (bounded) for the server to answer its health check.
port="${HELLO_PORT:-8080}"
for _ in $(seq 1 50); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" 2>/dev/null; then
        echo "healthy on port $port"
        exit 0
    fi
    sleep 0.1
done
echo "server did not become healthy" >&2
exit 1
