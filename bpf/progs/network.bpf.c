// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The network sensor: TCP connect / accept / close and UDP datagrams to new peers, each
 * with its owning process (exec identity from the shared process table), written to the
 * shared ring buffer so they arrive in order with the process_exec records they refer to.
 *
 * Hooks that every supported kernel has (the host has no kprobes):
 *   tp_btf/inet_sock_set_state   TCP state changes. A connect is seen at CLOSE -> SYN_SENT,
 *                                in the caller's context (owner recorded), reported when
 *                                the handshake ends (established or failed); any tracked
 *                                socket's -> CLOSE reports the close with byte counts.
 *   accepts, one of three ways (the loader keeps one; Sensors/AcceptHook.swift chooses):
 *     fexit inet_csk_accept      where trampolines work: the accepting process, in its context.
 *     handshake                  elsewhere: the same tp_btf program sees the passive connection
 *                                established (SYN_RECV -> ESTABLISHED, in softirq) and names the
 *                                listening socket's owner: the process that called listen(),
 *                                recorded at CLOSE -> LISTEN in its context (user space seeds the
 *                                listeners older than the agent). No syscall pays for it.
 *     tracepoint sys_exit_accept4 / sys_exit_accept (opt-in): the accepting process, found
 *                                through the returned fd; any enabled syscall tracepoint sends
 *                                every syscall on the machine through the tracing path.
 *   cgroup/connect4/6, sendmsg4/6 (cgroup v2 root) UDP: the first datagram or connect from
 *                                a socket to a peer (an LRU of (cookie, peer) seen); the
 *                                socket's owner is kept by cookie for the DNS programs.
 *   cgroup_skb/egress, ingress   DNS: packets to or from port 53 (UDP; TCP when the message
 *                                starts the segment), copied for user space to parse, with
 *                                the owner of the socket they belong to.
 * Only tracked sockets are reported: listeners and kernel sockets never leave the kernel.
 */
#include "vigil_bpf.h"
#include "vigil_shared_maps.h"
#include "vigil_sock.h"
#include "vigil_fd.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Scan detection (set at load): a process that tries this many distinct (address, port) TCP
 * destinations within one window is reported once per window. 0 turns it off. */
const volatile __u32 scan_threshold = 20;
const volatile __u64 scan_window_ns = 5000000000ull;

/* 1: accepts are seen at the handshake and named by the listener's owner (set at load). */
const volatile __u8 accept_at_handshake = 0;

/* Listening TCP sockets -> who listens (the handshake tier only). A hash, not an LRU: a live
 * listener must not be evicted by churn; closes remove entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vigil_listener_key);
	__type(value, struct vigil_listener);
} listeners SEC(".maps");

/* connect'ed and accept'ed TCP sockets -> their owner, until they close. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct vigil_sock_owner);
} tcp_owners SEC(".maps");

struct udp_peer_key {
	__u64 cookie;
	__u8 addr[16];
	__u16 port;
	__u16 pad;
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct udp_peer_key);
	__type(value, __u8);
} udp_peers SEC(".maps");

/* Owners by socket cookie, for the DNS programs (they run where no process is current): every
 * UDP socket that sent, and TCP connections to or from port 53. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct vigil_sock_owner);
} cookie_owners SEC(".maps");

/* Scan counting, per process: the current window and the distinct destinations in it. */
struct scan_count {
	__u64 window;
	__u32 distinct;
	__u32 reported;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct scan_count);
} scan_counts SEC(".maps");

struct scan_dest {
	__u32 tgid;
	__u16 port;
	__u16 pad;
	__u8 addr[16];
};

/* (process, destination) -> the window it was last counted in. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct scan_dest);
	__type(value, __u64);
} scan_seen SEC(".maps");

/* Records the ring buffer had no room for (user space reports them as lost). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void owner_from_current(struct vigil_sock_owner *o, __u8 outbound)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	vigil_exec_id_of(&o->process, bpf_map_lookup_elem(&processes, &tgid), tgid);
	o->pid = tgid;
	o->tid = (__u32)id;
	o->start_ns = bpf_ktime_get_ns();
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->sport = 0;
	o->outbound = outbound;
	o->pad = 0;
}

/* A reserved record with its owner filled in, or NULL (counted as lost). `now`: the record's
 * time, which callers that just filled an owner have already read (o->start_ns). */
static __always_inline struct vigil_net_record *new_record(__u32 kind, const struct vigil_sock_owner *o, __u64 now)
{
	struct vigil_net_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		return NULL;
	}
	vigil_header_at(&r->header, VIGIL_RECORD_NET, sizeof(*r), now);
	r->process = o->process;
	r->pid = o->pid;
	r->tid = o->tid;
	r->uid = o->uid;
	r->kind = kind;
	r->flags = 0;
	r->pad = 0;
	r->cookie = 0;
	r->bytes_sent = 0;
	r->bytes_received = 0;
	r->duration_ns = 0;
	return r;
}

static __always_inline void submit(struct vigil_net_record *r) { bpf_ringbuf_submit(r, vigil_wakeup_flags()); }

/* Counts a connect attempt towards its process's distinct destinations; reports the process
 * once per window when it reaches the threshold. Everything is counted here, in the kernel:
 * a scan costs one record, not one per probe. */
static __always_inline void count_scan(struct sock *sk, const struct vigil_sock_owner *o)
{
	if (!scan_threshold)
		return;
	__u64 window = o->start_ns / scan_window_ns;
	struct scan_dest d = {.tgid = o->pid};
	d.port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (sk->__sk_common.skc_family == VIGIL_AF_INET6)
		__builtin_memcpy(d.addr, &sk->__sk_common.skc_v6_daddr, 16);
	else
		map_v4(d.addr, sk->__sk_common.skc_daddr);
	__u64 *seen = bpf_map_lookup_elem(&scan_seen, &d);
	if (seen && *seen == window)
		return; /* this destination already counted in this window */
	bpf_map_update_elem(&scan_seen, &d, &window, BPF_ANY);

	struct scan_count *c = bpf_map_lookup_elem(&scan_counts, &d.tgid);
	if (!c || c->window != window) {
		struct scan_count fresh = {.window = window, .distinct = 1, .reported = 0};
		bpf_map_update_elem(&scan_counts, &d.tgid, &fresh, BPF_ANY);
		return;
	}
	c->distinct += 1;
	if (c->distinct < scan_threshold || c->reported)
		return;
	c->reported = 1;
	struct vigil_net_record *r = new_record(VIGIL_NET_SCAN, o, o->start_ns);
	if (!r)
		return;
	vigil_sock_read_btf(&r->sock, sk);
	r->bytes_sent = c->distinct;
	r->duration_ns = scan_window_ns;
	submit(r);
}

/* The listener key of `sk`'s local end; wildcard binds (0.0.0.0, ::) get the all-zero address. */
static __always_inline void listener_key(struct vigil_listener_key *k, struct sock *sk)
{
	k->netns = sk->__sk_common.skc_net.net->ns.inum;
	k->port = sk->__sk_common.skc_num;
	k->pad = 0;
	if (sk->__sk_common.skc_family == VIGIL_AF_INET6) {
		__builtin_memcpy(k->addr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
	} else if (sk->__sk_common.skc_rcv_saddr) {
		map_v4(k->addr, sk->__sk_common.skc_rcv_saddr);
	} else {
		__builtin_memset(k->addr, 0, 16);
	}
}

/* listen(), in the caller's context: remember who listens on this address and port. */
static __always_inline void listener_opened(struct sock *sk)
{
	struct vigil_listener l;
	owner_from_current(&l.owner, 0);
	l.owner.sport = sk->__sk_common.skc_num;
	l.sk = (__u64)sk;
	struct vigil_process *p = bpf_map_lookup_elem(&processes, &l.owner.pid);
	if (p)
		l.parent = p->parent;
	else
		__builtin_memset(&l.parent, 0, sizeof(l.parent));
	struct vigil_listener_key k;
	listener_key(&k, sk);
	bpf_map_update_elem(&listeners, &k, &l, BPF_ANY);
}

/* A listener closed: forget it, unless another socket (SO_REUSEPORT) holds the entry now.
 * Entries seeded from /proc carry no socket address and go with any close on their key. */
static __always_inline void listener_closed(struct sock *sk)
{
	struct vigil_listener_key k;
	listener_key(&k, sk);
	struct vigil_listener *l = bpf_map_lookup_elem(&listeners, &k);
	if (l && (l->sk == (__u64)sk || l->sk == 0))
		bpf_map_delete_elem(&listeners, &k);
}

/* A passive connection just established (softirq: no process is current). Reported as the
 * accept of the listener's owner: with the image it runs now if it exec'd since listen() (its
 * table entry has the same parent), else as recorded (it exited: its pid may belong to another
 * process by now). With no listener known, the event still goes out, without a process. */
static __always_inline void accepted_at_handshake(struct sock *sk, __u64 key)
{
	struct vigil_listener_key k;
	listener_key(&k, sk);
	struct vigil_listener *l = bpf_map_lookup_elem(&listeners, &k);
	if (!l) {
		__builtin_memset(k.addr, 0, 16);
		l = bpf_map_lookup_elem(&listeners, &k);
	}
	struct vigil_sock_owner o = {};
	if (l) {
		o = l->owner;
		struct vigil_process *p = bpf_map_lookup_elem(&processes, &o.pid);
		if (p && p->parent.ktime == l->parent.ktime && p->parent.pid == l->parent.pid)
			o.process = p->id;
	}
	o.start_ns = bpf_ktime_get_ns();
	o.sport = sk->__sk_common.skc_num;
	o.outbound = 0;
	bpf_map_update_elem(&tcp_owners, &key, &o, BPF_ANY);
	struct vigil_net_record *r = new_record(VIGIL_NET_ACCEPT, &o, o.start_ns);
	if (!r)
		return;
	vigil_sock_read_btf(&r->sock, sk);
	r->cookie = bpf_get_socket_cookie(sk);
	submit(r);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(net_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP) /* plain loads here: sk is BTF-typed (no helper calls) */
		return 0;
	__u64 key = (__u64)sk;

	if (newstate == TCP_SYN_SENT) {
		/* connect(), in the caller's context: remember who */
		struct vigil_sock_owner o;
		owner_from_current(&o, 1);
		bpf_map_update_elem(&tcp_owners, &key, &o, BPF_ANY);
		count_scan(sk, &o);
		return 0;
	}
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		if (accept_at_handshake)
			accepted_at_handshake(sk, key);
		else /* give it its cookie now, so accept (a classic tracepoint, which cannot ask
		      * for it) reads the same one from the socket */
			bpf_get_socket_cookie(sk);
		return 0;
	}
	if (accept_at_handshake && newstate == TCP_LISTEN) {
		listener_opened(sk);
		return 0;
	}
	if (accept_at_handshake && oldstate == TCP_LISTEN && newstate == TCP_CLOSE) {
		listener_closed(sk);
		return 0;
	}
	if (oldstate != TCP_SYN_SENT && newstate != TCP_CLOSE)
		return 0;

	struct vigil_sock_owner *o = bpf_map_lookup_elem(&tcp_owners, &key);
	if (!o)
		return 0;
	bool handshake = oldstate == TCP_SYN_SENT;
	if (handshake && newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	struct vigil_net_record *r = new_record(handshake ? VIGIL_NET_CONNECT : VIGIL_NET_CLOSE, o, bpf_ktime_get_ns());
	if (r) {
		vigil_sock_read_btf(&r->sock, sk);
		r->cookie = bpf_get_socket_cookie(sk);
		if (handshake && newstate == TCP_CLOSE)
			r->flags |= VIGIL_NETF_FAILED;
		if (handshake)
			o->sport = r->sock.sport; /* bound by now; gone again when the close is seen */
		if (r->sock.dport == 53 || r->sock.sport == 53) {
			/* DNS over TCP: the DNS programs find the owner by cookie (the key copied to the
			 * stack: 6.1's verifier takes no ring-buffer memory as a map key) */
			__u64 cookie = r->cookie;
			if (newstate == TCP_CLOSE)
				bpf_map_delete_elem(&cookie_owners, &cookie);
			else if (handshake)
				bpf_map_update_elem(&cookie_owners, &cookie, o, BPF_ANY);
		} else if (!r->sock.sport)
			r->sock.sport = o->sport;
		if (!handshake) {
			struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
			if (tp) {
				r->bytes_sent = tp->bytes_acked;
				r->bytes_received = tp->bytes_received;
			}
			r->duration_ns = r->header.ktime_ns - o->start_ns;
		}
		submit(r);
	}
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&tcp_owners, &key);
	return 0;
}

/* Scratch for the accept path's one-copy socket read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_sock_copy);
} sock_copy SEC(".maps");

/* The socket behind descriptor `fd` of the current task (accept's result), or NULL. */
static __always_inline struct sock *fd_sock(long fd)
{
	struct file *f = vigil_fd_file(bpf_get_current_task_btf(), fd);
	if (!f)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* A socket accept() just returned, in the accepting process's context. */
static __always_inline int on_accepted(struct sock *sk)
{
	__u32 zero = 0;
	struct vigil_sock_copy *c = bpf_map_lookup_elem(&sock_copy, &zero);
	if (!sk || !c)
		return 0;
	struct vigil_sock_data d;
	vigil_sock_read_copy(&d, sk, c);
	if (d.protocol != IPPROTO_TCP)
		return 0;
	struct vigil_sock_owner o;
	owner_from_current(&o, 0);
	o.sport = d.sport;
	__u64 key = (__u64)sk;
	bpf_map_update_elem(&tcp_owners, &key, &o, BPF_ANY);
	struct vigil_net_record *r = new_record(VIGIL_NET_ACCEPT, &o, o.start_ns);
	if (!r)
		return 0;
	r->sock = d;
	r->cookie = ((struct sock_common *)c->common)->skc_cookie.counter;
	submit(r);
	return 0;
}

/* Where trampolines work (the loader keeps one of the two ways): inet_csk_accept's return.
 * Any enabled syscall tracepoint sends every syscall on the machine through the kernel's
 * tracing path (about 58 ns per syscall on 6.18, BENCHMARKS.md), which the accept exit
 * tracepoints below cost everyone just to see accepts. The return value comes through
 * bpf_get_func_ret: the function's arguments differ between kernels (6.10 folded three
 * into struct proto_accept_arg). */
SEC("fexit/inet_csk_accept")
int net_accept_fexit(void *ctx)
{
	__u64 sk = 0;
	bpf_get_func_ret(ctx, &sk);
	return sk ? on_accepted((struct sock *)sk) : 0;
}

static __always_inline int on_accept_exit(long ret)
{
	struct sock *sk = ret >= 0 ? fd_sock(ret) : NULL;
	return sk ? on_accepted(sk) : 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int net_accept4(struct trace_event_raw_sys_exit *ctx) { return on_accept_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept")
int net_accept(struct trace_event_raw_sys_exit *ctx) { return on_accept_exit(ctx->ret); }

/* UDP: report a socket's first datagram (or connect) to each peer; never denies. */
static __always_inline int udp_peer(struct bpf_sock_addr *ctx, bool v6)
{
	if (ctx->protocol != IPPROTO_UDP)
		return 1;
	struct vigil_sock_data d;
	vigil_sock_addr_read(&d, ctx, v6);
	struct udp_peer_key k = {};
	k.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(k.addr, d.daddr, 16);
	k.port = d.dport;
	if (bpf_map_lookup_elem(&udp_peers, &k))
		return 1;
	__u8 one = 1;
	bpf_map_update_elem(&udp_peers, &k, &one, BPF_ANY);

	struct vigil_sock_owner o;
	owner_from_current(&o, 1);
	bpf_map_update_elem(&cookie_owners, &k.cookie, &o, BPF_ANY);
	struct vigil_net_record *r = new_record(VIGIL_NET_UDP, &o, o.start_ns);
	if (!r)
		return 1;
	d.state = 0; /* a UDP socket's state says nothing here */
	r->sock = d;
	r->cookie = k.cookie;
	submit(r);
	return 1;
}

SEC("cgroup/connect4")
int net_udp_connect4(struct bpf_sock_addr *ctx) { return udp_peer(ctx, false); }

SEC("cgroup/connect6")
int net_udp_connect6(struct bpf_sock_addr *ctx) { return udp_peer(ctx, true); }

SEC("cgroup/sendmsg4")
int net_udp_sendmsg4(struct bpf_sock_addr *ctx) { return udp_peer(ctx, false); }

SEC("cgroup/sendmsg6")
int net_udp_sendmsg6(struct bpf_sock_addr *ctx) { return udp_peer(ctx, true); }

/* DNS: a packet to or from port 53, with its socket's owner. cgroup_skb data starts at the IP header. */
static __always_inline void dns_packet(struct __sk_buff *skb, __u32 direction)
{
	/* Most packets are not DNS: decide from the linear headers with direct loads (no helper
	 * call), and copy anything only for port 53. */
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct vigil_sock_data d = {};
	__u32 off;
	__u16 *ports;
	struct iphdr *ip = data;
	if ((void *)(ip + 1) > end)
		return;
	if (ip->version == 4) {
		off = ip->ihl * 4;
		if (off < sizeof(*ip) || off > 60)
			return;
		ports = data + off;
		if ((void *)(ports + 2) > end)
			return;
		d.family = VIGIL_AF_INET;
		d.protocol = ip->protocol;
		if (d.protocol != IPPROTO_UDP && d.protocol != IPPROTO_TCP)
			return;
		d.sport = bpf_ntohs(ports[0]);
		d.dport = bpf_ntohs(ports[1]);
		if (d.sport != 53 && d.dport != 53)
			return;
		map_v4(d.saddr, ip->saddr);
		map_v4(d.daddr, ip->daddr);
	} else if (ip->version == 6) {
		struct ipv6hdr *ip6 = data;
		off = sizeof(*ip6);
		ports = data + off;
		if ((void *)(ports + 2) > end)
			return;
		d.family = VIGIL_AF_INET6;
		d.protocol = ip6->nexthdr; /* extension headers are not followed */
		if (d.protocol != IPPROTO_UDP && d.protocol != IPPROTO_TCP)
			return;
		d.sport = bpf_ntohs(ports[0]);
		d.dport = bpf_ntohs(ports[1]);
		if (d.sport != 53 && d.dport != 53)
			return;
		__builtin_memcpy(d.saddr, &ip6->saddr, 16);
		__builtin_memcpy(d.daddr, &ip6->daddr, 16);
	} else {
		return;
	}
	if (d.protocol == IPPROTO_UDP) {
		off += 8;
	} else {
		__u8 doff = 0;
		if (bpf_skb_load_bytes(skb, off + 12, &doff, 1) < 0)
			return;
		off += (doff >> 4) * 4 + 2; /* the TCP header, then DNS-over-TCP's length prefix */
	}
	if (off >= skb->len)
		return; /* no message in this packet (a handshake or an ACK) */
	__u32 len = skb->len - off;

	__u64 cookie = bpf_get_socket_cookie(skb);
	struct vigil_sock_owner *o = bpf_map_lookup_elem(&cookie_owners, &cookie);
	struct vigil_dns_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		return;
	}
	vigil_header(&r->header, VIGIL_RECORD_DNS, sizeof(*r));
	if (o) {
		r->process = o->process;
		r->pid = o->pid;
	} else {
		r->process.ktime = 0;
		r->process.pid = 0;
		r->process.pad = 0;
		r->pid = 0;
	}
	r->direction = direction;
	r->cookie = cookie;
	r->sock = d;
	r->orig_len = len;
	/* size - 1 bounded to [0, 511] in one register: the verifier needs the size >= 1 on the
	 * call's own register (6.1's does not carry a separate "!= 0" check over) */
	__u32 last = (len > VIGIL_DNS_BYTES ? VIGIL_DNS_BYTES : len) - 1;
	vigil_opaque(last);
	r->len = 0;
	if (last < VIGIL_DNS_BYTES && bpf_skb_load_bytes(skb, off, r->data, last + 1) == 0)
		r->len = last + 1;
	submit((struct vigil_net_record *)r);
}

SEC("cgroup_skb/egress")
int net_dns_egress(struct __sk_buff *skb)
{
	dns_packet(skb, VIGIL_DNS_EGRESS);
	return 1;
}

SEC("cgroup_skb/ingress")
int net_dns_ingress(struct __sk_buff *skb)
{
	dns_packet(skb, VIGIL_DNS_INGRESS);
	return 1;
}
