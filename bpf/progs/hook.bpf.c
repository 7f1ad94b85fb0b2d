// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The policy engine's generic hook: one copy of this object is loaded per TracingPolicy
 * hook, keeping the one program whose section fits the hook's tier (tracepoint, raw_tp,
 * kprobe, kretprobe, fentry, fexit, fmod_ret, lsm, or a cgroup sock_addr program for a
 * connect hook lowered where LSM is missing), and specialized by the frozen
 * `config` below. Every config field is a constant to the verifier, so the argument
 * readers, filters and actions a policy does not use are pruned, not run.
 *
 * Per call:  read the hook's arguments -> try the selectors in order (first match wins)
 *            -> run the matching selector's actions -> post one record only if it says so.
 * Nothing leaves the kernel for a call no posting selector matches.
 *
 * Value sets (strings, binaries, addresses, large integer sets) live in this object's
 * maps, filled by the agent before attach; `events` and `processes` are the process
 * sensor's maps, shared by file descriptor, so hook records and exec records arrive in
 * one ordered stream and hooks see every process's identity and binary.
 */
#include "vigil_bpf.h"
#include "hook_maps.h"
#include "hook_args.h"
#include "hook_filters.h"
#include "hook_name_gate.h"
#include "hook_script.h"
#include "hook_actions.h"
#include "hook_uring_chain.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void read_unfiltered_args(void *ctx, __u32 flavour, struct vigil_hook_record *r)
{
#pragma unroll
	for (int i = 0; i < VIGIL_HOOK_ARGS; i++) {
		if (i >= hook_config.nargs)
			break;
		if (!(hook_config.args[i].flags & VIGIL_ARGF_FILTERED))
			read_arg(ctx, flavour, r, i);
	}
}

static __always_inline long run_hook(void *ctx, __u32 flavour)
{
	count_stat(VIGIL_STAT_RUNS, 1);
	__u32 zero = 0;
	struct vigil_hook_record *r = bpf_map_lookup_elem(&record_scratch, &zero);
	if (!r)
		return 0;
	r->nargs = hook_config.nargs;
	r->ret = 0;
	if (flavour == VIGIL_HOOK_FEXIT || flavour == VIGIL_HOOK_KRETPROBE || flavour == VIGIL_HOOK_SYSCALL_EXIT ||
	    flavour == VIGIL_HOOK_IOURING_COMPLETE)
		r->ret = hook_return_value(ctx, flavour);

	/* Arguments a selector tests first; the rest only for a call that matched (most do not).
	 * A file the kernel resolved waits until the other filters allow a match. */
	bool files = false;
#pragma unroll
	for (int i = 0; i < VIGIL_HOOK_ARGS; i++) {
		if (i >= hook_config.nargs)
			break;
		if (!(hook_config.args[i].flags & VIGIL_ARGF_FILTERED))
			continue;
		if (is_resolved_file(hook_config.args[i].kind))
			files = true;
		else
			read_filtered_arg(ctx, flavour, r, i);
	}

	/* The caller's table entry: its binary for matchBinaries (looked up before the selectors
	 * only when one tests binaries), its identity for the record (looked up on a match). */
	__u32 tgid = 0; /* fetched only when needed (a helper call costs ~90 ns here) */
	struct vigil_process *proc = NULL;
	bool binaries = false;
#pragma unroll
	for (int s = 0; s < VIGIL_HOOK_SELECTORS; s++) {
		if (s < hook_config.nselectors &&
		    (hook_config.selectors[s].binary_op || hook_config.selectors[s].parent_binary_op ||
		     hook_config.selectors[s].follow))
			binaries = true;
	}
	if (binaries) {
		tgid = bpf_get_current_pid_tgid() >> 32;
		proc = bpf_map_lookup_elem(&processes, &tgid);
	}

	if (hook_config.nselectors == 0) {
		read_unfiltered_args(ctx, flavour, r);
		tgid = bpf_get_current_pid_tgid() >> 32;
		proc = bpf_map_lookup_elem(&processes, &tgid);
		return run_actions(ctx, flavour, 0, r, proc); /* no selectors: every call posts */
	}
	if (files) {
		/* a file's own name first: the walk only for a name some selector may match */
#pragma unroll
		for (int i = 0; i < VIGIL_HOOK_ARGS; i++) {
			if (i >= hook_config.nargs)
				break;
			if ((hook_config.args[i].flags & VIGIL_ARGF_FILTERED) &&
			    (hook_config.args[i].flags & VIGIL_ARGF_NAME_GATE))
				read_name_gate(ctx, flavour, r, i);
		}
		bool possible = false;
#pragma unroll
		for (int s = 0; s < VIGIL_HOOK_SELECTORS; s++) {
			if (s < hook_config.nselectors && !possible && selector_may_match(s, r, proc))
				possible = true;
		}
		if (!possible)
			return 0;
		count_stat(VIGIL_STAT_RESOLVES, 1);
#pragma unroll
		for (int i = 0; i < VIGIL_HOOK_ARGS; i++) {
			if (i >= hook_config.nargs)
				break;
			if ((hook_config.args[i].flags & VIGIL_ARGF_FILTERED) &&
			    is_resolved_file(hook_config.args[i].kind))
				read_filtered_arg(ctx, flavour, r, i);
		}
	}
#pragma unroll
	for (int s = 0; s < VIGIL_HOOK_SELECTORS; s++) {
		if (s >= hook_config.nselectors)
			break;
		/* actions run here, with s a constant, so they read the config at constant offsets */
		if (selector_matches(s, r, proc)) {
			read_unfiltered_args(ctx, flavour, r);
			if (!proc) {
				tgid = bpf_get_current_pid_tgid() >> 32;
				proc = bpf_map_lookup_elem(&processes, &tgid);
			}
			return run_actions(ctx, flavour, s, r, proc);
		}
	}
	return 0;
}

SEC("tracepoint")
int hook_tracepoint(void *ctx)
{
	run_hook(ctx, VIGIL_HOOK_TRACEPOINT);
	return 0;
}

/* A syscall's exit tracepoint (sys_exit_*): the arguments are the registers the call was
 * entered with, the result is the tracepoint's. A call that returns a descriptor is judged by
 * the file the kernel opened, after it resolved every name and before the caller can use the
 * descriptor: a Sigkill here ends the caller before it returns to user space. */
SEC("tracepoint")
int hook_syscall_exit(void *ctx)
{
	run_hook(ctx, VIGIL_HOOK_SYSCALL_EXIT);
	return 0;
}

/* io_uring's forms of an open, rename, link, unlink or mkdir hook (hook_uring.h): never
 * attached themselves, they run in the dispatcher's chain of their request kind
 * (bpf/progs/uring.bpf.c) and hand over to the next form when done. */
SEC("raw_tp")
int hook_io_uring_complete(void *ctx)
{
	if (vigil_uring_completed_file(ctx))
		run_hook(ctx, VIGIL_HOOK_IOURING_COMPLETE);
	vigil_uring_chain_next(ctx);
	return 0;
}

SEC("raw_tp")
int hook_io_uring_submit(void *ctx)
{
	struct io_kiocb *req = vigil_uring_req(ctx, false);
	if (req && BPF_CORE_READ(req, opcode) == ((hook_config.flags >> VIGIL_HOOKF_URING_OP_SHIFT) & 0xff))
		run_hook(ctx, VIGIL_HOOK_IOURING_SUBMIT);
	vigil_uring_chain_next(ctx);
	return 0;
}

SEC("raw_tp")
int hook_raw_tp(void *ctx)
{
	run_hook(ctx, VIGIL_HOOK_RAW_TP);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int hook_exec_btf(void *ctx)
{
	run_hook(ctx, VIGIL_HOOK_EXEC_BTF);
	return 0;
}

SEC("kprobe")
int hook_kprobe(struct pt_regs *ctx)
{
	run_hook(ctx, VIGIL_HOOK_KPROBE);
	return 0;
}

/* Attached per binary and symbol (or file offset) by BPFProgram.attachUprobe; the section
 * names no target. */
SEC("uprobe")
int hook_uprobe(struct pt_regs *ctx)
{
	run_hook(ctx, VIGIL_HOOK_UPROBE);
	return 0;
}

SEC("kretprobe")
int hook_kretprobe(struct pt_regs *ctx)
{
	run_hook(ctx, VIGIL_HOOK_KRETPROBE);
	return 0;
}

SEC("fentry")
int hook_fentry(void *ctx)
{
	run_hook(ctx, VIGIL_HOOK_FENTRY);
	return 0;
}

SEC("fexit")
int hook_fexit(void *ctx)
{
	run_hook(ctx, VIGIL_HOOK_FEXIT);
	return 0;
}

/* fmod_ret: a non-zero return skips the function and becomes its return value. */
SEC("fmod_ret")
int hook_fmod_ret(void *ctx) { return run_hook(ctx, VIGIL_HOOK_FMOD_RET); }

/* LSM: 0 allows, a negative errno denies. */
SEC("lsm")
int hook_lsm(void *ctx) { return run_hook(ctx, VIGIL_HOOK_LSM); }

/*
 * A connect hook lowered to cgroup sock_addr programs (one per attach type): 1 lets the
 * call go on, 0 denies it. An Override's error becomes the caller's errno through
 * bpf_set_retval (without it the kernel answers EPERM).
 */
static __always_inline int run_sock_addr(struct bpf_sock_addr *ctx, __u32 flavour)
{
	if ((hook_config.flags & VIGIL_HOOKF_TCP_ONLY) && ctx->protocol != IPPROTO_TCP)
		return 1;
	long ret = run_hook(ctx, flavour);
	if (ret == 0)
		return 1;
	bpf_set_retval(ret);
	return 0;
}

SEC("cgroup/connect4")
int hook_connect4(struct bpf_sock_addr *ctx) { return run_sock_addr(ctx, VIGIL_HOOK_CGROUP_SOCK4); }

SEC("cgroup/connect6")
int hook_connect6(struct bpf_sock_addr *ctx) { return run_sock_addr(ctx, VIGIL_HOOK_CGROUP_SOCK6); }

/* The connect syscall's exit: the signal a lowered connect hook owes this thread (Sigkill,
 * Signal), sent before the syscall returns to user space. Kept only for hooks that signal. */
SEC("tracepoint/syscalls/sys_exit_connect")
int hook_connect_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 *sig = bpf_map_lookup_elem(&deferred_signals, &tid);
	if (sig) {
		bpf_send_signal(*sig);
		bpf_map_delete_elem(&deferred_signals, &tid);
	}
	return 0;
}
