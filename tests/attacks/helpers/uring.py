#!/usr/bin/env python3
"""File operations done through io_uring instead of system calls, as io_uring rootkits do
(no open, read, write, rename, ... syscall is made for the file: only io_uring_enter).

usage: uring.py METHOD PATH [ARG]
  read          IORING_OP_OPENAT PATH, then IORING_OP_READ: prints the first line read
  read-async    the same with IOSQE_ASYNC: the open runs on an io_uring worker thread
  read-openat2  IORING_OP_OPENAT2 PATH, then IORING_OP_READ
  read-direct   IORING_OP_OPENAT into a fixed-file slot (no descriptor in the process's
                table), then IORING_OP_READ with IOSQE_FIXED_FILE
  append        IORING_OP_OPENAT PATH O_WRONLY|O_APPEND, then IORING_OP_WRITE of ARG + "\\n"
  rename        IORING_OP_RENAMEAT PATH -> ARG
  unlink        IORING_OP_UNLINKAT PATH
  link          IORING_OP_LINKAT PATH -> ARG (a hardlink named ARG)
  symlink       IORING_OP_SYMLINKAT: ARG becomes a symlink to PATH
  setxattr      IORING_OP_SETXATTR PATH: extended attribute ARG (NAME=VALUE)
  fsetxattr     IORING_OP_OPENAT PATH, then IORING_OP_FSETXATTR ARG (NAME=VALUE) on it
  ftruncate     IORING_OP_OPENAT PATH for writing, then IORING_OP_FTRUNCATE to ARG bytes (6.9+)
Exit 0 on success; exit 1 with the errno when the kernel refused an operation.
Raw syscalls through ctypes: no liburing needed.
"""
import ctypes, mmap, os, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
SYS_IO_URING_SETUP, SYS_IO_URING_ENTER, SYS_IO_URING_REGISTER = 425, 426, 427
OFF_SQ_RING, OFF_CQ_RING, OFF_SQES = 0, 0x8000000, 0x10000000
ENTER_GETEVENTS = 1
REGISTER_FILES = 2
OP_OPENAT, OP_READ, OP_WRITE, OP_OPENAT2 = 18, 22, 23, 28
OP_RENAMEAT, OP_UNLINKAT, OP_SYMLINKAT, OP_LINKAT = 35, 36, 38, 39
OP_FSETXATTR, OP_SETXATTR, OP_FTRUNCATE = 41, 42, 55
SQE_FIXED_FILE, SQE_ASYNC = 1, 1 << 4
AT_FDCWD = -100
keep = []  # buffers the kernel reads from must outlive the submission


def cstr(s):
    b = ctypes.create_string_buffer(s.encode())
    keep.append(b)
    return ctypes.addressof(b)


class Ring:
    def __init__(self, entries=4):
        params = ctypes.create_string_buffer(120)
        self.fd = libc.syscall(SYS_IO_URING_SETUP, entries, params)
        if self.fd < 0:
            sys.exit("io_uring_setup: errno %d" % ctypes.get_errno())
        sq_entries, cq_entries = struct.unpack_from("II", params, 0)
        sq = struct.unpack_from("IIIIIIIIQ", params, 40)  # head tail mask entries flags dropped array
        cq = struct.unpack_from("IIIIIIIIQ", params, 80)  # head tail mask entries overflow cqes flags
        self.sq_entries = sq_entries
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        self.sq = mmap.mmap(self.fd, sq[6] + sq_entries * 4, mmap.MAP_SHARED, prot, offset=OFF_SQ_RING)
        self.cq = mmap.mmap(self.fd, cq[5] + cq_entries * 16, mmap.MAP_SHARED, prot, offset=OFF_CQ_RING)
        self.sqes = mmap.mmap(self.fd, sq_entries * 64, mmap.MAP_SHARED, prot, offset=OFF_SQES)
        self.sq_off, self.cq_off = sq, cq

    def run(self, opcode, fd=0, addr=0, length=0, off=0, op_flags=0, flags=0, file_index=0, addr2=0, addr3=0):
        """Submits one SQE and waits for its completion: returns the CQE's result."""
        tail = struct.unpack_from("I", self.sq, self.sq_off[1])[0]
        index = tail & struct.unpack_from("I", self.sq, self.sq_off[2])[0]
        sqe = bytearray(64)
        struct.pack_into("BBHiQQIIQ", sqe, 0, opcode, flags, 0, fd, off or addr2, addr, length, op_flags, 7)
        struct.pack_into("I", sqe, 44, file_index)
        struct.pack_into("Q", sqe, 48, addr3)
        self.sqes[index * 64:(index + 1) * 64] = bytes(sqe)
        struct.pack_into("I", self.sq, self.sq_off[6] + index * 4, index)
        struct.pack_into("I", self.sq, self.sq_off[1], tail + 1)
        if libc.syscall(SYS_IO_URING_ENTER, self.fd, 1, 1, ENTER_GETEVENTS, None, 0) < 0:
            sys.exit("io_uring_enter: errno %d" % ctypes.get_errno())
        head = struct.unpack_from("I", self.cq, self.cq_off[0])[0]
        mask = struct.unpack_from("I", self.cq, self.cq_off[2])[0]
        _, res, _ = struct.unpack_from("QiI", self.cq, self.cq_off[5] + (head & mask) * 16)
        struct.pack_into("I", self.cq, self.cq_off[0], head + 1)
        return res


def check(what, res):
    if res < 0:
        sys.stderr.write("%s: errno %d\n" % (what, -res))
        sys.exit(1)
    return res


def read_and_print(ring, fd, fixed=False):
    buf = ctypes.create_string_buffer(64)
    n = check("read", ring.run(OP_READ, fd=fd, addr=ctypes.addressof(buf), length=64, flags=SQE_FIXED_FILE if fixed else 0))
    sys.stdout.write(buf.raw[:n].decode(errors="replace").split("\n")[0] + "\n")


def main():
    method, path = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    ring = Ring()
    if method in ("read", "read-async"):
        flags = SQE_ASYNC if method == "read-async" else 0
        fd = check("openat", ring.run(OP_OPENAT, fd=AT_FDCWD, addr=cstr(path), op_flags=os.O_RDONLY, flags=flags))
        read_and_print(ring, fd)
    elif method == "read-openat2":
        how = ctypes.create_string_buffer(struct.pack("QQQ", os.O_RDONLY, 0, 0))
        keep.append(how)
        fd = check("openat2", ring.run(OP_OPENAT2, fd=AT_FDCWD, addr=cstr(path), length=24, off=ctypes.addressof(how)))
        read_and_print(ring, fd)
    elif method == "read-direct":
        table = (ctypes.c_int * 1)(-1)  # one sparse slot
        if libc.syscall(SYS_IO_URING_REGISTER, ring.fd, REGISTER_FILES, table, 1) < 0:
            sys.exit("io_uring_register: errno %d" % ctypes.get_errno())
        check("openat direct", ring.run(OP_OPENAT, fd=AT_FDCWD, addr=cstr(path), op_flags=os.O_RDONLY, file_index=1))
        read_and_print(ring, 0, fixed=True)
    elif method == "append":
        fd = check("openat", ring.run(OP_OPENAT, fd=AT_FDCWD, addr=cstr(path), op_flags=os.O_WRONLY | os.O_APPEND))
        data = ctypes.create_string_buffer((arg + "\n").encode())
        check("write", ring.run(OP_WRITE, fd=fd, addr=ctypes.addressof(data), length=len(arg) + 1, off=(1 << 64) - 1))
    elif method == "rename":
        check("renameat", ring.run(OP_RENAMEAT, fd=AT_FDCWD, addr=cstr(path), length=AT_FDCWD & 0xffffffff, addr2=cstr(arg)))
    elif method == "unlink":
        check("unlinkat", ring.run(OP_UNLINKAT, fd=AT_FDCWD, addr=cstr(path)))
    elif method == "link":
        check("linkat", ring.run(OP_LINKAT, fd=AT_FDCWD, addr=cstr(path), length=AT_FDCWD & 0xffffffff, addr2=cstr(arg)))
    elif method == "symlink":
        check("symlinkat", ring.run(OP_SYMLINKAT, fd=AT_FDCWD, addr=cstr(path), addr2=cstr(arg)))
    elif method in ("setxattr", "fsetxattr"):
        name, value = arg.split("=", 1)
        val = ctypes.create_string_buffer(value.encode())
        keep.append(val)
        if method == "setxattr":
            check("setxattr", ring.run(OP_SETXATTR, addr=cstr(name), addr2=ctypes.addressof(val), addr3=cstr(path), length=len(value)))
        else:
            fd = check("openat", ring.run(OP_OPENAT, fd=AT_FDCWD, addr=cstr(path), op_flags=os.O_RDONLY))
            check("fsetxattr", ring.run(OP_FSETXATTR, fd=fd, addr=cstr(name), addr2=ctypes.addressof(val), length=len(value)))
    elif method == "ftruncate":
        fd = check("openat", ring.run(OP_OPENAT, fd=AT_FDCWD, addr=cstr(path), op_flags=os.O_WRONLY))
        res = ring.run(OP_FTRUNCATE, fd=fd, off=int(arg))
        if res == -22:  # EINVAL: this kernel has no IORING_OP_FTRUNCATE (before 6.9)
            sys.stderr.write("this kernel has no IORING_OP_FTRUNCATE (Linux 6.9+)\n")
            sys.exit(77)
        check("ftruncate", res)
    else:
        sys.exit("unknown method " + method)


main()
