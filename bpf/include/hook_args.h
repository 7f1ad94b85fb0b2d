/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading a hook's arguments into the record, one reader per VIGIL_ARG_* kind. Adding an
 * argument type means: a VIGIL_ARG_ constant (vigil_hook_abi.h), a case here, and its
 * Swift mapping in PolicyEngine/ArgumentLayout.swift.
 */
#ifndef VIGIL_HOOK_ARGS_H
#define VIGIL_HOOK_ARGS_H

#include "hook_maps.h"
#include "vigil_resolve.h"
#include "vigil_pathname.h"
#include "vigil_sock.h"
#include "vigil_fd.h"
#include "hook_uring.h"

/* x86-64 syscall argument `index` from the pt_regs a syscall wrapper receives. */
static __always_inline __u64 syscall_arg(struct pt_regs *regs, __u32 index)
{
	switch (index) {
	case 0: return BPF_CORE_READ(regs, di);
	case 1: return BPF_CORE_READ(regs, si);
	case 2: return BPF_CORE_READ(regs, dx);
	case 3: return BPF_CORE_READ(regs, r10);
	case 4: return BPF_CORE_READ(regs, r8);
	case 5: return BPF_CORE_READ(regs, r9);
	}
	return 0;
}

/* Raw 64-bit function argument `index` (a config constant) for the function-like flavours. */
static __always_inline __u64 function_arg(void *ctx, __u32 flavour, __u32 index)
{
	__u64 v = 0;
	bool syscall = hook_config.flags & VIGIL_HOOKF_SYSCALL_REGS;
	if (flavour == VIGIL_HOOK_KPROBE || flavour == VIGIL_HOOK_KRETPROBE || flavour == VIGIL_HOOK_UPROBE) {
		struct pt_regs *regs = ctx;
		if (syscall)
			return syscall_arg((struct pt_regs *)PT_REGS_PARM1(regs), index);
		switch (index) {
		case 0: return PT_REGS_PARM1(regs);
		case 1: return PT_REGS_PARM2(regs);
		case 2: return PT_REGS_PARM3(regs);
		case 3: return PT_REGS_PARM4(regs);
		case 4: return PT_REGS_PARM5(regs);
		}
		return 0;
	}
	if (flavour == VIGIL_HOOK_IOURING_COMPLETE || flavour == VIGIL_HOOK_IOURING_SUBMIT)
		return vigil_uring_arg(ctx, flavour == VIGIL_HOOK_IOURING_COMPLETE,
				       index); /* index: a VIGIL_URING_* field of the request */
	if (flavour == VIGIL_HOOK_SYSCALL_EXIT) {
		/* a syscall's arguments at its exit: the registers it was entered with (x86-64 keeps
		 * them in the task's saved pt_regs; the result went to ax) */
		return syscall_arg((struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf()), index);
	}
	if (flavour == VIGIL_HOOK_RAW_TP) {
		/* context loads need the offset in the instruction: one load per index */
		__u64 *args = ctx;
		switch (index) {
		case 0: return args[0];
		case 1: return args[1];
		case 2: return args[2];
		case 3: return args[3];
		case 4: return args[4];
		case 5: return args[5];
		}
		return 0;
	}
	/* trampolines (fentry, fexit, fmod_ret, lsm): the argument as a plain value */
	if (syscall) {
		bpf_get_func_arg(ctx, 0, &v);
		return syscall_arg((struct pt_regs *)v, index);
	}
	bpf_get_func_arg(ctx, index, &v);
	return v;
}

/* One context load with the offset in the instruction (inline asm: clang would otherwise
 * merge the cases below into a single load from ctx + off, which the verifier refuses). */
#define VIGIL_CTX_LOAD64(off)                                                      \
	case off: {                                                                \
		__u64 v;                                                           \
		asm volatile("%0 = *(u64 *)(%1 + " #off ")" : "=r"(v) : "r"(ctx)); \
		return v;                                                          \
	}

/*
 * A classic tracepoint's field at a config-constant offset and size. The verifier only
 * allows context loads at offsets fixed in the instruction, and this offset comes from the
 * config: 8-byte fields in the first 128 bytes (every syscall argument) get one direct load
 * per possible offset, of which the verifier keeps the one the config names; other fields
 * are copied with a helper (privileged programs may pass a moved context pointer to it).
 */
static __always_inline __u64 tracepoint_field(void *ctx, __u32 off, __u32 size, bool sign)
{
	if (size == 8) {
		/* clang-format off */
		switch (off) {
		VIGIL_CTX_LOAD64(8) VIGIL_CTX_LOAD64(16) VIGIL_CTX_LOAD64(24) VIGIL_CTX_LOAD64(32)
		VIGIL_CTX_LOAD64(40) VIGIL_CTX_LOAD64(48) VIGIL_CTX_LOAD64(56) VIGIL_CTX_LOAD64(64)
		VIGIL_CTX_LOAD64(72) VIGIL_CTX_LOAD64(80) VIGIL_CTX_LOAD64(88) VIGIL_CTX_LOAD64(96)
		VIGIL_CTX_LOAD64(104) VIGIL_CTX_LOAD64(112) VIGIL_CTX_LOAD64(120)
		}
		/* clang-format on */
	}
	__u64 v = 0;
	bpf_probe_read_kernel(&v, size & 7 ? size & 7 : 8, ctx + off);
	switch (size) {
	case 1: return sign ? (__u64)(__s64)(__s8)v : (__u8)v;
	case 2: return sign ? (__u64)(__s64)(__s16)v : (__u16)v;
	case 4: return sign ? (__u64)(__s64)(__s32)v : (__u32)v;
	}
	return v;
}

static __always_inline __u64 hook_return_value(void *ctx, __u32 flavour)
{
	__u64 v = 0;
	if (flavour == VIGIL_HOOK_KRETPROBE)
		return PT_REGS_RC((struct pt_regs *)ctx);
	if (flavour == VIGIL_HOOK_SYSCALL_EXIT)
		return ((struct trace_event_raw_sys_exit *)ctx)->ret;
	if (flavour == VIGIL_HOOK_IOURING_COMPLETE)
		return (__u64)vigil_uring_completed_file(ctx); /* the file the request opened or used */
	bpf_get_func_ret(ctx, &v);
	return v;
}

static __always_inline __s64 extend(__u64 raw, __u32 size, bool sign)
{
	switch (size) {
	case 1: return sign ? (__s64)(__s8)raw : (__s64)(__u8)raw;
	case 2: return sign ? (__s64)(__s16)raw : (__s64)(__u16)raw;
	case 4: return sign ? (__s64)(__s32)raw : (__s64)(__u32)raw;
	}
	return (__s64)raw;
}

/*
 * The file (mnt, dentry) the kernel reached, resolved (vigil_resolve.h): its global path (head
 * and tail when long), the caller's view where it differs, its identity; value: the inode mode
 * (file_arg permission, FileType). mnt may be 0 (a dentry argument).
 *
 * A global subprogram (not static): the verifier checks it once per program, on its own,
 * where a static one is checked again at every call site and for every selector that reads
 * the argument (a three-selector hook checked the path walk a dozen times: 1.8 s and 557,000
 * instructions of its 1,000,000 budget per hook). Its pointers arrive as sized memory that
 * may be NULL, and the kernel pointers as plain numbers.
 */
__noinline int vigil_read_path(struct vigil_hook_arg *a, struct vigil_hook_slot *slot, __u64 mnt, __u64 dentry)
{
	if (!a || !slot)
		return 0;
	__u8 *out = slot->data;
	if (!dentry) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		out[0] = 0;
		return 0;
	}
	vigil_inode_id((struct dentry *)dentry, &a->dev, &a->ino, &a->value);
	struct vigil_gpath p;
	struct vigil_gpath_scratch *s = vigil_gpath_scratch();
	if (!s ||
	    vigil_gpath_walk((struct vfsmount *)mnt, (struct dentry *)dentry, bpf_get_current_task_btf(), &p) < 0) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		out[0] = 0;
		return 0;
	}
	a->flags |= VIGIL_ARG_RESOLVED;
	vigil_gpath_emit(s, &p, out, &a->len, &a->full_len, &a->root_off, &a->flags, VIGIL_ARG_ROOT_VIEW,
			 VIGIL_ARG_LONG_PATH);
	if (p.truncated)
		a->flags |= VIGIL_ARG_TRUNCATED;
	return 0;
}

static __always_inline void read_file(struct vigil_hook_arg *a, struct vigil_hook_slot *slot, struct file *f)
{
	if (!f) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		slot->data[0] = 0;
		return;
	}
	/* struct path is {mnt, dentry}: one read for both */
	struct path p = {};
	bpf_core_read(&p, sizeof(p), &f->f_path);
	vigil_read_path(a, slot, (__u64)p.mnt, (__u64)p.dentry);
}

/* The file mapped at user address `addr` of the current task (bpf_find_vma). */
struct vigil_vma_find {
	__u64 file;
};

static long vigil_vma_file_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	((struct vigil_vma_find *)data)->file = (__u64)vma->vm_file;
	return 0;
}

/* struct sockaddr_un: the family, and the socket path (an abstract name, whose first byte is
 * NUL, as "@name", the way ss and Tetragon print it). `addrlen` is the caller's address length
 * (0: not known): an abstract name is exactly addrlen - 3 bytes and need not end with a NUL,
 * so without it the read stops at the first NUL, which may lie past the name. */
static __always_inline void read_sockaddr_un(struct vigil_hook_arg *a, __u8 *out, __u64 ptr, bool user, __u64 addrlen)
{
	__u16 family = 0;
	long err = user ? bpf_probe_read_user(&family, 2, (void *)ptr) : bpf_probe_read_kernel(&family, 2, (void *)ptr);
	if (err < 0) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		out[0] = 0;
		return;
	}
	a->value = family;
	const char *path = (const char *)ptr + 2;
	char first = 0;
	if (user)
		bpf_probe_read_user(&first, 1, path);
	else
		bpf_probe_read_kernel(&first, 1, path);
	/* sun_path is 108 bytes */
	__u64 room = addrlen > 2 && addrlen < 2 + 108 ? addrlen - 2 : 108;
	if (first == 0) { /* abstract: "@" and the name after the NUL, exactly as long as addrlen says */
		out[0] = '@';
		path++;
		__u32 n = addrlen > 3 ? (__u32)(room - 1) : 0;
		if (!addrlen) {
			long m = user ? bpf_probe_read_user_str(out + 1, 108, path)
				      : bpf_probe_read_kernel_str(out + 1, 108, path);
			a->len = (m > 0 ? (__u32)m : 1) & (VIGIL_ARG_BYTES - 1); /* "@" + name, its NUL not counted */
			return;
		}
		if (n > 107)
			n = 107;
		vigil_opaque(n); /* the mask below is what the verifier checks: clang must keep it */
		n &= 127;
		if (n && (user ? bpf_probe_read_user(out + 1, n, path) : bpf_probe_read_kernel(out + 1, n, path)) < 0)
			n = 0;
		out[(n + 1) & (VIGIL_ARG_BYTES - 1)] = 0;
		a->len = (n + 1) & (VIGIL_ARG_BYTES - 1);
		return;
	}
	__u32 want = (__u32)room + 1; /* a path need not end with a NUL inside addrlen either */
	if (want > 109)
		want = 109;
	if (want < 1)
		want = 1;
	vigil_opaque(want);
	want &= 127;
	long n = user ? bpf_probe_read_user_str(out, want, path) : bpf_probe_read_kernel_str(out, want, path);
	if (n <= 0) {
		out[0] = 0;
		n = 1;
	}
	a->len = (n - 1) & (VIGIL_ARG_BYTES - 1);
}

static __always_inline void read_sock(struct vigil_hook_arg *a, __u8 *out, struct sock *sk)
{
	struct vigil_sock_data *d = (struct vigil_sock_data *)out;
	if (!sk) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return;
	}
	vigil_sock_read(d, sk);
	a->len = sizeof(*d);
	a->value = d->family;
}

/* struct sockaddr (user or kernel memory): family, address and port into both the source and
 * destination fields, so SAddr/DAddr and SPort/DPort filters all see it. AF_UNIX: the path. */
static __always_inline void read_sockaddr(struct vigil_hook_arg *a, __u8 *out, __u64 ptr, bool user)
{
	struct vigil_sock_data *d = (struct vigil_sock_data *)out;
	/* The raw sockaddr goes in the unused tail of the argument's data, not on the stack:
	 * read_arg's frame plus the path walk's must stay within BPF's 512-byte stack. */
	struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)(out + 128);
	long err = user ? bpf_probe_read_user(sa6, sizeof(*sa6), (void *)ptr)
			: bpf_probe_read_kernel(sa6, sizeof(*sa6), (void *)ptr);
	if (err < 0) {
		/* a sockaddr_in near the end of a page: retry with its own size */
		err = user ? bpf_probe_read_user(sa6, sizeof(struct sockaddr_in), (void *)ptr)
			   : bpf_probe_read_kernel(sa6, sizeof(struct sockaddr_in), (void *)ptr);
	}
	if (err < 0) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return;
	}
	__u16 family = sa6->sin6_family;
	__u16 port = bpf_ntohs(sa6->sin6_port);
	__u32 v4 = ((struct sockaddr_in *)sa6)->sin_addr.s_addr;
	__builtin_memset(d, 0, sizeof(*d));
	d->family = family;
	d->sport = d->dport = port;
	if (family == VIGIL_AF_INET6) {
		bpf_probe_read_kernel(d->saddr, 16, &sa6->sin6_addr);
		bpf_probe_read_kernel(d->daddr, 16, &sa6->sin6_addr);
	} else if (family == VIGIL_AF_INET) {
		map_v4(d->saddr, v4);
		map_v4(d->daddr, v4);
	}
	a->len = sizeof(*d);
	a->value = d->family;
}

static __always_inline void read_user_ns(struct vigil_hook_arg *a, __u8 *out, struct user_namespace *ns)
{
	struct vigil_user_ns_data *d = (struct vigil_user_ns_data *)out;
	if (!ns) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return;
	}
	d->level = BPF_CORE_READ(ns, level);
	d->uid = BPF_CORE_READ(ns, owner.val);
	d->gid = BPF_CORE_READ(ns, group.val);
	d->inum = BPF_CORE_READ(ns, ns.inum);
	a->len = sizeof(*d);
	a->value = d->level;
}

static __always_inline void read_cred(struct vigil_hook_arg *a, __u8 *out, const struct cred *c)
{
	struct vigil_cred_data *d = (struct vigil_cred_data *)out;
	if (!c) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return;
	}
	d->uid = BPF_CORE_READ(c, uid.val);
	d->gid = BPF_CORE_READ(c, gid.val);
	d->suid = BPF_CORE_READ(c, suid.val);
	d->sgid = BPF_CORE_READ(c, sgid.val);
	d->euid = BPF_CORE_READ(c, euid.val);
	d->egid = BPF_CORE_READ(c, egid.val);
	d->fsuid = BPF_CORE_READ(c, fsuid.val);
	d->fsgid = BPF_CORE_READ(c, fsgid.val);
	d->securebits = BPF_CORE_READ(c, securebits);
	d->pad = 0;
	/* kernel_cap_t is u32[2] before 6.3 and a u64 after: 8 bytes either way */
	bpf_probe_read_kernel(&d->cap_permitted, 8, &c->cap_permitted);
	bpf_probe_read_kernel(&d->cap_effective, 8, &c->cap_effective);
	bpf_probe_read_kernel(&d->cap_inheritable, 8, &c->cap_inheritable);
	a->len = sizeof(*d);
	a->value = d->euid;
}

/* An sk_buff's network and transport headers: addresses, ports and protocol (skb_arg). */
static __always_inline void read_skb(struct vigil_hook_arg *a, __u8 *out, struct sk_buff *skb)
{
	struct vigil_sock_data *d = (struct vigil_sock_data *)out;
	if (!skb) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return;
	}
	__builtin_memset(d, 0, sizeof(*d));
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u8 first = 0;
	bpf_probe_read_kernel(&first, 1, head + nh);
	/* headers are copied into the argument's unused data tail, not the (tight) stack */
	if ((first >> 4) == 4) {
		struct iphdr *ip = (struct iphdr *)(out + 128);
		bpf_probe_read_kernel(ip, sizeof(*ip), head + nh);
		d->family = VIGIL_AF_INET;
		d->protocol = ip->protocol;
		map_v4(d->saddr, ip->saddr);
		map_v4(d->daddr, ip->daddr);
		if (th == (__u16)~0 || th == nh)
			th = nh + ip->ihl * 4;
	} else if ((first >> 4) == 6) {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(out + 128);
		bpf_probe_read_kernel(ip6, sizeof(*ip6), head + nh);
		d->family = VIGIL_AF_INET6;
		d->protocol = ip6->nexthdr;
		__builtin_memcpy(d->saddr, &ip6->saddr, 16);
		__builtin_memcpy(d->daddr, &ip6->daddr, 16);
		if (th == (__u16)~0 || th == nh)
			th = nh + sizeof(*ip6);
	}
	if (d->protocol == 6 || d->protocol == 17) { /* TCP, UDP: ports lead the header */
		__u16 ports[2] = {};
		bpf_probe_read_kernel(ports, sizeof(ports), head + th);
		d->sport = bpf_ntohs(ports[0]);
		d->dport = bpf_ntohs(ports[1]);
	}
	a->len = sizeof(*d);
	a->value = BPF_CORE_READ(skb, len);
}

/*
 * A connect hook lowered to a cgroup sock_addr program: the destination from the context
 * (the address the caller passed, before any rewrite), the socket's own end from its
 * bpf_sock. sockaddr arguments carry the destination in both fields, as read_sockaddr does.
 * Integer and other arguments do not exist here (the compiler lets none be filtered).
 */
static __always_inline void read_sock_addr_ctx(struct bpf_sock_addr *sa, __u32 flavour, struct vigil_hook_arg *a,
					       __u8 *out, __u32 kind)
{
	struct vigil_sock_data *d = (struct vigil_sock_data *)out;
	if (kind != VIGIL_ARG_SOCK && kind != VIGIL_ARG_SOCKET && kind != VIGIL_ARG_SOCKADDR) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		return;
	}
	vigil_sock_addr_read(d, sa, flavour == VIGIL_HOOK_CGROUP_SOCK6);
	if (kind == VIGIL_ARG_SOCKADDR) {
		/* a sockaddr is one address: in both fields, as read_sockaddr gives it */
		__builtin_memcpy(d->saddr, d->daddr, 16);
		d->sport = d->dport;
		d->state = 0;
	}
	a->len = sizeof(*d);
	a->value = d->family;
}

/* A NUL-terminated string behind `raw` (user or kernel memory) into the slot. */
static __always_inline void read_string(struct vigil_hook_arg *a, __u8 *out, __u64 raw, bool user)
{
	long n = user ? bpf_probe_read_user_str(out, VIGIL_ARG_BYTES, (void *)raw)
		      : bpf_probe_read_kernel_str(out, VIGIL_ARG_BYTES, (void *)raw);
	if (n <= 0) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		out[0] = 0;
	} else {
		a->len = (n - 1) & (VIGIL_ARG_BYTES - 1);
		if (n == VIGIL_ARG_BYTES)
			a->flags |= VIGIL_ARG_TRUNCATED;
	}
}

/* A kernel char array (net_device name, module name) as a string. */
static __always_inline void read_kernel_name(struct vigil_hook_arg *a, __u8 *out, const void *name)
{
	long n = name ? bpf_probe_read_kernel_str(out, 64, name) : -1;
	if (n <= 0) {
		a->flags |= VIGIL_ARG_READ_FAILED;
		out[0] = 0;
	} else {
		a->len = (n - 1) & (VIGIL_ARG_BYTES - 1);
	}
}

/* The raw value of argument slot `i`: a constant, the return value, a tracepoint field or a
 * function argument (a pointer or number the readers below interpret by kind). */
static __always_inline __u64 arg_raw(void *ctx, __u32 flavour, struct vigil_hook_record *r, int i)
{
	__u32 flags = hook_config.args[i].flags;
	if (flags & VIGIL_ARGF_CONST)
		return hook_config.args[i].source;
	if (flags & VIGIL_ARGF_RETURN)
		return r->ret;
	if (flavour == VIGIL_HOOK_TRACEPOINT)
		return hook_config.args[i].kind == VIGIL_ARG_INLINE
			       ? 0
			       : tracepoint_field(ctx, hook_config.args[i].source, hook_config.args[i].size,
						  flags & VIGIL_ARGF_SIGNED);
	return function_arg(ctx, flavour, hook_config.args[i].source);
}

/*
 * Reads argument slot `i` as hook_config.args[i] says. A subprogram, not inlined: inlined at
 * its ten call sites it made each program ~20,000 instructions with a 384-byte frame (the
 * path walk's frames on top then broke the 512-byte stack limit). The verifier still walks
 * it per call with `i` and `flavour` known constants, so the config reads stay constants.
 */
static __noinline void read_arg(void *ctx, __u32 flavour, struct vigil_hook_record *r, int i)
{
	/* bpf_get_current_task_btf() is called only by the readers that need the task (each helper call
	 * costs ~90 ns on this project's machines) */
	struct vigil_hook_arg *a = &r->args[i];
	struct vigil_hook_slot *slot = &r->slots[i];
	__u8 *out = slot->data;
	__u32 kind = hook_config.args[i].kind;
	__u32 size = hook_config.args[i].size;
	__u32 flags = hook_config.args[i].flags;
	bool user = flags & VIGIL_ARGF_USER;
	a->len = 0;
	a->flags = 0;
	a->value = 0;
	a->ino = 0;
	a->dev = 0;
	a->root_off = 0;
	a->full_len = 0;

	if (flavour == VIGIL_HOOK_CGROUP_SOCK4 || flavour == VIGIL_HOOK_CGROUP_SOCK6) {
		read_sock_addr_ctx(ctx, flavour, a, out, kind);
		return;
	}

	__u64 raw = arg_raw(ctx, flavour, r, i);

	/* Every kind has its case: bpf/build.sh compiles with -Wswitch-enum, so a kind added to
	 * vigil_concepts.h without a reader here does not build. */
	switch ((enum vigil_arg_kind)kind) {
	case VIGIL_ARG_NONE:
	case VIGIL_ARG_DATA_LOC: /* refused by the compiler (ArgumentLayout.forTracepoint) */ break;
	case VIGIL_ARG_INT: a->value = extend(raw, size, flags & VIGIL_ARGF_SIGNED); break;
	case VIGIL_ARG_STRING: read_string(a, out, raw, user); break;
	case VIGIL_ARG_BUFFER: {
		__u64 want = VIGIL_ARG_BYTES;
		if (hook_config.args[i].size_arg) {
			want = flavour == VIGIL_HOOK_TRACEPOINT
				       ? VIGIL_ARG_BYTES
				       : function_arg(ctx, flavour, hook_config.args[i].size_arg - 1);
			if ((__s64)want < 0)
				want = 0;
		}
		a->value = want;
		if (want > VIGIL_ARG_BYTES)
			a->flags |= VIGIL_ARG_TRUNCATED;
		__u32 n = want > VIGIL_ARG_BYTES ? VIGIL_ARG_BYTES : (__u32)want;
		vigil_opaque(n); /* keep the explicit bound below: it is what the verifier checks */
		if (n > VIGIL_ARG_BYTES)
			n = VIGIL_ARG_BYTES;
		long err = user ? bpf_probe_read_user(out, n, (void *)raw) : bpf_probe_read_kernel(out, n, (void *)raw);
		if (err < 0)
			a->flags |= VIGIL_ARG_READ_FAILED;
		else
			a->len = n;
		break;
	}
	case VIGIL_ARG_FILE: read_file(a, slot, (struct file *)raw); break;
	case VIGIL_ARG_PATH: {
		struct path *p = (struct path *)raw;
		vigil_read_path(a, slot, (__u64)BPF_CORE_READ(p, mnt), (__u64)BPF_CORE_READ(p, dentry));
		break;
	}
	case VIGIL_ARG_FD: {
		__s64 fd = (__s32)raw;
		if (fd < 0 && (flags & VIGIL_ARGF_PATHNAME_FALLBACK)) {
			/* an open that failed for lack of permission (an attempt): judge the name it was given */
			if (fd == -EACCES || fd == -EPERM) {
				__u32 dirfd_arg = hook_config.args[i].size_arg;
				__s64 dirfd =
					dirfd_arg ? (__s32)function_arg(ctx, flavour, dirfd_arg - 1) : VIGIL_AT_FDCWD;
				vigil_pathname(a, slot, function_arg(ctx, flavour, hook_config.args[i].source), dirfd,
					       dirfd_arg ? VIGIL_PN_HAS_DIRFD : 0);
			} else {
				a->flags |= VIGIL_ARG_READ_FAILED;
			}
			a->value = fd;
			break;
		}
		struct file *f = vigil_fd_file(bpf_get_current_task_btf(), fd);
		if ((flags & VIGIL_ARGF_CONST) && f &&
		    (BPF_CORE_READ(f, f_inode, i_mode) & VIGIL_S_IFMT_MASK) != VIGIL_S_IFREG) {
			/* an exec's stdin (a script read on it): only a regular file can be one, and
			 * most are a terminal, a pipe or /dev/null: no path walk for those */
			a->flags |= VIGIL_ARG_READ_FAILED;
			slot->data[0] = 0;
			break;
		}
		read_file(a, slot, f);
		break;
	}
	case VIGIL_ARG_BINPRM: read_file(a, slot, BPF_CORE_READ((struct linux_binprm *)raw, file)); break;
	case VIGIL_ARG_DENTRY: vigil_read_path(a, slot, 0, raw); break;
	case VIGIL_ARG_PATHNAME: {
		/* size_arg: 1 + the argument holding the directory descriptor (*at syscalls), 0: none */
		__u32 dirfd_arg = hook_config.args[i].size_arg;
		__s64 dirfd = VIGIL_AT_FDCWD;
		if (dirfd_arg)
			dirfd = flavour == VIGIL_HOOK_TRACEPOINT ? (__s32)tracepoint_field(ctx, dirfd_arg - 1, 8, true)
								 : (__s32)function_arg(ctx, flavour, dirfd_arg - 1);
		vigil_pathname(a, slot, raw, dirfd,
			       (dirfd_arg ? VIGIL_PN_HAS_DIRFD : 0) | (user ? 0 : VIGIL_PN_KERNEL_STR));
		break;
	}
	case VIGIL_ARG_INLINE: {
		/* a fixed array in the tracepoint record (char comm[16]): read up to its NUL */
		long n = bpf_probe_read_kernel_str(out, size < VIGIL_ARG_BYTES ? size + 1 : VIGIL_ARG_BYTES,
						   ctx + hook_config.args[i].source);
		if (n <= 0) {
			a->flags |= VIGIL_ARG_READ_FAILED;
			out[0] = 0;
		} else {
			a->len = (n - 1) & (VIGIL_ARG_BYTES - 1);
		}
		break;
	}
	case VIGIL_ARG_SOCK: read_sock(a, out, (struct sock *)raw); break;
	case VIGIL_ARG_SOCKET: read_sock(a, out, BPF_CORE_READ((struct socket *)raw, sk)); break;
	case VIGIL_ARG_SOCKADDR: read_sockaddr(a, out, raw, user); break;
	case VIGIL_ARG_SOCKADDR_UN: {
		/* size_arg: 1 + where the address length is (a tracepoint field's offset, or a
		 * function argument's index); 0: not known */
		__u64 addrlen = 0;
		__u32 len_arg = hook_config.args[i].size_arg;
		if (len_arg)
			addrlen = flavour == VIGIL_HOOK_TRACEPOINT ? (__u32)tracepoint_field(ctx, len_arg - 1, 8, false)
								   : (__u32)function_arg(ctx, flavour, len_arg - 1);
		read_sockaddr_un(a, out, raw, user, addrlen);
		break;
	}
	case VIGIL_ARG_CRED: read_cred(a, out, (const struct cred *)raw); break;
	case VIGIL_ARG_USER_NS: read_user_ns(a, out, (struct user_namespace *)raw); break;
	case VIGIL_ARG_SKB: read_skb(a, out, (struct sk_buff *)raw); break;
	case VIGIL_ARG_NETDEV: read_kernel_name(a, out, raw ? ((struct net_device *)raw)->name : NULL); break;
	case VIGIL_ARG_KIOCB: read_file(a, slot, BPF_CORE_READ((struct kiocb *)raw, ki_filp)); break;
	case VIGIL_ARG_MODULE: read_kernel_name(a, out, raw ? ((struct module *)raw)->name : NULL); break;
	case VIGIL_ARG_VMA: read_file(a, slot, BPF_CORE_READ((struct vm_area_struct *)raw, vm_file)); break;
	case VIGIL_ARG_ADDR_FILE: {
		struct vigil_vma_find found = {};
		bpf_find_vma(bpf_get_current_task_btf(), raw, vigil_vma_file_cb, &found, 0);
		read_file(a, slot, (struct file *)found.file);
		break;
	}
	}
}

/* The struct sock * behind slot i (a sock or socket argument, or the return value), read
 * again from the context: the record keeps the socket's endpoints, not its address. 0 for
 * other kinds and for cgroup sock_addr programs (no kernel socket pointer there). */
static __always_inline __u64 arg_sock(void *ctx, __u32 flavour, struct vigil_hook_record *r, int i)
{
	if (i < 0 || i >= VIGIL_HOOK_ARGS)
		return 0;
	__u32 kind = hook_config.args[i].kind;
	if ((kind != VIGIL_ARG_SOCK && kind != VIGIL_ARG_SOCKET) || flavour == VIGIL_HOOK_CGROUP_SOCK4 ||
	    flavour == VIGIL_HOOK_CGROUP_SOCK6)
		return 0;
	__u64 raw = arg_raw(ctx, flavour, r, i);
	if (kind == VIGIL_ARG_SOCKET && raw)
		raw = (__u64)BPF_CORE_READ((struct socket *)raw, sk);
	return raw;
}

/*
 * An argument a selector tests, read before the selectors run (on every call). A
 * tracepoint's string field (the FIM shape: a path a Prefix list tests) is read inline: with
 * `i` a constant here the verifier keeps one context load and the string read, where the
 * shared read_arg subprogram dispatches on kind, flavour and offset at run time.
 */
static __always_inline void read_filtered_arg(void *ctx, __u32 flavour, struct vigil_hook_record *r, int i)
{
	if (flavour == VIGIL_HOOK_TRACEPOINT && hook_config.args[i].kind == VIGIL_ARG_STRING &&
	    !(hook_config.args[i].flags & VIGIL_ARGF_RETURN)) {
		struct vigil_hook_arg *a = &r->args[i];
		a->len = 0;
		a->flags = 0;
		a->value = 0;
		a->ino = 0;
		a->dev = 0;
		a->root_off = 0;
		a->full_len = 0;
		__u64 raw = tracepoint_field(ctx, hook_config.args[i].source, hook_config.args[i].size, false);
		read_string(a, r->slots[i].data, raw, hook_config.args[i].flags & VIGIL_ARGF_USER);
		return;
	}
	read_arg(ctx, flavour, r, i);
}

#endif
