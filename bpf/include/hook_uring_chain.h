/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The chains of io_uring forms (vigil_hook_abi.h VIGIL_URING_*). The dispatcher
 * (bpf/progs/uring.bpf.c) owns both maps; each io_uring form's object reuses them by file
 * descriptor. A form runs, then tail-calls the next one of its kind; an empty slot ends the
 * chain (the agent keeps each chain contiguous). The cursor is per CPU: a tracepoint program
 * never nests on one CPU (the kernel's bpf_prog_active guard), so one chain runs at a time.
 */
#ifndef VIGIL_HOOK_URING_CHAIN_H
#define VIGIL_HOOK_URING_CHAIN_H

#include "vigil_bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, VIGIL_URING_KINDS *VIGIL_URING_CHAIN);
	__type(key, __u32);
	__type(value, __u32);
} uring_chain SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_uring_cursor);
} uring_cursor SEC(".maps");

/* Starts the chain of `kind` (the dispatcher). */
static __always_inline void vigil_uring_chain_start(void *ctx, __u32 kind)
{
	__u32 zero = 0;
	struct vigil_uring_cursor *c = bpf_map_lookup_elem(&uring_cursor, &zero);
	if (!c || kind >= VIGIL_URING_KINDS)
		return;
	c->kind = kind;
	c->next = 1;
	bpf_tail_call(ctx, &uring_chain, kind * VIGIL_URING_CHAIN);
}

/* Hands over to the next form of the running chain (a form, when it is done). */
static __always_inline void vigil_uring_chain_next(void *ctx)
{
	__u32 zero = 0;
	struct vigil_uring_cursor *c = bpf_map_lookup_elem(&uring_cursor, &zero);
	if (!c || c->kind >= VIGIL_URING_KINDS || c->next >= VIGIL_URING_CHAIN)
		return;
	__u32 slot = c->kind * VIGIL_URING_CHAIN + c->next;
	c->next++;
	bpf_tail_call(ctx, &uring_chain, slot);
}

#endif /* VIGIL_HOOK_URING_CHAIN_H */
