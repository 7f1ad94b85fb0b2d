/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Actions of the matching selector. Adding an action means: a VIGIL_ACT_ constant, a case
 * here, and its Swift mapping in PolicyEngine/SelectorCompiler.swift.
 *
 * In monitor mode (VIGIL_HOOKF_MONITOR) enforcement actions only post, as Tetragon's
 * policy-mode: monitor does.
 */
#ifndef VIGIL_HOOK_ACTIONS_H
#define VIGIL_HOOK_ACTIONS_H

#include "hook_maps.h"

/* Whether a Post with a rate limit must stay quiet: one event per (selector, scope, arguments) per period. */
static __always_inline bool rate_limited(int s, __u32 scope, __u64 period, struct vigil_hook_record *r)
{
	struct vigil_rate_key k = {};
	__u64 id = bpf_get_current_pid_tgid();
	k.selector = s;
	k.scope_id = scope == VIGIL_SCOPE_THREAD ? (__u32)id : scope == VIGIL_SCOPE_PROCESS ? id >> 32 : 0;
	if (r->nargs > 0) {
		__builtin_memcpy(k.data, &r->args[0].value, 8);
		__u32 n = r->args[0].len;
		if (n > VIGIL_RATE_KEY_BYTES - 8)
			n = VIGIL_RATE_KEY_BYTES - 8;
		bpf_probe_read_kernel(&k.data[8], n, r->slots[0].data);
	}
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&rates, &k);
	if (last && now - *last < period)
		return true;
	bpf_map_update_elem(&rates, &k, &now, BPF_ANY);
	return false;
}

/* Sends `sig` to the caller now, or (cgroup-lowered connect hooks) at its connect's exit. */
static __always_inline void signal_caller(__u32 sig)
{
	if (hook_config.flags & VIGIL_HOOKF_DEFER_SIGNAL) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		bpf_map_update_elem(&deferred_signals, &tid, &sig, BPF_ANY);
	} else {
		bpf_send_signal(sig);
	}
}

/* TrackSock: the socket in slot `slot` is the caller's from now on. */
static __always_inline void track_sock(void *ctx, __u32 flavour, struct vigil_hook_record *r, int slot,
				       struct vigil_process *proc)
{
	__u64 sk = arg_sock(ctx, flavour, r, slot);
	if (!sk)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	struct vigil_tracked_sock owner = {.pid = id >> 32, .tid = (__u32)id};
	vigil_exec_id_of(&owner.id, proc, id >> 32);
	bpf_map_update_elem(&tracked_socks, &sk, &owner, BPF_ANY);
}

/* UntrackSock: the socket in slot `slot` has no owner any more. */
static __always_inline void untrack_sock(void *ctx, __u32 flavour, struct vigil_hook_record *r, int slot)
{
	__u64 sk = arg_sock(ctx, flavour, r, slot);
	if (sk)
		bpf_map_delete_elem(&tracked_socks, &sk);
}

/* Runs selector `s`'s actions; returns what the program returns (an Override's error, else 0). */
static __noinline long run_actions(void *ctx, __u32 flavour, int s, struct vigil_hook_record *r,
				   struct vigil_process *proc)
{
	/* exec lowering: only the interpreter's own script counts (hook_script.h) */
	if ((hook_config.flags & VIGIL_HOOKF_SCRIPT_OPEN) && !opened_script(ctx, flavour, r))
		return 0;
	if ((hook_config.flags & VIGIL_HOOKF_STDIN_SCRIPT) && !stdin_script())
		return 0;
	const volatile struct vigil_selector *sel = &hook_config.selectors[s];
	bool monitor = hook_config.flags & VIGIL_HOOKF_MONITOR;
	bool post = true;
	__u32 taken = 0;
	__u64 enforced = 0;
	long ret = 0;

	/* The record names the tracked socket's owner, looked up before this call's own
	 * UntrackSock can remove it (as Tetragon, which reads the owner with the argument). */
	struct vigil_tracked_sock owner = {};
	bool owned = false;
	if (hook_config.owner_slot) {
		__u64 sk = arg_sock(ctx, flavour, r, hook_config.owner_slot - 1);
		struct vigil_tracked_sock *o = sk ? bpf_map_lookup_elem(&tracked_socks, &sk) : NULL;
		if (o) {
			owner = *o;
			owned = true;
		}
	}

#pragma unroll
	for (int i = 0; i < VIGIL_SEL_ACTIONS; i++) {
		if (i >= sel->nactions)
			break;
		__u32 kind = sel->actions[i].kind;
		if (monitor && (kind == VIGIL_ACT_SIGKILL || kind == VIGIL_ACT_SIGNAL || kind == VIGIL_ACT_OVERRIDE)) {
			taken |= 1u << VIGIL_ACT_POST; /* reported, not enforced */
			enforced++;		       /* counted as "would have acted": a staged rollout reads it */
			continue;
		}
		switch (kind) {
		case VIGIL_ACT_POST:
			taken |= 1u << VIGIL_ACT_POST;
			if (sel->actions[i].rate_ns &&
			    rate_limited(s, sel->actions[i].scope, sel->actions[i].rate_ns, r))
				post = false;
			break;
		case VIGIL_ACT_NOPOST: post = false; break;
		case VIGIL_ACT_SIGKILL:
			signal_caller(9);
			taken |= 1u << VIGIL_ACT_SIGKILL;
			enforced++;
			break;
		case VIGIL_ACT_SIGNAL:
			signal_caller(sel->actions[i].arg);
			taken |= 1u << VIGIL_ACT_SIGNAL;
			enforced++;
			break;
		case VIGIL_ACT_OVERRIDE:
			ret = sel->actions[i].arg;
			taken |= 1u << VIGIL_ACT_OVERRIDE;
			enforced++;
			break;
		case VIGIL_ACT_TRACK_SOCK:
			track_sock(ctx, flavour, r, sel->actions[i].arg, proc);
			taken |= 1u << VIGIL_ACT_TRACK_SOCK;
			break;
		case VIGIL_ACT_UNTRACK_SOCK:
			untrack_sock(ctx, flavour, r, sel->actions[i].arg);
			taken |= 1u << VIGIL_ACT_UNTRACK_SOCK;
			break;
		case VIGIL_ACT_GET_URL:
		case VIGIL_ACT_DNS_LOOKUP:
			taken |= 1u << kind; /* the agent acts on the posted record */
			break;
		}
	}
	if (enforced) {
		count_stat(VIGIL_STAT_ACTIONS, enforced);
		count_stat(VIGIL_STAT_SELECTOR_ACTIONS + (s & 7), enforced);
	}
	if (!post)
		return ret;

	/* Only the argument slots this hook uses travel (a hook without arguments sends 144 bytes,
	 * not 1464): the ring holds ten times more such records, and both sides copy less. */
	__u32 size = __builtin_offsetof(struct vigil_hook_record, slots) +
		     (hook_config.nargs & 7) * sizeof(struct vigil_hook_slot);
	if (size > sizeof(*r))
		size = sizeof(*r);
	__u64 id = bpf_get_current_pid_tgid();
	vigil_header(&r->header, VIGIL_RECORD_HOOK, size);
	vigil_exec_id_of(&r->process, proc, id >> 32);
	r->hook_id = hook_config.hook_id;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	if (owned) {
		r->process = owner.id;
		r->pid = owner.pid;
		r->tid = owner.tid;
	}
	r->selector = s;
	r->actions = taken;
	if (bpf_ringbuf_output(&events, r, size, vigil_wakeup_flags()) < 0)
		count_stat(VIGIL_STAT_LOST, 1);
	else
		count_stat(VIGIL_STAT_POSTED, 1);
	return ret;
}

#endif
