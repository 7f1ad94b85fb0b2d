/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A kernel socket's endpoints as struct vigil_sock_data: shared by the policy hooks (sock
 * arguments) and the network sensor, so both report a socket the same way.
 */
#ifndef VIGIL_SOCK_H
#define VIGIL_SOCK_H

#include "vigil_bpf.h"

#define VIGIL_AF_INET 2
#define VIGIL_AF_INET6 10

/* An IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d): one address trie serves both families. */
static __always_inline void map_v4(__u8 *out, __u32 addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &addr, 4);
}

/* Family, type, protocol, state and both ends of `sk` (ports in host order). */
static __always_inline void vigil_sock_read(struct vigil_sock_data *d, const struct sock *sk)
{
	d->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	d->type = BPF_CORE_READ(sk, sk_type);
	d->protocol = BPF_CORE_READ(sk, sk_protocol);
	d->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	d->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	d->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	d->pad = 0;
	if (d->family == VIGIL_AF_INET6) {
		BPF_CORE_READ_INTO(d->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(d->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		map_v4(d->saddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		map_v4(d->daddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	}
}

#endif
