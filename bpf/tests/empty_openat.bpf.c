// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The kernel's floor for a sys_enter_openat hook: a program that does nothing
 * (vigil-bench open-overhead compares the policy engine against it). */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_openat")
int empty_openat(void *ctx)
{
	return 0;
}
