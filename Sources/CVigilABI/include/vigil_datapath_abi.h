/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The identity-aware datapath (bpf/progs/datapath.bpf.c <-> Sources/Datapath): the maps user
 * space fills (endpoints, ipcache, policy, config) and the flow records the tc programs write.
 *
 * Direction is always the endpoint's: a packet the endpoint sends is VIGIL_DIR_EGRESS (seen by
 * tc ingress on the host side of its veth), a packet it receives is VIGIL_DIR_INGRESS (tc egress).
 */
#ifndef VIGIL_DATAPATH_ABI_H
#define VIGIL_DATAPATH_ABI_H

#define VIGIL_RECORD_FLOW 7u
#define VIGIL_RECORD_FQDN 8u /* struct vigil_fqdn_record */

#define VIGIL_DIR_INGRESS 1u
#define VIGIL_DIR_EGRESS  2u

/* struct vigil_endpoint_info.flags */
#define VIGIL_EPF_ENFORCE_INGRESS (1u << 0) /* drop what no ingress rule allows */
#define VIGIL_EPF_ENFORCE_EGRESS  (1u << 1) /* drop what no egress rule allows */
/* Audit mode: what would be dropped is forwarded and reported (VIGIL_FLOW_AUDIT), so a team
 * can roll out default deny, watch, then enforce. */
#define VIGIL_EPF_AUDIT_INGRESS (1u << 2) /* only audit-mode policies make ingress default deny */
#define VIGIL_EPF_AUDIT_EGRESS	(1u << 3) /* only audit-mode policies make egress default deny */
#define VIGIL_EPF_AUDIT_ALL	(1u << 4) /* the endpoint is in audit mode: no drop at all */
/* The endpoint has toFQDNs rules: DNS answers it receives on flows a DNS-visible rule allowed
 * are learned (map fqdn_ips), and a new egress flow no other entry allows is looked up there. */
#define VIGIL_EPF_FQDN (1u << 5)

/* map "endpoints": host-side veth ifindex -> the endpoint behind it */
struct vigil_endpoint_info {
	__u32 endpoint_id;
	__u32 identity;
	__u32 flags; /* VIGIL_EPF_* */
	__u32 pad;
};
_Static_assert(sizeof(struct vigil_endpoint_info) == 16, "vigil_endpoint_info size");

/* map "ipcache" (LPM trie): address prefix -> identity. prefixlen counts family + pad bits
 * (32) plus the address bits. */
struct vigil_ipcache_key {
	__u32 prefixlen;
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16];
};
_Static_assert(sizeof(struct vigil_ipcache_key) == 24, "vigil_ipcache_key size");

struct vigil_ipcache_value {
	__u32 identity;
	__u32 pad;
};

/* map "policy" (LPM trie): (endpoint, direction, peer identity, protocol, port) -> verdict.
 * identity 0 is the wildcard (looked up second). prefixlen: 96 = any protocol; 104 = one
 * protocol, any port; 112 + k = a protocol and ports whose top k bits match. */
struct vigil_policy_key {
	__u32 prefixlen;
	__u32 endpoint_id; /* host order: always matched whole */
	__u8 direction;	   /* VIGIL_DIR_* */
	__u8 pad[3];
	__u32 identity; /* host order: always matched whole */
	__u8 protocol;
	__u8 pad2;
	__u16 port; /* destination port, big-endian */
};
_Static_assert(sizeof(struct vigil_policy_key) == 20, "vigil_policy_key size");

#define VIGIL_POLICY_KEY_BITS_ANY_PROTO 96u
#define VIGIL_POLICY_KEY_BITS_ANY_PORT	104u
#define VIGIL_POLICY_KEY_BITS_FULL	128u

#define VIGIL_VERDICT_ALLOW	 1u
#define VIGIL_VERDICT_DENY	 2u
#define VIGIL_VERDICT_AUDIT_DENY 3u /* a deny rule of an audit-mode policy: reported, forwarded */

/* struct vigil_policy_value.flags */
#define VIGIL_POLICY_F_DNS \
	(1u << 0) /* an allow of a rule with `rules.dns` (DNS visibility): answers arriving on the \
		     flows it allows feed the endpoint's toFQDNs rules; no other answer does */

struct vigil_policy_value {
	__u8 verdict; /* VIGIL_VERDICT_* */
	__u8 flags;   /* VIGIL_POLICY_F_* */
	__u8 pad[2];
	__u32 rule_id;
};

/* map "config" (array, one entry) */
struct vigil_datapath_config {
	__u64 revision;	       /* bumped on every policy change: established flows are re-checked once */
	__u64 fqdn_min_ttl_ns; /* a learned DNS answer allows its address for at least this long */
};

/*
 * toFQDNs. Each distinct name or pattern of a toFQDNs rule is a selector with its own identity
 * (numbered from VIGIL_FQDN_IDENTITY_FLAG + 1); the rule's policy entries use it as the peer identity.
 *
 * map "fqdn_names" (hash): (endpoint, name) -> selector, where name is lowercase without the
 * trailing dot and is one of: a full name (matchName), "*." + a suffix (matchPattern whose `*`
 * stands for the first label, one level as in Cilium), or "*" (every name); patterns with `*`
 * inside the first label are in "fqdn_label_patterns" (below). The kernel parses
 * each DNS answer the endpoint receives on a DNS-visible flow before the endpoint sees it, looks
 * up the question's name in these three forms and writes (endpoint, address) -> selectors with
 * the expiry max(TTL, fqdn_min_ttl_ns) for each A record into "fqdn_ips": an answer always
 * wins the race with the connect that follows it.
 */
#define VIGIL_FQDN_IDENTITY_FLAG (1u << 24 | 1u << 23) /* node-local scope, above the CIDR identities */
#define VIGIL_FQDN_NAME_MAX	 128		       /* bytes, NUL included: names up to 127 characters */
#define VIGIL_FQDN_SLOTS	 4		       /* selectors remembered per (endpoint, address) */
#define VIGIL_FQDN_ANSWERS_MAX	 16		       /* answer records read per DNS message */

struct vigil_fqdn_name_key {
	__u32 endpoint_id;
	char name[VIGIL_FQDN_NAME_MAX];
};
_Static_assert(sizeof(struct vigil_fqdn_name_key) == 4 + VIGIL_FQDN_NAME_MAX, "vigil_fqdn_name_key size");

/*
 * map "fqdn_label_patterns" (hash): (endpoint, "?" + the name after its first label, e.g.
 * "?.example.com") -> the matchPatterns with `*` inside that first label ("api-*.example.com",
 * "*-prod.example.com", "db*1.example.com"). A label matches when it starts with `prefix`, ends
 * with `suffix` and is at least as long as both: what lies between is any label characters (the
 * kernel learns only names made of [a-z0-9_-]), never a dot, as Cilium's `*`.
 */
#define VIGIL_FQDN_LABEL_PATTERNS 4  /* patterns per (endpoint, rest of the name) */
#define VIGIL_FQDN_AFFIX_MAX	  32 /* bytes of a pattern's prefix, and of its suffix */
struct vigil_fqdn_label_pattern {
	__u32 selector; /* 0: unused */
	__u8 prefix_len;
	__u8 suffix_len;
	__u8 pad[2];
	char prefix[VIGIL_FQDN_AFFIX_MAX];
	char suffix[VIGIL_FQDN_AFFIX_MAX];
};
_Static_assert(sizeof(struct vigil_fqdn_label_pattern) == 8 + 2 * VIGIL_FQDN_AFFIX_MAX,
	       "vigil_fqdn_label_pattern size");
struct vigil_fqdn_label_patterns {
	struct vigil_fqdn_label_pattern p[VIGIL_FQDN_LABEL_PATTERNS];
};

struct vigil_fqdn_ip_key {
	__u32 endpoint_id;
	__u32 addr; /* IPv4, network order */
};

struct vigil_fqdn_ip_value {
	__u64 expires_ns[VIGIL_FQDN_SLOTS]; /* bpf_ktime_get_ns() after which the slot is void */
	__u32 selector[VIGIL_FQDN_SLOTS];   /* 0: empty */
};
_Static_assert(sizeof(struct vigil_fqdn_ip_value) == 48, "vigil_fqdn_ip_value size");

/* A DNS answer learned for an endpoint's toFQDNs rule: one per A record, before the endpoint
 * receives the answer (the agent names flows to the address with it). */
struct vigil_fqdn_record {
	struct vigil_record_header header;
	__u32 endpoint_id;
	__u32 addr;	/* IPv4, network order */
	__u32 ttl;	/* seconds, as answered */
	__u32 selector; /* the first selector it matched */
	char name[VIGIL_FQDN_NAME_MAX];
};
_Static_assert(sizeof(struct vigil_fqdn_record) == 16 + 16 + VIGIL_FQDN_NAME_MAX, "vigil_fqdn_record size");

/* struct vigil_flow_record.kind */
#define VIGIL_FLOW_NEW	 1u /* first packet of a flow, forwarded */
#define VIGIL_FLOW_DROP	 2u /* a packet dropped (drop_reason says why) */
#define VIGIL_FLOW_CLOSE 3u /* TCP FIN/RST seen: the flow ends (packets/bytes so far) */
#define VIGIL_FLOW_AUDIT \
	4u /* first packet of a flow policy would drop, forwarded (audit mode; drop_reason: the drop) */

/* struct vigil_flow_record.drop_reason (Hubble's numbers where one exists) */
#define VIGIL_DROP_NONE		  0u
#define VIGIL_DROP_POLICY	  133u /* POLICY_DENIED: no rule allows it */
#define VIGIL_DROP_POLICY_DENY	  181u /* POLICY_DENY: a deny rule matched */
#define VIGIL_DROP_UNSUPPORTED_L3 139u /* UNSUPPORTED_L3_PROTOCOL: IPv6 into an enforcing endpoint */

/* Owner of a connection, recorded at connect (cgroup sock_addr / sock_ops) by 4-tuple. */
struct vigil_flow_tuple {
	__u32 saddr; /* network order */
	__u32 daddr;
	__u16 sport; /* network order */
	__u16 dport;
	__u8 protocol;
	__u8 scope; /* conntrack: VIGIL_DIR_* of the lookup; owners: 0 */
	__u16 pad;
};
_Static_assert(sizeof(struct vigil_flow_tuple) == 16, "vigil_flow_tuple size");

struct vigil_flow_owner {
	struct vigil_exec_id process;
	__u32 pid;
	__u32 tid;
	__u64 cgroup_id;
};
_Static_assert(sizeof(struct vigil_flow_owner) == 32, "vigil_flow_owner size");

struct vigil_flow_record {
	struct vigil_record_header header;
	struct vigil_flow_owner owner; /* ktime 0 and pid 0: no process known (inbound, or before the agent) */
	struct vigil_flow_tuple tuple; /* as the packet had it: saddr = sender */
	__u32 kind;		       /* VIGIL_FLOW_* */
	__u32 drop_reason;	       /* VIGIL_DROP_* */
	__u32 endpoint_id;
	__u32 ifindex;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;	/* the policy rule that decided (0: default, or a conntrack hit) */
	__u8 direction; /* VIGIL_DIR_*, the endpoint's */
	__u8 tcp_flags; /* of this packet: FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 */
	__u8 is_reply;	/* the packet belongs to the reverse direction of a tracked flow */
	__u8 pad;
	__u64 packets; /* close: packets of the flow, both directions */
	__u64 bytes;   /* close: bytes of the flow, both directions */
};
_Static_assert(sizeof(struct vigil_flow_record) == 16 + 32 + 16 + 28 + 4 + 16, "vigil_flow_record size");

#endif /* VIGIL_DATAPATH_ABI_H */
