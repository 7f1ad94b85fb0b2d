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
 *
 * toFQDNs: a DNS answer arriving for an endpoint with toFQDNs rules, on a UDP or TCP flow to
 * port 53 that a DNS-visible rule (`rules.dns`) allowed, is parsed here before the endpoint receives
 * it; its question name is looked up in fqdn_names and each A record's address is remembered
 * for the endpoint in fqdn_ips until max(TTL, the configured minimum). A new egress flow that
 * no entry allows is then allowed when a selector remembered for its address has an allow entry.
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
#define DNS_PORT      53
#define DNS_MSG_MAX   2048 /* DNS message bytes parsed (EDNS answers reach 1232 and more); a power of 2 */

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
#define CT_DNS		  (1u << 3) /* allowed by a DNS-visible rule: its answers feed toFQDNs */
#define CT_FQDN		  (1u << 4) /* allowed because a toFQDNs name resolved to the peer */

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
	__u16 l4_offset; /* from the start of the frame */
	__u8 tcp_flags;
	__u8 ipv6;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vigil_fqdn_name_key);
	__type(value, __u32); /* selector identity */
} fqdn_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vigil_fqdn_name_key);
	__type(value, struct vigil_fqdn_label_patterns);
} fqdn_label_patterns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_fqdn_ip_key);
	__type(value, struct vigil_fqdn_ip_value);
} fqdn_ips SEC(".maps");

/* State of one DNS message's parse, shared with the bpf_loop callbacks. It lives in the per-CPU
 * scratch map, not on the stack: the verifier does not follow values through map memory, so
 * each callback is verified for any position at once (followed on the stack, every position
 * was a state of its own and plain or bpf_loop loops both exceeded the verifier's budget);
 * every access is bounded by masks and checks instead. */
struct dns_parse {
	__u32 pos; /* next byte of the message */
	__u32 len; /* bytes of the message copied */
	__u32 n;   /* characters of the name so far */
	__u32 label_left;
	__u32 first_dot;
	__u32 endpoint_id;
	__u32 answers;
	/* the name itself, "*." + its rest, "*", then the first-label patterns */
	__u32 selectors[3 + VIGIL_FQDN_LABEL_PATTERNS];
	__u8 done;
	__u8 failed;
	__u8 pad[2];
	__u64 now;
	__u64 min_ttl_ns;
};

/* A DNS message and the names built from it: too big for the stack. */
struct dns_scratch {
	struct dns_parse d;
	__u8 msg[DNS_MSG_MAX];
	struct vigil_fqdn_name_key name; /* the question, dotted, lowercase */
	struct vigil_fqdn_name_key key;	 /* the forms looked up in fqdn_names */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} dns_scratches SEC(".maps");

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
	p->l4_offset = sizeof(*eth) + ihl;
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
	__u32 ct_flags;	   /* CT_DNS, CT_FQDN: what the allowing entry makes of the flow */
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
	} else if (exact || wild) {
		out.rule_id = exact ? exact->rule_id : wild->rule_id;
		/* DNS-visible when either allowing entry says so (a port-53 rule for any peer beside
		 * a broader one for this peer) */
		__u8 flags = (exact ? exact->flags : 0) | (wild ? wild->flags : 0);
		out.ct_flags = flags & VIGIL_POLICY_F_DNS ? CT_DNS : 0;
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

/* What no entry allowed (default deny) may still be allowed by a toFQDNs rule whose name
 * resolved to the peer for this endpoint. Denies are never overridden. `established`: the flow
 * was allowed this way before and is re-checked after a policy change: it keeps going while a
 * rule for its selector exists, even after the answer's TTL (as the connection outlives it). */
static __always_inline void fqdn_allow(const struct vigil_endpoint_info *ep, __u32 daddr, __u8 proto, __u16 port,
				       bool established, struct verdict *v)
{
	if (!(ep->flags & VIGIL_EPF_FQDN) || v->drop_reason != VIGIL_DROP_POLICY)
		return;
	struct vigil_fqdn_ip_key fk = {.endpoint_id = ep->endpoint_id, .addr = daddr};
	struct vigil_fqdn_ip_value *f = bpf_map_lookup_elem(&fqdn_ips, &fk);
	if (!f)
		return;
	__u64 now = bpf_ktime_get_ns();
	struct vigil_policy_key k = {
		.prefixlen = VIGIL_POLICY_KEY_BITS_FULL,
		.endpoint_id = ep->endpoint_id,
		.direction = VIGIL_DIR_EGRESS,
		.protocol = proto,
		.port = port,
	};
	for (int i = 0; i < VIGIL_FQDN_SLOTS; i++) {
		if (!f->selector[i] || (!established && f->expires_ns[i] < now))
			continue;
		k.identity = f->selector[i];
		struct vigil_policy_value *e = bpf_map_lookup_elem(&policy, &k);
		if (e && e->verdict == VIGIL_VERDICT_ALLOW) {
			v->drop_reason = 0;
			v->audit = 0;
			v->rule_id = e->rule_id;
			v->ct_flags = CT_FQDN;
			return;
		}
	}
}

static __always_inline __u8 dns_byte(const struct dns_scratch *s, __u32 pos) { return s->msg[pos & (DNS_MSG_MAX - 1)]; }

static __always_inline __u16 dns_u16(const struct dns_scratch *s, __u32 pos)
{
	return (__u16)dns_byte(s, pos) << 8 | dns_byte(s, pos + 1);
}

/* Remembers `selector` for (endpoint, addr) until `expires`: in its own slot, else an empty or
 * lapsed one, else in place of the one that lapses first. A global function: verified once, not
 * once per path of its callers (inlined, its branches multiplied theirs past the verifier's budget). */
__attribute__((noinline)) int fqdn_remember(struct vigil_fqdn_ip_value *v, __u32 selector, __u64 expires, __u64 now)
{
	if (!v)
		return 0;
	int slot = -1, soonest = 0;
	for (int i = 0; i < VIGIL_FQDN_SLOTS; i++) {
		if (v->selector[i] == selector) {
			slot = i;
			break;
		}
		if (slot < 0 && (!v->selector[i] || v->expires_ns[i] < now))
			slot = i;
		if (v->expires_ns[i] < v->expires_ns[soonest & (VIGIL_FQDN_SLOTS - 1)])
			soonest = i;
	}
	if (slot < 0)
		slot = soonest;
	slot &= VIGIL_FQDN_SLOTS - 1;
	if (v->selector[slot] != selector || v->expires_ns[slot] < expires)
		v->expires_ns[slot] = expires;
	v->selector[slot] = selector;
	return 0;
}

static __always_inline struct dns_scratch *dns_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&dns_scratches, &zero);
}

/* One byte of the question's name (wire labels) into the dotted, lowercase name. */
static long dns_name_byte(__u64 index, void *arg)
{
	struct dns_scratch *s = dns_scratch();
	if (!s)
		return 1;
	struct dns_parse *d = &s->d;
	if (d->pos >= d->len) {
		d->failed = 1;
		return 1;
	}
	__u8 c = dns_byte(s, d->pos++);
	if (d->label_left == 0) {
		if (c == 0) {
			d->done = 1;
			return 1;
		}
		if (c & 0xc0 || d->n + c + 1 >= VIGIL_FQDN_NAME_MAX) {
			d->failed = 1; /* a pointer (none in a question), or too long */
			return 1;
		}
		if (d->n > 0) {
			if (!d->first_dot)
				d->first_dot = d->n;
			s->name.name[d->n++ & (VIGIL_FQDN_NAME_MAX - 1)] = '.';
		}
		d->label_left = c;
		return 0;
	}
	if (c >= 'A' && c <= 'Z')
		c += 'a' - 'A';
	else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
		d->failed = 1;
		return 1;
	}
	s->name.name[d->n++ & (VIGIL_FQDN_NAME_MAX - 1)] = c;
	d->label_left--;
	return 0;
}

/* One label (or the pointer ending) of a name being skipped. */
static long dns_skip_label(__u64 index, void *arg)
{
	struct dns_scratch *s = dns_scratch();
	if (!s)
		return 1;
	struct dns_parse *d = &s->d;
	if (d->pos >= d->len)
		return 1;
	__u8 l = dns_byte(s, d->pos);
	if ((l & 0xc0) == 0xc0) {
		d->pos += 2;
		d->done = 1;
		return 1;
	}
	d->pos += l + 1;
	if (l == 0) {
		d->done = 1;
		return 1;
	}
	return 0;
}

/* One answer record: an A record's address is remembered for the selectors that named the question. */
static long dns_answer(__u64 index, void *arg)
{
	struct dns_scratch *s = dns_scratch();
	if (!s)
		return 1;
	struct dns_parse *d = &s->d;
	if (index >= d->answers)
		return 1;
	/* the owner name: a pointer (usual) or labels */
	d->done = 0;
	bpf_loop(VIGIL_FQDN_NAME_MAX, dns_skip_label, NULL, 0);
	__u32 pos = d->pos;
	if (!d->done || pos + 10 > d->len)
		return 1;
	__u16 type = dns_u16(s, pos), class = dns_u16(s, pos + 2), rdlen = dns_u16(s, pos + 8);
	__u32 ttl = (__u32)dns_u16(s, pos + 4) << 16 | dns_u16(s, pos + 6);
	pos += 10;
	d->pos = pos + rdlen;
	if (type != 1 || class != 1 || rdlen != 4 || pos + 4 > d->len)
		return 0;
	__u32 addr = 0;
	__u8 *ab = (__u8 *)&addr;
	ab[0] = dns_byte(s, pos);
	ab[1] = dns_byte(s, pos + 1);
	ab[2] = dns_byte(s, pos + 2);
	ab[3] = dns_byte(s, pos + 3);
	__u64 ttl_ns = (__u64)ttl * 1000000000ull;
	__u64 expires = d->now + (ttl_ns > d->min_ttl_ns ? ttl_ns : d->min_ttl_ns);
	struct vigil_fqdn_ip_key ik = {.endpoint_id = d->endpoint_id, .addr = addr};
	struct vigil_fqdn_ip_value v = {};
	struct vigil_fqdn_ip_value *old = bpf_map_lookup_elem(&fqdn_ips, &ik);
	if (old)
		v = *old;
	__u32 first = 0;
	for (int i = 0; i < 3 + VIGIL_FQDN_LABEL_PATTERNS; i++) {
		if (!d->selectors[i])
			continue;
		fqdn_remember(&v, d->selectors[i], expires, d->now);
		if (!first)
			first = d->selectors[i];
	}
	bpf_map_update_elem(&fqdn_ips, &ik, &v, BPF_ANY);
	struct vigil_fqdn_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__u32 zero = 0;
		__u64 *lostn = bpf_map_lookup_elem(&lost, &zero);
		if (lostn)
			__sync_fetch_and_add(lostn, 1);
		return 0;
	}
	vigil_header(&r->header, VIGIL_RECORD_FQDN, sizeof(*r));
	r->endpoint_id = d->endpoint_id;
	r->addr = addr;
	r->ttl = ttl;
	r->selector = first;
	__builtin_memcpy(r->name, s->name.name, sizeof(r->name));
	bpf_ringbuf_submit(r, vigil_wakeup_flags());
	return 0;
}

/* Whether the question's first label (`len` bytes at the start of `name`) has the pattern's
 * prefix and suffix, not overlapping: Cilium's `*` within one label. */
static __always_inline bool label_matches(const struct vigil_fqdn_label_pattern *p, const char *name, __u32 len)
{
	__u32 pl = p->prefix_len, sl = p->suffix_len;
	if (!p->selector || pl > VIGIL_FQDN_AFFIX_MAX || sl > VIGIL_FQDN_AFFIX_MAX || pl + sl > len ||
	    len >= VIGIL_FQDN_NAME_MAX)
		return false;
#pragma unroll
	for (__u32 i = 0; i < VIGIL_FQDN_AFFIX_MAX; i++)
		if (i < pl && name[i] != p->prefix[i])
			return false;
	__u32 at = len - sl;
#pragma unroll
	for (__u32 i = 0; i < VIGIL_FQDN_AFFIX_MAX; i++)
		if (i < sl && name[(at + i) & (VIGIL_FQDN_NAME_MAX - 1)] != p->suffix[i])
			return false;
	return true;
}

/* Learns a DNS answer for an endpoint's toFQDNs rules (see the top of the file). Called for a
 * packet from port 53 on a flow a DNS-visible rule allowed, before it is delivered, with the
 * offset of the DNS message in it. A name with characters outside [a-z0-9_-], a pointer in the
 * question or more than 127 characters is not learned: nothing wider than a selector names is
 * ever allowed. Only the first DNS_MSG_MAX bytes of a message are read (and at most
 * VIGIL_FQDN_ANSWERS_MAX answers): an address past them is not learned, so not allowed.
 * Returns 1 when the bytes were a DNS response (learned from or not), 0 when they were not. */
static __noinline int learn_dns(struct __sk_buff *skb, __u32 endpoint_id, __u32 off)
{
	struct dns_scratch *s = dns_scratch();
	if (!s)
		return 0;
	if (off > 0xffff || skb->len < off + 12)
		return 0;
	__u32 len = skb->len - off;
	if (len > DNS_MSG_MAX)
		len = DNS_MSG_MAX;
	/* the clamped value in one register for the verifier (6.1's lost the bound on a copy clang made) */
	asm volatile("" : "+r"(len));
	if (len < 12 || len > DNS_MSG_MAX)
		return 0;
	if (bpf_skb_load_bytes(skb, off, s->msg, len) < 0)
		return 0;
	/* a response (QR), standard query, no error, one question */
	if (!(dns_byte(s, 2) & 0x80) || (dns_byte(s, 2) & 0x78) || (dns_byte(s, 3) & 0x0f) || dns_u16(s, 4) != 1)
		return 0;
	struct dns_parse *d = &s->d;
	__builtin_memset(d, 0, sizeof(*d));
	d->pos = 12;
	d->len = len;
	d->endpoint_id = endpoint_id;
	d->answers = dns_u16(s, 6);
	if (d->answers > VIGIL_FQDN_ANSWERS_MAX)
		d->answers = VIGIL_FQDN_ANSWERS_MAX;

	/* the question's name, dotted and lowercase */
	__builtin_memset(s->name.name, 0, sizeof(s->name.name));
	s->name.endpoint_id = endpoint_id;
	bpf_loop(VIGIL_FQDN_NAME_MAX + 2, dns_name_byte, NULL, 0);
	if (!d->done || d->failed || d->n == 0)
		return 1;
	d->pos += 4; /* QTYPE, QCLASS */

	/* which selectors name it: the name itself, "*." + all but its first label, "*" */
	__u32 *sel = bpf_map_lookup_elem(&fqdn_names, &s->name);
	if (sel)
		d->selectors[0] = *sel;
	if (d->first_dot) {
		__builtin_memset(s->key.name, 0, sizeof(s->key.name));
		s->key.endpoint_id = endpoint_id;
		s->key.name[0] = '*';
		for (__u32 i = 1; i < VIGIL_FQDN_NAME_MAX - 1; i++) {
			__u32 from = d->first_dot + i - 1;
			if (from >= d->n)
				break;
			s->key.name[i] = s->name.name[from & (VIGIL_FQDN_NAME_MAX - 1)];
		}
		sel = bpf_map_lookup_elem(&fqdn_names, &s->key);
		if (sel)
			d->selectors[1] = *sel;
		/* patterns with `*` inside the first label, by the same rest of the name */
		s->key.name[0] = '?';
		struct vigil_fqdn_label_patterns *lp = bpf_map_lookup_elem(&fqdn_label_patterns, &s->key);
		if (lp) {
#pragma unroll
			for (int i = 0; i < VIGIL_FQDN_LABEL_PATTERNS; i++)
				if (label_matches(&lp->p[i], s->name.name, d->first_dot))
					d->selectors[3 + i] = lp->p[i].selector;
		}
	}
	__builtin_memset(s->key.name, 0, sizeof(s->key.name));
	s->key.endpoint_id = endpoint_id;
	s->key.name[0] = '*';
	sel = bpf_map_lookup_elem(&fqdn_names, &s->key);
	if (sel)
		d->selectors[2] = *sel;
	__u32 any = 0;
#pragma unroll
	for (int i = 0; i < 3 + VIGIL_FQDN_LABEL_PATTERNS; i++)
		any |= d->selectors[i];
	if (!any)
		return 1;

	__u32 zero = 0;
	struct vigil_datapath_config *cfg = bpf_map_lookup_elem(&dp_config, &zero);
	d->min_ttl_ns = cfg ? cfg->fqdn_min_ttl_ns : 0;
	d->now = bpf_ktime_get_ns();
	bpf_loop(VIGIL_FQDN_ANSWERS_MAX, dns_answer, NULL, 0);
	return 1;
}

/* DNS over TCP (a truncated UDP answer is asked again over TCP; `dig +tcp`, DNS-over-TCP
 * resolvers): each message is preceded by its 2-byte length. A segment is read as a length
 * and a message first; when that is no DNS response, as a message alone (a server that writes
 * the length and the message separately sends them as two segments). Only a flow a
 * DNS-visible rule allowed gets here, so its answers are as trusted as its UDP ones; a message
 * split over several segments is learned only as far as its first segment goes. */
static __noinline int learn_dns_tcp(struct __sk_buff *skb, __u32 endpoint_id, __u32 l4_offset)
{
	__u8 doff = 0;
	if (l4_offset > 0xffff || bpf_skb_load_bytes(skb, l4_offset + 12, &doff, 1) < 0)
		return 0;
	__u32 payload = l4_offset + (doff >> 4) * 4;
	if (skb->len < payload + 12)
		return 0;
	__u8 prefix[2] = {};
	if (bpf_skb_load_bytes(skb, payload, prefix, 2) < 0)
		return 0;
	if (((__u32)prefix[0] << 8 | prefix[1]) >= 12 && learn_dns(skb, endpoint_id, payload + 2))
		return 0;
	learn_dns(skb, endpoint_id, payload);
	return 0;
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
			if (flow_dir == VIGIL_DIR_EGRESS)
				fqdn_allow(ep, peer_addr, p.tuple.protocol, port, ct->flags & CT_FQDN, &v);
			/* an audited flow stays forwarded (reported once, when it started) */
			if (v.drop_reason && !v.audit) {
				flow_event(VIGIL_FLOW_DROP, &p, ep, ifindex, dir, peer, v, &ct->owner, NULL, is_reply);
				bpf_map_delete_elem(&conntrack, &key);
				return TC_ACT_SHOT;
			}
			ct->revision = revision;
			ct->flags = (ct->flags & ~(CT_DNS | CT_FQDN)) | v.ct_flags;
			ct->peer_identity = peer;
			ct->rule_id = v.audit ? 0 : v.rule_id; /* an audited flow's close names no rule */
		}
		__sync_fetch_and_add(&ct->packets, 1);
		__sync_fetch_and_add(&ct->bytes, p.len);
		/* a DNS answer to the endpoint: learned before the endpoint can act on it */
		if (is_reply && dir == VIGIL_DIR_INGRESS && (ct->flags & CT_DNS) && (ep->flags & VIGIL_EPF_FQDN) &&
		    p.tuple.sport == bpf_htons(DNS_PORT)) {
			if (p.tuple.protocol == IPPROTO_UDP)
				learn_dns(skb, ep->endpoint_id, p.l4_offset + 8 /* the UDP header */);
			else if (p.tuple.protocol == IPPROTO_TCP)
				learn_dns_tcp(skb, ep->endpoint_id, p.l4_offset);
		}
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
	if (dir == VIGIL_DIR_EGRESS)
		fqdn_allow(ep, peer_addr, p.tuple.protocol, p.tuple.dport, false, &v);
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
		.flags = v.ct_flags,
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
