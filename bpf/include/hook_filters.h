/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Selector evaluation for the generic hook. Every `sel`/`f` pointer points into the frozen
 * config, and every loop is unrolled over constant bounds: the verifier walks only the
 * filters a policy has. Adding an operator means: a VIGIL_OP_ constant, a case here, and
 * its Swift mapping in PolicyEngine/SelectorCompiler.swift.
 */
#ifndef VIGIL_HOOK_FILTERS_H
#define VIGIL_HOOK_FILTERS_H

#include "hook_maps.h"

/* A pointer a global subprogram reads only by probe reads (see string_set_match_at). */
struct vigil_byte {
	__u8 b;
};

struct reverse_ctx {
	__u32 len;
};

/* Swaps one pair of bytes of the trie key's data, turning a string into its reverse. */
static long reverse_step(__u32 i, void *data)
{
	struct reverse_ctx *c = data;
	__u32 zero = 0;
	struct vigil_string_key *k = bpf_map_lookup_elem(&key_scratch, &zero);
	if (!k || i >= c->len / 2)
		return 1;
	__u32 j = c->len - 1 - i;
	if (i >= VIGIL_STRING_KEY_BYTES || j >= VIGIL_STRING_KEY_BYTES)
		return 1;
	__u8 t = k->data[i];
	k->data[i] = k->data[j];
	k->data[j] = t;
	return 0;
}

/*
 * Looks `len` bytes at kernel address `data` up in string set `set` (the reversed-string trie
 * when `reversed`). Returns the length of the longest member that is a prefix of the string
 * (of its reverse), or -1 when none is. Only the first (for Postfix: last)
 * VIGIL_STRING_KEY_BYTES bytes take part; members are never longer than that, and Equal
 * compares the full length, so a longer string can still match a Prefix but never Equal.
 *
 * Global subprograms (here and below: not static, arguments numbers or sized memory): the
 * verifier checks each once per program, where a static subprogram is checked again at every
 * call site (each filter of each selector), which made a three-selector hook cost 1.8 s and
 * over half of its 1,000,000-instruction budget to load. `data` is only ever read with a
 * probe read, so its declared size is one byte: any caller's pointer passes.
 */
__noinline int string_set_match_at(__u32 set, const struct vigil_byte *data, __u32 len, __u32 reversed)
{
	__u32 zero = 0;
	struct vigil_string_key *k = bpf_map_lookup_elem(&key_scratch, &zero);
	if (!k || !data)
		return -1;
	if (len > VIGIL_ARG_BYTES)
		len = VIGIL_ARG_BYTES;
	__u32 klen = len > VIGIL_STRING_KEY_BYTES ? VIGIL_STRING_KEY_BYTES : len;
	__u32 skip = reversed ? len - klen : 0; /* Postfix looks at the tail */
	k->set = set;
	k->prefixlen = 32 + klen * 8;
	vigil_opaque(klen);
	if (klen > VIGIL_STRING_KEY_BYTES)
		klen = VIGIL_STRING_KEY_BYTES;
	bpf_probe_read_kernel(k->data, klen, (const __u8 *)data + (skip & 7));
	if (reversed) {
		struct reverse_ctx c = {.len = klen};
		bpf_loop(VIGIL_STRING_KEY_BYTES / 2, reverse_step, &c, 0);
	}
	struct vigil_string_value *v = bpf_map_lookup_elem(reversed ? (void *)&rstrings : (void *)&strings, k);
	return v ? (int)v->len : -1;
}

/* string_set_match_at for any pointer the caller has (a slot, a process's binary, an address). */
static __always_inline int string_set_match(__u32 set, const void *data, __u32 len, bool reversed)
{
	return string_set_match_at(set, (const struct vigil_byte *)data, len, reversed);
}

/* String operators: Equal/NotEqual need a whole member, Prefix/Postfix any member. */
static __always_inline bool string_op(__u32 op, __u32 set, const __u8 *data, __u32 len)
{
	switch (op) {
	case VIGIL_OP_EQ: return string_set_match(set, data, len, false) == (int)len;
	case VIGIL_OP_NEQ: return string_set_match(set, data, len, false) != (int)len;
	case VIGIL_OP_PREFIX: return string_set_match(set, data, len, false) >= 0;
	case VIGIL_OP_NOT_PREFIX: return string_set_match(set, data, len, false) < 0;
	case VIGIL_OP_POSTFIX: return string_set_match(set, data, len, true) >= 0;
	case VIGIL_OP_NOT_POSTFIX: return string_set_match(set, data, len, true) < 0;
	}
	return false;
}

/*
 * Equal/Prefix lookups of an argument use its record slot as the trie key in place (its
 * header has the key's layout); Postfix and over-long strings take the copying path.
 */
static __noinline int slot_set_match(__u32 set, struct vigil_hook_slot *slot, __u32 len)
{
	if (len > VIGIL_STRING_KEY_BYTES)
		return string_set_match(set, slot->data, len, false);
	slot->key_prefixlen = 32 + len * 8;
	slot->key_set = set;
	struct vigil_string_value *v = bpf_map_lookup_elem(&strings, slot);
	return v ? (int)v->len : -1;
}

/* The low `n` bytes (0..8) of a word. */
static __always_inline __u64 low_bytes(__u64 w, __u32 n) { return n >= 8 ? w : w & ((1ull << (n * 8)) - 1); }

/*
 * Inline string list (see struct vigil_arg_filter): the longest listed string that is a
 * prefix of the argument, as string_set_match answers. Two word loads of the argument,
 * then per listed string two masked compares; no helper calls.
 */
static __always_inline int inline_set_match(const volatile struct vigil_arg_filter *f, struct vigil_hook_slot *slot,
					    __u32 len)
{
	__u64 w0 = *(__u64 *)&slot->data[0];
	__u64 w1 = *(__u64 *)&slot->data[8];
	int best = -1;
#pragma unroll
	for (int j = 0; j < VIGIL_INLINE_STRINGS; j++) {
		if (j >= f->nvalues)
			break;
		__u32 n = f->inline_lens[j];
		if (n <= len && low_bytes(w0 ^ f->values[2 * j], n) == 0 &&
		    (n <= 8 || low_bytes(w1 ^ f->values[2 * j + 1], n - 8) == 0) && (int)n > best)
			best = n;
	}
	return best;
}

static __always_inline bool slot_string_op(const volatile struct vigil_arg_filter *f, struct vigil_hook_slot *slot,
					   __u32 len)
{
	__u32 op = f->op, set = f->set;
	if (f->nvalues) {
		switch (op) {
		case VIGIL_OP_EQ: return inline_set_match(f, slot, len) == (int)len;
		case VIGIL_OP_NEQ: return inline_set_match(f, slot, len) != (int)len;
		case VIGIL_OP_PREFIX: return inline_set_match(f, slot, len) >= 0;
		case VIGIL_OP_NOT_PREFIX: return inline_set_match(f, slot, len) < 0;
		}
	}
	switch (op) {
	case VIGIL_OP_EQ: return slot_set_match(set, slot, len) == (int)len;
	case VIGIL_OP_NEQ: return slot_set_match(set, slot, len) != (int)len;
	case VIGIL_OP_PREFIX: return slot_set_match(set, slot, len) >= 0;
	case VIGIL_OP_NOT_PREFIX: return slot_set_match(set, slot, len) < 0;
	}
	return string_op(op, set, slot->data, len);
}

static __always_inline bool int_in_set(__u32 set, __s64 v)
{
	struct vigil_int_key k = {.set = set, .value = v};
	return bpf_map_lookup_elem(&ints, &k) != NULL;
}

static __always_inline bool int_listed(const volatile struct vigil_arg_filter *f, __s64 v)
{
	if (f->set)
		return int_in_set(f->set, v);
#pragma unroll
	for (int j = 0; j < VIGIL_FILTER_INTS; j++) {
		if (j >= f->nvalues)
			break;
		if (f->values[j] == v)
			return true;
	}
	return false;
}

/* Ranges are kept as (low << 32 | high) pairs in the inline values. */
static __always_inline bool in_ranges(const volatile struct vigil_arg_filter *f, __u64 v)
{
#pragma unroll
	for (int j = 0; j < VIGIL_FILTER_INTS; j++) {
		if (j >= f->nvalues)
			break;
		__u64 lo = (__u64)f->values[j] >> 32, hi = (__u64)f->values[j] & 0xffffffff;
		if (v >= lo && v <= hi)
			return true;
	}
	return false;
}

static __always_inline bool int_op(const volatile struct vigil_arg_filter *f, __s64 v)
{
	switch (f->op) {
	case VIGIL_OP_EQ: return int_listed(f, v);
	case VIGIL_OP_NEQ: return !int_listed(f, v);
	case VIGIL_OP_GT: return v > f->values[0];
	case VIGIL_OP_LT: return v < f->values[0];
	case VIGIL_OP_MASK: return (v & f->values[0]) != 0;
	case VIGIL_OP_IN_RANGE: return in_ranges(f, v);
	case VIGIL_OP_NOT_IN_RANGE: return !in_ranges(f, v);
	case VIGIL_OP_IN_MAP: return int_in_set(f->set, v);
	case VIGIL_OP_NOT_IN_MAP: return !int_in_set(f->set, v);
	}
	return false;
}

static __always_inline bool addr_in_set(__u32 set, const __u8 *addr)
{
	return string_set_match(set, addr, 16, false) >= 0;
}

/* A port list: inline ranges, or (more than VIGIL_FILTER_INTS single ports) the integer set. */
static __always_inline bool port_listed(const volatile struct vigil_arg_filter *f, __u16 port)
{
	return f->set ? int_in_set(f->set, port) : in_ranges(f, port);
}

static __always_inline bool sock_op(const volatile struct vigil_arg_filter *f, const struct vigil_sock_data *d)
{
	switch (f->op) {
	case VIGIL_OP_SPORT: return port_listed(f, d->sport);
	case VIGIL_OP_NOT_SPORT: return !port_listed(f, d->sport);
	case VIGIL_OP_DPORT: return port_listed(f, d->dport);
	case VIGIL_OP_NOT_DPORT: return !port_listed(f, d->dport);
	case VIGIL_OP_SPORT_PRIV: return d->sport < 1024;
	case VIGIL_OP_NOT_SPORT_PRIV: return d->sport >= 1024;
	case VIGIL_OP_DPORT_PRIV: return d->dport < 1024;
	case VIGIL_OP_NOT_DPORT_PRIV: return d->dport >= 1024;
	case VIGIL_OP_SADDR: return addr_in_set(f->set, d->saddr);
	case VIGIL_OP_NOT_SADDR: return !addr_in_set(f->set, d->saddr);
	case VIGIL_OP_DADDR: return addr_in_set(f->set, d->daddr);
	case VIGIL_OP_NOT_DADDR: return !addr_in_set(f->set, d->daddr);
	case VIGIL_OP_PROTOCOL: return int_listed(f, d->protocol);
	case VIGIL_OP_FAMILY: return int_listed(f, d->family);
	case VIGIL_OP_STATE: return int_listed(f, d->state);
	}
	return false;
}

/* SubString: one needle against the argument's bytes (lower-cased for SubStringIgnCase). The
 * search state lives in a per-CPU map, not on the stack: the verifier checks a bpf_loop callback
 * until its states converge, and counters it tracks exactly from 0 never do (vigil_pathname.h). */
struct substr_ctx {
	__u32 slot;
	__u32 hay_len;
	__u32 index; /* the needle's entry in `substrings` */
	__u32 fold;  /* ignore ASCII case */
	__u32 found;
	__u32 at; /* the start position being tried */
	__u32 k;  /* bytes of the needle matched there so far */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct substr_ctx);
} substr_scratch SEC(".maps");

static __always_inline __u8 fold_ascii(__u8 c, __u32 fold)
{
	return fold && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * One byte comparison of the naive search: needle[k] against hay[at + k]; a mismatch moves to
 * the next start. One bpf_loop step per comparison, so the verifier checks one comparison, not
 * a needle-long loop per start (that inner loop cost ~95,000 verified instructions per
 * SubString filter); the run time is the naive search's, comparison for comparison.
 */
static long substr_step(__u32 i, void *data)
{
	__u32 zero = 0;
	struct substr_ctx *c = bpf_map_lookup_elem(&substr_scratch, &zero);
	if (!c)
		return 1;
	struct vigil_hook_record *r = bpf_map_lookup_elem(&record_scratch, &zero);
	struct vigil_substring *needle = bpf_map_lookup_elem(&substrings, &c->index);
	if (!r || !needle || c->slot >= VIGIL_HOOK_ARGS)
		return 1;
	__u32 n = needle->len;
	if (n == 0 || n > VIGIL_SUBSTRING_BYTES) {
		c->found = n == 0;
		return 1;
	}
	if (c->at + n > c->hay_len)
		return 1; /* no start left */
	__u32 k = c->k;
	const __u8 *hay = r->slots[c->slot].data;
	if (fold_ascii(hay[(c->at + k) & (VIGIL_ARG_BYTES - 1)], c->fold) != needle->bytes[k & 127]) {
		c->at++;
		c->k = 0;
		return 0;
	}
	c->k = k + 1;
	if (c->k >= n) {
		c->found = 1;
		return 1;
	}
	return 0;
}

static __noinline bool substring_match(__u32 slot, __u32 hay_len, __u32 first, __u32 count, __u32 fold)
{
#pragma unroll
	for (int j = 0; j < VIGIL_SEL_SUBSTRINGS; j++) {
		if (j >= count)
			break;
		__u32 zero = 0;
		struct substr_ctx *c = bpf_map_lookup_elem(&substr_scratch, &zero);
		if (!c)
			return false;
		*c = (struct substr_ctx){.slot = slot,
					 .hay_len = hay_len > VIGIL_ARG_BYTES ? VIGIL_ARG_BYTES : hay_len,
					 .index = first + j,
					 .fold = fold};
		/* at most one comparison per (start, needle byte) pair */
		bpf_loop(VIGIL_ARG_BYTES * VIGIL_SUBSTRING_BYTES, substr_step, NULL, 0);
		c = bpf_map_lookup_elem(&substr_scratch, &zero); /* the verifier forgets what the callback wrote */
		if (c && c->found)
			return true;
	}
	return false;
}

/* A string of `len` bytes at `data + at` (a suffix of a slot: the caller's view of a path)
 * against the filter's values, by the positive operator `op` (Equal, Prefix). */
static __always_inline bool view_matches(const volatile struct vigil_arg_filter *f, __u32 op,
					 struct vigil_hook_slot *slot, __u32 at, __u32 len)
{
	at &= VIGIL_ARG_BYTES - 1;
	if (f->nvalues) {
		/* inline values: compare the view's first 16 bytes word by word */
		__u64 w[2] = {};
		bpf_probe_read_kernel(w, 16, &slot->data[at]);
		int best = -1;
#pragma unroll
		for (int j = 0; j < VIGIL_INLINE_STRINGS; j++) {
			if (j >= f->nvalues)
				break;
			__u32 n = f->inline_lens[j];
			if (n <= len && low_bytes(w[0] ^ f->values[2 * j], n) == 0 &&
			    (n <= 8 || low_bytes(w[1] ^ f->values[2 * j + 1], n - 8) == 0) && (int)n > best)
				best = n;
		}
		return op == VIGIL_OP_EQ ? best == (int)len : best >= 0;
	}
	int m = string_set_match(f->set, &slot->data[at], len, false);
	return op == VIGIL_OP_EQ ? m == (int)len : m >= 0;
}

/*
 * A resolved file against a path operator, taken positively (`op`: Equal, Prefix, Postfix):
 * whether any of the file's names matches. Its names: the global path (vigil_resolve.h), its
 * identity (a named file's hardlinks and binds are that file) and, for the positive reading
 * only, the path as the caller sees it (a chroot or container view): the caller controls that
 * view, so it may add a match but never take one away (negated operators ignore it).
 */
static __always_inline bool file_names_match(const volatile struct vigil_arg_filter *f, __u32 op,
					     struct vigil_hook_record *r, __u32 slot, bool with_view)
{
	if (slot >= VIGIL_HOOK_ARGS) /* VIGIL_HOOK_ARGS is 5: a bound, not a mask */
		return false;
	struct vigil_hook_arg *a = &r->args[slot];
	struct vigil_hook_slot *sl = &r->slots[slot];
	__u32 flags = a->flags;
	bool long_path = flags & VIGIL_ARG_LONG_PATH;
	if (f->id_set && !(flags & VIGIL_ARG_NO_IDENTITY)) {
		struct vigil_file_id id = {.set = f->id_set, .dev = a->dev, .ino = a->ino};
		if (bpf_map_lookup_elem(&file_ids, &id))
			return true;
	}
	switch (op) {
	case VIGIL_OP_EQ:
		if (!long_path && slot_string_op(f, sl, a->len))
			return true;
		break;
	case VIGIL_OP_PREFIX:
		if (slot_string_op(f, sl, long_path ? VIGIL_PATH_END_BYTES : a->len))
			return true;
		break;
	case VIGIL_OP_POSTFIX:
		/* a long path keeps its last VIGIL_PATH_END_BYTES bytes after its first ones */
		return long_path ? string_set_match(f->set, &sl->data[VIGIL_PATH_END_BYTES], VIGIL_PATH_END_BYTES,
						    true) >= 0
				 : string_set_match(f->set, sl->data, a->len, true) >= 0;
	}
	if (with_view && (flags & VIGIL_ARG_ROOT_VIEW) && !long_path) {
		__u32 at = a->root_off;
		if (at < a->len && view_matches(f, op, sl, at, a->len - at))
			return true;
	}
	return false;
}

static __always_inline bool is_resolved_file(__u32 kind)
{
	return kind == VIGIL_ARG_FILE || kind == VIGIL_ARG_PATH || kind == VIGIL_ARG_FD || kind == VIGIL_ARG_BINPRM ||
	       kind == VIGIL_ARG_DENTRY || kind == VIGIL_ARG_KIOCB || kind == VIGIL_ARG_PATHNAME ||
	       kind == VIGIL_ARG_VMA || kind == VIGIL_ARG_ADDR_FILE;
}

/* Equal/NotEqual/Prefix/... on a string, a buffer, a socket path or a resolved file. A
 * subprogram: inlined into each of the five filter positions it made selector_matches too
 * large to unroll. */
static __noinline bool path_op(const volatile struct vigil_arg_filter *f, __u32 op, struct vigil_hook_record *r,
			       __u32 slot, __u32 kind)
{
	if (slot >= VIGIL_HOOK_ARGS)
		return false;
	struct vigil_hook_arg *a = &r->args[slot];
	if (!is_resolved_file(kind) || !(a->flags & VIGIL_ARG_RESOLVED))
		return slot_string_op(f, &r->slots[slot], a->len);
	/* a name the kernel side could not follow (another process's /proc/PID/cwd): fail closed */
	if (a->flags & VIGIL_ARG_UNRESOLVED)
		return true;
	switch (op) {
	case VIGIL_OP_EQ: return file_names_match(f, VIGIL_OP_EQ, r, slot, true);
	case VIGIL_OP_NEQ: return !file_names_match(f, VIGIL_OP_EQ, r, slot, false);
	case VIGIL_OP_PREFIX: return file_names_match(f, VIGIL_OP_PREFIX, r, slot, true);
	case VIGIL_OP_NOT_PREFIX: return !file_names_match(f, VIGIL_OP_PREFIX, r, slot, false);
	case VIGIL_OP_POSTFIX: return file_names_match(f, VIGIL_OP_POSTFIX, r, slot, true);
	case VIGIL_OP_NOT_POSTFIX: return !file_names_match(f, VIGIL_OP_POSTFIX, r, slot, false);
	}
	return false;
}

/* Inlined into selector_matches (one copy per filter index there, not per selector): as a
 * subprogram it ran its generic dispatch on every call, ~15 ns of a FIM hook's run. */
static __always_inline bool arg_filter_matches(int s, int fi, struct vigil_hook_record *r)
{
	const volatile struct vigil_arg_filter *f = &hook_config.selectors[s].filters[fi];
	__u32 slot = f->slot;
	if (slot >= VIGIL_HOOK_ARGS)
		return false;
	__u32 kind = hook_config.args[slot].kind;
	struct vigil_hook_arg *a = &r->args[slot];
	bool sock = kind == VIGIL_ARG_SOCK || kind == VIGIL_ARG_SOCKET || kind == VIGIL_ARG_SOCKADDR ||
		    kind == VIGIL_ARG_SKB;
	/* Every operator has its case (bpf/build.sh: -Wswitch-enum); which argument kinds each
	 * applies to is PolicyModel/OperatorRules.swift's table, checked at compile time. */
	switch ((enum vigil_op)f->op) {
	case VIGIL_OP_EQ:
	case VIGIL_OP_NEQ:
		if (kind == VIGIL_ARG_INT)
			return int_op(f, a->value);
		/* fallthrough */
	case VIGIL_OP_PREFIX:
	case VIGIL_OP_NOT_PREFIX:
	case VIGIL_OP_POSTFIX:
	case VIGIL_OP_NOT_POSTFIX:
		if (kind == VIGIL_ARG_CRED || kind == VIGIL_ARG_USER_NS || sock)
			return false; /* the compiler refuses these */
		return path_op(f, f->op, r, slot, kind);
	case VIGIL_OP_GT:
	case VIGIL_OP_LT:
	case VIGIL_OP_MASK:
	case VIGIL_OP_IN_RANGE:
	case VIGIL_OP_NOT_IN_RANGE:
	case VIGIL_OP_IN_MAP:
	case VIGIL_OP_NOT_IN_MAP: return int_op(f, a->value);
	case VIGIL_OP_SPORT:
	case VIGIL_OP_NOT_SPORT:
	case VIGIL_OP_DPORT:
	case VIGIL_OP_NOT_DPORT:
	case VIGIL_OP_SPORT_PRIV:
	case VIGIL_OP_NOT_SPORT_PRIV:
	case VIGIL_OP_DPORT_PRIV:
	case VIGIL_OP_NOT_DPORT_PRIV:
	case VIGIL_OP_SADDR:
	case VIGIL_OP_NOT_SADDR:
	case VIGIL_OP_DADDR:
	case VIGIL_OP_NOT_DADDR:
	case VIGIL_OP_PROTOCOL:
	case VIGIL_OP_STATE: return sock && sock_op(f, (const struct vigil_sock_data *)r->slots[slot].data);
	case VIGIL_OP_FAMILY:
		if (kind == VIGIL_ARG_SOCKADDR_UN)
			return int_listed(f, a->value);
		return sock && sock_op(f, (const struct vigil_sock_data *)r->slots[slot].data);
	case VIGIL_OP_SUBSTRING:
	case VIGIL_OP_SUBSTRING_IGNCASE:
		if (is_resolved_file(kind) && (a->flags & VIGIL_ARG_UNRESOLVED))
			return true;
		return substring_match(slot, a->len, f->set, f->nvalues, f->op == VIGIL_OP_SUBSTRING_IGNCASE);
	case VIGIL_OP_FILE_TYPE:
	case VIGIL_OP_NOT_FILE_TYPE: {
		/* the inode's type; a pathname resolved as a string has none yet: fail closed */
		if (!(a->flags & VIGIL_ARG_RESOLVED) || (a->flags & (VIGIL_ARG_NO_IDENTITY | VIGIL_ARG_UNRESOLVED)))
			return true;
		bool listed = int_listed(f, a->value & VIGIL_S_IFMT_MASK);
		return f->op == VIGIL_OP_FILE_TYPE ? listed : !listed;
	}
	}
	return false;
}

static __always_inline __u32 namespace_inum(struct task_struct *task, __u32 ns)
{
	struct nsproxy *nsp = task->nsproxy;
	if (!nsp)
		return 0;
	switch (ns) {
	case VIGIL_NS_UTS: return nsp->uts_ns->ns.inum;
	case VIGIL_NS_IPC: return nsp->ipc_ns->ns.inum;
	case VIGIL_NS_MNT: return nsp->mnt_ns->ns.inum;
	case VIGIL_NS_PID: return vigil_pid_ns_inum(task);
	case VIGIL_NS_PID_FOR_CHILDREN: return nsp->pid_ns_for_children->ns.inum;
	case VIGIL_NS_NET: return nsp->net_ns->ns.inum;
	case VIGIL_NS_TIME: return bpf_core_field_exists(nsp->time_ns) ? nsp->time_ns->ns.inum : 0;
	case VIGIL_NS_TIME_FOR_CHILDREN:
		return bpf_core_field_exists(nsp->time_ns_for_children) ? nsp->time_ns_for_children->ns.inum : 0;
	case VIGIL_NS_CGROUP: return nsp->cgroup_ns->ns.inum;
	case VIGIL_NS_USER: return task->cred->user_ns->ns.inum;
	}
	return 0;
}

static __always_inline bool ns_filter_matches(const volatile struct vigil_ns_filter *f, struct task_struct *task)
{
	__u32 inum = namespace_inum(task, f->ns);
	bool listed = false;
#pragma unroll
	for (int j = 0; j < VIGIL_SEL_NS_VALUES; j++) {
		if (j >= f->nvalues)
			break;
		if (f->values[j] == inum)
			listed = true;
	}
	return f->op == VIGIL_OP_EQ ? listed : !listed;
}

static __always_inline __u64 capability_set(struct task_struct *task, __u32 which)
{
	const struct cred *cred = task->cred;
	switch (which) {
	case 1: return *(__u64 *)&cred->cap_inheritable;
	case 2: return *(__u64 *)&cred->cap_permitted;
	}
	return *(__u64 *)&cred->cap_effective;
}

/* The process's pid inside its own pid namespace (matchPIDs isNamespacePID). */
static __always_inline __u32 namespace_tgid(struct task_struct *task)
{
	struct pid *tp = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	return BPF_CORE_READ(tp, numbers[level & 31].nr);
}

static __always_inline bool pid_listed(const volatile struct vigil_selector *sel, __u32 pid)
{
#pragma unroll
	for (int j = 0; j < VIGIL_SEL_PIDS; j++) {
		if (j >= sel->npids)
			break;
		if (sel->pids[j] == pid)
			return true;
	}
	return false;
}

/*
 * A process's executable against matchBinaries values, taken positively (`op`: Equal for In,
 * Prefix, Postfix): its global path, its identity (a hardlink of a listed binary is that
 * binary) and, for the positive reading only, the path as the process sees it (chroot or
 * container) which the process controls, so it may add a match, never remove one.
 */
__noinline int binary_names_match(__u32 op, __u32 set, __u32 id_set, const struct vigil_process *p, __u32 with_view)
{
	if (!p) /* a global subprogram's pointer may be NULL as far as the verifier knows */
		return false;
	if (id_set) {
		struct vigil_file_id id = {.set = id_set, .dev = p->binary_dev, .ino = p->binary_ino};
		if (bpf_map_lookup_elem(&file_ids, &id))
			return true;
	}
	bool long_path = p->flags & VIGIL_PROC_LONG_PATH;
	__u32 len = p->binary_len;
	if (len > VIGIL_PATH_LEN - 1)
		len = VIGIL_PATH_LEN - 1;
	int m;
	switch (op) {
	case VIGIL_OP_EQ:
		if (!long_path && string_set_match(set, p->binary, len, false) == (int)len)
			return true;
		break;
	case VIGIL_OP_PREFIX:
		if (string_set_match(set, p->binary, long_path ? VIGIL_PATH_END_BYTES : len, false) >= 0)
			return true;
		break;
	case VIGIL_OP_POSTFIX:
		return long_path ? string_set_match(set, &p->binary[VIGIL_PATH_END_BYTES], VIGIL_PATH_END_BYTES,
						    true) >= 0
				 : string_set_match(set, p->binary, len, true) >= 0;
	}
	if (with_view && (p->flags & VIGIL_PROC_ROOT_VIEW) && !long_path) {
		__u32 at = p->binary_root_off;
		if (at < len) {
			m = string_set_match(set, &p->binary[at & (VIGIL_PATH_LEN - 1)], len - at, false);
			if (op == VIGIL_OP_EQ ? m == (int)(len - at) : m >= 0)
				return true;
		}
	}
	return false;
}

static __always_inline bool binary_op_matches(__u32 op, __u32 set, __u32 id_set, const struct vigil_process *p)
{
	switch (op) {
	case VIGIL_OP_EQ: return binary_names_match(VIGIL_OP_EQ, set, id_set, p, true);
	case VIGIL_OP_NEQ: return !binary_names_match(VIGIL_OP_EQ, set, id_set, p, false);
	case VIGIL_OP_PREFIX: return binary_names_match(VIGIL_OP_PREFIX, set, id_set, p, true);
	case VIGIL_OP_NOT_PREFIX: return !binary_names_match(VIGIL_OP_PREFIX, set, id_set, p, false);
	case VIGIL_OP_POSTFIX: return binary_names_match(VIGIL_OP_POSTFIX, set, id_set, p, true);
	case VIGIL_OP_NOT_POSTFIX: return !binary_names_match(VIGIL_OP_POSTFIX, set, id_set, p, false);
	}
	return false;
}

/* Whether filter fi of selector s tests a file the kernel resolved (a walk of its dentries
 * to the global root, most of a file hook's cost): such filters wait for selector_may_match. */
static __always_inline bool filter_needs_file(int s, int fi)
{
	__u32 slot = hook_config.selectors[s].filters[fi].slot;
	return slot < VIGIL_HOOK_ARGS && is_resolved_file(hook_config.args[slot].kind);
}

/*
 * Whether filter fi of selector s is ruled out by its file's own name, read before the walk
 * (hook_name_gate.h): an Equal or Postfix filter on an argument whose name ends none of the
 * listed values' last components, and whose identity (when the filter has one) is not listed.
 */
static __always_inline bool name_gate_rejects(int s, int fi, struct vigil_hook_record *r)
{
	const volatile struct vigil_arg_filter *f = &hook_config.selectors[s].filters[fi];
	__u32 slot = f->slot;
	if (slot >= VIGIL_HOOK_ARGS || !(hook_config.args[slot].flags & VIGIL_ARGF_NAME_GATE) ||
	    (f->op != VIGIL_OP_EQ && f->op != VIGIL_OP_POSTFIX))
		return false;
	struct vigil_hook_arg *a = &r->args[slot];
	if (!(a->flags & VIGIL_ARG_NAME_MISS))
		return false;
	if (f->id_set) {
		struct vigil_file_id id = {.set = f->id_set, .dev = a->dev, .ino = a->ino};
		if (bpf_map_lookup_elem(&file_ids, &id))
			return false;
	}
	return true;
}

/* All of selector s's filters, cheapest first; with `cheap`, all but those on a resolved
 * file, which only their file's name may rule out (selector_may_match). Subprograms keep the code within branch range; `s` is a known
 * constant at each call, so config reads stay constants. */
static __always_inline bool selector_test(int s, struct vigil_hook_record *r, struct vigil_process *proc,
					  const bool cheap)
{
	/* bpf_get_current_task_btf() only in the filters that read the task (a helper call costs ~90 ns here) */
	const volatile struct vigil_selector *sel = &hook_config.selectors[s];
	if (sel->pid_op) {
		bool listed = pid_listed(sel, sel->pid_ns ? namespace_tgid(bpf_get_current_task_btf())
							  : bpf_get_current_pid_tgid() >> 32);
		if (sel->pid_op == VIGIL_OP_EQ ? !listed : listed)
			return false;
	}
#pragma unroll
	for (int n = 0; n < VIGIL_SEL_NS_FILTERS; n++) {
		if (sel->ns[n].op && !ns_filter_matches(&sel->ns[n], bpf_get_current_task_btf()))
			return false;
	}
	if (sel->cap_op) {
		bool any = (capability_set(bpf_get_current_task_btf(), sel->cap_set) & sel->cap_mask) != 0;
		if (sel->cap_op == VIGIL_OP_EQ ? !any : any)
			return false;
	}
	/* Unrolled by hand: clang stops honouring `#pragma unroll` once the body is this large,
	 * and a loop left in (its back-edge a fall-through) is refused by 6.1's verifier. */
#define VIGIL_FILTER_AT(fi)                                                                                    \
	if (fi < VIGIL_SEL_ARG_FILTERS && fi < sel->nfilters &&                                                \
	    (cheap && filter_needs_file(s, fi) ? name_gate_rejects(s, fi, r) : !arg_filter_matches(s, fi, r))) \
		return false;
	VIGIL_FILTER_AT(0)
	VIGIL_FILTER_AT(1)
	VIGIL_FILTER_AT(2)
	VIGIL_FILTER_AT(3)
	VIGIL_FILTER_AT(4)
#undef VIGIL_FILTER_AT
	_Static_assert(VIGIL_SEL_ARG_FILTERS == 5, "one VIGIL_FILTER_AT per filter");
	if (sel->binary_op) {
		if (!proc) /* a process the table does not know: only the Not* operators match it */
			return sel->binary_op == VIGIL_OP_NEQ || sel->binary_op == VIGIL_OP_NOT_PREFIX ||
			       sel->binary_op == VIGIL_OP_NOT_POSTFIX;
		if (!binary_op_matches(sel->binary_op, sel->binary_set, sel->binary_id_set, proc))
			return false;
	}
	if (sel->follow) {
		/* matchBinaries followChildren: the process, or an ancestor since the policy loaded,
		 * ran a listed binary (a bit set at exec and copied at every fork, vigil_process.follow) */
		bool in = proc && ((proc->follow >> (((sel->follow & VIGIL_FOLLOW_ID_MASK) - 1) & 63)) & 1);
		if (in == !!(sel->follow & VIGIL_FOLLOW_NOT_IN))
			return false;
	}
	if (sel->parent_binary_op) {
		/* the parent's current image in the process table (tgid key) */
		struct vigil_process *parent = proc ? bpf_map_lookup_elem(&processes, &proc->parent.pid) : NULL;
		if (!parent)
			return sel->parent_binary_op == VIGIL_OP_NEQ || sel->parent_binary_op == VIGIL_OP_NOT_PREFIX ||
			       sel->parent_binary_op == VIGIL_OP_NOT_POSTFIX;
		if (!binary_op_matches(sel->parent_binary_op, sel->parent_binary_set, sel->parent_binary_id_set,
				       parent))
			return false;
	}
	return true;
}

static __noinline bool selector_matches(int s, struct vigil_hook_record *r, struct vigil_process *proc)
{
	return selector_test(s, r, proc, false);
}

/* Whether selector s can still match once its files are resolved: every other filter passes.
 * A call no selector may match is done before any file is resolved (a read-only open against
 * policies on writes, a program a matchBinaries list leaves out). */
static __noinline bool selector_may_match(int s, struct vigil_hook_record *r, struct vigil_process *proc)
{
	return selector_test(s, r, proc, true);
}

#endif
