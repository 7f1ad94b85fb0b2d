/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vigil_concepts.h: THE list of each policy concept that crosses the BPF/Swift boundary:
 * hook program flavours, argument kinds, filter operators and actions. One entry per value,
 * X(NAME, number), here and nowhere else.
 *
 * - BPF programs see a named enum per list (enum vigil_op, ...). Their dispatch switches
 *   cast to it and are compiled with -Wswitch-enum (bpf/build.sh): a new entry without a
 *   case is a build error, not a silent no-op.
 * - Swift sees the same names as UInt32 constants (an anonymous enum with a fixed type) and
 *   reads the lists back through vigil_abi_concept() (anchor.c): the tables in PolicyModel
 *   and PolicyEngine are checked against them by Tests/BPFKitTests/ABIConceptTests.swift, in
 *   both directions (every C entry used, every Swift code listed here).
 *
 * Adding an entry: docs/extending.md.
 */
#ifndef VIGIL_CONCEPTS_H
#define VIGIL_CONCEPTS_H

/* Program flavours of the generic hook: which section of bpf/progs/hook.bpf.c is kept. */
#define VIGIL_HOOK_FLAVOUR_LIST(X)                                                                   \
	X(TRACEPOINT, 1)                                                                             \
	X(RAW_TP, 2)                                                                                 \
	X(KPROBE, 3)                                                                                 \
	X(KRETPROBE, 4)                                                                              \
	X(FENTRY, 5)                                                                                 \
	X(FEXIT, 6)                                                                                  \
	X(FMOD_RET, 7)                                                                               \
	X(LSM, 8)                                                                                    \
	/* cgroup sock_addr programs (connect4 / connect6): a connect hook lowered where   \
	 * the kernel has no LSM or cannot override the function */         \
	X(CGROUP_SOCK4, 9)                                                                           \
	X(CGROUP_SOCK6, 10)                                                                          \
	/* sched/sched_process_exec as tp_btf, after the process sensor's own program */             \
	X(EXEC_BTF, 11)                                                                              \
	/* a user-space function: registers as a kprobe's, pointers into user memory */              \
	X(UPROBE, 12)                                                                                \
	/* a syscall's exit tracepoint judging what the syscall resolved (the returned    \
	 * descriptor's file), with the arguments its entry program saved (hook_exit.h) */          \
	X(SYSCALL_EXIT, 13)                                                                          \
	/* io_uring's forms of a syscall hook (hook_uring.h): a file an io_uring request opened,   \
	 * judged at its completion; a pathname of a request, judged when it is submitted */ \
	X(IOURING_COMPLETE, 14)                                                                      \
	X(IOURING_SUBMIT, 15)

/* How an argument is read (struct vigil_arg_spec.kind). */
#define VIGIL_ARG_KIND_LIST(X)                                                              \
	X(NONE, 0)                                                                          \
	X(INT, 1)	   /* integer of `size` bytes (VIGIL_ARGF_SIGNED) */                \
	X(STRING, 2)	   /* NUL-terminated string behind a pointer */                     \
	X(BUFFER, 3)	   /* bytes behind a pointer; length from another argument */       \
	X(FILE, 4)	   /* struct file * -> resolved file (global path, identity) */     \
	X(PATH, 5)	   /* struct path * -> resolved file */                             \
	X(FD, 6)	   /* file descriptor -> the file in the caller's table */          \
	X(BINPRM, 7)	   /* struct linux_binprm * -> the executable */                    \
	X(DENTRY, 8)	   /* struct dentry * -> resolved through its super block */        \
	X(INLINE, 9)	   /* tracepoint field holding the bytes itself (char comm[16]) */  \
	X(DATA_LOC, 10)	   /* tracepoint __data_loc field */                                \
	X(SOCK, 11)	   /* struct sock * -> addresses, ports, family, protocol */        \
	X(CRED, 12)	   /* struct cred * -> ids and capabilities */                      \
	X(SOCKADDR, 13)	   /* struct sockaddr * -> family, address, port */                 \
	X(SOCKET, 14)	   /* struct socket * -> its struct sock */                         \
	X(SKB, 15)	   /* struct sk_buff * -> addresses, ports, protocol */             \
	X(NETDEV, 16)	   /* struct net_device * -> its name */                            \
	X(KIOCB, 17)	   /* struct kiocb * -> its file */                                 \
	X(MODULE, 18)	   /* struct module * -> its name */                                \
	X(USER_NS, 19)	   /* struct user_namespace * -> level, owner, group, inode */      \
	X(SOCKADDR_UN, 20) /* struct sockaddr_un * -> family and socket path */             \
	/* a pathname string resolved in the kernel: relative names against the dirfd in  \
	 * slot `size_arg` - 1 (or the cwd), `.`, `..`, `//` and /proc/<pid>/{root,cwd,    \
	 * fd/N} normalised (hook_pathname.h) */ \
	X(PATHNAME, 21)                                                                     \
	/* struct vm_area_struct * -> the file it maps (file_mprotect) */                   \
	X(VMA, 22)                                                                          \
	/* a user address -> the file mapped there (mprotect's start, bpf_find_vma) */      \
	X(ADDR_FILE, 23)

/* Filter operators (struct vigil_arg_filter.op, the binary ops). 0 = no filter. Which
 * argument kinds each applies to, and what values it takes: PolicyModel/OperatorRules.swift. */
#define VIGIL_OP_LIST(X)                                                                  \
	X(EQ, 1)                                                                          \
	X(NEQ, 2)                                                                         \
	X(PREFIX, 3)                                                                      \
	X(NOT_PREFIX, 4)                                                                  \
	X(POSTFIX, 5)                                                                     \
	X(NOT_POSTFIX, 6)                                                                 \
	X(GT, 7)                                                                          \
	X(LT, 8)                                                                          \
	X(MASK, 9)                                                                        \
	X(IN_RANGE, 10)                                                                   \
	X(NOT_IN_RANGE, 11)                                                               \
	X(SPORT, 12)                                                                      \
	X(NOT_SPORT, 13)                                                                  \
	X(DPORT, 14)                                                                      \
	X(NOT_DPORT, 15)                                                                  \
	X(SPORT_PRIV, 16)                                                                 \
	X(NOT_SPORT_PRIV, 17)                                                             \
	X(DPORT_PRIV, 18)                                                                 \
	X(NOT_DPORT_PRIV, 19)                                                             \
	X(SADDR, 20)                                                                      \
	X(NOT_SADDR, 21)                                                                  \
	X(DADDR, 22)                                                                      \
	X(NOT_DADDR, 23)                                                                  \
	X(PROTOCOL, 24)                                                                   \
	X(FAMILY, 25)                                                                     \
	X(IN_MAP, 26) /* integer in the filter's set (hash) */                            \
	X(NOT_IN_MAP, 27)                                                                 \
	X(STATE, 28)		 /* socket's TCP state (sk_state) in the listed values */ \
	X(SUBSTRING, 29)	 /* one of the substrings occurs in the string */         \
	X(SUBSTRING_IGNCASE, 30) /* the same, ASCII letters compared without case */      \
	X(FILE_TYPE, 31)	 /* the resolved file's type (S_IFMT) is listed */        \
	X(NOT_FILE_TYPE, 32)

/* Actions (struct vigil_action.kind); also bits (1 << kind) of vigil_hook_record.actions. */
#define VIGIL_ACT_LIST(X)                                                                   \
	X(POST, 1)                                                                          \
	X(NOPOST, 2)                                                                        \
	X(SIGKILL, 3)                                                                       \
	X(SIGNAL, 4)                                                                        \
	X(OVERRIDE, 5)                                                                      \
	/* the socket in slot `arg` is owned by the caller from now on / no longer owned  \
	 * (map tracked_socks); records carrying a tracked socket name its owner */ \
	X(TRACK_SOCK, 6)                                                                    \
	X(UNTRACK_SOCK, 7)                                                                  \
	/* carried out by the agent for the posted record; the kernel only marks it */      \
	X(GET_URL, 8)                                                                       \
	X(DNS_LOOKUP, 9)

#define VIGIL_CONCEPT_FLAVOUR(n, v) VIGIL_HOOK_##n = v,
#define VIGIL_CONCEPT_ARG(n, v)	    VIGIL_ARG_##n = v,
#define VIGIL_CONCEPT_OP(n, v)	    VIGIL_OP_##n = v,
#define VIGIL_CONCEPT_ACT(n, v)	    VIGIL_ACT_##n = v,

#ifdef __bpf__
enum vigil_hook_flavour : __u32 { VIGIL_HOOK_FLAVOUR_LIST(VIGIL_CONCEPT_FLAVOUR) };
enum vigil_arg_kind : __u32 { VIGIL_ARG_KIND_LIST(VIGIL_CONCEPT_ARG) };
enum vigil_op : __u32 { VIGIL_OP_LIST(VIGIL_CONCEPT_OP) };
enum vigil_act : __u32 { VIGIL_ACT_LIST(VIGIL_CONCEPT_ACT) };
#else
/* Swift imports the constants of an anonymous enum with a fixed type as UInt32 values. */
enum : __u32 { VIGIL_HOOK_FLAVOUR_LIST(VIGIL_CONCEPT_FLAVOUR) };
enum : __u32 { VIGIL_ARG_KIND_LIST(VIGIL_CONCEPT_ARG) };
enum : __u32 { VIGIL_OP_LIST(VIGIL_CONCEPT_OP) };
enum : __u32 { VIGIL_ACT_LIST(VIGIL_CONCEPT_ACT) };

/* The lists, read back by Swift (anchor.c). */
struct vigil_abi_entry {
	const char *name;
	__u32 value;
};
enum vigil_abi_concept_kind {
	VIGIL_CONCEPT_HOOK_FLAVOURS,
	VIGIL_CONCEPT_ARG_KINDS,
	VIGIL_CONCEPT_OPS,
	VIGIL_CONCEPT_ACTS
};
/* The entries of one list and their count. */
__u32 vigil_abi_concept(enum vigil_abi_concept_kind kind, const struct vigil_abi_entry **entries);
#endif

#endif /* VIGIL_CONCEPTS_H */
