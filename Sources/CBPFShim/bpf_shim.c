// SPDX-License-Identifier: Apache-2.0
#include "bpf_shim.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

/*
 * Per-thread capture keeps concurrent loads from mixing their messages. The buffer keeps
 * the *tail* of the output: a verifier log's conclusion is at its end.
 */
#define CAPTURE_CAP (64 * 1024)
static __thread char capture_buf[CAPTURE_CAP];
static __thread size_t capture_len;
static int echo_debug;

static void capture_append(const char *text, size_t len)
{
	if (len >= CAPTURE_CAP) { /* one message larger than the buffer (a whole verifier log): keep its tail */
		text += len - (CAPTURE_CAP - 1);
		len = CAPTURE_CAP - 1;
	}
	if (capture_len + len >= CAPTURE_CAP) {
		/* Drop the oldest output to make room; the tail matters most. */
		size_t keep = CAPTURE_CAP - 1 - len;
		if (keep > capture_len)
			keep = capture_len;
		memmove(capture_buf, capture_buf + capture_len - keep, keep);
		capture_len = keep;
	}
	memcpy(capture_buf + capture_len, text, len);
	capture_len += len;
}

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char line[4096];
	va_list again;
	va_copy(again, args);
	int n = vsnprintf(line, sizeof(line), fmt, args);
	if (n < 0) {
		va_end(again);
		return 0;
	}
	char *text = line;
	if ((size_t)n >= sizeof(line)) { /* libbpf prints a verifier log as one message */
		char *big = malloc((size_t)n + 1);
		if (big) {
			vsnprintf(big, (size_t)n + 1, fmt, again);
			text = big;
		} else {
			n = sizeof(line) - 1;
		}
	}
	va_end(again);
	if (level == LIBBPF_DEBUG) {
		if (echo_debug)
			fputs(text, stderr);
	} else {
		capture_append(text, (size_t)n);
	}
	if (text != line)
		free(text);
	return n;
}

void vigil_libbpf_capture_install(int debug_to_stderr)
{
	echo_debug = debug_to_stderr;
	libbpf_set_print(capture_print);
}

void vigil_libbpf_capture_reset(void) { capture_len = 0; }

size_t vigil_libbpf_capture_copy(char *dst, size_t cap)
{
	if (cap == 0)
		return capture_len;
	size_t n = capture_len < cap - 1 ? capture_len : cap - 1;
	memcpy(dst, capture_buf, n);
	dst[n] = '\0';
	return capture_len;
}

int vigil_btf_datasec_var(struct bpf_object *obj, const char *section, const char *var,
			  uint32_t *offset, uint32_t *size)
{
	struct btf *btf = bpf_object__btf(obj);
	if (!btf)
		return -ENOENT;
	int id = btf__find_by_name_kind(btf, section, BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	const struct btf_type *sec = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *vi = btf_var_secinfos(sec);
	for (unsigned i = 0; i < btf_vlen(sec); i++, vi++) {
		const struct btf_type *v = btf__type_by_id(btf, vi->type);
		const char *name = btf__name_by_offset(btf, v->name_off);
		if (name && strcmp(name, var) == 0) {
			*offset = vi->offset;
			*size = vi->size;
			return 0;
		}
	}
	return -ENOENT;
}

__attribute__((noinline, used, visibility("default"))) int vigil_uprobe_probe_target(int x)
{
	__asm__ volatile("" : "+r"(x)); /* a body the compiler cannot fold into its callers */
	return x + 1;
}
