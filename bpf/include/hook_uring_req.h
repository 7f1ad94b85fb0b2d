/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * An io_uring request behind io_uring's tracepoints, as the dispatcher (bpf/progs/uring.bpf.c)
 * and the io_uring forms of hooks (hook_uring.h) read it.
 */
#ifndef VIGIL_HOOK_URING_REQ_H
#define VIGIL_HOOK_URING_REQ_H

#include "vigil_bpf.h"

/* io_uring opcodes (UAPI: numbers never change) */
#define VIGIL_IORING_OP_READV	    1
#define VIGIL_IORING_OP_WRITEV	    2
#define VIGIL_IORING_OP_READ_FIXED  4
#define VIGIL_IORING_OP_WRITE_FIXED 5
#define VIGIL_IORING_OP_OPENAT	    18
#define VIGIL_IORING_OP_READ	    22
#define VIGIL_IORING_OP_WRITE	    23
#define VIGIL_IORING_OP_OPENAT2	    28
#define VIGIL_IORING_OP_RENAMEAT    35
#define VIGIL_IORING_OP_UNLINKAT    36
#define VIGIL_IORING_OP_MKDIRAT	    37
#define VIGIL_IORING_OP_SYMLINKAT   38
#define VIGIL_IORING_OP_LINKAT	    39
#define VIGIL_IORING_OP_FSETXATTR   41
#define VIGIL_IORING_OP_SETXATTR    42
#define VIGIL_IORING_OP_FTRUNCATE   55
#define VIGIL_REQ_F_FIXED_FILE	    1 /* IOSQE_FIXED_FILE, bit 0 of io_kiocb.flags on every kernel */

/* The request behind a raw tracepoint's arguments: io_uring_complete(ctx, req, ...) and
 * io_uring_submit_req(req) (io_uring_submit_sqe(req, force_nonblock) before 6.4), the same
 * positions on every kernel since 5.x. */
static __always_inline struct io_kiocb *vigil_uring_req(void *ctx, bool completion)
{
	/* one context load per position, the offset in the instruction (clang would otherwise
	 * load from a moved context pointer, which the verifier refuses) */
	__u64 req;
	if (completion)
		asm volatile("%0 = *(u64 *)(%1 + 8)" : "=r"(req) : "r"(ctx));
	else
		asm volatile("%0 = *(u64 *)(%1 + 0)" : "=r"(req) : "r"(ctx));
	return (struct io_kiocb *)req;
}

/* The request's result (set before its completion is posted). */
static __always_inline __s32 vigil_uring_res(struct io_kiocb *req) { return BPF_CORE_READ(req, cqe.res); }

static __always_inline bool vigil_uring_fixed_rw(__u8 op)
{
	return op == VIGIL_IORING_OP_READ || op == VIGIL_IORING_OP_WRITE || op == VIGIL_IORING_OP_READV ||
	       op == VIGIL_IORING_OP_WRITEV || op == VIGIL_IORING_OP_READ_FIXED || op == VIGIL_IORING_OP_WRITE_FIXED;
}

/* Whether the request names a fixed-file slot (IOSQE_FIXED_FILE), not a descriptor. */
static __always_inline bool vigil_uring_fixed_file(struct io_kiocb *req)
{
	/* io_kiocb.flags is 32 bits wide on older kernels: only its lowest byte is read */
	__u8 flags = 0;
	bpf_probe_read_kernel(&flags, 1, (void *)req + bpf_core_field_offset(req->flags));
	return flags & VIGIL_REQ_F_FIXED_FILE;
}

/* The chain a request's tracepoint starts (the dispatcher's test, once per request): kind 0
 * for a completed open or fixed-file read or write, 1..5 for a submitted rename .. link;
 * -1: no io_uring form judges it. */
static __always_inline int vigil_uring_kind(void *ctx, bool completion)
{
	struct io_kiocb *req = vigil_uring_req(ctx, completion);
	if (!req)
		return -1;
	__u8 op = BPF_CORE_READ(req, opcode);
	if (!completion) {
		__u32 kind = vigil_uring_submit_kind(op);
		return kind ? (int)kind : -1;
	}
	/* the opcode alone sends most requests away (one read: each costs ~20 ns) */
	if (op != VIGIL_IORING_OP_OPENAT && op != VIGIL_IORING_OP_OPENAT2) {
		if (!vigil_uring_fixed_rw(op) || !vigil_uring_fixed_file(req))
			return -1;
	}
	return vigil_uring_res(req) < 0 ? -1 : 0;
}

#endif /* VIGIL_HOOK_URING_REQ_H */
