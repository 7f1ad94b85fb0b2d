/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps every Vigil object shares: the process sensor creates them, every policy hook
 * object reuses them by file descriptor (BPFMap.reuse), so the definitions must agree: they
 * live here once.
 *   events:    one ring buffer for exec/fork/exit and hook records, in order; sized at load.
 *   processes: tgid -> exec identity, parent identity, binary (struct vigil_process).
 */
#ifndef VIGIL_SHARED_MAPS_H
#define VIGIL_SHARED_MAPS_H

#include "vigil_bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct vigil_process);
} processes SEC(".maps");

/* The exec identity of the caller's table entry `proc`; for a process the table does not hold,
 * ktime 0 and the pid (user space then takes the pid's current image). */
static __always_inline void vigil_exec_id_of(struct vigil_exec_id *out, const struct vigil_process *proc, __u32 tgid)
{
	if (proc) {
		*out = proc->id;
	} else {
		out->ktime = 0;
		out->pid = tgid;
		out->pad = 0;
	}
}

#endif
