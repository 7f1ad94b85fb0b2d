/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few libbpf interactions Swift cannot express directly: libbpf's print callback
 * takes a va_list, and BTF datasec walks need pointer arithmetic over variable-length
 * records. Everything else is called from Swift (BPFKit/Internals/Libbpf.swift).
 */
#ifndef VIGIL_BPF_SHIM_H
#define VIGIL_BPF_SHIM_H

#include <stddef.h>
#include <stdint.h>

struct bpf_object;

/*
 * Route libbpf's messages (warnings, and the verifier log it prints when a load fails)
 * into a per-thread buffer. Idempotent. debug_to_stderr also echoes debug lines.
 */
void vigil_libbpf_capture_install(int debug_to_stderr);

/* Clear the calling thread's captured libbpf output. */
void vigil_libbpf_capture_reset(void);

/* Copy the calling thread's captured output (NUL-terminated, truncated to cap-1). Returns its full length. */
size_t vigil_libbpf_capture_copy(char *dst, size_t cap);

/*
 * Find global variable `var` in datasec `section` (e.g. ".rodata") of an opened object's BTF.
 * On success stores its offset and size within the section and returns 0; -ENOENT otherwise.
 */
int vigil_btf_datasec_var(struct bpf_object *obj, const char *section, const char *var,
			  uint32_t *offset, uint32_t *size);

/*
 * A function of this executable the uprobe feature probe attaches to (by symbol, through
 * /proc/self/exe). Never inlined, kept by the linker: the probe also calls it.
 */
int vigil_uprobe_probe_target(int x);

#endif
