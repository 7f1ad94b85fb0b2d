// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Base exec sensor: one record per successful exec, from the classic
 * sched/sched_process_exec tracepoint (present on every kernel Vigil supports).
 */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Reservation failures, so that loss is counted in the kernel and never silent. */
__u64 lost_records = 0;

SEC("tracepoint/sched/sched_process_exec")
int vigil_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct vigil_exec_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&lost_records, 1);
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	vigil_header(&r->header, VIGIL_RECORD_EXEC, sizeof(*r));
	r->pid = pid_tgid >> 32;
	r->tid = (__u32)pid_tgid;
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	r->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	/* __data_loc: low 16 bits are the offset of the string from the start of ctx. */
	unsigned short off = ctx->__data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(r->filename, sizeof(r->filename), (void *)ctx + off);
	bpf_ringbuf_submit(r, 0);
	return 0;
}
