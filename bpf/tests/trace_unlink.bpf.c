// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kernel-test fixture: the same observation (an unlink by a given process) through
 * fentry and through kprobe, so each tier can be tested on its own. Both read the
 * name being unlinked from struct filename.
 */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_pid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline void report(struct filename *name, __s32 tier)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (pid != target_pid)
		return;
	struct vigil_test_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r)
		return;
	vigil_header(&r->header, VIGIL_RECORD_TEST, sizeof(*r));
	r->pid = pid;
	r->ret = tier;
	r->value = 0;
	const char *s = BPF_CORE_READ(name, name);
	bpf_probe_read_kernel_str(r->name, sizeof(r->name), s);
	bpf_ringbuf_submit(r, 0);
}

SEC("fentry/do_unlinkat")
int BPF_PROG(unlink_fentry, int dfd, struct filename *name)
{
	report(name, 1);
	return 0;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(unlink_kprobe, int dfd, struct filename *name)
{
	report(name, 2);
	return 0;
}
