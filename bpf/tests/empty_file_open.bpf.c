// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The kernel's floor for trampoline and LSM hooks on opening a file: programs that do
 * nothing (vigil-bench open-overhead-guest compares policies on the same hooks against them). */
#include "vigil_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("fentry/security_file_open")
int BPF_PROG(empty_fentry_file_open, struct file *file) { return 0; }

SEC("lsm/file_open")
int BPF_PROG(empty_lsm_file_open, struct file *file) { return 0; }
