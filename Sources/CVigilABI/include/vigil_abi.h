/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vigil_abi.h: the single definition of every record and constant that crosses
 * the boundary between Vigil's eBPF programs (bpf/) and the Swift agent.
 *
 * Both sides include this file: clang -target bpf through -I, Swift through the
 * CVigilABI module. Rules (see README "Wire ABI"):
 *  - fixed-width fields only (__u8/__u16/__u32/__u64/__s32/__s64), never bool/int/long
 *    or enum-typed fields: kinds travel as __u32 and Swift decodes them with a failable enum;
 *  - explicit padding, every struct size pinned by _Static_assert;
 *  - every ring-buffer record starts with struct vigil_record_header.
 */
#ifndef VIGIL_ABI_H
#define VIGIL_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VIGIL_COMM_LEN	      16
#define VIGIL_PATH_LEN	      256  /* paths from the in-kernel dentry walk (power of 2) */
#define VIGIL_ARGS_LEN	      1024 /* exec arguments, NUL-separated (power of 2) */
#define VIGIL_CGROUP_PATH_LEN 256  /* cgroup v2 path below the hierarchy root (power of 2) */
#define VIGIL_TEST_NAME_LEN   64

/* Record kinds (struct vigil_record_header.kind). Also the index of the loss counters. */
#define VIGIL_RECORD_EXEC     1u
#define VIGIL_RECORD_EXIT     2u
#define VIGIL_RECORD_FORK     3u
#define VIGIL_RECORD_KIND_MAX 16u /* size of the per-kind loss counter array */
#define VIGIL_RECORD_TEST     100u

/* struct vigil_exec_record.flags */
#define VIGIL_EXEC_ARGS_TRUNCATED (1u << 0)
#define VIGIL_EXEC_PATH_TRUNCATED (1u << 1)
#define VIGIL_EXEC_CWD_TRUNCATED  (1u << 2)
#define VIGIL_EXEC_NO_PARENT	  (1u << 3) /* the parent was not in the process table */
#define VIGIL_EXEC_STDIN_SOCKET	  (1u << 4) /* descriptor 0 is a socket at exec */
#define VIGIL_EXEC_STDOUT_SOCKET  (1u << 5) /* descriptor 1 is a socket at exec */
#define VIGIL_EXEC_PARENT_STDIO_SOCKET \
	(1u << 6) /* the parent's descriptor 0 or 1 is a socket, or (stdin a pty) the parent \
		     holds an IPv4/IPv6 socket in its first 16: a shell on a pty behind a connection */
/* struct vigil_process.flags */
#define VIGIL_PROC_CLONE  (1u << 0) /* forked, has not exec'd since */
#define VIGIL_PROC_PROCFS (1u << 1) /* seeded from /proc at agent start */
#define VIGIL_PROC_ROOT_VIEW \
	(1u << 2) /* the process's root is not the agent's: binary[binary_root_off..] is its view */
#define VIGIL_PROC_LONG_PATH (1u << 3) /* binary holds the first and last VIGIL_PATH_END_BYTES bytes */

/* Namespace slots in struct vigil_exec_record.ns, in Tetragon's order. */
#define VIGIL_NS_UTS		   0
#define VIGIL_NS_IPC		   1
#define VIGIL_NS_MNT		   2
#define VIGIL_NS_PID		   3
#define VIGIL_NS_PID_FOR_CHILDREN  4
#define VIGIL_NS_NET		   5
#define VIGIL_NS_TIME		   6
#define VIGIL_NS_TIME_FOR_CHILDREN 7
#define VIGIL_NS_CGROUP		   8
#define VIGIL_NS_USER		   9
#define VIGIL_NS_COUNT		   10

/* Leads every ring-buffer record. size is the full record size in bytes. */
struct vigil_record_header {
	__u32 kind;
	__u32 size;
	__u64 ktime_ns; /* bpf_ktime_get_ns() when the record was made */
};
_Static_assert(sizeof(struct vigil_record_header) == 16, "vigil_record_header size");

/*
 * The identity of one process image: the exec (or fork, for a clone that has not exec'd)
 * time and pid. User space turns it into Tetragon's exec_id, base64("node:ktime:pid").
 */
struct vigil_exec_id {
	__u64 ktime;
	__u32 pid;
	__u32 pad;
};
_Static_assert(sizeof(struct vigil_exec_id) == 16, "vigil_exec_id size");

/* In-kernel process table (map "processes", key: tgid): lets every hook tag its events
 * and match on the caller's executable (matchBinaries) without leaving the kernel. */
struct vigil_process {
	struct vigil_exec_id id;
	struct vigil_exec_id parent;
	__u32 flags;
	__u32 binary_len;      /* bytes in binary, without the NUL */
	__u64 binary_ino;      /* the executable's identity (matchBinaries: a hardlink of a listed binary is it) */
	__u32 binary_dev;      /* its super block's device, kernel encoding */
	__u16 binary_root_off; /* VIGIL_PROC_ROOT_VIEW: where the path as the process sees it starts */
	__u16 binary_full_len; /* the global path's full length (VIGIL_PROC_LONG_PATH when > binary_len) */
	/* matchBinaries followChildren: bit i is set when this process or an ancestor (since the
	 * slot's policy loaded) ran a binary of slot i (map follow_binaries); a fork inherits it */
	__u64 follow;
	/* the executable's global path (from the agent's root, through bind mounts and chroots; the
	 * first and last VIGIL_PATH_END_BYTES bytes when longer); a clone keeps its parent's */
	__u8 binary[VIGIL_PATH_LEN];
};
_Static_assert(sizeof(struct vigil_process) == 64 + VIGIL_PATH_LEN, "vigil_process size");

/* Map "follow_binaries" (the process sensor's; key: a binary's identity): the followChildren
 * slots that list that binary (bit i: slot i). An exec of it sets those bits in its process's
 * table entry (vigil_process.follow), and every fork copies them to the child, so a selector
 * with followChildren matches the process and all its descendants, reparented or not. */
#define VIGIL_FOLLOW_SLOTS    64
#define VIGIL_FOLLOW_BINARIES 4096
struct vigil_follow_key {
	__u32 dev; /* the binary's super block device, kernel encoding */
	__u32 pad;
	__u64 ino;
};
_Static_assert(sizeof(struct vigil_follow_key) == 16, "vigil_follow_key size");

/* Map "sb_roots" (key: a super block's device, kernel encoding): where that file system's root
 * is in the agent's view, e.g. "" for the root file system, "/dev/shm" for its tmpfs. Kept by
 * the agent from /proc/self/mountinfo; the in-kernel path walk stops at a super block root it
 * finds here, so bind mounts and chroots resolve to the file's own place. */
#define VIGIL_SB_ROOT_BYTES 256
struct vigil_sb_root {
	__u32 len;
	__u32 pad;
	char path[VIGIL_SB_ROOT_BYTES];
};
_Static_assert(sizeof(struct vigil_sb_root) == 8 + VIGIL_SB_ROOT_BYTES, "vigil_sb_root size");

/* One exec, from sched_process_exec. */
struct vigil_exec_record {
	struct vigil_record_header header;
	struct vigil_exec_id id;
	struct vigil_exec_id parent;
	__u32 pid; /* thread-group id after exec */
	__u32 tid;
	__u32 ppid;  /* real parent's thread-group id */
	__u32 flags; /* VIGIL_EXEC_* */
	__u32 uid, gid, euid, egid;
	__u32 auid; /* login uid, 4294967295 when unset */
	__u32 pad;
	__u64 cap_permitted, cap_effective, cap_inheritable;
	__u32 ns[VIGIL_NS_COUNT];
	__u64 cgroup_id;
	__u64 start_boottime; /* task->start_boottime, ns since boot (process start) */
	__u16 args_len;	      /* bytes used in args */
	__u16 pad2[3];
	__u64 stdin_pipe;  /* the pipe on descriptor 0 (its inode: number ^ device << 32), 0 if not a pipe */
	__u64 stdout_pipe; /* the same for descriptor 1: `a | b` gives a's stdout_pipe == b's stdin_pipe */
	__u8 comm[VIGIL_COMM_LEN];
	__u8 cgroup_path[VIGIL_CGROUP_PATH_LEN]; /* e.g. /system.slice/docker-<id>.scope */
	__u8 binary[VIGIL_PATH_LEN];		 /* executable's full path (dentry walk) */
	__u8 cwd[VIGIL_PATH_LEN];
	__u8 args[VIGIL_ARGS_LEN]; /* argv including argv[0], NUL-separated */
};
_Static_assert(sizeof(struct vigil_exec_record) == 16 + 32 + 16 + 24 + 24 + 40 + 16 + 8 + 16 + 16 + 256 + 512 + 1024,
	       "vigil_exec_record size");

/* A new thread group (fork/clone without CLONE_THREAD). */
struct vigil_fork_record {
	struct vigil_record_header header;
	struct vigil_exec_id id;     /* the child's clone identity */
	struct vigil_exec_id parent; /* the forking process's identity */
	__u32 pid;
	__u32 ppid;
	__u8 comm[VIGIL_COMM_LEN];
};
_Static_assert(sizeof(struct vigil_fork_record) == 16 + 32 + 8 + 16, "vigil_fork_record size");

/* A thread group's end (its last thread exited). */
struct vigil_exit_record {
	struct vigil_record_header header;
	struct vigil_exec_id id;
	__u32 pid;
	__u32 tid;
	__u32 exit_code; /* as wait(2) encodes it: status << 8, or the signal in the low 7 bits */
	__u32 pad;
	__u8 comm[VIGIL_COMM_LEN];
};
_Static_assert(sizeof(struct vigil_exit_record) == 16 + 16 + 16 + 16, "vigil_exit_record size");

/*
 * Generic record used by the kernel tests in bpf/tests/ (fentry, kprobe, LSM fixtures).
 * value and ret carry whatever the fixture reports; name is a NUL-terminated string.
 */
struct vigil_test_record {
	struct vigil_record_header header;
	__u32 pid;
	__s32 ret;
	__u64 value;
	__u8 name[VIGIL_TEST_NAME_LEN];
};
_Static_assert(sizeof(struct vigil_test_record) == 16 + 16 + 64, "vigil_test_record size");

#include "vigil_hook_abi.h"
#include "vigil_net_abi.h"
#include "vigil_datapath_abi.h"

#endif /* VIGIL_ABI_H */
