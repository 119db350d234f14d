#!/bin/sh
# Start in the background with output redirected: a daemon that keeps the
# hook's stdout open would fail the event with OutputsLeftOpen.
nohup /srv/hello/bin/serve.py > /srv/hello/server.log 2>&1 &
echo $! > /srv/hello/server.pid
