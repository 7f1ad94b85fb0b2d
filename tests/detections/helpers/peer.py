#!/usr/bin/env python3
"""A "remote host" for the length of one command: a network namespace joined to this one by
a veth pair (this side 10.201.N.1/30, the peer 10.201.N.2/30), with TCP listeners on the
peer. Each listener accepts every connection, sends "exit" (so a reverse shell that reached
it ends at once) and closes it. Nothing is left behind: the namespace, the link and the
listeners go when the command ends. Never another machine: the peer is this host's own
namespace.

usage: peer.py [--also ADDR]... N PORT[,PORT...] CMD [ARG ...]
  ({peer} in the arguments becomes 10.201.N.2; --also gives the peer one more IPv4 address,
  e.g. the cloud metadata address 169.254.169.254, routed to it for the command's length so
  that nothing reaches a real host by that address)
"""
import subprocess, sys

LISTENER = r"""
import socket, sys, threading
def serve(s):
    while True:
        c, _ = s.accept()
        def one(c):
            try:
                c.sendall(b"exit\n")
                c.settimeout(2)
                c.recv(4096)
            except OSError:
                pass
            c.close()
        threading.Thread(target=one, args=(c,), daemon=True).start()
for port in sys.argv[1].split(","):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    s.listen(16)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()  # until the command is done
"""


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    argv, also = sys.argv[1:], []
    while argv[:1] == ["--also"] and len(argv) > 1:
        also.append(argv[1])
        argv = argv[2:]
    if len(argv) < 3:
        sys.exit(__doc__)
    n, ports, command = int(argv[0]), argv[1], argv[2:]
    name, here, there = "vigil-det-%d" % n, "vgdh%d" % n, "vgdp%d" % n
    mine, peer = "10.201.%d.1" % n, "10.201.%d.2" % n
    ip("netns", "del", name, check=False)  # left over from an interrupted run
    ip("link", "del", here, check=False)
    listener = None
    try:
        ip("netns", "add", name)
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", name)
        ip("addr", "add", mine + "/30", "dev", here)
        ip("link", "set", here, "up")
        ip("-n", name, "addr", "add", peer + "/30", "dev", there)
        ip("-n", name, "link", "set", there, "up")
        ip("-n", name, "link", "set", "lo", "up")
        for a in also:
            ip("-n", name, "addr", "add", a + "/32", "dev", there)
            ip("route", "add", a + "/32", "via", peer, "dev", here)
        listener = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", LISTENER, ports], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if listener.stdout.readline().strip() != b"ready":
            sys.exit("peer.py: the listener did not start")
        rc = subprocess.run([a.replace("{peer}", peer) for a in command]).returncode
    finally:
        if listener:
            listener.kill()
            listener.wait()
        ip("netns", "del", name, check=False)
        ip("link", "del", here, check=False)  # its routes go with it
    sys.exit(rc)


main()
