// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The kernel's floor for any hook, for vigil-bench suite: a program that does nothing, and
 * one that writes a 64-byte record per event to a ring buffer nobody reads (sized so a
 * round never fills it). Attached by the bench to the workload's own tracepoint. */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024 * 1024);
} floor_ring SEC(".maps");

struct floor_record {
	__u64 words[8];
};

SEC("tracepoint")
int floor_empty(void *ctx) { return 0; }

SEC("tracepoint")
int floor_ringbuf(void *ctx)
{
	struct floor_record r = {};
	r.words[0] = bpf_ktime_get_ns();
	r.words[1] = bpf_get_current_pid_tgid();
	bpf_ringbuf_output(&floor_ring, &r, sizeof(r), BPF_RB_NO_WAKEUP);
	return 0;
}
