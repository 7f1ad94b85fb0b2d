#!/usr/bin/env python3
"""Serve DIR on a loopback port for the length of one command: the download side of an
attack test, with nothing left running afterwards.

usage: serve-once.py DIR CMD [ARG ...]   ({url} in the arguments becomes http://127.0.0.1:PORT)
"""
import functools, http.server, subprocess, sys, threading

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=sys.argv[1]))
threading.Thread(target=server.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%d" % server.server_port
sys.exit(subprocess.run([a.replace("{url}", url) for a in sys.argv[2:]]).returncode)
