// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* chaos_cls: the one tc classifier behind every network fault.
 *
 * It picks out the packets a fault is about (peer CIDR, protocol, ports, cgroup) and acts on
 * them: drop (partitions), steer into an HTB class whose leaf is netem (skb->priority), or
 * redirect to an ifb (netem on ingress). Everything else gets TC_ACT_UNSPEC (= TCX_NEXT), so
 * it coexists with whatever else runs on the hook.
 *
 * Dead-man lease: a matching packet is only acted on while the deadline in `lease` lies in the
 * future (CLOCK_MONOTONIC ns, the clock of bpf_ktime_get_ns()). An agent that stops renewing
 * turns every instance into a no-op by itself, even when its classic tc filter outlives it.
 *
 * Parsing, deliberately narrow:
 *   - Ethernet framing, with at most one 802.1Q/802.1ad tag in the data (tags the NIC
 *     offloaded into skb->vlan_tci are not in the data and need nothing).
 *   - IPv4 with options (IHL honoured). Non-first fragments carry no L4 header: they match
 *     a protocol, never a port.
 *   - IPv6 without extension-header walking: the L4 protocol is the first next-header. A
 *     packet with extension headers (fragment, routing, hop-by-hop...) before TCP/UDP/ICMPv6
 *     matches only a filter that names neither a protocol nor ports.
 * Nothing is printed per packet; the per-CPU `stats` counters tell what happened.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "classifier.h"

/* From linux/pkt_cls.h, which cannot be included beside vmlinux.h. */
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ICMPV6_ 58

/* Wire formats, declared here rather than taken from vmlinux.h: they are fixed by RFCs, so
 * they need no CO-RE relocation, and plain bytes avoid bitfield access on packet memory. */
struct pkt_eth {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct pkt_vlan {
	__be16 tci;
	__be16 proto;
};

struct pkt_ipv4 {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct pkt_ipv6 {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct pkt_ports {
	__be16 sport;
	__be16 dport;
};

const volatile struct chaos_cls_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct chaos_cls_lpm_v4);
	__type(value, __u8);
	__uint(max_entries, CHAOS_CLS_LPM_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cidrs_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct chaos_cls_lpm_v6);
	__type(value, __u8);
	__uint(max_entries, CHAOS_CLS_LPM_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cidrs_v6 SEC(".maps");

/* One u64: the deadline. 0 (the initial value) means "no lease": pass everything. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} lease SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct chaos_cls_stats);
	__uint(max_entries, 1);
} stats SEC(".maps");

static __always_inline int port_in_ranges(__u16 port)
{
#pragma unroll
	for (int i = 0; i < CHAOS_CLS_MAX_PORT_RANGES; i++) {
		if (i >= cfg.nports)
			break;
		if (port >= cfg.ports[i].lo && port <= cfg.ports[i].hi)
			return 1;
	}
	return 0;
}

/* 1 when the packet is one the fault is about. */
static __always_inline int packet_matches(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 off = sizeof(struct pkt_eth);
	__u8 l4proto;
	__u32 l4off;
	int is_v6;
	int first_fragment = 1;

	if (cfg.cgroup_id && bpf_skb_cgroup_id(skb) != cfg.cgroup_id)
		return 0;

	struct pkt_eth *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 0;
	__be16 ethertype = eth->proto;
	if (ethertype == bpf_htons(ETH_P_8021Q) || ethertype == bpf_htons(ETH_P_8021AD)) {
		struct pkt_vlan *vlan = data + off;
		if ((void *)(vlan + 1) > data_end)
			return 0;
		ethertype = vlan->proto;
		off += sizeof(struct pkt_vlan);
	}

	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct pkt_ipv4 *ip = data + off;
		if ((void *)(ip + 1) > data_end)
			return 0;
		__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
		if (ihl < sizeof(struct pkt_ipv4))
			return 0;
		if (cfg.has_v4_cidrs) {
			struct chaos_cls_lpm_v4 key = { .prefixlen = 32 };
			__builtin_memcpy(key.addr, cfg.direction == CHAOS_CLS_INGRESS ? ip->saddr : ip->daddr,
					 sizeof(key.addr));
			if (!bpf_map_lookup_elem(&cidrs_v4, &key))
				return 0;
		} else if (cfg.has_v6_cidrs) {
			return 0; /* only IPv6 peers were named */
		}
		l4proto = ip->protocol;
		l4off = off + ihl;
		first_fragment = (ip->frag_off & bpf_htons(0x1fff)) == 0;
		is_v6 = 0;
	} else if (ethertype == bpf_htons(ETH_P_IPV6)) {
		struct pkt_ipv6 *ip6 = data + off;
		if ((void *)(ip6 + 1) > data_end)
			return 0;
		if (cfg.has_v6_cidrs) {
			struct chaos_cls_lpm_v6 key = { .prefixlen = 128 };
			__builtin_memcpy(key.addr,
					 cfg.direction == CHAOS_CLS_INGRESS ? ip6->saddr : ip6->daddr,
					 sizeof(key.addr));
			if (!bpf_map_lookup_elem(&cidrs_v6, &key))
				return 0;
		} else if (cfg.has_v4_cidrs) {
			return 0; /* only IPv4 peers were named */
		}
		l4proto = ip6->nexthdr;
		l4off = off + sizeof(struct pkt_ipv6);
		is_v6 = 1;
	} else {
		return 0;
	}

	if (cfg.protocol == CHAOS_CLS_PROTO_ICMP)
		return l4proto == (is_v6 ? IPPROTO_ICMPV6_ : IPPROTO_ICMP_);
	if (cfg.protocol != CHAOS_CLS_PROTO_ANY && l4proto != cfg.protocol)
		return 0;
	if (cfg.nports == 0)
		return 1;
	if (l4proto != IPPROTO_TCP_ && l4proto != IPPROTO_UDP_)
		return 0;
	if (!first_fragment)
		return 0;

	/* l4off <= 14 + 4 + 60: a bounded offset the verifier can follow. */
	if (l4off > 128)
		return 0;
	struct pkt_ports *ports = data + l4off;
	if ((void *)(ports + 1) > data_end)
		return 0;
	return port_in_ranges(bpf_ntohs(ports->sport)) || port_in_ranges(bpf_ntohs(ports->dport));
}

static __always_inline int lease_live(void)
{
	__u32 zero = 0;
	__u64 *deadline = bpf_map_lookup_elem(&lease, &zero);

	if (!deadline)
		return 0;
	__u64 d = *deadline;
	return d != 0 && bpf_ktime_get_ns() <= d;
}

SEC("tc")
int chaos_cls(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct chaos_cls_stats *st = bpf_map_lookup_elem(&stats, &zero);

	if (st)
		st->seen++;
	if (!packet_matches(skb))
		return TC_ACT_UNSPEC;
	if (st)
		st->matched++;
	if (!lease_live()) {
		if (st)
			st->lease_expired_passes++;
		return TC_ACT_UNSPEC;
	}
	if (st)
		st->acted++;

	switch (cfg.action) {
	case CHAOS_CLS_DROP:
		return TC_ACT_SHOT;
	case CHAOS_CLS_STEER:
		/* The root qdisc (HTB) reads skb->priority as a classid when its major matches. */
		skb->priority = cfg.classid;
		return TC_ACT_UNSPEC;
	case CHAOS_CLS_REDIRECT:
		return bpf_redirect(cfg.redirect_ifindex, 0);
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
