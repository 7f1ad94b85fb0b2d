/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The generic hook's configuration and maps (bpf/progs/hook.bpf.c). */
#ifndef VIGIL_HOOK_MAPS_H
#define VIGIL_HOOK_MAPS_H

#include "vigil_bpf.h"
#include "vigil_shared_maps.h"

/* Set by the agent before load and frozen: every field is a verifier-known constant. */
const volatile struct vigil_hook_config hook_config = {};

/* String sets (Equal, Prefix, binaries) keyed by set id then bytes; Postfix sets hold the
 * reversed strings. Sized by the agent to the policy's values. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_string_key);
	__type(value, struct vigil_string_value);
} strings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_string_key);
	__type(value, struct vigil_string_value);
} rstrings SEC(".maps");

/* Integer sets (InMap, and Equal lists longer than the inline values). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct vigil_int_key);
	__type(value, __u8);
} ints SEC(".maps");

/* Identities (device, inode) of the files a filter's values name (vigil_arg_filter.id_set):
 * a hardlink, a bind mount or another name of one of them is that file. Filled and kept
 * current by the agent (a replaced file gets its new inode added); sized to the policy. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_file_id);
	__type(value, __u8);
} file_ids SEC(".maps");

/* SubString values: a filter's are `nvalues` entries from index `set`. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_substring);
} substrings SEC(".maps");

/* Post rate limits: last post time per (selector, scope, arguments). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct vigil_rate_key);
	__type(value, __u64);
} rates SEC(".maps");

/* Signals a cgroup-lowered connect hook owes its caller (tid -> signal), sent by
 * hook_connect_exit at the syscall's exit; sized by the agent only for hooks that signal. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} deferred_signals SEC(".maps");

/* Socket owners (TrackSock / UntrackSock): the struct sock's address -> who tracked it. One
 * map for all hooks (the agent shares it by file descriptor with every hook that tracks or
 * reads sockets; other hooks keep this one-entry stand-in). LRU: a socket freed without an
 * UntrackSock (a policy that untracks only some) ages out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct vigil_tracked_sock);
} tracked_socks SEC(".maps");

/* Counters for `vigil policy list` (VIGIL_STAT_*). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The record under construction (too big for the stack), and a trie key. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_hook_record);
} record_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_string_key);
} key_scratch SEC(".maps");

static __always_inline void count_stat(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);
	if (v)
		*v += n; /* per-CPU slot: no atomic needed */
}

#endif
