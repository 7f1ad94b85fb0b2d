// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Deliberately invalid: reads past the end of a stack buffer. The verifier must reject it. */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 index_past_end = 64;

SEC("tracepoint/syscalls/sys_enter_getppid")
int broken_oob(void *ctx)
{
	__u8 buf[8] = {};
	__u32 i = index_past_end;
	/* volatile read keeps clang from folding the access away */
	return ((volatile __u8 *)buf)[i];
}
