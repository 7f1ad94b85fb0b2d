/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Full paths from a struct path without bpf_d_path (which only fentry/LSM programs may
 * call, and this project's host kernel refuses those): walk d_parent up to the mount root,
 * cross to the parent mount at its mountpoint, repeat up to the global root.
 *
 * The path is built right to left in a per-CPU scratch buffer, then copied out.
 */
#ifndef VIGIL_PATH_H
#define VIGIL_PATH_H

#include "vigil_bpf.h"

#define VIGIL_PATH_MAX_COMPONENTS 40

/* Hides a value from clang's range reasoning so a bounds mask is not optimized away:
 * clang can prove the bound, the verifier cannot without the mask. */
#define VIGIL_PATH_MASK (VIGIL_PATH_LEN - 1)

/* Twice the path length: a component written at (offset & MASK) can never overrun. */
struct vigil_path_scratch {
	char buf[VIGIL_PATH_LEN * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_path_scratch);
} vigil_path_scratch_map SEC(".maps");

/*
 * Prepends "/" and `len` bytes of `name` to the path built right to left in s->buf, whose
 * start is *off. Returns 1 (and leaves the path as it is) when it does not fit.
 */
static __always_inline int vigil_path_prepend(struct vigil_path_scratch *s, __u32 *off, const char *name, __u32 len)
{
	__u32 o = *off & VIGIL_PATH_MASK;
	len &= 0xff;	 /* NAME_MAX 255: the mask bounds it for the verifier */
	if (len + 2 > o) /* keep o >= 1 so the final copy is 1..255 bytes */
		return 1;
	o -= len;
	vigil_opaque(o);
	/* o < VIGIL_PATH_LEN and len < 256: stays inside the 2x scratch */
	bpf_probe_read_kernel(&s->buf[o & VIGIL_PATH_MASK], len, name);
	o -= 1;
	vigil_opaque(o);
	s->buf[o & VIGIL_PATH_MASK] = '/';
	*off = o;
	return 0;
}

/* Copies the finished path (from off to the NUL) to out; "/" when nothing was prepended. */
static __always_inline void vigil_path_finish(struct vigil_path_scratch *s, __u32 off, __u8 *out)
{
	off &= VIGIL_PATH_MASK;
	if (off == VIGIL_PATH_LEN - 1) {
		off -= 1;
		s->buf[off] = '/';
	}
	__u32 n = (VIGIL_PATH_LEN - off) & VIGIL_PATH_MASK; /* bytes including the NUL */
	if (n == 0)
		n = 1;
	bpf_probe_read_kernel(out, n, &s->buf[off & VIGIL_PATH_MASK]);
}

/* The per-CPU scratch buffer with an empty path (its NUL) in place, or NULL. */
static __always_inline struct vigil_path_scratch *vigil_path_begin(void)
{
	__u32 zero = 0;
	struct vigil_path_scratch *s = bpf_map_lookup_elem(&vigil_path_scratch_map, &zero);
	if (s)
		s->buf[VIGIL_PATH_LEN - 1] = 0;
	return s;
}

/* Walk state, kept on the caller's stack and handed to each bpf_loop step. */
struct vigil_path_walk {
	__u64 dentry;	   /* struct dentry *: the component to add next */
	__u64 mnt;	   /* struct mount *: the mount it belongs to */
	__u64 mnt_root;	   /* struct dentry *: that mount's root */
	__u64 root_dentry; /* the task's root (chroot, container): the walk stops there, as d_path does */
	__u64 root_mnt;
	__u32 off; /* start of the path built so far in the scratch buffer */
	__s32 truncated;
};

/* A dentry's parent and name. */
struct vigil_dentry_head {
	struct dentry *parent;
	struct qstr name;
};

/* One helper call where the two fields are adjacent (every kernel from 5.x to 6.18 has
 * d_parent right before d_name), two otherwise: the walk's cost is its helper calls. */
static __always_inline int vigil_dentry_head_read(struct vigil_dentry_head *h, struct dentry *dentry)
{
	__u32 parent_at = bpf_core_field_offset(struct dentry, d_parent);
	if (bpf_core_field_offset(struct dentry, d_name) == parent_at + sizeof(h->parent))
		return bpf_probe_read_kernel(h, sizeof(*h), (void *)dentry + parent_at);
	h->parent = BPF_CORE_READ(dentry, d_parent);
	h->name = BPF_CORE_READ(dentry, d_name);
	return 0;
}

/*
 * One step: add one component, or cross one mount. A bpf_loop callback is verified once,
 * whatever the iteration count; an unrolled loop here explodes the verifier's state space
 * (each iteration branches and `off` differs on every path, so nothing is pruned).
 */
static long vigil_path_step(__u32 index, void *data)
{
	struct vigil_path_walk *w = data;
	__u32 zero = 0;
	struct vigil_path_scratch *s = bpf_map_lookup_elem(&vigil_path_scratch_map, &zero);
	if (!s)
		return 1;
	struct dentry *dentry = (struct dentry *)w->dentry;
	struct mount *mnt = (struct mount *)w->mnt;
	if (w->dentry == w->root_dentry && w->mnt == w->root_mnt)
		return 1; /* reached the task's root */
	struct vigil_dentry_head head;
	if (vigil_dentry_head_read(&head, dentry) < 0)
		return 1;
	struct dentry *parent = head.parent;
	if (dentry == parent && w->dentry != w->mnt_root && w->off == VIGIL_PATH_LEN - 1) {
		/* a pseudo file's lone dentry (memfd, anonymous shmem): its name, as d_path gives it */
		if (vigil_path_prepend(s, &w->off, (const char *)head.name.name, head.name.len))
			w->truncated = 1;
		return 1;
	}
	if (w->dentry == w->mnt_root || dentry == parent) {
		struct mount *mparent = BPF_CORE_READ(mnt, mnt_parent);
		if (mparent == mnt || !mparent)
			return 1; /* the global root */
		w->dentry = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = (__u64)mparent;
		w->mnt_root = (__u64)BPF_CORE_READ(mparent, mnt.mnt_root);
		return 0;
	}
	if (vigil_path_prepend(s, &w->off, (const char *)head.name.name, head.name.len)) {
		w->truncated = 1;
		return 1;
	}
	w->dentry = (__u64)parent;
	return 0;
}

/* vigil_path() result bit: components were left out because the path is too long. */
#define VIGIL_PATH_TRUNCATED (1 << 16)

/*
 * Writes the NUL-terminated full path of (vfsmnt, dentry), as seen from `task`'s root, to
 * out (VIGIL_PATH_LEN bytes). vfsmnt may be NULL: the path then stops at the dentry's file
 * system root. The pointers may be BTF-typed or plain values (hook arguments): every read
 * goes through CO-RE helpers.
 * Returns the length without the NUL, with VIGIL_PATH_TRUNCATED set when components were
 * left out, or -1 when no scratch space was available. Requires bpf_loop (Linux 5.17).
 */
static __noinline int vigil_path(struct vfsmount *vfsmnt, struct dentry *dentry, __u8 *out, struct task_struct *task)
{
	struct fs_struct *fs = task->fs;
	struct vfsmount *root_mnt = fs->root.mnt;
	struct vigil_path_scratch *s = vigil_path_begin();
	if (!s)
		return -1;
	struct vigil_path_walk w = {
		.dentry = (__u64)dentry,
		.mnt = vfsmnt ? (__u64)container_of(vfsmnt, struct mount, mnt) : 0,
		.mnt_root = (__u64)BPF_CORE_READ(vfsmnt, mnt_root),
		.off = VIGIL_PATH_LEN - 1,
		.root_dentry = (__u64)fs->root.dentry,
		.root_mnt = (__u64)container_of(root_mnt, struct mount, mnt),
	};
	bpf_loop(VIGIL_PATH_MAX_COMPONENTS, vigil_path_step, &w, 0);
	vigil_path_finish(s, w.off, out);
	__u32 off = w.off & VIGIL_PATH_MASK;
	int len = off >= VIGIL_PATH_LEN - 1 ? 1 : (int)(VIGIL_PATH_LEN - 1 - off);
	return len | (w.truncated ? VIGIL_PATH_TRUNCATED : 0);
}

/* Before Linux 6.15 the parent link was named `parent` (now `__parent`). */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *vigil_kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

struct vigil_kn_walk {
	__u64 kn;
	__u32 off;
	__s32 truncated;
};

/* One cgroup (kernfs) component per step; the root node has no parent and no name here. */
static long vigil_cgroup_step(__u32 index, void *data)
{
	struct vigil_kn_walk *w = data;
	__u32 zero = 0;
	struct vigil_path_scratch *s = bpf_map_lookup_elem(&vigil_path_scratch_map, &zero);
	if (!s)
		return 1;
	struct kernfs_node *kn = (struct kernfs_node *)w->kn;
	struct kernfs_node *parent = vigil_kn_parent(kn);
	if (!parent)
		return 1; /* the hierarchy root */
	const char *name = BPF_CORE_READ(kn, name);
	/* kernfs names carry no length: read into the upper half first to learn it. */
	long n = bpf_probe_read_kernel_str(&s->buf[VIGIL_PATH_LEN], VIGIL_PATH_LEN, name);
	if (n > 1 && vigil_path_prepend(s, &w->off, name, n - 1)) {
		w->truncated = 1;
		return 1;
	}
	w->kn = (__u64)parent;
	return 0;
}

/*
 * Writes the cgroup v2 path of `task` (below the hierarchy root, "/" for the root) to out
 * (VIGIL_PATH_LEN bytes). Returns 1 when truncated. Requires bpf_loop (Linux 5.17).
 */
static __noinline int vigil_cgroup_path(struct task_struct *task, __u8 *out)
{
	struct vigil_path_scratch *s = vigil_path_begin();
	if (!s)
		return -1;
	struct vigil_kn_walk w = {
		.kn = (__u64)task->cgroups->dfl_cgrp->kn,
		.off = VIGIL_PATH_LEN - 1,
	};
	bpf_loop(VIGIL_PATH_MAX_COMPONENTS, vigil_cgroup_step, &w, 0);
	vigil_path_finish(s, w.off, out);
	return w.truncated;
}

#endif /* VIGIL_PATH_H */
