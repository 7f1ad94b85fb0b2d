/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A pathname a caller passed to a syscall, resolved as far as the kernel side can before the
 * syscall runs (the syscall tracepoint tier, where no hook sees the dentry the kernel reaches):
 *
 *   1. the string is normalised left to right: empty and "." components dropped, ".." pops the
 *      previous component; ".." beyond the first component climbs the base directory instead;
 *   2. /proc/self/root, /proc/self/cwd and /proc/self/fd/N (also thread-self and the caller's
 *      own pid) switch the base to the caller's root, working directory or descriptor N;
 *      /proc/PID/root of another process is taken as the agent's root; another process's
 *      cwd or fd cannot be followed from here: the result is marked VIGIL_ARG_UNRESOLVED and
 *      path filters fail closed on it (a positive operator matches, a negated one holds);
 *   3. the base: the caller's root for an absolute name, else the directory descriptor (the
 *      *at syscalls) or the working directory; ".." climbs are done on its dentries, crossing
 *      mounts as the kernel does and never above the caller's root;
 *   4. the result is the base's global path (vigil_resolve.h) followed by the literal
 *      components.
 *
 * What stays literal: components after the base are not looked up, so a symlink or a mount
 * point inside them is not followed (no helper walks the dentry cache by name). The BPF-LSM
 * tier sees the resolved dentries and has no such gap; docs/policy-engine.md says which
 * policies need it.
 */
#ifndef VIGIL_PATHNAME_H
#define VIGIL_PATHNAME_H

#include "vigil_resolve.h"
#include "vigil_fd.h"

#define VIGIL_PN_COMPONENTS 64 /* literal components remembered for ".." */
#define VIGIL_AT_FDCWD	    -100

#define VIGIL_PN_BASE_ROOT   0 /* the caller's root (absolute names) */
#define VIGIL_PN_BASE_PWD    1 /* the working directory */
#define VIGIL_PN_BASE_FD     2 /* descriptor `base_fd` (a dirfd, or /proc/self/fd/N) */
#define VIGIL_PN_BASE_GLOBAL 3 /* the agent's root (/proc/PID/root of another process) */

/* Tokenizer state. In the per-CPU scratch, not on the stack: the verifier checks a bpf_loop
 * callback until its states converge, and values it tracks exactly (a counter starting at 0 on
 * the stack) never converge; loaded from a map they are unknown scalars and do. */
struct vigil_pn_state {
	__u32 n;     /* input length */
	__u32 o;     /* literal length */
	__u32 comp;  /* lit offset of the current component's '/' */
	__u32 clen;  /* bytes of the current component so far */
	__u32 depth; /* remembered components */
	__u32 up;    /* ".." beyond the literal components: climbs of the base */
	__u32 base;  /* VIGIL_PN_BASE_* */
	__s32 base_fd;
	__u32 tgid;
	__u32 unresolved;
};

struct vigil_pn_scratch {
	struct vigil_pn_state st;
	char in[VIGIL_GPATH_LEN];
	char lit[VIGIL_GPATH_LEN * 2];	   /* "/a/b": the literal components, each after a '/' */
	__u16 starts[VIGIL_PN_COMPONENTS]; /* lit offset of each remembered component's '/' */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_pn_scratch);
} vigil_pn_map SEC(".maps");

static __always_inline bool vigil_pn_is(const char *lit, __u32 at, __u32 len, const char *word, __u32 wlen)
{
	if (len != wlen)
		return false;
	for (__u32 k = 0; k < 12; k++) {
		if (k >= wlen)
			break;
		if (lit[(at + k) & (VIGIL_GPATH_LEN * 2 - 1)] != word[k])
			return false;
	}
	return true;
}

/* The decimal number in lit[at, at+len), or -1. */
static __always_inline __s64 vigil_pn_number(const char *lit, __u32 at, __u32 len)
{
	if (len == 0 || len > 10)
		return -1;
	__s64 v = 0;
	for (__u32 k = 0; k < 10; k++) {
		if (k >= len)
			break;
		char c = lit[(at + k) & (VIGIL_GPATH_LEN * 2 - 1)];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	return v;
}

/* After a component was remembered: /proc/{self,thread-self,PID}/{root,cwd,fd/N} at the start
 * of an absolute name moves the base there and starts the literal part over. A global
 * subprogram: checked once, not inside every check of the tokenizer's callback (it was two
 * thirds of the verifier's work on each hook that resolves a pathname). */
__noinline int vigil_pn_proc(struct vigil_pn_scratch *p)
{
	if (!p)
		return 0;
	struct vigil_pn_state *st = &p->st;
	if (st->base != VIGIL_PN_BASE_ROOT || st->up != 0 || (st->depth != 3 && st->depth != 4))
		return 0;
	__u16 s0 = p->starts[0], s1 = p->starts[1], s2 = p->starts[2];
	__u32 l0 = s1 - s0 - 1, l1 = s2 - s1 - 1;
	__u32 end2 = st->depth == 3 ? st->o : p->starts[3];
	__u32 l2 = end2 - s2 - 1;
	if (!vigil_pn_is(p->lit, s0 + 1, l0, "proc", 4))
		return 0;
	bool self = vigil_pn_is(p->lit, s1 + 1, l1, "self", 4) || vigil_pn_is(p->lit, s1 + 1, l1, "thread-self", 11);
	__s64 pid = self ? -1 : vigil_pn_number(p->lit, s1 + 1, l1);
	if (!self && pid < 0)
		return 0;
	if (pid == st->tgid)
		self = true;
	if (st->depth == 3) {
		if (vigil_pn_is(p->lit, s2 + 1, l2, "root", 4)) {
			st->base = self ? VIGIL_PN_BASE_ROOT : VIGIL_PN_BASE_GLOBAL;
		} else if (vigil_pn_is(p->lit, s2 + 1, l2, "cwd", 3)) {
			if (self)
				st->base = VIGIL_PN_BASE_PWD;
			else
				st->unresolved = 1;
		} else {
			return 0; /* fd waits for its number */
		}
	} else {
		if (!vigil_pn_is(p->lit, s2 + 1, l2, "fd", 2))
			return 0;
		__u16 s3 = p->starts[3];
		__s64 fd = vigil_pn_number(p->lit, s3 + 1, st->o - s3 - 1);
		if (fd < 0)
			return 0;
		if (self) {
			st->base = VIGIL_PN_BASE_FD;
			st->base_fd = fd;
		} else {
			st->unresolved = 1;
		}
	}
	if (st->unresolved)
		return 0; /* keep the literal /proc/PID/... for the report */
	st->o = 0;
	st->depth = 0;
	return 0;
}

/* The end of a component (at '/' or the end of the input). */
static __always_inline void vigil_pn_end(struct vigil_pn_scratch *p, struct vigil_pn_state *st)
{
	__u32 len = st->clen;
	st->clen = 0;
	if (len == 0)
		return; /* "//", a leading or trailing '/' */
	char c0 = p->lit[(st->comp + 1) & (VIGIL_GPATH_LEN * 2 - 1)];
	char c1 = p->lit[(st->comp + 2) & (VIGIL_GPATH_LEN * 2 - 1)];
	if (len == 1 && c0 == '.') {
		st->o = st->comp;
		return;
	}
	if (len == 2 && c0 == '.' && c1 == '.') {
		st->o = st->comp;
		if (st->depth > 0) {
			st->depth--;
			st->o = p->starts[st->depth & (VIGIL_PN_COMPONENTS - 1)];
		} else if (st->base != VIGIL_PN_BASE_ROOT && st->base != VIGIL_PN_BASE_GLOBAL) {
			st->up++; /* above the literal part: climb the base (".." of a root is the root) */
		}
		return;
	}
	if (st->depth < VIGIL_PN_COMPONENTS)
		p->starts[st->depth & (VIGIL_PN_COMPONENTS - 1)] = st->comp;
	st->depth++;
	vigil_pn_proc(p);
}

static long vigil_pn_step(__u32 i, void *data)
{
	__u32 zero = 0;
	struct vigil_pn_scratch *p = bpf_map_lookup_elem(&vigil_pn_map, &zero);
	if (!p || i >= VIGIL_GPATH_LEN)
		return 1;
	struct vigil_pn_state *st = &p->st;
	char c = i < st->n ? p->in[i & VIGIL_GPATH_MASK] : 0;
	if (c == '/' || c == 0) {
		vigil_pn_end(p, st);
		return c == 0 ? 1 : 0;
	}
	if (st->o >= VIGIL_GPATH_LEN - 2)
		return 1; /* longer than PATH_MAX: the kernel refuses it too */
	if (st->clen == 0) {
		st->comp = st->o;
		p->lit[st->o & (VIGIL_GPATH_LEN * 2 - 1)] = '/';
		st->o++;
	}
	p->lit[st->o & (VIGIL_GPATH_LEN * 2 - 1)] = c;
	st->o++;
	st->clen++;
	return 0;
}

/* ".." on a directory the way the kernel's follow_dotdot takes it: up one dentry, through the
 * mount it is the root of, never above the caller's root. */
struct vigil_climb {
	__u64 dentry;
	__u64 mnt; /* struct mount * */
	__u64 root_dentry;
	__u64 root_mnt;
	__u32 left;
};

static long vigil_climb_step(__u32 i, void *data)
{
	struct vigil_climb *c = data;
	if (c->left == 0)
		return 1;
	for (int hops = 0; hops < 8; hops++) {
		if (c->dentry == c->root_dentry && c->mnt == c->root_mnt)
			return 1; /* the caller's root: ".." stays */
		struct mount *m = (struct mount *)c->mnt;
		struct dentry *d = (struct dentry *)c->dentry;
		if (m && d == BPF_CORE_READ(m, mnt.mnt_root)) {
			struct mount *parent = BPF_CORE_READ(m, mnt_parent);
			if (!parent || parent == m)
				return 1;
			c->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
			c->mnt = (__u64)parent;
			continue; /* the mountpoint may itself be a mount root */
		}
		break;
	}
	struct dentry *d = (struct dentry *)c->dentry; /* outside the CO-RE macro: vigil_climb is not a kernel type */
	c->dentry = (__u64)BPF_CORE_READ(d, d_parent);
	c->left--;
	return 0;
}

#define VIGIL_PN_HAS_DIRFD  1u /* the call takes a directory descriptor (the *at calls) */
#define VIGIL_PN_KERNEL_STR 2u /* `name` is a kernel address (an io_uring request's struct filename) */

/*
 * Resolves the pathname at user address `name` (dirfd: a directory descriptor, or
 * VIGIL_AT_FDCWD) into the argument. `opts`: VIGIL_PN_*.
 * A global subprogram, checked once per program by the verifier (see vigil_read_path).
 */
__noinline int vigil_pathname(struct vigil_hook_arg *a, struct vigil_hook_slot *slot, __u64 name, __s64 dirfd,
			      __u32 opts)
{
	bool has_dirfd = opts & VIGIL_PN_HAS_DIRFD;
	if (!a || !slot)
		return 0;
	__u8 *out = slot->data;
	__u32 zero = 0;
	struct vigil_pn_scratch *p = bpf_map_lookup_elem(&vigil_pn_map, &zero);
	struct task_struct *task = bpf_get_current_task_btf();
	a->flags |= VIGIL_ARG_NO_IDENTITY;
	if (!p) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return 0;
	}
	long n = opts & VIGIL_PN_KERNEL_STR ? bpf_probe_read_kernel_str(p->in, VIGIL_GPATH_LEN, (void *)name)
					    : bpf_probe_read_user_str(p->in, VIGIL_GPATH_LEN, (void *)name);
	if (n <= 1) { /* an empty name (AT_EMPTY_PATH works on the dirfd itself) resolves to the base */
		n = 1;
		p->in[0] = 0;
	}
	struct vigil_pn_state *stp = &p->st;
	__builtin_memset(stp, 0, sizeof(*stp));
	stp->n = (n - 1) & VIGIL_GPATH_MASK;
	stp->base = p->in[0] == '/'			   ? VIGIL_PN_BASE_ROOT
		    : has_dirfd && dirfd != VIGIL_AT_FDCWD ? VIGIL_PN_BASE_FD
							   : VIGIL_PN_BASE_PWD;
	stp->base_fd = dirfd;
	stp->tgid = task->tgid;
	bpf_loop(VIGIL_GPATH_LEN, vigil_pn_step, NULL, 0);
	/* the map value again: the verifier forgets what the callback may have written */
	p = bpf_map_lookup_elem(&vigil_pn_map, &zero);
	if (!p) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return 0;
	}
	struct vigil_pn_state st = p->st;

	/* the base directory */
	struct fs_struct *fs = task->fs;
	struct vfsmount *vmnt = NULL;
	struct dentry *dentry = NULL;
	if (st.base == VIGIL_PN_BASE_ROOT) {
		vmnt = BPF_CORE_READ(fs, root.mnt);
		dentry = BPF_CORE_READ(fs, root.dentry);
	} else if (st.base == VIGIL_PN_BASE_PWD) {
		vmnt = BPF_CORE_READ(fs, pwd.mnt);
		dentry = BPF_CORE_READ(fs, pwd.dentry);
	} else if (st.base == VIGIL_PN_BASE_FD) {
		struct file *f = vigil_fd_file(task, st.base_fd);
		if (f) {
			vmnt = BPF_CORE_READ(f, f_path.mnt);
			dentry = BPF_CORE_READ(f, f_path.dentry);
		} else {
			st.unresolved = 1; /* not an open descriptor: the syscall fails with EBADF */
		}
	}
	if (st.up && dentry && vmnt) {
		struct vigil_climb c = {
			.dentry = (__u64)dentry,
			.mnt = (__u64)container_of(vmnt, struct mount, mnt),
			.root_dentry = (__u64)BPF_CORE_READ(fs, root.dentry),
			.root_mnt = (__u64)container_of(BPF_CORE_READ(fs, root.mnt), struct mount, mnt),
			.left = st.up,
		};
		bpf_loop(VIGIL_GPATH_STEPS, vigil_climb_step, &c, 0);
		dentry = (struct dentry *)c.dentry;
		vmnt = &((struct mount *)c.mnt)->mnt;
	}

	struct vigil_gpath_scratch *s = vigil_gpath_scratch();
	if (!s) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return 0;
	}
	struct vigil_gpath base = {.off = VIGIL_GPATH_LEN - 1, .len = 0, .root_off = VIGIL_ROOT_OFF_NONE};
	if (dentry && vigil_gpath_walk(vmnt, dentry, task, &base) < 0) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return 0;
	}
	if (!dentry)
		s->buf[VIGIL_GPATH_LEN - 1] = 0;
	/* The base path ends at buf[VIGIL_GPATH_LEN - 1]; the literal part is copied right after it,
	 * into the scratch's second half, so the joined path is one run of bytes and every copy
	 * out of it is one read of a bounded size into the slot. */
	__u32 start = base.off & VIGIL_GPATH_MASK;
	__u32 blen = base.len;
	__u32 llen = st.o & VIGIL_GPATH_MASK;
	if (blen == 1 && llen > 0) {
		blen = 0; /* base "/" then "/x": one slash */
		start = VIGIL_GPATH_LEN - 1;
	}
	if (llen > 0)
		bpf_probe_read_kernel(&s->buf[VIGIL_GPATH_LEN - 1], llen, p->lit);
	__u32 total = blen + llen;
	if (total == 0) {
		out[0] = '/';
		out[1] = 0;
		a->len = 1;
	} else if (total < VIGIL_ARG_BYTES) {
		__u32 n = total;
		vigil_opaque(n); /* clang knows total < 256 and drops the mask; the verifier needs it */
		bpf_probe_read_kernel(out, n & (VIGIL_ARG_BYTES - 1), &s->buf[start & VIGIL_GPATH_MASK]);
		__u32 end = total;
		vigil_opaque(end);
		out[end & (VIGIL_ARG_BYTES - 1)] = 0;
		a->len = total;
		if (base.root_off != VIGIL_ROOT_OFF_NONE &&
		    (base.root_off < blen || (base.root_off == blen && llen > 0))) {
			a->root_off = base.root_off;
			a->flags |= VIGIL_ARG_ROOT_VIEW;
		}
	} else {
		bpf_probe_read_kernel(out, VIGIL_PATH_END_BYTES, &s->buf[start & VIGIL_GPATH_MASK]);
		__u32 tail = start + total - VIGIL_PATH_END_BYTES;
		vigil_opaque(tail);
		tail &= VIGIL_GPATH_LEN * 2 - 1;
		if (tail > VIGIL_GPATH_LEN * 2 - VIGIL_PATH_END_BYTES)
			tail = VIGIL_GPATH_LEN * 2 - VIGIL_PATH_END_BYTES;
		bpf_probe_read_kernel(out + VIGIL_PATH_END_BYTES, VIGIL_PATH_END_BYTES, &s->buf[tail]);
		a->len = VIGIL_ARG_BYTES;
		a->flags |= VIGIL_ARG_LONG_PATH;
	}
	a->full_len = total > 0xffff ? 0xffff : total;
	a->flags |= VIGIL_ARG_RESOLVED;
	if (st.unresolved)
		a->flags |= VIGIL_ARG_UNRESOLVED;
	if (base.truncated)
		a->flags |= VIGIL_ARG_TRUNCATED;
	return 0;
}

#endif /* VIGIL_PATHNAME_H */
