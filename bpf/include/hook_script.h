/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The script an interpreter was started with (VIGIL_HOOKF_SCRIPT_OPEN, Swift ExecLowering): an
 * open counts when the name it opens has the last component of the interpreter's first
 * argument that is not an option or an option's value: the script it was asked to run
 * (`sh -e /tmp/x.sh`, `python3 -E -u x.py`, `busybox sh x.sh`, `ruby -r socket x.rb`, and
 * what the kernel passes for a `#!` script: `/bin/sh /tmp/x.sh`). Options are read the way
 * the interpreter reads them, its family known from the program the kernel runs (the mm's
 * exe file: argv[0] is the caller's to choose); `python3 -m pkg.mod` names the file mod.py,
 * and a package's code is a file in a directory of that name: `python3 DIR` and `python3 -m
 * pkg` run DIR/__main__.py, `-m pkg` runs pkg/__init__.py first (python_package_file).
 * One that gives code instead of a file (sh -c, python -c, perl -e/-E, ruby -e, node -e/-p,
 * php -r, lua -e) or reads the script on stdin (`-`, sh -s: stdin_script) means no script
 * file is opened, so no open counts.
 * A shell also runs the file its BASH_ENV names before its script or command (bash started
 * non-interactively: `BASH_ENV=/tmp/x.sh bash -c true`): an open whose last component is that
 * file's counts too, whatever the arguments (script_env_names).
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
	__u32 prev_base; /* where the component before the last starts */
	__u32 family;	 /* VIGIL_SCRIPT_* of the interpreter */
	__u32 skip_next; /* the previous option takes the next argument as its value */
	__u32 applet;	 /* busybox: its first argument names the applet, not a script */
	__u32 stdin;	 /* `-` or sh -s: the script comes on stdin */
	__u32 dot;	 /* where the argument's last dotted part starts (a module name) */
	__u32 module;	 /* python -m: the next argument is a module, the found one is one */
	__u32 env_prev;	 /* the environment's previous byte (a variable starts after a NUL) */
	__u32 env_value; /* where BASH_ENV's value starts in it, 0: none */
	__u64 env_start; /* the caller's environment (user memory) */
};

/* Interpreter families: how each reads its options. */
#define VIGIL_SCRIPT_SHELL   0 /* sh, bash, dash, zsh, ksh, awk (-f FILE), tclsh, ... */
#define VIGIL_SCRIPT_PYTHON  1
#define VIGIL_SCRIPT_PERL    2
#define VIGIL_SCRIPT_RUBY    3
#define VIGIL_SCRIPT_NODE    4
#define VIGIL_SCRIPT_PHP     5
#define VIGIL_SCRIPT_LUA     6
#define VIGIL_SCRIPT_BUSYBOX 7

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_script_scratch);
} script_scratch SEC(".maps");

/* The family of the program the kernel runs, by its file's name. */
static __always_inline __u32 script_family(struct mm_struct *mm)
{
	char n[8] = {};
	bpf_probe_read_kernel_str(n, sizeof(n), BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.name));
	if (n[0] == 'p' && n[1] == 'y')
		return VIGIL_SCRIPT_PYTHON;
	if (n[0] == 'p' && n[1] == 'e' && n[2] == 'r' && n[3] == 'l')
		return VIGIL_SCRIPT_PERL;
	if (n[0] == 'r' && n[1] == 'u' && n[2] == 'b' && n[3] == 'y')
		return VIGIL_SCRIPT_RUBY;
	if (n[0] == 'n' && n[1] == 'o' && n[2] == 'd' && n[3] == 'e')
		return VIGIL_SCRIPT_NODE;
	if (n[0] == 'p' && n[1] == 'h' && n[2] == 'p')
		return VIGIL_SCRIPT_PHP;
	if (n[0] == 'l' && n[1] == 'u' && n[2] == 'a')
		return VIGIL_SCRIPT_LUA;
	if (n[0] == 'b' && n[1] == 'u' && n[2] == 's' && n[3] == 'y')
		return VIGIL_SCRIPT_BUSYBOX;
	return VIGIL_SCRIPT_SHELL;
}

#define VIGIL_OPT_FLAG	 0 /* a flag: the script may follow */
#define VIGIL_OPT_CODE	 1 /* code instead of a script file */
#define VIGIL_OPT_VALUE	 2 /* takes the next argument as its value */
#define VIGIL_OPT_STDIN	 3 /* the script comes on stdin */
#define VIGIL_OPT_MODULE 4 /* python -m: the next argument names the script as a module */

static __always_inline bool script_has(const __u8 *a, __u32 len, __u8 c)
{
	bool has = false;
#pragma unroll
	for (int i = 1; i < 10; i++)
		if (i < len && a[i] == c)
			has = true;
	return has;
}

/* What option `a` (len bytes, a[0] is '-' or '+') means to an interpreter of `family`. A
 * cluster (`-ec`, `-ne`, `-uc`) is read by its letters. */
static __always_inline __u32 script_option(__u32 family, const __u8 *a, __u32 len)
{
	if (len == 1)
		return a[0] == '-' ? VIGIL_OPT_STDIN : VIGIL_OPT_FLAG; /* "-": the script comes on stdin */
	if (a[1] == '-') {
		/* long options: --command, --eval, --print give code; --require takes a value */
		if ((len == 9 && a[2] == 'c' && a[3] == 'o') || (len == 6 && a[2] == 'e' && a[3] == 'v') ||
		    (len == 7 && a[2] == 'p' && a[3] == 'r'))
			return VIGIL_OPT_CODE;
		if (len == 9 && a[2] == 'r' && a[3] == 'e' && a[4] == 'q')
			return VIGIL_OPT_VALUE;
		return VIGIL_OPT_FLAG;
	}
	__u8 last = len < 10 ? a[(len - 1) & 15] : 0;
	switch (family) {
	case VIGIL_SCRIPT_PYTHON:
		if (script_has(a, len, 'c'))
			return VIGIL_OPT_CODE;
		if (last == 'm')
			return VIGIL_OPT_MODULE;
		return last == 'W' || last == 'X' ? VIGIL_OPT_VALUE : VIGIL_OPT_FLAG;
	case VIGIL_SCRIPT_PERL:
		return script_has(a, len, 'e') || script_has(a, len, 'E') ? VIGIL_OPT_CODE : VIGIL_OPT_FLAG;
	case VIGIL_SCRIPT_RUBY:
		if (script_has(a, len, 'e'))
			return VIGIL_OPT_CODE;
		return len == 2 && (last == 'r' || last == 'I' || last == 'C') ? VIGIL_OPT_VALUE : VIGIL_OPT_FLAG;
	case VIGIL_SCRIPT_NODE:
		if (len == 2 && (last == 'e' || last == 'p'))
			return VIGIL_OPT_CODE;
		return len == 2 && last == 'r' ? VIGIL_OPT_VALUE : VIGIL_OPT_FLAG;
	case VIGIL_SCRIPT_PHP:
		if (len == 2 && last == 'r')
			return VIGIL_OPT_CODE;
		return len == 2 && (last == 'c' || last == 'd' || last == 'z') ? VIGIL_OPT_VALUE : VIGIL_OPT_FLAG;
	case VIGIL_SCRIPT_LUA:
		if (len == 2 && last == 'e')
			return VIGIL_OPT_CODE;
		return len == 2 && last == 'l' ? VIGIL_OPT_VALUE : VIGIL_OPT_FLAG;
	}
	/* shells (and busybox's shell applets): -c gives code, -s reads stdin; -o/+o/-O/+O take
	 * an option name */
	if (a[0] == '-' && script_has(a, len, 'c'))
		return VIGIL_OPT_CODE;
	if (a[0] == '-' && script_has(a, len, 's'))
		return VIGIL_OPT_STDIN;
	return len == 2 && (last == 'o' || last == 'O') ? VIGIL_OPT_VALUE : VIGIL_OPT_FLAG;
}

/* One byte of argv: arguments end at NUL; the first one after argv[0] that is neither an
 * option nor an option's value (script_option) is the script. */
static long script_scan_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || i >= s->n || i >= VIGIL_SCRIPT_ARGV || s->found || s->none)
		return 1;
	__u8 c = s->argv[i & (VIGIL_SCRIPT_ARGV - 1)];
	if (c == '/')
		s->base = i + 1;
	if (c == '.')
		s->dot = i + 1;
	if (c != 0)
		return 0;
	__u32 start = s->start & (VIGIL_SCRIPT_ARGV - 1);
	__u32 len = i - s->start;
	if (s->arg > 0 && len > 0) {
		__u8 first = s->argv[start];
		if (s->skip_next) {
			s->skip_next = 0; /* the previous option's value */
		} else if (first == '-' || (first == '+' && s->family == VIGIL_SCRIPT_SHELL)) {
			__u8 a[10] = {};
			bpf_probe_read_kernel(a, sizeof(a), &s->argv[start]);
			__u32 what = script_option(s->family, a, len);
			if (what == VIGIL_OPT_CODE)
				s->none = 1;
			else if (what == VIGIL_OPT_STDIN)
				s->none = s->stdin = 1; /* what follows are the script's arguments */
			else if (what == VIGIL_OPT_VALUE)
				s->skip_next = 1;
			else if (what == VIGIL_OPT_MODULE)
				s->module = 1;
		} else if (s->applet) {
			s->applet = 0; /* busybox APPLET ...: the shell applets read options as shells */
			s->family = VIGIL_SCRIPT_SHELL;
		} else {
			/* a module `pkg.mod` is the file mod.py: its last dotted part */
			s->found_base = s->module && s->dot > s->start ? s->dot : s->base;
			s->found_end = i;
			s->found = 1;
			return 1;
		}
	}
	s->arg++;
	s->start = i + 1;
	s->base = i + 1;
	s->dot = i + 1;
	return 0;
}

/* One byte of the opened name: its last component starts after the last '/'. */
static long script_base_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || i >= s->name_len || i >= VIGIL_ARG_BYTES)
		return 1;
	if (s->name[i & (VIGIL_ARG_BYTES - 1)] == '/') {
		s->prev_base = s->name_base;
		s->name_base = i + 1;
	}
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

/* Up to VIGIL_SCRIPT_ARGV bytes of the caller's memory at `from` into argv (the argument
 * strings, a chunk of the environment); n is how many are left there. */
static __always_inline bool script_read_user(struct vigil_script_scratch *s, unsigned long from, __u32 n)
{
	if (n > VIGIL_SCRIPT_ARGV)
		n = VIGIL_SCRIPT_ARGV;
	return n > 0 && bpf_probe_read_user(
				s->argv, n & (VIGIL_SCRIPT_ARGV - 1) ? n & (VIGIL_SCRIPT_ARGV - 1) : VIGIL_SCRIPT_ARGV,
				(void *)from) >= 0;
}

/* The environment is read in argv-sized chunks, all of it up to VIGIL_SCRIPT_ENV bytes (a
 * variable further on is not seen: a documented limit, not a silent one). */
#define VIGIL_SCRIPT_ENV (64 * 1024)

/* One byte of the environment: where a variable named BASH_ENV starts its value. */
static long script_env_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || i >= s->n || i >= VIGIL_SCRIPT_ENV)
		return 1;
	__u32 at = i & (VIGIL_SCRIPT_ARGV - 1);
	if (at == 0 && !script_read_user(s, s->env_start + i, s->n - i))
		return 1;
	__u8 c = s->argv[at];
	bool starts = s->env_prev == 0; /* a variable starts after a NUL (and at 0) */
	s->env_prev = c;
	if (!starts || c != 'B')
		return 0;
	__u8 v[9] = {};
	bpf_probe_read_user(v, sizeof(v), (void *)(s->env_start + i));
	if (v[1] == 'A' && v[2] == 'S' && v[3] == 'H' && v[4] == '_' && v[5] == 'E' && v[6] == 'N' && v[7] == 'V' &&
	    v[8] == '=') {
		s->env_value = i + 9;
		return 1;
	}
	return 0;
}

/* One byte of BASH_ENV's value (in argv): its last component starts after the last '/'. */
static long script_value_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || i >= s->n || i >= VIGIL_ARG_BYTES)
		return 1;
	if (s->argv[i & (VIGIL_SCRIPT_ARGV - 1)] == '/')
		s->base = i + 1;
	return 0;
}

/* A shell's BASH_ENV: its value's last component in found_base..found_end (argv's buffer is
 * reused: the script was looked for already); false when the environment has none. */
static __always_inline bool script_env_names(void)
{
	__u32 zero = 0;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || s->family != VIGIL_SCRIPT_SHELL)
		return false;
	struct mm_struct *mm = bpf_get_current_task_btf()->mm;
	if (!mm)
		return false;
	unsigned long start = mm->env_start, end = mm->env_end;
	s->n = end > start ? end - start : 0;
	s->env_start = start;
	s->env_prev = 0;
	s->env_value = 0;
	bpf_loop(VIGIL_SCRIPT_ENV, script_env_step, NULL, 0);
	s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || !s->env_value)
		return false;
	long len = bpf_probe_read_user_str(s->argv, VIGIL_ARG_BYTES, (void *)(s->env_start + s->env_value));
	if (len <= 1)
		return false;
	s->n = len - 1;
	s->base = 0;
	bpf_loop(VIGIL_ARG_BYTES, script_value_step, NULL, 0);
	s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s)
		return false;
	s->found_base = s->base;
	s->found_end = s->n;
	return true;
}

/* Whether the opened name's component at `base` (len bytes) is the found one. */
static __always_inline bool script_name_is_found(struct vigil_script_scratch *s, __u32 base, __u32 len)
{
	if (len != s->found_end - s->found_base || len == 0)
		return false;
	struct script_cmp c = {.len = len, .name_base = base};
	bpf_loop(VIGIL_ARG_BYTES, script_cmp_step, &c, 0);
	return !c.differ;
}

/* Whether the opened name's last component (11 bytes at `base`) is a python package's code:
 * __main__.py (`python3 DIR`, `python3 -m pkg`), or __init__.py for a module run with -m
 * (python imports the package, running its __init__.py, before it looks for __main__). */
static __always_inline bool python_package_file(struct vigil_script_scratch *s, __u32 base)
{
	__u8 b[12] = {};
	bpf_probe_read_kernel(b, 11, &s->name[base & (VIGIL_ARG_BYTES - 1)]);
	if (b[0] != '_' || b[1] != '_' || b[6] != '_' || b[7] != '_' || b[8] != '.' || b[9] != 'p' || b[10] != 'y')
		return false;
	if (b[2] == 'm' && b[3] == 'a' && b[4] == 'i' && b[5] == 'n')
		return true;
	return s->module && b[2] == 'i' && b[3] == 'n' && b[4] == 'i' && b[5] == 't';
}

/*
 * Whether the file opened in slot 0 is the caller's script. The name it was opened by: the
 * pathname argument at a syscall's exit (register `source` of slot 0), the dentry's name on
 * file_open (LSM).
 */
/* Scans the caller's argv (the scratch's found/none/stdin); false when it has none. */
static __always_inline bool script_scan_argv(void)
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
	if (!script_read_user(s, start, n))
		return false;
	s->n = n > VIGIL_SCRIPT_ARGV ? VIGIL_SCRIPT_ARGV : n;
	s->arg = 0;
	s->start = 0;
	s->base = 0;
	s->found = 0;
	s->none = 0;
	s->skip_next = 0;
	s->stdin = 0;
	s->dot = 0;
	s->module = 0;
	s->family = script_family(mm);
	s->applet = s->family == VIGIL_SCRIPT_BUSYBOX;
	bpf_loop(VIGIL_SCRIPT_ARGV, script_scan_step, NULL, 0);
	return true;
}

/*
 * Whether the interpreter now starting (VIGIL_HOOKF_STDIN_SCRIPT, at its exec) reads its
 * script on stdin: no script argument and no code option (`sh < /tmp/x.sh`, `python3 <
 * x.py`), or `-` / sh -s. The hook's file is then its descriptor 0, judged as any script file.
 * `sh -c CMD < file` reads data, not a script, and does not count.
 */
static __noinline bool stdin_script(void)
{
	__u32 zero = 0;
	if (!script_scan_argv())
		return false;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	return s && (s->stdin || (!s->found && !s->none));
}

static __noinline bool opened_script(void *ctx, __u32 flavour, struct vigil_hook_record *r)
{
	__u32 zero = 0;
	/* Where the name the file was opened by is, taken first: nothing after this depends on
	 * the flavour (the verifier proves the other flavour's helpers unreachable only while it
	 * still knows the flavour's value). LSM: the file's dentry, whose parent names a package. */
	struct file *f = NULL;
	const void *name_at;
	if (flavour == VIGIL_HOOK_LSM) {
		f = (struct file *)function_arg(ctx, flavour, 0);
		name_at = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	} else {
		name_at = (const void *)function_arg(ctx, flavour, hook_config.args[0].source);
	}
	if (!script_scan_argv())
		return false;
	struct vigil_script_scratch *s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s || ((!s->found || s->none) && s->family != VIGIL_SCRIPT_SHELL))
		return false;
	bool script = s->found && !s->none;

	/* the name the file was opened by, its last component */
	long nlen = f ? bpf_probe_read_kernel_str(s->name, VIGIL_ARG_BYTES, name_at)
		      : bpf_probe_read_user_str(s->name, VIGIL_ARG_BYTES, name_at);
	if (nlen <= 1)
		return false;
	s->name_len = nlen - 1;
	s->name_base = 0;
	s->prev_base = 0;
	bpf_loop(VIGIL_ARG_BYTES, script_base_step, NULL, 0);
	s = bpf_map_lookup_elem(&script_scratch, &zero);
	if (!s)
		return false;
	__u32 len = s->name_len, base = s->name_base;
	len -= base;
	__u32 name_base = base, name_len = len;
	if (s->family == VIGIL_SCRIPT_PYTHON && len == 11 && python_package_file(s, base)) {
		/* the package's directory is what was named: compare its name */
		if (f) {
			const unsigned char *pname = BPF_CORE_READ(f, f_path.dentry, d_parent, d_name.name);
			nlen = bpf_probe_read_kernel_str(s->name, VIGIL_ARG_BYTES, pname);
			if (nlen <= 1)
				return false;
			base = 0;
			len = nlen - 1;
		} else {
			if (base < 2)
				return false; /* no directory in the name */
			len = base - 1 - s->prev_base;
			base = s->prev_base;
		}
	} else if (s->module) {
		/* python -m mod: the file mod.py (compared without its ".py") */
		__u32 end = s->name_len;
		if (len < 4 || s->name[(end - 3) & (VIGIL_ARG_BYTES - 1)] != '.' ||
		    s->name[(end - 2) & (VIGIL_ARG_BYTES - 1)] != 'p' ||
		    s->name[(end - 1) & (VIGIL_ARG_BYTES - 1)] != 'y')
			return false;
		len -= 3;
	}
	if (script && script_name_is_found(s, base, len))
		return true;
	/* a shell's BASH_ENV file (its argv buffer is reused from here on) */
	if (!script_env_names())
		return false;
	s = bpf_map_lookup_elem(&script_scratch, &zero);
	return s && script_name_is_found(s, name_base, name_len);
}

#endif /* VIGIL_HOOK_SCRIPT_H */
