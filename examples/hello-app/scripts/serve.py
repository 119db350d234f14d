#!/usr/bin/env python3
"""Serves /srv/hello/www on the port in HELLO_PORT (default 8080), plus /health."""
import http.server
import os
import sys

ROOT = "/srv/hello/www"


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ROOT, **kwargs)

    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok\n")
            return
        super().do_GET()

    def log_message(self, fmt, *args):
        pass


port = int(os.environ.get("HELLO_PORT", "8080"))
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
sys.exit(0)
