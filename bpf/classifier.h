/* Shared between classifier.bpf.c and agent/kernel/classifier.cpp: fixed-width types only,
 * no pointers, layouts identical on both sides (the static checks below and in classifier.cpp
 * keep them so). */
#ifndef CHAOS_BPF_CLASSIFIER_H
#define CHAOS_BPF_CLASSIFIER_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define CHAOS_CLS_MAX_PORT_RANGES 16
/* The program's name as the kernel reports it (bpf_prog_info.name, 15 chars max). The classic
 * tc filter carries it too (TCA_BPF_NAME), which is how undo code recognises our filters. */
#define CHAOS_CLS_PROG_NAME "chaos_cls"

/* What to do with a matching packet. */
enum chaos_cls_action {
	CHAOS_CLS_DROP = 1,     /* TC_ACT_SHOT: partitions */
	CHAOS_CLS_STEER = 2,    /* skb->priority = classid, then let the qdisc (HTB -> netem) act */
	CHAOS_CLS_REDIRECT = 3, /* bpf_redirect to an ifb device: netem on ingress */
};

/* Which address is the peer: egress -> destination, ingress -> source. */
enum chaos_cls_direction {
	CHAOS_CLS_EGRESS = 0,
	CHAOS_CLS_INGRESS = 1,
};

/* IP protocol numbers; ICMP means ICMP on IPv4 and ICMPv6 on IPv6. */
enum chaos_cls_protocol {
	CHAOS_CLS_PROTO_ANY = 0,
	CHAOS_CLS_PROTO_ICMP = 1,
	CHAOS_CLS_PROTO_TCP = 6,
	CHAOS_CLS_PROTO_UDP = 17,
};

struct chaos_cls_port_range {
	__u16 lo; /* host byte order, inclusive */
	__u16 hi;
};

/* Set in .rodata before load: the verifier sees constants and prunes what is not configured. */
struct chaos_cls_config {
	__u32 action;    /* enum chaos_cls_action */
	__u32 direction; /* enum chaos_cls_direction */
	__u32 protocol;  /* enum chaos_cls_protocol */
	__u32 nports;    /* 0: any port */
	struct chaos_cls_port_range ports[CHAOS_CLS_MAX_PORT_RANGES];
	/* A family with no CIDRs while the other family has some never matches; no CIDRs at all
	 * means any address. */
	__u32 has_v4_cidrs;
	__u32 has_v6_cidrs;
	__u32 classid;          /* STEER: skb->priority, e.g. 0x10002 for HTB class 1:2 */
	__u32 redirect_ifindex; /* REDIRECT: target device (an ifb) */
	__u64 cgroup_id;        /* egress only: bpf_skb_cgroup_id() must equal it; 0 = any */
};

struct chaos_cls_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4]; /* network byte order */
};

struct chaos_cls_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Per-CPU counters; user space sums them. */
struct chaos_cls_stats {
	__u64 seen;                 /* every packet the program ran on */
	__u64 matched;              /* packets matching the filter (lease live or not) */
	__u64 acted;                /* matched packets dropped / steered / redirected */
	__u64 lease_expired_passes; /* matched packets passed untouched because the lease had run out */
};

#define CHAOS_CLS_LPM_MAX_ENTRIES 1024

#endif /* CHAOS_BPF_CLASSIFIER_H */
