/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * io_uring's forms of a syscall hook (VIGIL_HOOK_IOURING_*; Swift IOUringLowering).
 *
 * An io_uring request opens, renames, links or unlinks a file without the syscall: its
 * syscall tracepoints never fire, and an io_uring rootkit reads /etc/shadow or plants a cron
 * job unseen by a syscall-tracepoint sensor. The io_uring tracepoints fire for every request:
 *  - io_uring_complete, when a request's result is posted. An open is judged there like at
 *    a syscall's exit: by the file behind the descriptor the request returned (in the
 *    submitter's table, which io_uring's worker threads share). An open into a fixed-file
 *    slot returns no descriptor; its file is judged at each read or write that uses the slot
 *    (req->file). A Sigkill there ends the process before the submitter returns from
 *    io_uring_enter with the result.
 *  - io_uring_submit_req (io_uring_submit_sqe before 6.4), after the request was prepared:
 *    a rename, link, symlink, unlink or mkdir holds its names as kernel strings, resolved
 *    in the kernel against its directory descriptor like a syscall's (vigil_pathname.h).
 *
 * Both run as raw tracepoint programs in the dispatcher's chains (hook_uring_chain.h); the
 * request's fields are read with CO-RE.
 */
#ifndef VIGIL_HOOK_URING_H
#define VIGIL_HOOK_URING_H

#include "hook_maps.h"
#include "hook_uring_req.h"
#include "vigil_fd.h"

/* The file a completed request opened or used, when the hook judges that request; else NULL. */
static __always_inline struct file *vigil_uring_completed_file(void *ctx)
{
	struct io_kiocb *req = vigil_uring_req(ctx, true);
	if (!req)
		return NULL;
	__s32 res = vigil_uring_res(req);
	if (res < 0)
		return NULL;
	__u8 op = BPF_CORE_READ(req, opcode);
	__u32 want = hook_config.flags;
	if (op == VIGIL_IORING_OP_OPENAT || op == VIGIL_IORING_OP_OPENAT2) {
		if (!(want & (op == VIGIL_IORING_OP_OPENAT ? VIGIL_HOOKF_URING_OPENAT : VIGIL_HOOKF_URING_OPENAT2)))
			return NULL;
		if (BPF_CORE_READ((struct io_open *)req, file_slot))
			return NULL; /* into a fixed slot: judged at the reads and writes through it */
		return vigil_fd_file(bpf_get_current_task_btf(), res);
	}
	if (!(want & VIGIL_HOOKF_URING_FIXED_RW) || !vigil_uring_fixed_rw(op) || !vigil_uring_fixed_file(req))
		return NULL;
	return BPF_CORE_READ(req, file);
}

static __always_inline __u64 vigil_uring_name(struct filename *f) { return (__u64)BPF_CORE_READ(f, name); }

/* The fields of a request with an old and a new name (rename, link, symlink: the kernel
 * declares one struct each, with the same member names), read with that struct's CO-RE. */
#define VIGIL_URING_TWO_NAMES(type, code)                                                      \
	do {                                                                                   \
		type *o = (type *)req;                                                         \
		switch (code) {                                                                \
		case VIGIL_URING_DFD: return (__u64)(__s64)BPF_CORE_READ(o, old_dfd);          \
		case VIGIL_URING_NAME: return vigil_uring_name(BPF_CORE_READ(o, oldpath));     \
		case VIGIL_URING_NEW_DFD: return (__u64)(__s64)BPF_CORE_READ(o, new_dfd);      \
		case VIGIL_URING_NEW_NAME: return vigil_uring_name(BPF_CORE_READ(o, newpath)); \
		case VIGIL_URING_FLAGS: return (__u64)(__s64)BPF_CORE_READ(o, flags);          \
		}                                                                              \
		return 0;                                                                      \
	} while (0)

/* A syscall argument (VIGIL_URING_* code) of the request behind the tracepoint. */
static __always_inline __u64 vigil_uring_arg(void *ctx, bool completion, __u32 code)
{
	struct io_kiocb *req = vigil_uring_req(ctx, completion);
	__u8 op = BPF_CORE_READ(req, opcode);
	if (code == VIGIL_URING_FD) /* a fixed-file slot is no descriptor of the task's: not resolved (-1) */
		return vigil_uring_fixed_file(req) ? (__u64)-1 : (__u64)(__s64)BPF_CORE_READ(req, cqe.fd);
	switch (op) {
	case VIGIL_IORING_OP_OPENAT:
	case VIGIL_IORING_OP_OPENAT2: {
		/* the name is released once the open ran: the hook judges the opened file instead */
		struct io_open *o = (struct io_open *)req;
		if (code == VIGIL_URING_DFD)
			return (__u64)(__s64)BPF_CORE_READ(o, dfd);
		if (code == VIGIL_URING_FLAGS)
			return BPF_CORE_READ(o, how.flags);
		if (code == VIGIL_URING_MODE)
			return BPF_CORE_READ(o, how.mode);
		return 0;
	}
	case VIGIL_IORING_OP_RENAMEAT: VIGIL_URING_TWO_NAMES(struct io_rename, code);
	case VIGIL_IORING_OP_LINKAT:
	case VIGIL_IORING_OP_SYMLINKAT: VIGIL_URING_TWO_NAMES(struct io_link, code);
	case VIGIL_IORING_OP_UNLINKAT: {
		struct io_unlink *o = (struct io_unlink *)req;
		switch (code) {
		case VIGIL_URING_DFD: return (__u64)(__s64)BPF_CORE_READ(o, dfd);
		case VIGIL_URING_NAME: return vigil_uring_name(BPF_CORE_READ(o, filename));
		case VIGIL_URING_FLAGS: return (__u64)(__s64)BPF_CORE_READ(o, flags);
		}
		return 0;
	}
	case VIGIL_IORING_OP_SETXATTR:
	case VIGIL_IORING_OP_FSETXATTR: {
		struct io_xattr *o = (struct io_xattr *)req;
		switch (code) {
		case VIGIL_URING_DFD: return (__u64)(__s64)VIGIL_AT_FDCWD;
		case VIGIL_URING_NAME: return vigil_uring_name(BPF_CORE_READ(o, filename));
		case VIGIL_URING_XATTR:
			return (__u64)BPF_CORE_READ(o, ctx.kname); /* struct xattr_name: the name first */
		case VIGIL_URING_FLAGS: return BPF_CORE_READ(o, ctx.flags);
		case VIGIL_URING_SIZE: return BPF_CORE_READ(o, ctx.size);
		}
		return 0;
	}
	case VIGIL_IORING_OP_FTRUNCATE: {
		/* Linux 6.9+: older kernels have no such request (nor its type: the read is left out) */
		if (bpf_core_type_exists(struct io_ftrunc) && code == VIGIL_URING_SIZE)
			return BPF_CORE_READ((struct io_ftrunc *)req, len);
		return 0;
	}
	case VIGIL_IORING_OP_MKDIRAT: {
		struct io_mkdir *o = (struct io_mkdir *)req;
		switch (code) {
		case VIGIL_URING_DFD: return (__u64)(__s64)BPF_CORE_READ(o, dfd);
		case VIGIL_URING_NAME: return vigil_uring_name(BPF_CORE_READ(o, filename));
		case VIGIL_URING_MODE: return BPF_CORE_READ(o, mode);
		}
		return 0;
	}
	}
	/* a read or write on a fixed file: the flags it was opened with */
	if (code == VIGIL_URING_DFD)
		return (__u64)(__s64)VIGIL_AT_FDCWD;
	if (code == VIGIL_URING_FLAGS)
		return BPF_CORE_READ(req, file, f_flags);
	return 0;
}

#endif /* VIGIL_HOOK_URING_H */
