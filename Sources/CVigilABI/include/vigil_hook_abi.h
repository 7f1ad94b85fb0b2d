/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vigil_hook_abi.h: the policy engine's wire ABI. One generic hook program
 * (bpf/progs/hook.bpf.c) is loaded once per policy hook and specialized by a frozen
 * `struct vigil_hook_config` in .rodata: the verifier sees every field as a constant and
 * prunes the argument readers, selectors and actions the policy does not use.
 *
 * Included by vigil_abi.h; same rules (fixed-width fields, explicit padding, sizes pinned).
 */
#ifndef VIGIL_HOOK_ABI_H
#define VIGIL_HOOK_ABI_H

#define VIGIL_HOOK_ARGS	      5	  /* arguments recorded per hook (PolicyLimits.argsPerHook) */
#define VIGIL_HOOK_SELECTORS  5	  /* selectors per hook (PolicyLimits.selectorsPerHook) */
#define VIGIL_SEL_ARG_FILTERS 5	  /* matchArgs per selector */
#define VIGIL_SEL_ACTIONS     4	  /* actions per selector */
#define VIGIL_SEL_PIDS	      16  /* pids per matchPIDs */
#define VIGIL_SEL_NS_FILTERS  2	  /* matchNamespaces entries per selector */
#define VIGIL_SEL_NS_VALUES   4	  /* inodes per matchNamespaces entry */
#define VIGIL_FILTER_INTS     8	  /* integer values kept inline per matchArgs entry */
#define VIGIL_ARG_BYTES	      256 /* bytes of string/path/buffer data per argument (power of 2) */
#define VIGIL_STRING_KEY_BYTES \
	252			/* bytes of a string compared through the string-set tries
                                    * (the kernel caps LPM trie data at 256 bytes: 4 go to the set id) */
#define VIGIL_RATE_KEY_BYTES 40 /* argument bytes a rate limit tells apart (as Tetragon) */
#define VIGIL_PATH_END_BYTES \
	128			  /* a resolved path longer than a slot keeps its first and last this many bytes:
                                    * Prefix and Postfix values up to this length are judged on any path */
#define VIGIL_SUBSTRING_BYTES 100 /* bytes of a SubString value (Tetragon: 100) */
#define VIGIL_SEL_SUBSTRINGS  8	  /* SubString values per matchArgs entry */

#define VIGIL_RECORD_HOOK 4u /* struct vigil_hook_record */

#include "vigil_concepts.h" /* flavours, argument kinds, operators, actions */

/* struct vigil_arg_spec.flags */
#define VIGIL_ARGF_SIGNED   (1u << 0) /* sign-extend an integer */
#define VIGIL_ARGF_USER	    (1u << 1) /* the pointer is a user-space address */
#define VIGIL_ARGF_MAXDATA  (1u << 2) /* buffers: read up to VIGIL_ARG_BYTES whatever the size */
#define VIGIL_ARGF_RETURN   (1u << 3) /* the value is the function's return (fexit) */
#define VIGIL_ARGF_FILTERED (1u << 4) /* a selector tests it: read before the selectors (others only on a match) */

#define VIGIL_ARGF_CONST (1u << 6) /* the value is `source` itself (an exec's stdin: descriptor 0) */
/* A resolved file that Equal/Postfix filters test: before the walk, the kernel tests the
 * file's own name ("/" + its last component) against `name_set`, the reversed set of those
 * values' last components (see PolicyEngine/NameGate.swift). */
#define VIGIL_ARGF_NAME_GATE (1u << 7)
#define VIGIL_ARGF_NAME_GATE_ID \
	(1u << 8) /* some of those filters also match by identity: read it when the name misses */
#define VIGIL_ARGF_PATHNAME_FALLBACK \
	(1u << 5) /* an opened file (the return value as a descriptor): when the
                                               * call failed with EACCES/EPERM, the pathname argument in
                                               * `source` (dirfd slot in size_arg) resolved as a string */

/* struct vigil_hook_arg.flags (set by the kernel) */
#define VIGIL_ARG_TRUNCATED   (1u << 0)
#define VIGIL_ARG_READ_FAILED (1u << 1)
#define VIGIL_ARG_RESOLVED    (1u << 2) /* a resolved file: dev, ino, root_off, full_len are set */
#define VIGIL_ARG_LONG_PATH \
	(1u << 3) /* the path is longer than the slot: data holds its first and last
                                        * VIGIL_PATH_END_BYTES bytes; full_len has its length */
#define VIGIL_ARG_ROOT_VIEW \
	(1u << 4) /* the caller's root is not the agent's: the path as the caller sees it
                                        * starts at data[root_off] */
#define VIGIL_ARG_UNRESOLVED \
	(1u << 5) /* a pathname the kernel side could not resolve (another process's
                                        * /proc/PID/cwd or fd): path filters fail closed on it */
#define VIGIL_ARG_NO_IDENTITY \
	(1u << 6) /* a pathname resolved as a string (the file may not exist yet):
                                         * no dev/ino */
#define VIGIL_ARG_NAME_MISS \
	(1u << 7) /* before the walk (VIGIL_ARGF_NAME_GATE): the file's own name ends no listed
                                       * value; dev/ino are set when VIGIL_ARGF_NAME_GATE_ID */

/* struct vigil_action.scope for rate limits */
#define VIGIL_SCOPE_THREAD  0u
#define VIGIL_SCOPE_PROCESS 1u
#define VIGIL_SCOPE_GLOBAL  2u

/* struct vigil_hook_config.flags */
#define VIGIL_HOOKF_MONITOR	 (1u << 0) /* policy-mode monitor: enforcement actions only post */
#define VIGIL_HOOKF_SYSCALL_REGS (1u << 1) /* kernel function is a syscall wrapper: args in the inner pt_regs */
#define VIGIL_HOOKF_TCP_ONLY	 (1u << 2) /* cgroup-lowered tcp_connect: other protocols are not the hook's calls */
#define VIGIL_HOOKF_SCRIPT_OPEN \
	(1u << 4) /* exec lowering: a match counts only when the opened file is the script the
                                            * interpreter was started with (hook_script.h) */
#define VIGIL_HOOKF_DEFER_SIGNAL \
	(1u << 3) /* cgroup-lowered connect: Sigkill/Signal are sent at the connect
                                            * syscall's exit (a cgroup program cannot signal) */
#define VIGIL_HOOKF_STDIN_SCRIPT \
	(1u << 16) /* exec lowering: a match counts only when the interpreter reads its script on
                                             * stdin (no script argument, or `-`, sh -s; hook_script.h) */
/* io_uring forms (VIGIL_HOOK_IOURING_*, bpf/include/hook_uring.h): which requests the hook judges */
#define VIGIL_HOOKF_URING_OPENAT   (1u << 5) /* completion of IORING_OP_OPENAT into a descriptor */
#define VIGIL_HOOKF_URING_OPENAT2  (1u << 6) /* completion of IORING_OP_OPENAT2 into a descriptor */
#define VIGIL_HOOKF_URING_FIXED_RW (1u << 7) /* completion of a read or write on a fixed file */
#define VIGIL_HOOKF_URING_OP_SHIFT 8	     /* submission: the IORING_OP_ judged, in bits 8..15 */

/* struct vigil_arg_spec.source of an io_uring form: which field of the request a syscall
 * argument is (PolicyEngine/HookKinds/IOUringLowering.swift maps them by field name) */
#define VIGIL_URING_DFD	     0u /* the directory descriptor of the (old) name */
#define VIGIL_URING_NAME     1u /* the (old) name: a kernel string */
#define VIGIL_URING_NEW_DFD  2u
#define VIGIL_URING_NEW_NAME 3u
#define VIGIL_URING_FLAGS    4u /* open flags (the opened file's, on a fixed file), rename/link/unlink flags */
#define VIGIL_URING_MODE     5u
#define VIGIL_URING_NONE     6u /* no such field: reads 0 */
#define VIGIL_URING_FD	     7u /* the request's descriptor (-1 for a fixed-file slot: not in the task's table) */
#define VIGIL_URING_XATTR    8u /* the extended attribute's name: a kernel string */
#define VIGIL_URING_SIZE     9u /* the xattr value's size, ftruncate's length */

/* io_uring forms run as a chain per request kind (bpf/include/hook_uring_chain.h): one
 * dispatcher per io_uring tracepoint tests each request once and tail-calls the forms that
 * judge its kind, instead of every form's program running for every request. Kind 0: a
 * completion (opens, fixed-file reads and writes); the others: a request judged when
 * submitted (vigil_uring_submit_kind). At most VIGIL_URING_CHAIN forms per kind (the kernel
 * follows at most 33 tail calls). */
#define VIGIL_URING_KINDS 9
#define VIGIL_URING_CHAIN 32

/* The chain of a request judged at submission, by its IORING_OP_ (a UAPI number); 0: none. */
static inline __u32 vigil_uring_submit_kind(__u32 op)
{
	switch (op) {
	case 35: return 1; /* RENAMEAT */
	case 36: return 2; /* UNLINKAT */
	case 37: return 3; /* MKDIRAT */
	case 38: return 4; /* SYMLINKAT */
	case 39: return 5; /* LINKAT */
	case 41: return 6; /* FSETXATTR */
	case 42: return 7; /* SETXATTR */
	case 55: return 8; /* FTRUNCATE (Linux 6.9) */
	}
	return 0;
}
struct vigil_uring_cursor {
	__u32 kind;
	__u32 next; /* the position in the kind's chain the next form tail-calls */
};

/* Counters per hook (map "stats", per-CPU array index). */
#define VIGIL_STAT_RUNS	   0u
#define VIGIL_STAT_POSTED  1u
#define VIGIL_STAT_ACTIONS 2u
#define VIGIL_STAT_LOST	   3u
/* + the selector's index: enforcing actions (or, in monitor mode, would-be ones) per selector */
#define VIGIL_STAT_SELECTOR_ACTIONS 4u
/* calls that resolved a file (walked its dentries to its global path); after the per-selector
 * counters, so a pinned program an earlier agent loaded keeps its indexes (it has no such
 * entry: the agent reads 0) */
#define VIGIL_STAT_RESOLVES (VIGIL_STAT_SELECTOR_ACTIONS + VIGIL_HOOK_SELECTORS)
#define VIGIL_STAT_COUNT    (VIGIL_STAT_RESOLVES + 1)

/* One argument: where it comes from and how to read it. */
struct vigil_arg_spec {
	__u32 kind;	/* VIGIL_ARG_* */
	__u32 source;	/* function argument index, or tracepoint field offset */
	__u32 size;	/* integer width in bytes; tracepoint field size */
	__u32 flags;	/* VIGIL_ARGF_* */
	__u32 size_arg; /* buffers: 1 + slot of the argument holding the length; 0: none */
	__u32 name_set; /* VIGIL_ARGF_NAME_GATE: the reversed string set of the last components */
};
_Static_assert(sizeof(struct vigil_arg_spec) == 24, "vigil_arg_spec size");

/*
 * One matchArgs entry. Strings and large integer sets live in maps under `set`, except
 * short string lists: up to VIGIL_INLINE_STRINGS values of at most 16 bytes (the common
 * FIM prefixes) are kept inline, as two little-endian words each in `values` with their
 * lengths in `inline_lens`, and compared with masked word compares instead of a trie
 * lookup (a helper call costs ~90 ns on this project's machines).
 */
#define VIGIL_INLINE_STRINGS	  4
#define VIGIL_INLINE_STRING_BYTES 16
struct vigil_arg_filter {
	__u32 slot;    /* which recorded argument (0..VIGIL_HOOK_ARGS-1) */
	__u32 op;      /* VIGIL_OP_* */
	__u32 set;     /* string / address / integer set id in the maps; 0 = none */
	__u32 nvalues; /* inline integer values used; for strings: inline strings used (0: use the set) */
	__u8 inline_lens[VIGIL_INLINE_STRINGS]; /* lengths of the inline strings */
	__u32 id_set; /* resolved files: the identities (dev, ino) of the files the values name (map
	                * `file_ids`); 0 = none. A hardlink or bind mount of a named file is that file. */
	__s64 values[VIGIL_FILTER_INTS];
};
_Static_assert(sizeof(struct vigil_arg_filter) == 24 + 8 * VIGIL_FILTER_INTS, "vigil_arg_filter size");

struct vigil_action {
	__u32 kind;    /* VIGIL_ACT_* */
	__s32 arg;     /* Override: the (negative) error; Signal: the signal number */
	__u64 rate_ns; /* Post: at most one event per this many ns per scope and arguments; 0 = none */
	__u32 scope;   /* VIGIL_SCOPE_* */
	__u32 pad;
};
_Static_assert(sizeof(struct vigil_action) == 24, "vigil_action size");

struct vigil_ns_filter {
	__u32 ns; /* VIGIL_NS_* slot */
	__u32 op; /* VIGIL_OP_EQ (In) or VIGIL_OP_NEQ (NotIn); 0 = unused */
	__u32 nvalues;
	__u32 values[VIGIL_SEL_NS_VALUES];
	__u32 pad;
};
_Static_assert(sizeof(struct vigil_ns_filter) == 16 + 4 * VIGIL_SEL_NS_VALUES, "vigil_ns_filter size");

#define VIGIL_FOLLOW_NOT_IN  (1u << 31)
#define VIGIL_FOLLOW_ID_MASK 0xffu

/* One selector: every filter set here must hold (AND); the hook's selectors are ORed. */
struct vigil_selector {
	__u32 nfilters;
	__u32 nactions;
	__u32 binary_op; /* matchBinaries: VIGIL_OP_EQ (In), NEQ (NotIn), PREFIX, ...; 0 = none */
	__u32 binary_set;
	__u32 pid_op; /* matchPIDs: VIGIL_OP_EQ (In), VIGIL_OP_NEQ (NotIn); 0 = none */
	__u32 npids;
	__u32 pids[VIGIL_SEL_PIDS];
	__u32 pid_ns;		/* matchPIDs isNamespacePID: compare the pid inside the process's own pid namespace */
	__u32 parent_binary_op; /* matchParentBinaries: as binary_op, on the parent's binary (process table) */
	__u32 parent_binary_set;
	__u32 binary_id_set; /* identities of the files matchBinaries lists (map file_ids); 0 = none */
	__u32 cap_op;	     /* matchCapabilities: VIGIL_OP_EQ (In: has any), NEQ (NotIn: has none) */
	__u32 cap_set;	     /* 0 effective, 1 inheritable, 2 permitted */
	__u32 parent_binary_id_set;
	/* matchBinaries with followChildren: 1 + the slot (bit of vigil_process.follow), with
	 * VIGIL_FOLLOW_NOT_IN for NotIn; 0 = none. Compiled as 1 + the index of the plan's follow
	 * request; the loader writes the slot it acquired. */
	__u32 follow;
	__u64 cap_mask;
	struct vigil_ns_filter ns[VIGIL_SEL_NS_FILTERS];
	struct vigil_arg_filter filters[VIGIL_SEL_ARG_FILTERS];
	struct vigil_action actions[VIGIL_SEL_ACTIONS];
};
_Static_assert(sizeof(struct vigil_selector) == 24 + 4 * VIGIL_SEL_PIDS + 16 + 24 + 2 * 32 + 5 * 88 + 4 * 24,
	       "vigil_selector size");

/* Everything that specializes one loaded hook program (its .rodata `config`). */
struct vigil_hook_config {
	__u32 hook_id; /* the agent's id for this hook, echoed in every record */
	__u32 flags;   /* VIGIL_HOOKF_* */
	__u32 nargs;
	__u32 nselectors; /* 0: every call matches and posts */
	__u32 owner_slot; /* 1 + the slot of the socket argument whose tracked owner a record names; 0: none */
	__u32 pad;
	struct vigil_arg_spec args[VIGIL_HOOK_ARGS];
	struct vigil_selector selectors[VIGIL_HOOK_SELECTORS];
};
_Static_assert(sizeof(struct vigil_hook_config) == 24 + 5 * 24 + 5 * sizeof(struct vigil_selector),
	       "vigil_hook_config size");

/* Key of the string-set tries: Prefix/Equal on the string, Postfix on the reversed string. */
struct vigil_string_key {
	__u32 prefixlen; /* bits: 32 (the set) + 8 per byte */
	__u32 set;	 /* set id: all 32 bits lead every prefix, so sets never mix */
	__u8 data[VIGIL_STRING_KEY_BYTES];
};
_Static_assert(sizeof(struct vigil_string_key) == 8 + VIGIL_STRING_KEY_BYTES, "vigil_string_key size");

struct vigil_string_value {
	__u32 len; /* the value's length in bytes; Equal needs the match to be the whole string */
	__u32 pad;
};

/* One SubString value (map `substrings`, an array: a filter's values are `nvalues` entries from index `set`). */
struct vigil_substring {
	__u32 len;
	__u32 pad;
	__u8 bytes[128];
};
_Static_assert(sizeof(struct vigil_substring) == 136, "vigil_substring size");

struct vigil_int_key {
	__u32 set;
	__u32 pad;
	__s64 value;
};

/* Rate-limit key: the selector, who (thread / process / nobody), and the arguments' first bytes. */
struct vigil_rate_key {
	__u32 selector;
	__u32 scope_id;
	__u8 data[VIGIL_RATE_KEY_BYTES];
};
_Static_assert(sizeof(struct vigil_rate_key) == 8 + VIGIL_RATE_KEY_BYTES, "vigil_rate_key size");

/* Value of map `tracked_socks` (key: the struct sock's address): who tracked the socket. */
struct vigil_tracked_sock {
	struct vigil_exec_id id; /* the owner's exec identity (ktime 0: not in the process table) */
	__u32 pid;
	__u32 tid;
};
_Static_assert(sizeof(struct vigil_tracked_sock) == 24, "vigil_tracked_sock size");

/* VIGIL_ARG_SOCK data: the socket's endpoints. Ports in host order; IPv4 addresses as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d), so one address trie serves both families. */
struct vigil_sock_data {
	__u16 family;
	__u16 type;
	__u16 protocol;
	__u16 state;
	__u16 sport;
	__u16 dport;
	__u32 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};
_Static_assert(sizeof(struct vigil_sock_data) == 48, "vigil_sock_data size");

/* VIGIL_ARG_USER_NS data (Tetragon's user_ns_arg; whether it is the host's is decided in
 * user space against /proc/1/ns/user). */
struct vigil_user_ns_data {
	__u32 level; /* 0: the initial user namespace */
	__u32 uid;   /* the owner (creator's euid) */
	__u32 gid;
	__u32 inum;
};
_Static_assert(sizeof(struct vigil_user_ns_data) == 16, "vigil_user_ns_data size");

/* VIGIL_ARG_CRED data. */
struct vigil_cred_data {
	__u32 uid, gid, suid, sgid, euid, egid, fsuid, fsgid;
	__u32 securebits;
	__u32 pad;
	__u64 cap_permitted;
	__u64 cap_effective;
	__u64 cap_inheritable;
};
_Static_assert(sizeof(struct vigil_cred_data) == 64, "vigil_cred_data size");

/* One recorded argument's metadata; its bytes are in vigil_hook_record.slots[slot].data. */
struct vigil_hook_arg {
	__u32 len;	/* bytes used in data (strings without the NUL) */
	__u32 flags;	/* VIGIL_ARG_* flags above */
	__s64 value;	/* integers; fd numbers; a buffer's full size; sock: family; resolved files: the inode mode */
	__u64 ino;	/* resolved files: the inode number */
	__u32 dev;	/* resolved files: the super block's device (kernel encoding, MAJOR << 20 | MINOR) */
	__u16 root_off; /* VIGIL_ARG_ROOT_VIEW: where the path as the caller sees it starts in data */
	__u16 full_len; /* resolved files: the global path's full length */
};
_Static_assert(sizeof(struct vigil_hook_arg) == 32, "vigil_hook_arg size");

/*
 * One argument's bytes, behind an 8-byte header that has the layout of struct
 * vigil_string_key's: a string argument is looked up in the string tries in place, with no
 * copy into a separate key (each helper call costs ~90 ns on this project's machines).
 */
struct vigil_hook_slot {
	__u32 key_prefixlen; /* scratch while the string is looked up; meaningless in records */
	__u32 key_set;
	__u8 data[VIGIL_ARG_BYTES];
};
_Static_assert(sizeof(struct vigil_hook_slot) == 8 + VIGIL_ARG_BYTES, "vigil_hook_slot size");
_Static_assert(__builtin_offsetof(struct vigil_hook_slot, data) == __builtin_offsetof(struct vigil_string_key, data),
	       "a slot doubles as a string key");

/* One hook event that matched a posting selector. */
struct vigil_hook_record {
	struct vigil_record_header header;
	struct vigil_exec_id process; /* the caller's identity from the process table (ktime 0: unknown) */
	__u32 hook_id;
	__u32 pid;
	__u32 tid;
	__u32 selector; /* index of the matching selector */
	__u32 actions;	/* bits (1 << VIGIL_ACT_*) of the actions taken */
	__u32 nargs;
	__s64 ret; /* return value (fexit / kretprobe) */
	struct vigil_hook_arg args[VIGIL_HOOK_ARGS];
	struct vigil_hook_slot slots[VIGIL_HOOK_ARGS];
};
_Static_assert(sizeof(struct vigil_hook_record) == 16 + 16 + 24 + 8 + 5 * 32 + 5 * (8 + VIGIL_ARG_BYTES),
	       "vigil_hook_record size");

/* Key of map `file_ids`: one file of an identity set (a filter's id_set). */
struct vigil_file_id {
	__u32 set;
	__u32 dev;
	__u64 ino;
};
_Static_assert(sizeof(struct vigil_file_id) == 16, "vigil_file_id size");

#endif /* VIGIL_HOOK_ABI_H */
