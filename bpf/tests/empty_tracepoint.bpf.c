// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The kernel's floor for any classic tracepoint: a program that does nothing, attached by the
 * benchmarks to whichever tracepoints a policy set uses (vigil-bench open-overhead-library). */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint")
int empty_tracepoint(void *ctx) { return 0; }
