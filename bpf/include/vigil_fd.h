/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Descriptor lookup in the current task's table, shared by the policy hook (fd arguments)
 * and the network sensor (accept's new socket). */
#ifndef VIGIL_FD_H
#define VIGIL_FD_H

#include "vigil_bpf.h"

/* The file behind descriptor `fd` of `task` (a BTF pointer, from bpf_get_current_task_btf()),
 * or NULL. The task side is walked with plain BTF loads (a faulting load reads 0, so a task
 * without a table gives NULL); the table's slots are plain pointers, read with a probe read. */
static __always_inline struct file *vigil_fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = task->files->fdt;
	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd & 0xfffff]);
	return f;
}

#endif /* VIGIL_FD_H */
