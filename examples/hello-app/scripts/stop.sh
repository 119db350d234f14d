#!/bin/sh
# Stop the running server, if any. Runs from the *previous* revision.
if [ -f /srv/hello/server.pid ]; then
    kill "$(cat /srv/hello/server.pid)" 2>/dev/null || true
    rm -f /srv/hello/server.pid
fi
