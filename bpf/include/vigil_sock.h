/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A kernel socket's endpoints as struct vigil_sock_data: shared by the policy hooks (sock
 * arguments) and the network sensor, so both report a socket the same way.
 */
#ifndef VIGIL_SOCK_H
#define VIGIL_SOCK_H

#include "vigil_bpf.h"

#define VIGIL_AF_INET  2
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

/*
 * The same from a BTF-typed socket pointer (tp_btf and other tracing-program arguments):
 * plain loads the verifier checks against the kernel's BTF, no helper call per field
 * (each helper call costs ~90 ns on this project's machines).
 */
static __always_inline void vigil_sock_read_btf(struct vigil_sock_data *d, const struct sock *sk)
{
	d->family = sk->__sk_common.skc_family;
	d->type = sk->sk_type;
	d->protocol = sk->sk_protocol;
	d->state = sk->__sk_common.skc_state;
	d->sport = sk->__sk_common.skc_num;
	d->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	d->pad = 0;
	if (d->family == VIGIL_AF_INET6) {
		__builtin_memcpy(d->saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(d->daddr, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		map_v4(d->saddr, sk->__sk_common.skc_rcv_saddr);
		map_v4(d->daddr, sk->__sk_common.skc_daddr);
	}
}

/*
 * A cgroup sock_addr call (connect4/6, sendmsg4/6): the destination the caller passed, and the
 * socket's own bound end and state. `v6` must be a constant at each call: the context's IPv6
 * fields exist only for the *6 attach types, and the verifier checks each load against them.
 */
static __always_inline void vigil_sock_addr_read(struct vigil_sock_data *d, struct bpf_sock_addr *sa, bool v6)
{
	__builtin_memset(d, 0, sizeof(*d));
	d->family = sa->user_family;
	d->type = sa->type;
	d->protocol = sa->protocol;
	d->dport = bpf_ntohs((__u16)sa->user_port);
	__u32 *dw = (__u32 *)d->daddr;
	if (v6) {
		dw[0] = sa->user_ip6[0];
		dw[1] = sa->user_ip6[1];
		dw[2] = sa->user_ip6[2];
		dw[3] = sa->user_ip6[3];
	} else {
		map_v4(d->daddr, sa->user_ip4);
	}
	struct bpf_sock *sk = sa->sk;
	if (!sk)
		return;
	d->sport = sk->src_port;
	d->state = sk->state;
	__u32 *sw = (__u32 *)d->saddr;
	if (v6) {
		sw[0] = sk->src_ip6[0];
		sw[1] = sk->src_ip6[1];
		sw[2] = sk->src_ip6[2];
		sw[3] = sk->src_ip6[3];
	} else {
		map_v4(d->saddr, sk->src_ip4);
	}
}

/* Scratch for vigil_sock_read_copy: room for struct sock_common on any kernel here. */
struct vigil_sock_copy {
	__u8 common[256];
	__u16 type_protocol[2];
};

/*
 * The same from a plain (untyped) pointer with two helper calls instead of eight: the whole
 * struct sock_common, then sk_type and sk_protocol (adjacent u16s since Linux 5.6), copied into
 * `c` and read there at the running kernel's offsets (CO-RE).
 */
static __always_inline void vigil_sock_read_copy(struct vigil_sock_data *d, const struct sock *sk,
						 struct vigil_sock_copy *c)
{
	__u32 n = bpf_core_type_size(struct sock_common);
	if (n > sizeof(c->common))
		n = sizeof(c->common);
	bpf_probe_read_kernel(c->common, n, sk);
	/* sk_type and sk_protocol are adjacent u16s, in either order (6.1: type first; 6.18: protocol first) */
	__u32 t = bpf_core_field_offset(struct sock, sk_type), p = bpf_core_field_offset(struct sock, sk_protocol);
	__u32 base = t < p ? t : p;
	bpf_probe_read_kernel(c->type_protocol, 4, (void *)sk + base);
	struct sock_common *sc = (struct sock_common *)c->common;
	d->family = sc->skc_family;
	d->type = c->type_protocol[t == base ? 0 : 1];
	d->protocol = c->type_protocol[p == base ? 0 : 1];
	d->state = sc->skc_state;
	d->sport = sc->skc_num;
	d->dport = bpf_ntohs(sc->skc_dport);
	d->pad = 0;
	if (d->family == VIGIL_AF_INET6) {
		__builtin_memcpy(d->saddr, &sc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(d->daddr, &sc->skc_v6_daddr, 16);
	} else {
		map_v4(d->saddr, sc->skc_rcv_saddr);
		map_v4(d->daddr, sc->skc_daddr);
	}
}

#endif
