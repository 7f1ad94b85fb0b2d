// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The dispatcher of io_uring forms (PolicyEngine/IOUringDispatch.swift): one program per
 * io_uring tracepoint tests each request once and starts the chain of forms that judge its
 * kind (hook_uring_chain.h). A request no form judges (most: reads, writes, polls, sends)
 * costs this one test, whatever the number of policies. Raw tracepoints: a classic one
 * builds its trace record (the opcode's name formatted as a string) for every request first.
 */
#include "vigil_bpf.h"
#include "hook_uring_req.h"
#include "hook_uring_chain.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int dispatch(void *ctx, bool completion)
{
	int kind = vigil_uring_kind(ctx, completion);
	if (kind >= 0)
		vigil_uring_chain_start(ctx, kind);
	return 0;
}

SEC("raw_tp")
int uring_complete_dispatch(void *ctx) { return dispatch(ctx, true); }

SEC("raw_tp")
int uring_submit_dispatch(void *ctx) { return dispatch(ctx, false); }
