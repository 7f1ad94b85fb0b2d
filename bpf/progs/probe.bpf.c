// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Feature probes. Each program here is loaded (and, where it has an attach point,
 * attached and detached) on its own by KernelFeatures, to learn by trying what the
 * running kernel offers. They never emit anything and return "no opinion" values.
 * Attach targets are chosen to exist on every kernel from 5.15 on: security_file_open
 * is a non-inlined LSM dispatcher that is on the d_path allow-list.
 */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tp/sys_enter")
int probe_raw_tp(void *ctx) { return 0; }

SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_tp_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) { return 0; }

SEC("kprobe/security_file_open")
int probe_kprobe(void *ctx) { return 0; }

SEC("kprobe.multi/security_file_open")
int probe_kprobe_multi(void *ctx) { return 0; }

SEC("fentry/security_file_open")
int BPF_PROG(probe_fentry, struct file *file) { return 0; }

SEC("fexit/security_file_open")
int BPF_PROG(probe_fexit, struct file *file, int ret) { return 0; }

SEC("fmod_ret/security_file_open")
int BPF_PROG(probe_fmod_ret, struct file *file) { return 0; }

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file) { return 0; }

/* Attached to vigil_uprobe_probe_target in the probing executable (KernelFeatures). */
SEC("uprobe")
int probe_uprobe(struct pt_regs *ctx) { return 0; }

SEC("cgroup/connect4")
int probe_cgroup_sock_addr(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb) { return 1; }

/* TC_ACT_UNSPEC (-1): no opinion, so an attached probe never changes traffic. */
SEC("tc")
int probe_tc(struct __sk_buff *skb) { return -1; }

SEC("tc")
int probe_tcx(struct __sk_buff *skb) { return -1; }

/* Helpers that only some program types or kernels allow. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_send_signal(void *ctx)
{
	/* Only reached through a getppid by a process we never attach to. */
	if (bpf_get_current_pid_tgid() == 0)
		bpf_send_signal(0);
	return 0;
}

SEC("fentry/security_file_open")
int BPF_PROG(probe_d_path, struct file *file)
{
	char buf[16];
	if (bpf_get_current_pid_tgid() == 0)
		bpf_d_path((struct path *)&file->f_path, buf, sizeof(buf)); /* f_path is const since 6.x */
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_current_task_btf, struct task_struct *p)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return t->pid == 0;
}

SEC("kprobe/security_file_open")
int probe_override_return(struct pt_regs *ctx)
{
	if (bpf_get_current_pid_tgid() == 0)
		bpf_override_return(ctx, 0);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ringbuf SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_ring_buffer(void *ctx)
{
	if (bpf_get_current_pid_tgid() == 0)
		bpf_ringbuf_output(&probe_ringbuf, &ctx, sizeof(ctx), 0);
	return 0;
}
