// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The kernel's floor for a sys_enter_openat hook: a program that does nothing
 * (vigil-bench open-overhead compares the policy engine against it). */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_openat")
int empty_openat(void *ctx) { return 0; }

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[256]);
} path_scratch SEC(".maps");

/* The floor of any path filter on this hook: the empty program plus the one helper call that
 * reads the path from user memory, which Vigil's filter and bpftrace's both have to make. */
SEC("tracepoint/syscalls/sys_enter_openat")
int read_path_openat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&path_scratch, &zero);
	if (buf)
		bpf_probe_read_user_str(buf, 256, (void *)ctx->args[1]);
	return 0;
}
