// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Base process sensor: exec, fork and exit of every process on the node, and the
 * in-kernel process table other hooks use to tag their events.
 *
 * Each event has a tp_btf program (typed task pointers) and a classic tracepoint twin;
 * the loader keeps one of each pair, chosen by KernelFeatures, the other is not loaded.
 *
 *   exec: table[tgid] = {id: (now, tgid), parent: table[real_parent].id}; EXEC record
 *   fork: new thread group only (not CLONE_THREAD): table[child] = {id: (now, child), parent,
 *         CLONE}; FORK record
 *   exit: last thread of the group only (signal->live == 0): EXIT record; delete table[tgid]
 * A failed ring-buffer reservation increments lost[kind]: loss is counted, never silent.
 *
 * Every handler works on BTF-typed task pointers (tp_btf arguments, or
 * bpf_get_current_task_btf() in the classic twins), so field reads are plain loads the
 * verifier checks, not bpf_probe_read_kernel() helper calls: measured 11.5 us -> see
 * BENCHMARKS.md for the exec program's cost.
 */
#include "vigil_bpf.h"
#include "vigil_shared_maps.h"
#include "vigil_path.h"
#include "vigil_resolve.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_RECORD_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Fork and exit records never wake the reader early: deciding costs a helper call per record
 * (~60 ns, two per spawn), and their bytes still count towards the next exec record's decision
 * (which reads the ring's producer position). Without execs, the reader's 100 ms poll drains
 * them: filling the ring between two polls would take millions of forks per second. */
#define VIGIL_SMALL_RECORD_WAKEUP BPF_RB_NO_WAKEUP

/* Building a table entry (296 bytes) on the 512-byte BPF stack leaves too little for the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_process);
} process_scratch SEC(".maps");

/* matchBinaries followChildren: which slots list a binary (filled by the agent as policies load). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_FOLLOW_BINARIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_follow_key);
	__type(value, __u64);
} follow_binaries SEC(".maps");

static __always_inline struct vigil_process *scratch_process(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&process_scratch, &zero);
}

static __always_inline void count_lost(__u32 kind)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &kind);
	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

static __always_inline void fill_namespaces(struct vigil_exec_record *r, struct task_struct *task)
{
	struct nsproxy *nsp = task->nsproxy;

	if (nsp) {
		r->ns[VIGIL_NS_UTS] = nsp->uts_ns->ns.inum;
		r->ns[VIGIL_NS_IPC] = nsp->ipc_ns->ns.inum;
		r->ns[VIGIL_NS_MNT] = nsp->mnt_ns->ns.inum;
		r->ns[VIGIL_NS_PID_FOR_CHILDREN] = nsp->pid_ns_for_children->ns.inum;
		r->ns[VIGIL_NS_NET] = nsp->net_ns->ns.inum;
		if (bpf_core_field_exists(nsp->time_ns)) {
			r->ns[VIGIL_NS_TIME] = nsp->time_ns->ns.inum;
			r->ns[VIGIL_NS_TIME_FOR_CHILDREN] = nsp->time_ns_for_children->ns.inum;
		}
		r->ns[VIGIL_NS_CGROUP] = nsp->cgroup_ns->ns.inum;
	}
	r->ns[VIGIL_NS_PID] = vigil_pid_ns_inum(task);
	r->ns[VIGIL_NS_USER] = task->cred->user_ns->ns.inum;
}

/* kernel_cap_t is u32[2] before 6.3 and a u64 after: either way 8 little-endian bytes. */
#define read_caps(field) (*(__u64 *)&(field))

#define VIGIL_S_IFMT   0170000
#define VIGIL_S_IFIFO  0010000
#define VIGIL_S_IFSOCK 0140000
#define VIGIL_S_IFCHR  0020000
/* Pseudo-terminal slaves (/dev/pts/N): majors 136-143 (UNIX98_PTY_SLAVE_MAJOR, 8 majors). */
#define VIGIL_PTS_MAJOR_FIRST 136
#define VIGIL_PTS_MAJOR_LAST  143
#define VIGIL_AF_INET	      2
#define VIGIL_AF_INET6	      10
/* How many of the parent's first descriptors are looked at for a network connection. */
#define VIGIL_PARENT_FDS 16

/* A pipe's identity: its inode (device and number). Not its pipe_inode_info address: a
 * freed pipe's address comes back for the next pipe within microseconds, so a decoder's
 * pipe into `tar` and a later, unrelated pipe into `sh` looked like one pipeline. Inode
 * numbers of pipes are handed out in sequence and are not reused that soon. */
static __always_inline __u64 vigil_pipe_id(struct file *f)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	__u64 ino = BPF_CORE_READ(inode, i_ino);
	__u64 dev = BPF_CORE_READ(inode, i_sb, s_dev);
	return ino ^ (dev << 32);
}

/* Descriptors 0 and 1 of a file table (NULL where there is none). The descriptor array holds
 * plain pointers, so it is read with a probe read. */
static __always_inline void stdio_files(struct files_struct *files, struct file *fds[2])
{
	fds[0] = NULL;
	fds[1] = NULL;
	struct fdtable *fdt = files ? BPF_CORE_READ(files, fdt) : NULL;
	if (!fdt || BPF_CORE_READ(fdt, max_fds) < 2)
		return;
	if (bpf_probe_read_kernel(fds, 2 * sizeof(fds[0]), BPF_CORE_READ(fdt, fd)) < 0) {
		fds[0] = NULL;
		fds[1] = NULL;
	}
}

static __always_inline __u32 file_type(struct file *f)
{
	return f ? BPF_CORE_READ(f, f_inode, i_mode) & VIGIL_S_IFMT : 0;
}

/* Whether a file is a pseudo-terminal's slave side (a /dev/null stdin is a character device too). */
static __always_inline bool is_pty(struct file *f)
{
	if (file_type(f) != VIGIL_S_IFCHR)
		return false;
	__u32 major = BPF_CORE_READ(f, f_inode, i_rdev) >> 20; /* MAJOR() of a kernel dev_t */
	return major >= VIGIL_PTS_MAJOR_FIRST && major <= VIGIL_PTS_MAJOR_LAST;
}

/* Whether one of the first descriptors of a file table is an IPv4 or IPv6 socket: a program
 * that starts a shell on a pty (socat's `exec:bash,pty`, python's pty.spawn) while it holds a
 * network connection. Looked at only for a process whose stdin is a pseudo-terminal. */
static __always_inline bool parent_holds_inet_socket(struct files_struct *files)
{
	struct fdtable *fdt = files ? BPF_CORE_READ(files, fdt) : NULL;
	if (!fdt)
		return false;
	struct file *fds[VIGIL_PARENT_FDS] = {};
	__u32 n = BPF_CORE_READ(fdt, max_fds);
	if (n > VIGIL_PARENT_FDS)
		n = VIGIL_PARENT_FDS;
	if (bpf_probe_read_kernel(fds, sizeof(fds), BPF_CORE_READ(fdt, fd)) < 0)
		return false;
	for (__u32 i = 0; i < VIGIL_PARENT_FDS; i++) {
		if (i >= n)
			break;
		if (file_type(fds[i]) != VIGIL_S_IFSOCK)
			continue;
		struct socket *sock = BPF_CORE_READ(fds[i], private_data);
		__u16 family = sock ? BPF_CORE_READ(sock, sk, __sk_common.skc_family) : 0;
		if (family == VIGIL_AF_INET || family == VIGIL_AF_INET6)
			return true;
	}
	return false;
}

/* What descriptors 0 and 1 are at exec: the pipes (user space joins the two ends of a shell
 * pipeline, `curl ... | sh`, on the same pipe) and whether they are sockets (a shell whose
 * stdio is a socket is a reverse shell). Also whether the parent's are sockets: the shell
 * a pty-upgraded reverse shell starts (python's pty.spawn, `script`, socat's pty) holds a pty,
 * its parent the connection. */
static __always_inline void stdio_pipes(struct task_struct *task, struct vigil_exec_record *r)
{
	r->stdin_pipe = 0;
	r->stdout_pipe = 0;
	struct file *fds[2];
	stdio_files(task->files, fds);
	__u32 type0 = file_type(fds[0]);
	__u32 type1 = file_type(fds[1]);
	if (type0 == VIGIL_S_IFIFO)
		r->stdin_pipe = vigil_pipe_id(fds[0]);
	if (type1 == VIGIL_S_IFIFO)
		r->stdout_pipe = vigil_pipe_id(fds[1]);
	if (type0 == VIGIL_S_IFSOCK)
		r->flags |= VIGIL_EXEC_STDIN_SOCKET;
	if (type1 == VIGIL_S_IFSOCK)
		r->flags |= VIGIL_EXEC_STDOUT_SOCKET;
	struct file *fds_own0 = fds[0];
	struct files_struct *parent_files = BPF_CORE_READ(task, real_parent, files);
	stdio_files(parent_files, fds);
	if (file_type(fds[0]) == VIGIL_S_IFSOCK || file_type(fds[1]) == VIGIL_S_IFSOCK)
		r->flags |= VIGIL_EXEC_PARENT_STDIO_SOCKET;
	else if (is_pty(fds_own0) && parent_holds_inet_socket(parent_files))
		r->flags |= VIGIL_EXEC_PARENT_STDIO_SOCKET;
}

/* The executable into the table entry: global path (first and last bytes when long), the
 * process's own view where it differs, identity. */
static __noinline void resolve_binary(struct vigil_process *proc, struct file *exe, struct task_struct *task)
{
	proc->binary_len = 0;
	proc->binary[0] = 0;
	proc->binary_dev = 0;
	proc->binary_ino = 0;
	proc->binary_root_off = 0;
	proc->binary_full_len = 0;
	if (!exe)
		return;
	struct dentry *dentry = exe->f_path.dentry;
	__s64 mode = 0;
	vigil_inode_id(dentry, &proc->binary_dev, &proc->binary_ino, &mode);
	struct vigil_gpath p;
	struct vigil_gpath_scratch *s = vigil_gpath_scratch();
	if (!s || vigil_gpath_walk(exe->f_path.mnt, dentry, task, &p) < 0)
		return;
	__u32 flags = 0;
	vigil_gpath_emit(s, &p, proc->binary, &proc->binary_len, &proc->binary_full_len, &proc->binary_root_off, &flags,
			 VIGIL_PROC_ROOT_VIEW, VIGIL_PROC_LONG_PATH);
	proc->flags |= flags;
}

static __always_inline void handle_exec(struct task_struct *task)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tgid = task->tgid;
	__u32 ppid = task->real_parent->tgid;
	/* Most execs follow the fork that put the process in the table: rewrite that entry in
	 * place. A hash update costs ~400 ns here (a new element, the copy, the old one freed),
	 * as much as the rest of the record. Nothing reads the entry mid-write: by this
	 * tracepoint the exec'ing task is the only thread of its group, and other programs only
	 * look up their own process's entry. */
	struct vigil_process *proc = bpf_map_lookup_elem(&processes, &tgid);
	bool in_table = proc != NULL;
	/* followChildren slots the fork passed on (vigil_process.follow) */
	__u64 follow = proc ? proc->follow : 0;
	if (!proc)
		proc = scratch_process();
	if (!proc)
		return;

	proc->id.ktime = now;
	proc->id.pid = tgid;
	proc->id.pad = 0;
	proc->flags = 0;
	struct vigil_process *parent = bpf_map_lookup_elem(&processes, &ppid);
	if (parent) {
		proc->parent = parent->id;
	} else {
		proc->parent.ktime = 0;
		proc->parent.pid = ppid;
		proc->parent.pad = 0;
	}
	/* The table entry first: hooks match on the binary even when the record is lost. Hooks
	 * judge the executable the kernel ran: its global path and identity (vigil_resolve.h). */
	struct mm_struct *mm = task->mm;
	struct file *exe = mm ? mm->exe_file : NULL;
	/* a process the table missed takes its parent's; then the slots listing this binary */
	if (!in_table && parent)
		follow = parent->follow;
	resolve_binary(proc, exe, task);
	struct vigil_follow_key fk = {.dev = proc->binary_dev, .pad = 0, .ino = proc->binary_ino};
	__u64 *listed = bpf_map_lookup_elem(&follow_binaries, &fk);
	proc->follow = follow | (listed ? *listed : 0);
	if (!in_table)
		bpf_map_update_elem(&processes, &tgid, proc, BPF_ANY);

	struct vigil_exec_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_lost(VIGIL_RECORD_EXEC);
		return;
	}
	vigil_header_at(&r->header, VIGIL_RECORD_EXEC, sizeof(*r), now);
	r->id = proc->id;
	r->parent = proc->parent;
	r->pid = tgid;
	r->tid = task->pid;
	r->ppid = ppid;
	r->flags = parent ? 0 : VIGIL_EXEC_NO_PARENT;

	const struct cred *cred = task->cred;
	r->uid = cred->uid.val;
	r->gid = cred->gid.val;
	r->euid = cred->euid.val;
	r->egid = cred->egid.val;
	r->auid = bpf_core_field_exists(task->loginuid) ? task->loginuid.val : 0xffffffff;
	r->pad = 0;
	r->cap_permitted = read_caps(cred->cap_permitted);
	r->cap_effective = read_caps(cred->cap_effective);
	r->cap_inheritable = read_caps(cred->cap_inheritable);
	fill_namespaces(r, task);
	r->cgroup_id = task->cgroups->dfl_cgrp->kn->id; /* bpf_get_current_cgroup_id() by BTF loads: no helper call */
	r->start_boottime = task->start_boottime;
	__builtin_memset(r->pad2, 0, sizeof(r->pad2));
	stdio_pipes(task, r);
	__builtin_memcpy(r->comm, task->comm, sizeof(r->comm));
	if (vigil_cgroup_path(task, r->cgroup_path) < 0)
		r->cgroup_path[0] = 0;

	/* The exported path is the process's own view (as Tetragon's): the table's global path
	 * when the two are the same, its suffix in a chroot or container, else a walk of its own. */
	if (!(proc->flags & (VIGIL_PROC_ROOT_VIEW | VIGIL_PROC_LONG_PATH)) && proc->binary_len) {
		/* the path and its NUL only (readers stop at the NUL); a full copy wrote 256 bytes */
		bpf_probe_read_kernel(r->binary, (proc->binary_len & VIGIL_PATH_MASK) + 1, proc->binary);
	} else if ((proc->flags & VIGIL_PROC_ROOT_VIEW) && !(proc->flags & VIGIL_PROC_LONG_PATH)) {
		__u32 at = proc->binary_root_off & VIGIL_PATH_MASK;
		bpf_probe_read_kernel(r->binary, ((proc->binary_len - at) & VIGIL_PATH_MASK) + 1, &proc->binary[at]);
	} else {
		int plen = exe ? vigil_path(exe->f_path.mnt, exe->f_path.dentry, r->binary, task) : -1;
		if (plen < 0 || (plen & VIGIL_PATH_TRUNCATED))
			r->flags |= VIGIL_EXEC_PATH_TRUNCATED;
		if (plen < 0)
			r->binary[0] = 0;
	}
	struct fs_struct *fs = task->fs;
	int clen = vigil_path(fs->pwd.mnt, fs->pwd.dentry, r->cwd, task);
	if (clen < 0 || (clen & VIGIL_PATH_TRUNCATED))
		r->flags |= VIGIL_EXEC_CWD_TRUNCATED;

	unsigned long arg_start = mm ? mm->arg_start : 0;
	unsigned long arg_end = mm ? mm->arg_end : 0;
	__u64 len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > VIGIL_ARGS_LEN) {
		len = VIGIL_ARGS_LEN;
		r->flags |= VIGIL_EXEC_ARGS_TRUNCATED;
	}
	/* len <= VIGIL_ARGS_LEN here; the explicit clamp above is what the verifier checks */
	if (bpf_probe_read_user(r->args, len, (void *)arg_start) < 0)
		len = 0;
	r->args_len = len;
	bpf_ringbuf_submit(r, vigil_wakeup_flags());
}

/* A new thread group: its clone identity in the table, and a FORK record. `now`: the child's
 * start time where the tracepoint names the child (the same clock as bpf_ktime_get_ns, set by
 * copy_process just before: a plain load instead of a clock read). */
static __always_inline void record_fork(struct task_struct *parent_task, __u32 child_tgid, __u64 now)
{
	__u32 ptgid = parent_task->tgid;
	struct vigil_process *proc = scratch_process();
	if (!proc)
		return;
	proc->id.ktime = now;
	proc->id.pid = child_tgid;
	proc->id.pad = 0;
	proc->flags = VIGIL_PROC_CLONE;
	struct vigil_process *parent = bpf_map_lookup_elem(&processes, &ptgid);
	if (parent) {
		proc->parent = parent->id;
		/* a clone runs its parent's image until it execs: its path, identity and view (the
		 * scratch entry holds another process's otherwise), and its followChildren slots */
		proc->flags |= parent->flags & (VIGIL_PROC_ROOT_VIEW | VIGIL_PROC_LONG_PATH);
		proc->binary_len = parent->binary_len;
		proc->binary_dev = parent->binary_dev;
		proc->binary_ino = parent->binary_ino;
		proc->binary_root_off = parent->binary_root_off;
		proc->binary_full_len = parent->binary_full_len;
		proc->follow = parent->follow;
		__builtin_memcpy(proc->binary, parent->binary,
				 sizeof(proc->binary)); /* map to map: plain loads and stores */
	} else {
		proc->parent.ktime = 0;
		proc->parent.pid = ptgid;
		proc->parent.pad = 0;
		proc->binary_len = 0;
		proc->binary_dev = 0;
		proc->binary_ino = 0;
		proc->binary_root_off = 0;
		proc->binary_full_len = 0;
		proc->follow = 0;
		proc->binary[0] = 0;
	}
	bpf_map_update_elem(&processes, &child_tgid, proc, BPF_ANY);

	struct vigil_fork_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_lost(VIGIL_RECORD_FORK);
		return;
	}
	vigil_header_at(&r->header, VIGIL_RECORD_FORK, sizeof(*r), now);
	r->id = proc->id;
	r->parent = proc->parent;
	r->pid = child_tgid;
	r->ppid = ptgid;
	__builtin_memcpy(r->comm, parent_task->comm, sizeof(r->comm));
	bpf_ringbuf_submit(r, VIGIL_SMALL_RECORD_WAKEUP);
}

static __always_inline void handle_exit(struct task_struct *task)
{
	/* signal->live reaches 0 when the last thread of the group exits */
	if (task->signal->live.counter != 0)
		return;
	__u32 tgid = task->tgid;
	struct vigil_process *proc = bpf_map_lookup_elem(&processes, &tgid);
	struct vigil_exit_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_lost(VIGIL_RECORD_EXIT);
	} else {
		vigil_header(&r->header, VIGIL_RECORD_EXIT, sizeof(*r));
		if (proc) {
			r->id = proc->id;
		} else {
			r->id.ktime = 0;
			r->id.pid = tgid;
			r->id.pad = 0;
		}
		r->pid = tgid;
		r->tid = task->pid;
		r->exit_code = task->exit_code;
		r->pad = 0;
		__builtin_memcpy(r->comm, task->comm, sizeof(r->comm));
		bpf_ringbuf_submit(r, VIGIL_SMALL_RECORD_WAKEUP);
	}
	if (proc)
		bpf_map_delete_elem(&processes, &tgid);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	handle_exec(p);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int process_exec_tp(void *ctx)
{
	handle_exec(bpf_get_current_task_btf());
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	if (child->pid == child->tgid) /* a new process, not a new thread */
		record_fork(parent, child->tgid, child->start_time);
	return 0;
}

#define VIGIL_CLONE_THREAD 0x00010000

/* Classic twin: sched_process_fork names the child only by pid, so it cannot tell a thread
 * from a process; task_newtask carries the clone flags and runs in the parent. */
SEC("tracepoint/task/task_newtask")
int process_fork_tp(struct trace_event_raw_task_newtask *ctx)
{
	if (!(ctx->clone_flags & VIGIL_CLONE_THREAD))
		record_fork(bpf_get_current_task_btf(), ctx->pid, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit_btf, struct task_struct *p)
{
	handle_exit(p);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int process_exit_tp(void *ctx)
{
	handle_exit(bpf_get_current_task_btf());
	return 0;
}
