/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Common prelude for every Vigil eBPF program: kernel types, libbpf helpers, the wire ABI. */
#ifndef VIGIL_BPF_H
#define VIGIL_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil_abi.h"

#ifndef EPERM
#define EPERM 1
#endif
#ifndef EACCES
#define EACCES 13
#endif

/* An inode's file type (i_mode & VIGIL_S_IFMT_MASK), as the kernel's S_IFMT and S_IFREG. */
#define VIGIL_S_IFMT_MASK 0170000
#define VIGIL_S_IFREG	  0100000

/* Hides a value's known range from the compiler, so the bound check that follows stays in the
 * program (the verifier needs it; clang would drop it as redundant). */
#define vigil_opaque(v) asm volatile("" : "+r"(v))

/* Fill a record header; size is the sizeof of the full record type. _at: with a time the
 * caller already read (a clock read costs ~60 ns on this project's VMs). */
static __always_inline void vigil_header_at(struct vigil_record_header *h, __u32 kind, __u32 size, __u64 ktime_ns)
{
	h->kind = kind;
	h->size = size;
	h->ktime_ns = ktime_ns;
}

static __always_inline void vigil_header(struct vigil_record_header *h, __u32 kind, __u32 size)
{
	vigil_header_at(h, kind, size, bpf_ktime_get_ns());
}

/* The inode of the pid namespace `task` lives in (ns_of_pid(task_pid(task))). Processes of
 * the initial namespace (level 0) are read with BTF loads; a deeper level is a variable index
 * into the upid array, which only helper reads can take (level <= 32, MAX_PID_NS_LEVEL: the
 * mask keeps the index provably bounded). */
static __always_inline __u32 vigil_pid_ns_inum(struct task_struct *task)
{
	struct pid *tp = task->thread_pid;
	unsigned int level = tp->level;
	if (level == 0)
		return tp->numbers[0].ns->ns.inum;
	return BPF_CORE_READ(tp, numbers[level & 31].ns, ns.inum);
}

#endif /* VIGIL_BPF_H */
