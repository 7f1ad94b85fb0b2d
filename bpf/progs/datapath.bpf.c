// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The identity-aware datapath: tc programs on the host side of each endpoint's veth.
 *
 *   dp_from_endpoint  tc ingress: packets the endpoint sends (its egress policy)
 *   dp_to_endpoint    tc egress:  packets the endpoint receives (its ingress policy)
 *
 * Per IPv4 packet: the peer's identity from the ipcache (LPM), then conntrack; a packet of a
 * tracked flow (either direction) passes without a policy lookup, unless policy changed since
 * the flow was last checked (config.revision), in which case it is checked once more. A new
 * flow costs two LPM lookups in the policy map (the peer's identity, then the wildcard), the
 * same whatever the number of rules; a deny in either wins.
 *
 * Flows are tied to the process that opened them: cgroup/connect4 stores the connecting
 * process in the socket's storage, sock_ops (TCP_CONNECT_CB, once the source port is chosen)
 * copies it to flow_owners under the full 4-tuple, which the tc programs look up when the flow
 * starts. UDP owners are kept under (destination, protocol) since the source port may not be
 * chosen at connect.
 */
#include "vigil_bpf.h"
#include "vigil_shared_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_OK     0
#define TC_ACT_SHOT   2
#define ETH_P_IP      0x0800
#define ETH_P_IPV6    0x86DD
#define VIGIL_TCP_FIN 0x01
#define VIGIL_TCP_SYN 0x02
#define VIGIL_TCP_RST 0x04
#define VIGIL_TCP_ACK 0x10

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct vigil_endpoint_info);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct vigil_ipcache_key);
	__type(value, struct vigil_ipcache_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__type(key, struct vigil_policy_key);
	__type(value, struct vigil_policy_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_datapath_config);
} dp_config SEC(".maps");

#define CT_CLOSE_REPORTED (1u << 0)
#define CT_FIN_ORIGINAL	  (1u << 1)
#define CT_FIN_REPLY	  (1u << 2)

struct ct_entry {
	__u64 revision;
	__u64 packets;
	__u64 bytes;
	__u32 peer_identity;
	__u32 rule_id;
	__u32 flags;
	__u32 pad;
	struct vigil_flow_owner owner;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct vigil_flow_tuple);
	__type(value, struct ct_entry);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_flow_tuple);
	__type(value, struct vigil_flow_owner);
} flow_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct vigil_flow_owner);
} socket_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Drop reports per tuple: at most one a second (a flood of denied packets must not flood
 * the ring buffer or the SIEM; the first drop of each flow is always reported). */
#define DROP_REPORT_INTERVAL_NS 1000000000ull

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vigil_flow_tuple);
	__type(value, __u64);
} drop_reported SEC(".maps");

static __always_inline bool drop_worth_reporting(const struct vigil_flow_tuple *t, __u8 dir)
{
	struct vigil_flow_tuple k = *t;
	k.scope = dir;
	k.pad = 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&drop_reported, &k);
	if (last && now - *last < DROP_REPORT_INTERVAL_NS)
		return false;
	bpf_map_update_elem(&drop_reported, &k, &now, BPF_ANY);
	return true;
}

struct packet {
	struct vigil_flow_tuple tuple; /* as sent: saddr = sender; scope unset */
	__u32 len;
	__u8 tcp_flags;
	__u8 ipv6;
};

/* Parses Ethernet + IPv4 + the first L4 header with direct packet access. 0: parsed; 1: not
 * IP (ARP and the like: let it pass); 2: IPv6. */
static __always_inline int parse(struct __sk_buff *skb, struct packet *p)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return 1;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return 2;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return 1;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return 1;
	__u32 ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return 1;
	p->tuple.saddr = ip->saddr;
	p->tuple.daddr = ip->daddr;
	p->tuple.protocol = ip->protocol;
	p->len = skb->len;
	/* later fragments have no L4 header: they match as port 0 */
	if (ip->frag_off & bpf_htons(0x1fff))
		return 0;
	void *l4 = (void *)ip + ihl;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *t = l4;
		if ((void *)(t + 1) > end)
			return 0;
		p->tuple.sport = t->source;
		p->tuple.dport = t->dest;
		p->tcp_flags = ((__u8 *)t)[13];
	} else if (ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_SCTP) {
		__u16 *ports = l4;
		if ((void *)(ports + 2) > end)
			return 0;
		p->tuple.sport = ports[0];
		p->tuple.dport = ports[1];
	}
	return 0;
}

static __always_inline __u32 identity_of(__u32 addr)
{
	struct vigil_ipcache_key k = {.prefixlen = 64, .family = 4};
	__builtin_memcpy(k.addr, &addr, 4);
	struct vigil_ipcache_value *v = bpf_map_lookup_elem(&ipcache, &k);
	return v ? v->identity : 2; /* world */
}

struct verdict {
	__u32 rule_id;
	__u32 drop_reason; /* 0: allowed */
	__u32 audit;	   /* the drop is only reported: forward (audit mode) */
};

/* The endpoint's policy for a peer, protocol and destination port in `dir`. Of the entries
 * for the peer and for any peer, an enforced deny wins, then an audit-mode deny, then an
 * allow; with none, the endpoint's default for the direction. */
static __always_inline struct verdict decide(const struct vigil_endpoint_info *ep, __u8 dir, __u32 peer, __u8 proto,
					     __u16 port)
{
	struct verdict out = {};
	struct vigil_policy_key k = {
		.prefixlen = VIGIL_POLICY_KEY_BITS_FULL,
		.endpoint_id = ep->endpoint_id,
		.direction = dir,
		.identity = peer,
		.protocol = proto,
		.port = port,
	};
	struct vigil_policy_value *exact = bpf_map_lookup_elem(&policy, &k);
	k.identity = 0;
	struct vigil_policy_value *wild = bpf_map_lookup_elem(&policy, &k);
	__u32 audit_all = ep->flags & VIGIL_EPF_AUDIT_ALL ? 1 : 0;
	if (exact && exact->verdict == VIGIL_VERDICT_DENY) {
		out.rule_id = exact->rule_id;
		out.drop_reason = VIGIL_DROP_POLICY_DENY;
		out.audit = audit_all;
	} else if (wild && wild->verdict == VIGIL_VERDICT_DENY) {
		out.rule_id = wild->rule_id;
		out.drop_reason = VIGIL_DROP_POLICY_DENY;
		out.audit = audit_all;
	} else if (exact && exact->verdict == VIGIL_VERDICT_AUDIT_DENY) {
		out.rule_id = exact->rule_id;
		out.drop_reason = VIGIL_DROP_POLICY_DENY;
		out.audit = 1;
	} else if (wild && wild->verdict == VIGIL_VERDICT_AUDIT_DENY) {
		out.rule_id = wild->rule_id;
		out.drop_reason = VIGIL_DROP_POLICY_DENY;
		out.audit = 1;
	} else if (exact) {
		out.rule_id = exact->rule_id;
	} else if (wild) {
		out.rule_id = wild->rule_id;
	} else if (ep->flags & (dir == VIGIL_DIR_INGRESS ? VIGIL_EPF_ENFORCE_INGRESS : VIGIL_EPF_ENFORCE_EGRESS)) {
		out.drop_reason = VIGIL_DROP_POLICY;
		out.audit = audit_all;
	} else if (ep->flags & (dir == VIGIL_DIR_INGRESS ? VIGIL_EPF_AUDIT_INGRESS : VIGIL_EPF_AUDIT_EGRESS)) {
		out.drop_reason = VIGIL_DROP_POLICY;
		out.audit = 1;
	}
	return out;
}

static __always_inline __u64 current_revision(void)
{
	__u32 zero = 0;
	struct vigil_datapath_config *c = bpf_map_lookup_elem(&dp_config, &zero);
	return c ? c->revision : 0;
}

static __always_inline void flow_event(__u32 kind, const struct packet *p, const struct vigil_endpoint_info *ep,
				       __u32 ifindex, __u8 dir, __u32 peer, struct verdict v,
				       const struct vigil_flow_owner *owner, const struct ct_entry *ct, __u8 is_reply)
{
	struct vigil_flow_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		return;
	}
	vigil_header(&r->header, VIGIL_RECORD_FLOW, sizeof(*r));
	if (owner)
		r->owner = *owner;
	else
		__builtin_memset(&r->owner, 0, sizeof(r->owner));
	r->tuple = p->tuple;
	r->tuple.scope = dir;
	r->kind = kind;
	r->drop_reason = v.drop_reason;
	r->endpoint_id = ep->endpoint_id;
	r->ifindex = ifindex;
	/* the endpoint is the source of what it sends and the destination of what it receives */
	__u8 sending = dir == VIGIL_DIR_EGRESS;
	r->src_identity = sending ? ep->identity : peer;
	r->dst_identity = sending ? peer : ep->identity;
	r->rule_id = v.rule_id;
	r->direction = dir;
	r->tcp_flags = p->tcp_flags;
	r->is_reply = is_reply;
	r->pad = 0;
	r->packets = ct ? ct->packets : 1;
	r->bytes = ct ? ct->bytes : p->len;
	bpf_ringbuf_submit(r, vigil_wakeup_flags());
}

static __always_inline const struct vigil_flow_owner *owner_of(const struct vigil_flow_tuple *t)
{
	struct vigil_flow_tuple k = *t;
	k.scope = 0;
	k.pad = 0;
	struct vigil_flow_owner *o = bpf_map_lookup_elem(&flow_owners, &k);
	if (o)
		return o;
	k.saddr = 0;
	k.sport = 0;
	return bpf_map_lookup_elem(&flow_owners, &k);
}

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	__u32 ifindex = skb->ifindex;
	struct vigil_endpoint_info *ep = bpf_map_lookup_elem(&endpoints, &ifindex);
	if (!ep)
		return TC_ACT_OK;
	struct packet p = {};
	int kind = parse(skb, &p);
	if (kind == 1)
		return TC_ACT_OK;
	struct verdict v = {};
	if (kind == 2) {
		/* endpoints are given IPv4 only; IPv6 must not slip past an enforcing policy */
		__u32 enforce = dir == VIGIL_DIR_INGRESS ? VIGIL_EPF_ENFORCE_INGRESS : VIGIL_EPF_ENFORCE_EGRESS;
		__u32 audit = dir == VIGIL_DIR_INGRESS ? VIGIL_EPF_AUDIT_INGRESS : VIGIL_EPF_AUDIT_EGRESS;
		if (ep->flags & (enforce | audit)) {
			v.drop_reason = VIGIL_DROP_UNSUPPORTED_L3;
			__u8 only_audit = !(ep->flags & enforce) || (ep->flags & VIGIL_EPF_AUDIT_ALL);
			if (drop_worth_reporting(&p.tuple, dir))
				flow_event(only_audit ? VIGIL_FLOW_AUDIT : VIGIL_FLOW_DROP, &p, ep, ifindex, dir, 0, v,
					   NULL, NULL, 0);
			return only_audit ? TC_ACT_OK : TC_ACT_SHOT;
		}
		return TC_ACT_OK;
	}
	__u8 opposite = dir == VIGIL_DIR_INGRESS ? VIGIL_DIR_EGRESS : VIGIL_DIR_INGRESS;
	/* the peer is the far side: the destination of what the endpoint sends, the source of what it receives */
	__u32 peer_addr = dir == VIGIL_DIR_EGRESS ? p.tuple.daddr : p.tuple.saddr;

	struct vigil_flow_tuple key = p.tuple;
	key.scope = dir;
	__u8 is_reply = 0;
	struct ct_entry *ct = bpf_map_lookup_elem(&conntrack, &key);
	if (!ct) {
		key.saddr = p.tuple.daddr;
		key.daddr = p.tuple.saddr;
		key.sport = p.tuple.dport;
		key.dport = p.tuple.sport;
		key.scope = opposite;
		ct = bpf_map_lookup_elem(&conntrack, &key);
		is_reply = ct != NULL;
	}
	/* a fresh SYN reusing the tuple of a finished connection starts a new flow */
	if (ct && (ct->flags & CT_CLOSE_REPORTED) && (p.tcp_flags & (VIGIL_TCP_SYN | VIGIL_TCP_ACK)) == VIGIL_TCP_SYN) {
		bpf_map_delete_elem(&conntrack, &key);
		ct = NULL;
		is_reply = 0;
	}
	if (ct) {
		__u64 revision = current_revision();
		if (ct->revision != revision) {
			/* policy changed since this flow was checked: check it again, as its first packet was */
			__u8 flow_dir = is_reply ? opposite : dir;
			__u16 port = is_reply ? p.tuple.sport : p.tuple.dport;
			__u32 peer = identity_of(peer_addr);
			v = decide(ep, flow_dir, peer, p.tuple.protocol, port);
			/* an audited flow stays forwarded (reported once, when it started) */
			if (v.drop_reason && !v.audit) {
				flow_event(VIGIL_FLOW_DROP, &p, ep, ifindex, dir, peer, v, &ct->owner, NULL, is_reply);
				bpf_map_delete_elem(&conntrack, &key);
				return TC_ACT_SHOT;
			}
			ct->revision = revision;
			ct->peer_identity = peer;
			ct->rule_id = v.audit ? 0 : v.rule_id; /* an audited flow's close names no rule */
		}
		__sync_fetch_and_add(&ct->packets, 1);
		__sync_fetch_and_add(&ct->bytes, p.len);
		if (p.tcp_flags & (VIGIL_TCP_FIN | VIGIL_TCP_RST)) {
			__u32 flags = ct->flags | (p.tcp_flags & VIGIL_TCP_RST ? CT_FIN_ORIGINAL | CT_FIN_REPLY
						   : is_reply		       ? CT_FIN_REPLY
									       : CT_FIN_ORIGINAL);
			if (!(flags & CT_CLOSE_REPORTED) &&
			    (flags & (CT_FIN_ORIGINAL | CT_FIN_REPLY)) == (CT_FIN_ORIGINAL | CT_FIN_REPLY)) {
				flags |= CT_CLOSE_REPORTED;
				ct->flags = flags;
				v.rule_id = ct->rule_id;
				flow_event(VIGIL_FLOW_CLOSE, &p, ep, ifindex, dir, ct->peer_identity, v, &ct->owner, ct,
					   is_reply);
			} else {
				ct->flags = flags;
			}
		}
		return TC_ACT_OK;
	}

	__u32 peer = identity_of(peer_addr);
	v = decide(ep, dir, peer, p.tuple.protocol, p.tuple.dport);
	const struct vigil_flow_owner *owner = owner_of(&p.tuple);
	if (v.drop_reason && !v.audit) {
		if (drop_worth_reporting(&p.tuple, dir))
			flow_event(VIGIL_FLOW_DROP, &p, ep, ifindex, dir, peer, v, owner, NULL, 0);
		return TC_ACT_SHOT;
	}
	struct ct_entry fresh = {
		.revision = current_revision(),
		.packets = 1,
		.bytes = p.len,
		.peer_identity = peer,
		.rule_id = v.audit ? 0 : v.rule_id, /* an audited flow's close names no rule */
	};
	if (owner)
		fresh.owner = *owner;
	key = p.tuple;
	key.scope = dir;
	bpf_map_update_elem(&conntrack, &key, &fresh, BPF_ANY);
	flow_event(v.audit ? VIGIL_FLOW_AUDIT : VIGIL_FLOW_NEW, &p, ep, ifindex, dir, peer, v, owner, NULL, 0);
	return TC_ACT_OK;
}

SEC("tc")
int dp_from_endpoint(struct __sk_buff *skb) { return handle(skb, VIGIL_DIR_EGRESS); }

SEC("tc")
int dp_to_endpoint(struct __sk_buff *skb) { return handle(skb, VIGIL_DIR_INGRESS); }

/* The connecting process, in its own context. */
static __always_inline void owner_from_current(struct vigil_flow_owner *o)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	vigil_exec_id_of(&o->process, bpf_map_lookup_elem(&processes, &tgid), tgid);
	o->pid = tgid;
	o->tid = (__u32)id;
	o->cgroup_id = bpf_get_current_cgroup_id();
}

SEC("cgroup/connect4")
int dp_owner_connect4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return 1;
	struct vigil_flow_owner o;
	owner_from_current(&o);
	if (ctx->protocol == IPPROTO_TCP) {
		struct vigil_flow_owner *stored =
			bpf_sk_storage_get(&socket_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (stored)
			*stored = o;
		return 1;
	}
	struct vigil_flow_tuple t = {.daddr = ctx->user_ip4, .dport = (__u16)ctx->user_port, .protocol = ctx->protocol};
	bpf_map_update_elem(&flow_owners, &t, &o, BPF_ANY);
	return 1;
}

SEC("cgroup/sendmsg4")
int dp_owner_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct vigil_flow_owner o;
	owner_from_current(&o);
	struct vigil_flow_tuple t = {.daddr = ctx->user_ip4, .dport = (__u16)ctx->user_port, .protocol = ctx->protocol};
	bpf_map_update_elem(&flow_owners, &t, &o, BPF_ANY);
	return 1;
}

/* TCP: the source port is known once tcp_connect runs; file the owner under the 4-tuple. */
SEC("sockops")
int dp_owner_sockops(struct bpf_sock_ops *ctx)
{
	if (ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB || ctx->family != 2 /* AF_INET */)
		return 1;
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return 1;
	struct vigil_flow_owner *o = bpf_sk_storage_get(&socket_owners, sk, 0, 0);
	if (!o)
		return 1;
	struct vigil_flow_tuple t = {
		.saddr = ctx->local_ip4,
		.daddr = ctx->remote_ip4,
		.sport = bpf_htons((__u16)ctx->local_port),
		.protocol = IPPROTO_TCP,
	};
	/* remote_port is network order; some kernels hand it over shifted into the top half */
	__u32 rp = ctx->remote_port;
	t.dport = (__u16)((rp >> 16) | (rp & 0xffff));
	bpf_map_update_elem(&flow_owners, &t, o, BPF_ANY);
	return 1;
}
