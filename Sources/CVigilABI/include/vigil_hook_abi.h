/* SPDX-License-Identifier: Apache-2.0 */
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

#define VIGIL_HOOK_ARGS 5          /* arguments recorded per hook (PolicyLimits.argsPerHook) */
#define VIGIL_HOOK_SELECTORS 5     /* selectors per hook (PolicyLimits.selectorsPerHook) */
#define VIGIL_SEL_ARG_FILTERS 5    /* matchArgs per selector */
#define VIGIL_SEL_ACTIONS 4        /* actions per selector */
#define VIGIL_SEL_PIDS 16          /* pids per matchPIDs */
#define VIGIL_SEL_NS_FILTERS 2     /* matchNamespaces entries per selector */
#define VIGIL_SEL_NS_VALUES 4      /* inodes per matchNamespaces entry */
#define VIGIL_FILTER_INTS 8        /* integer values kept inline per matchArgs entry */
#define VIGIL_ARG_BYTES 256        /* bytes of string/path/buffer data per argument (power of 2) */
#define VIGIL_STRING_KEY_BYTES 252 /* bytes of a string compared through the string-set tries
                                    * (the kernel caps LPM trie data at 256 bytes: 4 go to the set id) */
#define VIGIL_RATE_KEY_BYTES 40    /* argument bytes a rate limit tells apart (as Tetragon) */

#define VIGIL_RECORD_HOOK 4u       /* struct vigil_hook_record */

/* Program flavours of the generic hook: which section of hook.bpf.c is kept. */
#define VIGIL_HOOK_TRACEPOINT 1u
#define VIGIL_HOOK_RAW_TP 2u
#define VIGIL_HOOK_KPROBE 3u
#define VIGIL_HOOK_KRETPROBE 4u
#define VIGIL_HOOK_FENTRY 5u
#define VIGIL_HOOK_FEXIT 6u
#define VIGIL_HOOK_FMOD_RET 7u
#define VIGIL_HOOK_LSM 8u
/* cgroup sock_addr programs (connect4/sendmsg4 and connect6/sendmsg6): a connect hook
 * (lsm socket_connect, kprobe tcp_connect / sys_connect) lowered for kernels without LSM
 * or without a way to override the function; the arguments come from struct bpf_sock_addr. */
#define VIGIL_HOOK_CGROUP_SOCK4 9u
#define VIGIL_HOOK_CGROUP_SOCK6 10u
/* sched/sched_process_exec without arguments, as a tp_btf program: it runs after the process
 * sensor's own tp_btf program on that tracepoint (attached first), so matchBinaries sees the
 * new image whatever else is attached there (see HookPlacement.place). */
#define VIGIL_HOOK_EXEC_BTF 11u
/* A user-space function (uprobes:): registers as a kprobe's, pointers into the process's
 * memory (its arguments carry VIGIL_ARGF_USER). */
#define VIGIL_HOOK_UPROBE 12u

/* How an argument is read (struct vigil_arg_spec.kind). */
#define VIGIL_ARG_NONE 0u
#define VIGIL_ARG_INT 1u      /* integer of `size` bytes (VIGIL_ARGF_SIGNED) */
#define VIGIL_ARG_STRING 2u   /* NUL-terminated string behind a pointer */
#define VIGIL_ARG_BUFFER 3u   /* bytes behind a pointer; length from another argument */
#define VIGIL_ARG_FILE 4u     /* struct file * -> full path */
#define VIGIL_ARG_PATH 5u     /* struct path * -> full path */
#define VIGIL_ARG_FD 6u       /* file descriptor -> full path through the caller's fd table */
#define VIGIL_ARG_BINPRM 7u   /* struct linux_binprm * -> the executable's full path */
#define VIGIL_ARG_DENTRY 8u   /* struct dentry * -> path within its file system */
#define VIGIL_ARG_INLINE 9u   /* tracepoint field holding the bytes itself (char comm[16]) */
#define VIGIL_ARG_DATA_LOC 10u /* tracepoint __data_loc field (offset/length word) */
#define VIGIL_ARG_SOCK 11u    /* struct sock * -> addresses, ports, family, protocol */
#define VIGIL_ARG_CRED 12u    /* struct cred * -> ids and capabilities */
#define VIGIL_ARG_SOCKADDR 13u /* struct sockaddr * -> family, address, port (as vigil_sock_data) */
#define VIGIL_ARG_SOCKET 14u  /* struct socket * -> its struct sock */
#define VIGIL_ARG_SKB 15u     /* struct sk_buff * -> IP addresses, ports, protocol (as vigil_sock_data); value: len */
#define VIGIL_ARG_NETDEV 16u  /* struct net_device * -> its name */
#define VIGIL_ARG_KIOCB 17u   /* struct kiocb * -> its file's full path */
#define VIGIL_ARG_MODULE 18u  /* struct module * -> its name */
#define VIGIL_ARG_USER_NS 19u /* struct user_namespace * -> level, owner, group, inode */

/* struct vigil_arg_spec.flags */
#define VIGIL_ARGF_SIGNED (1u << 0)    /* sign-extend an integer */
#define VIGIL_ARGF_USER (1u << 1)      /* the pointer is a user-space address */
#define VIGIL_ARGF_MAXDATA (1u << 2)   /* buffers: read up to VIGIL_ARG_BYTES whatever the size */
#define VIGIL_ARGF_RETURN (1u << 3)    /* the value is the function's return (fexit) */
#define VIGIL_ARGF_FILTERED (1u << 4)  /* a selector tests it: read before the selectors (others only on a match) */

/* struct vigil_hook_arg.flags (set by the kernel) */
#define VIGIL_ARG_TRUNCATED (1u << 0)
#define VIGIL_ARG_READ_FAILED (1u << 1)

/* Filter operators (struct vigil_arg_filter.op, binary_op). 0 = no filter. */
#define VIGIL_OP_EQ 1u
#define VIGIL_OP_NEQ 2u
#define VIGIL_OP_PREFIX 3u
#define VIGIL_OP_NOT_PREFIX 4u
#define VIGIL_OP_POSTFIX 5u
#define VIGIL_OP_NOT_POSTFIX 6u
#define VIGIL_OP_GT 7u
#define VIGIL_OP_LT 8u
#define VIGIL_OP_MASK 9u
#define VIGIL_OP_IN_RANGE 10u
#define VIGIL_OP_NOT_IN_RANGE 11u
#define VIGIL_OP_SPORT 12u
#define VIGIL_OP_NOT_SPORT 13u
#define VIGIL_OP_DPORT 14u
#define VIGIL_OP_NOT_DPORT 15u
#define VIGIL_OP_SPORT_PRIV 16u
#define VIGIL_OP_NOT_SPORT_PRIV 17u
#define VIGIL_OP_DPORT_PRIV 18u
#define VIGIL_OP_NOT_DPORT_PRIV 19u
#define VIGIL_OP_SADDR 20u
#define VIGIL_OP_NOT_SADDR 21u
#define VIGIL_OP_DADDR 22u
#define VIGIL_OP_NOT_DADDR 23u
#define VIGIL_OP_PROTOCOL 24u
#define VIGIL_OP_FAMILY 25u
#define VIGIL_OP_IN_MAP 26u    /* integer value in the filter's set (hash) */
#define VIGIL_OP_NOT_IN_MAP 27u
#define VIGIL_OP_STATE 28u     /* socket's TCP state (sk_state) in the listed values */

/* Actions (struct vigil_action.kind); also bits (1 << kind) of vigil_hook_record.actions. */
#define VIGIL_ACT_POST 1u
#define VIGIL_ACT_NOPOST 2u
#define VIGIL_ACT_SIGKILL 3u
#define VIGIL_ACT_SIGNAL 4u
#define VIGIL_ACT_OVERRIDE 5u
/* TrackSock / UntrackSock: the socket argument in slot `arg` is owned by the caller from now
 * on / no longer owned (map `tracked_socks`); events that carry a tracked socket are the owner's
 * (hook_config.owner_slot), whoever runs when the kernel calls the hook (softirq, a child
 * the socket was passed to). A policy's returnArgAction is the same action on the return slot. */
#define VIGIL_ACT_TRACK_SOCK 6u
#define VIGIL_ACT_UNTRACK_SOCK 7u
/* GetUrl / DnsLookup: carried out by the agent for the posted record (an HTTP GET of argUrl,
 * a lookup of argFqdn: Tetragon's canary-token actions); the kernel only marks the record. */
#define VIGIL_ACT_GET_URL 8u
#define VIGIL_ACT_DNS_LOOKUP 9u

/* struct vigil_action.scope for rate limits */
#define VIGIL_SCOPE_THREAD 0u
#define VIGIL_SCOPE_PROCESS 1u
#define VIGIL_SCOPE_GLOBAL 2u

/* struct vigil_hook_config.flags */
#define VIGIL_HOOKF_MONITOR (1u << 0)      /* policy-mode monitor: enforcement actions only post */
#define VIGIL_HOOKF_SYSCALL_REGS (1u << 1) /* kernel function is a syscall wrapper: args in the inner pt_regs */
#define VIGIL_HOOKF_TCP_ONLY (1u << 2)     /* cgroup-lowered tcp_connect: other protocols are not the hook's calls */
#define VIGIL_HOOKF_DEFER_SIGNAL (1u << 3) /* cgroup-lowered connect: Sigkill/Signal are sent at the connect
                                            * syscall's exit (a cgroup program cannot signal) */

/* Counters per hook (map "stats", per-CPU array index). */
#define VIGIL_STAT_RUNS 0u
#define VIGIL_STAT_POSTED 1u
#define VIGIL_STAT_ACTIONS 2u
#define VIGIL_STAT_LOST 3u
#define VIGIL_STAT_COUNT 4u

/* One argument: where it comes from and how to read it. */
struct vigil_arg_spec {
	__u32 kind;     /* VIGIL_ARG_* */
	__u32 source;   /* function argument index, or tracepoint field offset */
	__u32 size;     /* integer width in bytes; tracepoint field size */
	__u32 flags;    /* VIGIL_ARGF_* */
	__u32 size_arg; /* buffers: 1 + slot of the argument holding the length; 0: none */
	__u32 pad;
};
_Static_assert(sizeof(struct vigil_arg_spec) == 24, "vigil_arg_spec size");

/*
 * One matchArgs entry. Strings and large integer sets live in maps under `set`, except
 * short string lists: up to VIGIL_INLINE_STRINGS values of at most 16 bytes (the common
 * FIM prefixes) are kept inline, as two little-endian words each in `values` with their
 * lengths in `inline_lens`, and compared with masked word compares instead of a trie
 * lookup (a helper call costs ~90 ns on this project's machines).
 */
#define VIGIL_INLINE_STRINGS 4
#define VIGIL_INLINE_STRING_BYTES 16
struct vigil_arg_filter {
	__u32 slot;    /* which recorded argument (0..VIGIL_HOOK_ARGS-1) */
	__u32 op;      /* VIGIL_OP_* */
	__u32 set;     /* string / address / integer set id in the maps; 0 = none */
	__u32 nvalues; /* inline integer values used; for strings: inline strings used (0: use the set) */
	__u8 inline_lens[VIGIL_INLINE_STRINGS]; /* lengths of the inline strings */
	__u32 pad;
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
	__u32 ns;      /* VIGIL_NS_* slot */
	__u32 op;      /* VIGIL_OP_EQ (In) or VIGIL_OP_NEQ (NotIn); 0 = unused */
	__u32 nvalues;
	__u32 values[VIGIL_SEL_NS_VALUES];
	__u32 pad;
};
_Static_assert(sizeof(struct vigil_ns_filter) == 16 + 4 * VIGIL_SEL_NS_VALUES, "vigil_ns_filter size");

/* One selector: every filter set here must hold (AND); the hook's selectors are ORed. */
struct vigil_selector {
	__u32 nfilters;
	__u32 nactions;
	__u32 binary_op;   /* matchBinaries: VIGIL_OP_EQ (In), NEQ (NotIn), PREFIX, ...; 0 = none */
	__u32 binary_set;
	__u32 pid_op;      /* matchPIDs: VIGIL_OP_EQ (In), VIGIL_OP_NEQ (NotIn); 0 = none */
	__u32 npids;
	__u32 pids[VIGIL_SEL_PIDS];
	__u32 pid_ns;      /* matchPIDs isNamespacePID: compare the pid inside the process's own pid namespace */
	__u32 parent_binary_op;  /* matchParentBinaries: as binary_op, on the parent's binary (process table) */
	__u32 parent_binary_set;
	__u32 pad;
	__u32 cap_op;      /* matchCapabilities: VIGIL_OP_EQ (In: has any), NEQ (NotIn: has none) */
	__u32 cap_set;     /* 0 effective, 1 inheritable, 2 permitted */
	__u64 cap_mask;
	struct vigil_ns_filter ns[VIGIL_SEL_NS_FILTERS];
	struct vigil_arg_filter filters[VIGIL_SEL_ARG_FILTERS];
	struct vigil_action actions[VIGIL_SEL_ACTIONS];
};
_Static_assert(sizeof(struct vigil_selector) == 24 + 4 * VIGIL_SEL_PIDS + 16 + 16 + 2 * 32 + 5 * 88 + 4 * 24, "vigil_selector size");

/* Everything that specializes one loaded hook program (its .rodata `config`). */
struct vigil_hook_config {
	__u32 hook_id;    /* the agent's id for this hook, echoed in every record */
	__u32 flags;      /* VIGIL_HOOKF_* */
	__u32 nargs;
	__u32 nselectors; /* 0: every call matches and posts */
	__u32 owner_slot; /* 1 + the slot of the socket argument whose tracked owner a record names; 0: none */
	__u32 pad;
	struct vigil_arg_spec args[VIGIL_HOOK_ARGS];
	struct vigil_selector selectors[VIGIL_HOOK_SELECTORS];
};
_Static_assert(sizeof(struct vigil_hook_config) == 24 + 5 * 24 + 5 * sizeof(struct vigil_selector), "vigil_hook_config size");

/* Key of the string-set tries: Prefix/Equal on the string, Postfix on the reversed string. */
struct vigil_string_key {
	__u32 prefixlen;  /* bits: 32 (the set) + 8 per byte */
	__u32 set;        /* set id: all 32 bits lead every prefix, so sets never mix */
	__u8 data[VIGIL_STRING_KEY_BYTES];
};
_Static_assert(sizeof(struct vigil_string_key) == 8 + VIGIL_STRING_KEY_BYTES, "vigil_string_key size");

struct vigil_string_value {
	__u32 len;        /* the value's length in bytes; Equal needs the match to be the whole string */
	__u32 pad;
};

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
	__u32 len;     /* bytes used in data (strings without the NUL) */
	__u32 flags;   /* VIGIL_ARG_TRUNCATED, VIGIL_ARG_READ_FAILED */
	__s64 value;   /* integers; fd numbers; a buffer's full size; sock: family | type<<16 | proto<<32 */
};
_Static_assert(sizeof(struct vigil_hook_arg) == 16, "vigil_hook_arg size");

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
	__u32 selector;   /* index of the matching selector */
	__u32 actions;    /* bits (1 << VIGIL_ACT_*) of the actions taken */
	__u32 nargs;
	__s64 ret;        /* return value (fexit / kretprobe) */
	struct vigil_hook_arg args[VIGIL_HOOK_ARGS];
	struct vigil_hook_slot slots[VIGIL_HOOK_ARGS];
};
_Static_assert(sizeof(struct vigil_hook_record) == 16 + 16 + 24 + 8 + 5 * 16 + 5 * (8 + VIGIL_ARG_BYTES), "vigil_hook_record size");

#endif /* VIGIL_HOOK_ABI_H */
