#!/usr/bin/env python3
"""Copy FILE into an anonymous memory file (memfd, kept across exec) and exec CMD, with FD in
its arguments replaced by the memory file's /proc/PID/fd/N path: a program or script that
exists nowhere on disk, run through the dynamic loader or an interpreter.

usage: memfd-run.py NAME FILE CMD [ARG ...]
"""
import os, sys

if len(sys.argv) < 4:
    sys.exit(__doc__)
fd = os.memfd_create(sys.argv[1], 0)
with open(sys.argv[2], "rb") as f:
    os.write(fd, f.read())
path = "/proc/%d/fd/%d" % (os.getpid(), fd)
args = [a.replace("FD", path) for a in sys.argv[3:]]
os.execv(args[0], args)
