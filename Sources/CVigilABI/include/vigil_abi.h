/* SPDX-License-Identifier: Apache-2.0 */
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

#define VIGIL_COMM_LEN 16
#define VIGIL_PATH_LEN 256
#define VIGIL_TEST_NAME_LEN 64

/* Record kinds (struct vigil_record_header.kind). */
#define VIGIL_RECORD_EXEC 1u
#define VIGIL_RECORD_TEST 100u

/* Leads every ring-buffer record. size is the full record size in bytes. */
struct vigil_record_header {
	__u32 kind;
	__u32 size;
	__u64 ktime_ns; /* bpf_ktime_get_ns() when the record was made */
};
_Static_assert(sizeof(struct vigil_record_header) == 16, "vigil_record_header size");

/* One exec seen by the base exec sensor (sched_process_exec). */
struct vigil_exec_record {
	struct vigil_record_header header;
	__u32 pid;      /* thread-group id (user-visible pid) after exec */
	__u32 tid;      /* thread id that called exec */
	__u32 ppid;     /* real parent's thread-group id */
	__u32 uid;
	__u8 comm[VIGIL_COMM_LEN];
	__u8 filename[VIGIL_PATH_LEN]; /* binary path as passed to exec, NUL-terminated */
};
_Static_assert(sizeof(struct vigil_exec_record) == 16 + 16 + 16 + 256, "vigil_exec_record size");

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

#endif /* VIGIL_ABI_H */
