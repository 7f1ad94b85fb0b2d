#!/usr/bin/env python3
"""Opens a file the ways an attacker would, to test that the kernel-resolved file is judged.

usage: open-variants.py METHOD PATH [DIR]
  openat2           openat2(AT_FDCWD, PATH, O_RDONLY) through the raw syscall
  handle            name_to_handle_at(PATH) then open_by_handle_at on the mount
  dirfd             openat(open(DIR), PATH): PATH relative to a directory descriptor
  fdpath            open(DIR) as fd N, then open("/proc/self/fd/N/" + PATH)
Prints the first line read (nothing when killed or refused); exit 0 on success.
"""
import ctypes, ctypes.util, os, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
SYS_OPENAT2 = 437
SYS_NAME_TO_HANDLE_AT = 303
SYS_OPEN_BY_HANDLE_AT = 304


def read_fd(fd):
    data = os.read(fd, 64)
    sys.stdout.write(data.decode(errors="replace").split("\n")[0] + "\n")


def main():
    method, path = sys.argv[1], sys.argv[2]
    if method == "openat2":
        how = struct.pack("QQQ", os.O_RDONLY, 0, 0)  # struct open_how
        buf = ctypes.create_string_buffer(how)
        fd = libc.syscall(SYS_OPENAT2, AT_FDCWD, path.encode(), buf, len(how))
        if fd < 0:
            sys.exit("openat2: errno %d" % ctypes.get_errno())
        read_fd(fd)
    elif method == "handle":
        # struct file_handle { u32 handle_bytes; int handle_type; u8 f_handle[]; }
        buf = ctypes.create_string_buffer(8 + 128)
        struct.pack_into("I", buf, 0, 128)
        mount_id = ctypes.c_int()
        if libc.syscall(SYS_NAME_TO_HANDLE_AT, AT_FDCWD, path.encode(), buf, ctypes.byref(mount_id), 0) != 0:
            err = ctypes.get_errno()
            if err == 95:  # EOPNOTSUPP: this file system has no file handles (9p in the test VMs)
                sys.stderr.write("the file system of %s has no file handles (EOPNOTSUPP)\n" % path)
                sys.exit(77)
            sys.exit("name_to_handle_at: errno %d" % err)
        mount_fd = os.open("/", os.O_RDONLY)
        fd = libc.syscall(SYS_OPEN_BY_HANDLE_AT, mount_fd, buf, os.O_RDONLY)
        if fd < 0:
            sys.exit("open_by_handle_at: errno %d" % ctypes.get_errno())
        read_fd(fd)
    elif method == "dirfd":
        d = os.open(sys.argv[3], os.O_RDONLY | os.O_DIRECTORY)
        read_fd(os.open(path, os.O_RDONLY, dir_fd=d))
    elif method == "fdpath":
        d = os.open(sys.argv[3], os.O_RDONLY | os.O_DIRECTORY)
        read_fd(os.open("/proc/self/fd/%d/%s" % (d, path), os.O_RDONLY))
    else:
        sys.exit("unknown method " + method)


main()
