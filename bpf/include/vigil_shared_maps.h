/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps every Vigil object shares: the process sensor creates them, every policy hook
 * object reuses them by file descriptor (BPFMap.reuse), so the definitions must agree: they
 * live here once.
 *   events:    one ring buffer for exec/fork/exit and hook records, in order; sized at load.
 *   processes: tgid -> exec identity, parent identity, binary (struct vigil_process).
 *   sb_roots:  super block device -> where its root is in the agent's view (vigil_resolve.h),
 *              filled by the agent from /proc/self/mountinfo.
 * and how records are submitted to `events` (vigil_wakeup_flags).
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct vigil_sb_root);
} sb_roots SEC(".maps");

/* Bytes produced into `events` between two early wakeups of its reader (a quarter of the
 * ring; each loader sets it). Below that, records wait for the reader's poll timeout. */
const volatile __u64 wakeup_bytes = 256 * 1024;
/* The ring's producer position at this object's last early wakeup. */
__u64 vigil_last_wakeup_pos;

/*
 * The flags to submit a record with: a wakeup once `wakeup_bytes` have been produced (by
 * any object) since this object last woke the reader, otherwise none. Decided on the
 * producer position, a line the producing CPU has just written, not on the unread-data
 * count: that reads the consumer position, a line the reader's CPU writes, and cost
 * ~100 ns per record here (BENCHMARKS.md). Several objects (or CPUs racing) may each wake
 * the reader for the same stretch; a spare wakeup is harmless, a missing one is not.
 */
static __always_inline __u64 vigil_wakeup_flags(void)
{
	__u64 pos = bpf_ringbuf_query(&events, BPF_RB_PROD_POS);
	if (pos - vigil_last_wakeup_pos < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	vigil_last_wakeup_pos = pos;
	return BPF_RB_FORCE_WAKEUP;
}

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
