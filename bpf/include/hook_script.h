/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The script an interpreter was started with (VIGIL_HOOKF_SCRIPT_OPEN, Swift ExecLowering): an
 * open counts when the name it opens has the last component of the interpreter's first
 * non-option argument, the script it was asked to run (`sh /tmp/x.sh`, `python3 -u x.py`,
 * and what the kernel passes for a `#!` script: `/bin/sh /tmp/x.sh`). An interpreter started
 * with -c, -e, -m, -E, -r, --command, --eval or - runs no script file; nothing of it counts.
 * The file itself is judged as the kernel resolved it (the hook's path filters); the name is
 * only how the open is known to be the script rather than a data file the script reads.
 */
#ifndef VIGIL_HOOK_SCRIPT_H
#define VIGIL_HOOK_SCRIPT_H

#include "hook_maps.h"

#define VIGIL_SCRIPT_ARGV 1024

struct vigil_script_scratch {
	__u8 argv[VIGIL_SCRIPT_ARGV];
	__u8 name[VIGIL_ARG_BYTES];
	/* scan state (in the map, not on the stack: the verifier converges on it) */
	__u32 n;	  /* argv bytes */
	__u32 arg;	  /* index of the argument being scanned */
	__u32 start;	  /* where it starts */
	__u32 base;	  /* where its last component starts */
	__u32 found_base; /* the script argument's last component: start and end */
	__u32 found_end;
	__u32 found;
	__u32 none;	/* -c and kin: no script */
	__u32 name_len; /* the opened name, and where its last component starts */
	__u32 name_base;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_script_scratch);
} script_scratch SEC(".maps");

static __always_inline bool script_option_without_file(const __u8 *a, __u32 len)
{
	if (len == 1)
		return a[0] == '-'; /* "-": the script comes on stdin */
	if (len == 2)
		return a[1] == 'c' || a[1] == 'e' || a[1] == 'm' || a[1] == 'E' || a[1] == 'r';
	return (len == 9 && a[1] == '-' && a[2] == 'c' && a[3] == 'o') ||
	       (len == 6 && a[1] == '-' && a[2] == 'e' && a[3] == 'v');
}

/* One byte of argv: arguments end at NUL; the first one after argv[0] not starting with '-'
 * is the script. */
static long script_scan_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || i >= s->n || i >= VIGIL_SCRIPT_ARGV || s->found || s->none)
		return 1;
	__u8 c = s->argv[i & (VIGIL_SCRIPT_ARGV - 1)];
	if (c == '/')
		s->base = i + 1;
	if (c != 0)
		return 0;
	__u32 start = s->start & (VIGIL_SCRIPT_ARGV - 1);
	__u32 len = i - s->start;
	if (s->arg > 0 && len > 0) {
		__u8 first = s->argv[start];
		if (first == '-') {
			__u8 a[10] = {};
			bpf_probe_read_kernel(a, sizeof(a), &s->argv[start]);
			if (script_option_without_file(a, len))
				s->none = 1;
		} else {
			s->found_base = s->base;
			s->found_end = i;
			s->found = 1;
			return 1;
		}
	}
	s->arg++;
	s->start = i + 1;
	s->base = i + 1;
	return 0;
}

/* One byte of the opened name: its last component starts after the last '/'. */
static long script_base_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || i >= s->name_len || i >= VIGIL_ARG_BYTES)
		return 1;
	if (s->name[i & (VIGIL_ARG_BYTES - 1)] == '/')
		s->name_base = i + 1;
	return 0;
}

struct script_cmp {
	__u32 len;
	__u32 name_base; /* the opened name's last component starts here */
	__u32 differ;
};

static long script_cmp_step(__u32 i, void *data)
{
	struct script_cmp *c = data;
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || i >= c->len)
		return 1;
	if (s->argv[(s->found_base + i) & (VIGIL_SCRIPT_ARGV - 1)] !=
	    s->name[(c->name_base + i) & (VIGIL_ARG_BYTES - 1)]) {
		c->differ = 1;
		return 1;
	}
	return 0;
}

/*
 * Whether the file opened in slot 0 is the caller's script. The name it was opened by: the
 * pathname argument at a syscall's exit (register `source` of slot 0), the dentry's name on
 * file_open (LSM).
 */
static __noinline bool opened_script(void *ctx, __u32 flavour, struct vigil_hook_record *r)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s)
		return false;
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = task->mm;
	if (!mm)
		return false;
	unsigned long start = mm->arg_start, end = mm->arg_end;
	__u32 n = end > start ? end - start : 0;
	if (n > VIGIL_SCRIPT_ARGV)
		n = VIGIL_SCRIPT_ARGV;
	if (n == 0 ||
	    bpf_probe_read_user(s->argv, n & (VIGIL_SCRIPT_ARGV - 1) ? n & (VIGIL_SCRIPT_ARGV - 1) : VIGIL_SCRIPT_ARGV,
				(void *)start) < 0)
		return false;
	s->n = n;
	s->arg = 0;
	s->start = 0;
	s->base = 0;
	s->found = 0;
	s->none = 0;
	bpf_loop(VIGIL_SCRIPT_ARGV, script_scan_step, NULL, 0);
	s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || !s->found || s->none)
		return false;

	/* the name the file was opened by, its last component */
	long nlen;
	if (flavour == VIGIL_HOOK_LSM) {
		struct file *f = (struct file *)function_arg(ctx, flavour, 0);
		const unsigned char *dname = BPF_CORE_READ(f, f_path.dentry, d_name.name);
		nlen = bpf_probe_read_kernel_str(s->name, VIGIL_ARG_BYTES, dname);
	} else {
		nlen = bpf_probe_read_user_str(s->name, VIGIL_ARG_BYTES,
					       (void *)function_arg(ctx, flavour, hook_config.args[0].source));
	}
	if (nlen <= 1)
		return false;
	s->name_len = nlen - 1;
	s->name_base = 0;
	bpf_loop(VIGIL_ARG_BYTES, script_base_step, NULL, 0);
	s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s)
		return false;
	__u32 len = s->name_len, base = s->name_base;
	len -= base;
	if (len != s->found_end - s->found_base || len == 0)
		return false;
	struct script_cmp c = {.len = len, .name_base = base};
	bpf_loop(VIGIL_ARG_BYTES, script_cmp_step, &c, 0);
	return !c.differ;
}

#endif /* VIGIL_HOOK_SCRIPT_H */
