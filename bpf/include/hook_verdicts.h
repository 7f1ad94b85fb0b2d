/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The verdict cache: per file, what a hook's path filters said of it, so that the next call on
 * the same file skips the walk to its global path (vigil_resolve.h), the bulk of a file hook's
 * cost on kernels without bpf_d_path (the host's tracepoint tier).
 *
 * Only for arguments whose filters are all path operators (the compiler sets
 * VIGIL_ARGF_VERDICT_CACHE); their results depend on nothing but the file's global path, its
 * caller's view and its identity. A kept verdict is used only while all of these still hold:
 *  - the dentry chain from the file up to its file system's root is the one walked: each
 *    level's parent pointer and name hash and length (a rename or a move of the file or of any
 *    directory above it changes one of them; the kernel has no rename counter a tracepoint
 *    program can read here);
 *  - the dentry holds the same inode (pointer and number: a name deleted and made again);
 *  - the file system's root is where it was (its sb_roots entry's seq: the agent rewrites the
 *    table when mounts change);
 *  - the hook's identity sets did not grow (verdict_gen: the agent bumps it when a watched file
 *    was replaced and its new inode added);
 *  - the caller's root is the same (part of the key: a chroot sees another view).
 * Walks that crossed a mount (a file system the agent does not know), were cut short, or are
 * deeper than VIGIL_CHAIN_DEPTH are not kept. Checking a verdict costs one read per level, two
 * for the inode, and three lookups, against the walk's two reads per level, its name copies,
 * the identity's reads and the path's compare.
 */
#ifndef VIGIL_HOOK_VERDICTS_H
#define VIGIL_HOOK_VERDICTS_H

#include "vigil_bpf.h"
#include "vigil_resolve.h"
#include "hook_maps.h"

struct vigil_verdict_key {
	__u64 dentry;
	__u64 root; /* the caller's root dentry */
};

struct vigil_verdict {
	__u64 inode; /* the dentry's inode pointer and number when walked */
	__u64 ino;
	__u32 dev;    /* the file system (its sb_roots entry) */
	__u32 sb_seq; /* that entry's seq */
	__u32 gen;    /* verdict_gen */
	__u32 depth;  /* levels in parent/hash_len */
	__u64 bits;   /* bit s * VIGIL_SEL_ARG_FILTERS + fi: filter fi of selector s held */
	__u64 parent[VIGIL_CHAIN_DEPTH];
	__u64 hash_len[VIGIL_CHAIN_DEPTH];
};

/* Sized by the agent: 1 entry for hooks without a cached argument. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct vigil_verdict_key);
	__type(value, struct vigil_verdict);
} verdicts SEC(".maps");

/* Bumped by the agent when the hook's identity sets grew: older verdicts are stale. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} verdict_gen SEC(".maps");

/* Per CPU, for the call in progress: per argument, the kept bits it was judged by, and the
 * verdict a walk made, waiting for its bits (vigil_verdict_keep). */
struct vigil_verdict_state {
	__u64 bits[VIGIL_HOOK_ARGS];
	struct vigil_verdict_key key[VIGIL_HOOK_ARGS];
	struct vigil_verdict pending[VIGIL_HOOK_ARGS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_verdict_state);
} verdict_state SEC(".maps");

static __always_inline struct vigil_verdict_state *vigil_verdict_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&verdict_state, &zero);
}

static __always_inline __u32 vigil_verdict_generation(void)
{
	__u32 zero = 0;
	__u32 *gen = bpf_map_lookup_elem(&verdict_gen, &zero);
	return gen ? *gen : 0;
}

/* Argument `i` judged by a kept verdict: true when one is still valid (its bits are then in
 * the state, and `a` says VIGIL_ARG_VERDICT). */
static __noinline bool vigil_verdict_hit(struct vigil_verdict_key *key, __u32 i, struct vigil_hook_arg *a)
{
	if (!key || !a || i >= VIGIL_HOOK_ARGS)
		return false;
	struct vigil_verdict *v = bpf_map_lookup_elem(&verdicts, key);
	if (!v || v->gen != vigil_verdict_generation())
		return false;
	__u32 dev = v->dev;
	struct vigil_sb_root *root = bpf_map_lookup_elem(&sb_roots, &dev);
	if (!root || root->seq != v->sb_seq)
		return false;
	__u64 d = key->dentry;
	__u32 depth = v->depth;
	for (int l = 0; l < VIGIL_CHAIN_DEPTH; l++) {
		if (l >= depth)
			break;
		struct vigil_dhead h;
		if (vigil_dhead_read(&h, (struct dentry *)d) < 0)
			return false;
		if ((__u64)h.parent != v->parent[l] || h.name.hash_len != v->hash_len[l])
			return false;
		d = (__u64)h.parent;
	}
	struct dentry *leaf = (struct dentry *)key->dentry; /* outside BPF_CORE_READ: not a kernel field */
	struct inode *inode = BPF_CORE_READ(leaf, d_inode);
	if (!inode || (__u64)inode != v->inode || BPF_CORE_READ(inode, i_ino) != v->ino)
		return false;
	struct vigil_verdict_state *st = vigil_verdict_state();
	if (!st)
		return false;
	st->bits[i] = v->bits;
	a->flags |= VIGIL_ARG_RESOLVED | VIGIL_ARG_VERDICT;
	a->dev = v->dev;
	a->ino = v->ino;
	return true;
}

/* After a walk of argument `i` that may be kept: the verdict without its bits, staged until
 * the filters' results are known (vigil_verdict_keep, hook_filters.h). */
static __noinline void vigil_verdict_stage(struct vigil_verdict_key *key, __u32 i, struct vigil_hook_arg *a, __u32 sb_seq)
{
	if (!key || !a || i >= VIGIL_HOOK_ARGS)
		return;
	__u32 zero = 0;
	struct vigil_chain *chain = bpf_map_lookup_elem(&vigil_chain_map, &zero);
	struct vigil_verdict_state *st = vigil_verdict_state();
	if (!chain || !st || chain->depth == 0 || chain->depth > VIGIL_CHAIN_DEPTH)
		return;
	struct vigil_verdict *v = &st->pending[i];
	struct dentry *leaf = (struct dentry *)key->dentry; /* outside BPF_CORE_READ: not a kernel field */
	v->inode = (__u64)BPF_CORE_READ(leaf, d_inode);
	v->ino = a->ino;
	v->dev = a->dev;
	v->sb_seq = sb_seq;
	v->gen = vigil_verdict_generation();
	v->depth = chain->depth;
	v->bits = 0;
	__builtin_memcpy(v->parent, chain->parent, sizeof(v->parent));
	__builtin_memcpy(v->hash_len, chain->hash_len, sizeof(v->hash_len));
	st->key[i] = *key;
	a->flags |= VIGIL_ARG_VERDICT_FILL;
}

/* Filter `bit` (s * VIGIL_SEL_ARG_FILTERS + fi) of an argument judged by a kept verdict. */
static __always_inline bool vigil_verdict_bit(__u32 slot, __u32 bit)
{
	struct vigil_verdict_state *st = vigil_verdict_state();
	if (!st || slot >= VIGIL_HOOK_ARGS)
		return false;
	return (st->bits[slot] >> (bit & 63)) & 1;
}

#endif /* VIGIL_HOOK_VERDICTS_H */
