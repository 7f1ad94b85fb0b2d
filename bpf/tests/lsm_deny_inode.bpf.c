// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kernel-test fixture: BPF-LSM file_open returns -EPERM for one inode (set in rodata
 * before load) and reports each denial.
 */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u64 denied_inode = 0;
const volatile __u64 denied_dev = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("lsm/file_open")
int BPF_PROG(deny_marker_open, struct file *file, int ret)
{
	if (ret != 0)
		return ret; /* an earlier LSM already decided */
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	if (BPF_CORE_READ(inode, i_ino) != denied_inode || BPF_CORE_READ(inode, i_sb, s_dev) != denied_dev)
		return 0;
	struct vigil_test_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (r) {
		vigil_header(&r->header, VIGIL_RECORD_TEST, sizeof(*r));
		r->pid = bpf_get_current_pid_tgid() >> 32;
		r->ret = -EPERM;
		r->value = denied_inode;
		bpf_get_current_comm(r->name, VIGIL_COMM_LEN);
		bpf_ringbuf_submit(r, 0);
	}
	return -EPERM;
}
