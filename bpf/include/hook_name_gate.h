/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The name gate (PolicyEngine/NameGate.swift): before a file hook walks a file's dentries to
 * its global path (~1 us), it reads the file's own name and looks "/" + name up in the
 * argument's set of last components. A miss lets name_gate_rejects (hook_filters.h) pass over
 * every Equal and Postfix filter on the argument: an open of a file no such filter names
 * costs no walk.
 *
 * The gate only ever passes a file on: where the path's last component may differ from the
 * dentry's own name (a file system's root, a mount's root: the path then ends at the
 * mountpoint) or the file is not reached cheaply, it leaves the flag unset.
 */
#ifndef VIGIL_HOOK_NAME_GATE_H
#define VIGIL_HOOK_NAME_GATE_H

#include "hook_args.h"
#include "hook_filters.h"

/* A subprogram (one copy, verified per call with `i` and `flavour` constants, as read_arg). */
static __noinline void read_name_gate(void *ctx, __u32 flavour, struct vigil_hook_record *r, int i)
{
	if (i < 0 || i >= VIGIL_HOOK_ARGS)
		return;
	struct vigil_hook_arg *a = &r->args[i];
	struct vigil_hook_slot *slot = &r->slots[i];
	a->flags = 0;
	a->dev = 0;
	a->ino = 0;
	__u64 raw = arg_raw(ctx, flavour, r, i);
	struct path p = {};
	switch (hook_config.args[i].kind) {
	case VIGIL_ARG_FD: {
		struct file *f = vigil_fd_file(bpf_get_current_task_btf(), (__s32)raw); /* NULL for a failed call */
		if (!f)
			return;
		bpf_core_read(&p, sizeof(p), &f->f_path);
		break;
	}
	case VIGIL_ARG_FILE:
		if (!raw)
			return;
		bpf_core_read(&p, sizeof(p), &((struct file *)raw)->f_path);
		break;
	case VIGIL_ARG_PATH:
		if (!raw)
			return;
		bpf_core_read(&p, sizeof(p), (struct path *)raw);
		break;
	default: return;
	}
	if (!p.dentry || !p.mnt || BPF_CORE_READ(p.mnt, mnt_root) == p.dentry)
		return;
	struct vigil_dhead head;
	if (vigil_dhead_read(&head, p.dentry) < 0 || head.parent == p.dentry)
		return;
	__u32 n = head.name.len;
	if (n == 0 || n > VIGIL_ARG_BYTES - 2)
		return;
	slot->data[0] = '/';
	if (bpf_probe_read_kernel(&slot->data[1], n & (VIGIL_ARG_BYTES - 1), head.name.name) < 0)
		return;
	if (string_set_match(hook_config.args[i].name_set, slot->data, n + 1, true) >= 0)
		return;
	a->flags = VIGIL_ARG_NAME_MISS;
	if (hook_config.args[i].flags & VIGIL_ARGF_NAME_GATE_ID) {
		__s64 mode;
		vigil_inode_id(p.dentry, &a->dev, &a->ino, &mode);
	}
}

#endif /* VIGIL_HOOK_NAME_GATE_H */
