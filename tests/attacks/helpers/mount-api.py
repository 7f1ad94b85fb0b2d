#!/usr/bin/env python3
"""Bind-mounts SOURCE over TARGET with the new mount API (open_tree + move_mount), as
util-linux 2.39+ and container runtimes do: no mount(2) call is made.

usage: mount-api.py SOURCE TARGET
"""
import ctypes, os, sys

libc = ctypes.CDLL(None, use_errno=True)
SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429
AT_FDCWD = -100
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC = 1, os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4

source, target = sys.argv[1], sys.argv[2]
tree = libc.syscall(SYS_OPEN_TREE, AT_FDCWD, source.encode(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
if tree < 0:
    sys.exit("open_tree: errno %d" % ctypes.get_errno())
if libc.syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH) < 0:
    sys.exit("move_mount: errno %d" % ctypes.get_errno())
