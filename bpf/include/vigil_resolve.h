/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The file the kernel reached, as policies judge it: its global path and its identity.
 *
 * Global path: the path from the agent's root, whatever name the caller used. The walk goes up
 * the dentry chain of the file's own file system to that file system's root, then prepends
 * where the agent found that root mounted (map sb_roots, from /proc/self/mountinfo). So a
 * bind mount (of a directory, of a file, of a whole file system), a chroot, /proc/self/root
 * and a container's view all lead to the one path: /etc/shadow is /etc/shadow however it was
 * reached. A file system the agent does not know (mounted only in another mount namespace,
 * anonymous ones) is walked through its mounts to its namespace's root, as d_path would.
 *
 * Identity: the super block's device and the inode number, so a hardlink is the file it links.
 *
 * The caller's own view (relative to its root, what Tetragon's d_path shows) is the suffix
 * of the global path that starts where the walk passed the caller's root; kept when it differs
 * (chroots, containers).
 *
 * Paths up to VIGIL_GPATH_LEN (PATH_MAX) bytes are walked whole; a record slot keeps up to 255
 * bytes, or the first and last VIGIL_PATH_END_BYTES of a longer one (Prefix and Postfix look at
 * those ends, so a long path cannot hide a watched prefix).
 */
#ifndef VIGIL_RESOLVE_H
#define VIGIL_RESOLVE_H

#include "vigil_bpf.h"
#include "vigil_shared_maps.h"

#define VIGIL_GPATH_LEN	    4096
#define VIGIL_GPATH_MASK    (VIGIL_GPATH_LEN - 1)
#define VIGIL_GPATH_STEPS   512 /* components and mount crossings walked at most */
#define VIGIL_ROOT_OFF_NONE 0xffffffffu

/* Twice the path length: a component (at most 255 bytes) written at (offset & MASK) never overruns. */
struct vigil_gpath_scratch {
	char buf[VIGIL_GPATH_LEN * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_gpath_scratch);
} vigil_gpath_map SEC(".maps");

static __always_inline struct vigil_gpath_scratch *vigil_gpath_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&vigil_gpath_map, &zero);
}

/* Walk state, on the caller's stack, handed to each bpf_loop step. */
struct vigil_gwalk {
	__u64 dentry;	   /* struct dentry *: the component to add next */
	__u64 mnt;	   /* struct mount * the walk is in; 0 once it left the mount tree (in-sb walk) */
	__u64 mnt_root;	   /* that mount's root dentry */
	__u64 root_dentry; /* the caller's root: where its own view starts */
	__u32 off;	   /* start of the path built so far (right to left, NUL at VIGIL_GPATH_LEN - 1) */
	__u32 root_off;	   /* `off` when the walk passed the caller's root; VIGIL_ROOT_OFF_NONE before */
	__s32 truncated;
	__u32 rooted; /* the walk ended at a root the agent knows (sb_roots) */
};

/* Prepends "/" and `len` bytes of `name` (kernel memory) to the path; 1 when it does not fit. */
static __always_inline int vigil_gpath_prepend(struct vigil_gpath_scratch *s, __u32 *off, const char *name, __u32 len)
{
	__u32 o = *off & VIGIL_GPATH_MASK;
	len &= 0xff;	 /* NAME_MAX 255: the mask bounds it for the verifier */
	if (len + 2 > o) /* keep o >= 1 */
		return 1;
	o -= len;
	vigil_opaque(o);
	bpf_probe_read_kernel(&s->buf[o & VIGIL_GPATH_MASK], len, name);
	o -= 1;
	vigil_opaque(o);
	s->buf[o & VIGIL_GPATH_MASK] = '/';
	*off = o;
	return 0;
}

/* Prepends a known root's path (sb_roots: "" for the agent's root file system). */
static __always_inline int vigil_gpath_prepend_root(struct vigil_gpath_scratch *s, __u32 *off,
						    const struct vigil_sb_root *r)
{
	__u32 len = r->len;
	if (len == 0)
		return 0;
	__u32 o = *off & VIGIL_GPATH_MASK;
	if (len >= VIGIL_SB_ROOT_BYTES || len + 1 > o)
		return 1;
	o -= len;
	vigil_opaque(o);
	len &= VIGIL_SB_ROOT_BYTES - 1;
	bpf_probe_read_kernel(&s->buf[o & VIGIL_GPATH_MASK], len, r->path);
	*off = o;
	return 0;
}

/* A dentry's parent and name: one probe read where they are adjacent (every kernel 5.x-6.18). */
struct vigil_dhead {
	struct dentry *parent;
	struct qstr name;
};

static __always_inline int vigil_dhead_read(struct vigil_dhead *h, struct dentry *dentry)
{
	__u32 parent_at = bpf_core_field_offset(struct dentry, d_parent);
	if (bpf_core_field_offset(struct dentry, d_name) == parent_at + sizeof(h->parent))
		return bpf_probe_read_kernel(h, sizeof(*h), (void *)dentry + parent_at);
	h->parent = BPF_CORE_READ(dentry, d_parent);
	h->name = BPF_CORE_READ(dentry, d_name);
	return 0;
}

/*
 * One step: add a component, stop at a known file system root, or cross a mount. A bpf_loop
 * callback is verified once whatever the iteration count (an unrolled walk explodes the
 * verifier's state space: `off` differs on every path).
 */
static long vigil_gpath_step(__u32 index, void *data)
{
	struct vigil_gwalk *w = data;
	struct vigil_gpath_scratch *s = vigil_gpath_scratch();
	if (!s)
		return 1;
	struct dentry *dentry = (struct dentry *)w->dentry;
	if (w->root_off == VIGIL_ROOT_OFF_NONE && w->dentry == w->root_dentry)
		w->root_off = w->off; /* what the walk built so far is the path as the caller sees it */
	struct vigil_dhead head;
	if (vigil_dhead_read(&head, dentry) < 0)
		return 1;
	bool sb_root = head.parent == dentry;
	bool mnt_root = w->mnt && w->dentry == w->mnt_root;
	if (sb_root || mnt_root) {
		__u32 dev = BPF_CORE_READ(dentry, d_sb, s_dev);
		struct vigil_sb_root *known = bpf_map_lookup_elem(&sb_roots, &dev);
		if (known) {
			if (sb_root) {
				if (vigil_gpath_prepend_root(s, &w->off, known))
					w->truncated = 1;
				w->rooted = 1;
				return 1;
			}
			/* the root of a bind mount inside a file system the agent knows: go on up that file
			 * system, not to where the bind is mounted */
			w->mnt = 0;
		} else if (sb_root && !mnt_root && w->off == VIGIL_GPATH_LEN - 1) {
			/* a pseudo file's lone dentry (memfd, anonymous shmem): its name, as d_path gives it */
			if (vigil_gpath_prepend(s, &w->off, (const char *)head.name.name, head.name.len))
				w->truncated = 1;
			return 1;
		} else if (w->mnt) {
			/* a file system the agent does not know: through its mounts, as d_path */
			struct mount *m = (struct mount *)w->mnt;
			struct mount *parent = BPF_CORE_READ(m, mnt_parent);
			if (parent == m || !parent)
				return 1; /* the namespace's root */
			w->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
			w->mnt = (__u64)parent;
			w->mnt_root = (__u64)BPF_CORE_READ(parent, mnt.mnt_root);
			return 0;
		} else if (sb_root) {
			return 1; /* a dentry without its mount, on an unknown file system: relative to its root */
		}
	}
	if (vigil_gpath_prepend(s, &w->off, (const char *)head.name.name, head.name.len)) {
		w->truncated = 1;
		return 1;
	}
	w->dentry = (__u64)head.parent;
	return 0;
}

/* The result of a walk: where the path is in the scratch buffer and where the caller's view starts. */
struct vigil_gpath {
	__u32 off;	/* the path is s->buf[off .. VIGIL_GPATH_LEN - 1), NUL-terminated */
	__u32 len;	/* its length, without the NUL */
	__u32 root_off; /* offset of the caller's view in the path, VIGIL_ROOT_OFF_NONE when it is the same or unknown */
	__s32 truncated;
};

/*
 * Walks (vfsmnt, dentry) into the scratch buffer (see the top of this file). vfsmnt may be
 * NULL (a dentry argument): the walk then stays in the dentry's file system. `task` (a BTF
 * pointer) gives the caller's root (its own view). Returns -1 without scratch space. Requires
 * bpf_loop (5.17).
 */
static __noinline int vigil_gpath_walk(struct vfsmount *vfsmnt, struct dentry *dentry, struct task_struct *task,
				       struct vigil_gpath *out)
{
	struct vigil_gpath_scratch *s = vigil_gpath_scratch();
	if (!s)
		return -1;
	s->buf[VIGIL_GPATH_LEN - 1] = 0;
	struct vigil_gwalk w = {
		.dentry = (__u64)dentry,
		.mnt = vfsmnt ? (__u64)container_of(vfsmnt, struct mount, mnt) : 0,
		.mnt_root = vfsmnt ? (__u64)BPF_CORE_READ(vfsmnt, mnt_root) : 0,
		.root_dentry = (__u64)task->fs->root.dentry, /* BTF loads: no helper call */
		.off = VIGIL_GPATH_LEN - 1,
		.root_off = VIGIL_ROOT_OFF_NONE,
	};
	bpf_loop(VIGIL_GPATH_STEPS, vigil_gpath_step, &w, 0);
	__u32 off = w.off & VIGIL_GPATH_MASK;
	if (off >= VIGIL_GPATH_LEN - 1) {
		off = VIGIL_GPATH_LEN - 2;
		s->buf[off] = '/'; /* the root itself */
	}
	out->off = off;
	out->len = VIGIL_GPATH_LEN - 1 - off;
	out->truncated = w.truncated;
	out->root_off = VIGIL_ROOT_OFF_NONE;
	/* The caller's view differs only when its root is not where the global path starts. */
	if (w.root_off != VIGIL_ROOT_OFF_NONE && w.root_off > off && w.root_off <= VIGIL_GPATH_LEN - 1)
		out->root_off = w.root_off - off;
	return 0;
}

/*
 * Copies a walked path into `data` (VIGIL_ARG_BYTES): whole when it fits, else its first and
 * last VIGIL_PATH_END_BYTES bytes. Sets len, full_len, root_off and the flags.
 */
static __always_inline void vigil_gpath_emit(struct vigil_gpath_scratch *s, const struct vigil_gpath *p, __u8 *data,
					     __u32 *len, __u16 *full_len, __u16 *root_off, __u32 *flags,
					     __u32 root_flag, __u32 long_flag)
{
	__u32 off = p->off & VIGIL_GPATH_MASK;
	__u32 n = p->len;
	*full_len = n > 0xffff ? 0xffff : n;
	if (n < VIGIL_ARG_BYTES) {
		bpf_probe_read_kernel(data, (n + 1) & (VIGIL_ARG_BYTES - 1), &s->buf[off]);
		*len = n;
		/* a view of "" is the caller's root itself: "/" (never set when equal to the global path) */
		if (p->root_off != VIGIL_ROOT_OFF_NONE && p->root_off < n) {
			*root_off = p->root_off;
			*flags |= root_flag;
		}
		return;
	}
	bpf_probe_read_kernel(data, VIGIL_PATH_END_BYTES, &s->buf[off]);
	bpf_probe_read_kernel(data + VIGIL_PATH_END_BYTES, VIGIL_PATH_END_BYTES,
			      &s->buf[(VIGIL_GPATH_LEN - 1 - VIGIL_PATH_END_BYTES) & VIGIL_GPATH_MASK]);
	*len = VIGIL_ARG_BYTES;
	*flags |= long_flag;
}

/* Bytes read at once from the start of a struct (or of a field) to take several fields in one
 * helper call: every read is a call (~15-20 ns here), whatever its size up to this. */
#define VIGIL_CHUNK_BYTES 128

/*
 * Identity and mode of a dentry's inode: three helper calls where the fields lie close
 * together (d_inode .. d_sb in the dentry, i_mode .. i_ino in the inode: every kernel from
 * 5.x to 6.18), five otherwise. The offsets are CO-RE constants, so the verifier sees fixed
 * positions in the chunk. A subprogram: its chunk is not on the stack while the path walk's
 * frames are (inlined, the exec program's calls exceeded the 512-byte stack).
 */
static __noinline void vigil_inode_id(struct dentry *dentry, __u32 *dev, __u64 *ino, __s64 *mode)
{
	__u64 chunk[VIGIL_CHUNK_BYTES / 8] = {};
	struct inode *inode;
	struct super_block *sb;
	__u32 inode_at = bpf_core_field_offset(struct dentry, d_inode);
	__u32 sb_at = bpf_core_field_offset(struct dentry, d_sb);
	if (sb_at > inode_at && sb_at - inode_at + 8 <= VIGIL_CHUNK_BYTES && !(inode_at & 7) && !(sb_at & 7)) {
		bpf_probe_read_kernel(chunk, sb_at - inode_at + 8, (void *)dentry + inode_at);
		inode = (struct inode *)chunk[0];
		sb = (struct super_block *)chunk[((sb_at - inode_at) / 8) & (VIGIL_CHUNK_BYTES / 8 - 1)];
	} else {
		inode = BPF_CORE_READ(dentry, d_inode);
		sb = BPF_CORE_READ(dentry, d_sb);
	}
	*dev = BPF_CORE_READ(sb, s_dev);
	*ino = 0;
	*mode = 0;
	if (!inode)
		return;
	__u32 mode_at = bpf_core_field_offset(struct inode, i_mode);
	__u32 ino_at = bpf_core_field_offset(struct inode, i_ino);
	if (mode_at == 0 && ino_at + 8 <= VIGIL_CHUNK_BYTES && !(ino_at & 7)) {
		bpf_probe_read_kernel(chunk, ino_at + 8, inode);
		*mode = (__u16)chunk[0]; /* i_mode is the first field (umode_t, little endian) */
		*ino = chunk[(ino_at / 8) & (VIGIL_CHUNK_BYTES / 8 - 1)];
	} else {
		*ino = BPF_CORE_READ(inode, i_ino);
		*mode = BPF_CORE_READ(inode, i_mode);
	}
}

#endif /* VIGIL_RESOLVE_H */
