/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The network sensor's records (bpf/progs/network.bpf.c -> Sensors/NetworkRecord.swift):
 * TCP connects (outcome known: established or failed), accepts and closes (with byte counts
 * and duration), and UDP datagrams to a peer the socket had not sent to before. Each names
 * the owning process by exec identity, so user space joins it to process_exec.
 */
#ifndef VIGIL_NET_ABI_H
#define VIGIL_NET_ABI_H

#define VIGIL_RECORD_NET 5u
#define VIGIL_RECORD_DNS 6u

/* struct vigil_net_record.kind */
#define VIGIL_NET_CONNECT 1u /* outbound TCP connect finished (VIGIL_NETF_FAILED when it did not establish) */
#define VIGIL_NET_ACCEPT  2u /* inbound TCP connection accepted by a process */
#define VIGIL_NET_CLOSE	  3u /* a connect'ed or accept'ed TCP socket closed */
#define VIGIL_NET_UDP	  4u /* first UDP datagram (or connect) from a socket to a peer */
#define VIGIL_NET_SCAN \
	5u /* a process reached scan_threshold distinct TCP destinations within one scan window;
                              * bytes_sent carries the count, duration_ns the window, sock the last destination */

/* struct vigil_net_record.flags */
#define VIGIL_NETF_FAILED (1u << 0) /* connect: the handshake did not complete (refused, timed out, reset) */

/* Owner of a tracked TCP socket (map "tcp_owners", key: the struct sock address). */
struct vigil_sock_owner {
	struct vigil_exec_id process;
	__u32 pid;
	__u32 tid;
	__u64 start_ns; /* connect or accept time (bpf_ktime_get_ns) */
	__u32 uid;
	__u16 sport;   /* the local port (the kernel clears it before the close is seen) */
	__u8 outbound; /* 1: connect, 0: accept */
	__u8 pad;
};
_Static_assert(sizeof(struct vigil_sock_owner) == 40, "vigil_sock_owner size");

/*
 * A listening TCP socket's local end (map "listeners"; the handshake accept tier only, where
 * the accepting process is not current when the connection is seen). User space seeds the
 * listeners that existed before the agent started (found through /proc).
 */
struct vigil_listener_key {
	__u32 netns; /* network namespace inode */
	__u16 port;  /* host order */
	__u16 pad;
	__u8 addr[16]; /* IPv4-mapped for AF_INET; all zeros for a wildcard bind (either family) */
};
_Static_assert(sizeof(struct vigil_listener_key) == 24, "vigil_listener_key size");

struct vigil_listener {
	struct vigil_sock_owner owner; /* who called listen(), or (seeded) the process holding it */
	struct vigil_exec_id parent;   /* the owner's parent then: tells an exec of the owner (same
	                                * parent) from its pid reused by another process */
	__u64 sk;		       /* the listening struct sock's address; 0 when seeded */
};
_Static_assert(sizeof(struct vigil_listener) == 64, "vigil_listener size");

struct vigil_net_record {
	struct vigil_record_header header;
	struct vigil_exec_id process;
	__u32 pid;
	__u32 tid;
	__u32 kind;  /* VIGIL_NET_* */
	__u32 flags; /* VIGIL_NETF_* */
	__u32 uid;
	__u32 pad;
	__u64 cookie;	      /* socket cookie (SO_COOKIE), stable for the socket's life */
	__u64 bytes_sent;     /* close: bytes acknowledged by the peer */
	__u64 bytes_received; /* close: bytes received */
	__u64 duration_ns;    /* close: since connect/accept */
	struct vigil_sock_data sock;
};
_Static_assert(sizeof(struct vigil_net_record) == 16 + 16 + 24 + 32 + 48, "vigil_net_record size");

#define VIGIL_DNS_BYTES 512 /* DNS message bytes copied per packet (classic UDP DNS limit) */

/* struct vigil_dns_record.direction */
#define VIGIL_DNS_EGRESS  1u /* a packet this host sent (queries, or answers of a local server) */
#define VIGIL_DNS_INGRESS 2u /* a packet this host received */

/*
 * A DNS message seen on port 53 (UDP, or TCP when the message starts the segment), with the
 * owner of the socket (joined in the kernel by socket cookie; ktime 0 and pid 0 when the
 * socket's owner is unknown). User space parses the message.
 */
struct vigil_dns_record {
	struct vigil_record_header header;
	struct vigil_exec_id process;
	__u32 pid;
	__u32 direction; /* VIGIL_DNS_* */
	__u64 cookie;
	struct vigil_sock_data sock; /* the packet's addresses and ports (saddr = sender) */
	__u32 len;		     /* message bytes in data */
	__u32 orig_len;		     /* message bytes in the packet */
	__u8 data[VIGIL_DNS_BYTES];
};
_Static_assert(sizeof(struct vigil_dns_record) == 16 + 16 + 8 + 8 + 48 + 8 + VIGIL_DNS_BYTES, "vigil_dns_record size");

#endif /* VIGIL_NET_ABI_H */
