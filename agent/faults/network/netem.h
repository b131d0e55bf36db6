// Netem faults (delay, jitter, loss, duplicate, corrupt, reorder, rate, and netem combining them)
// on only the flows that match.
//
// Egress, on the interface itself:
//
//     root  htb ca05:  (the agent's; unclassified packets: the direct queue, unshaped)
//      ├── class ca05:1  leaf: the foreign root qdisc that was there, copied verbatim (only
//      │                 when there was one; it is then the default class, so unmatched
//      │                 traffic keeps its old treatment)
//      └── class ca05:N  leaf: netem with the fault's parameters (one class per fault)
//     clsact/tcx egress: the classifier (action steer) sets skb->priority = ca05:N on matching
//                        packets; HTB takes a priority naming one of its classes as the class.
//
// Ingress: the interface's ingress is sent through an ifb the agent creates (chaosifb<ifindex>),
// and shaped there:
//
//     interface ingress: the classifier (action steer, peer = source) marks matching packets with
//                        ca06:N, then a u32 match-all filter (prio 0x0ca1, after the classifier)
//                        redirects everything (mirred) to the ifb
//     ifb root htb ca06: ── class ca06:N leaf netem; the rest leaves through the direct queue.
//
// bpf_redirect() cannot be used to reach an ifb: ifb drops packets that were not redirected by
// tc's mirred action (skb->redirected), and the kernel maintainers refuse to set it from BPF.
// Marking in BPF and redirecting with mirred keeps the match in BPF (CIDR tries, ports, lease).
//
// Faults on the same interface and direction share the tree: each adds and removes its own
// class; the last one out removes the tree (and the ifb), and puts back the foreign root qdisc,
// after checking that the kernel's dump of it is byte for byte the one taken before.
//
// Dead-man lease: the classifier stops marking once its lease runs out, so packets go to the
// direct queue (egress) or straight through the ifb (ingress) untouched, even with the agent dead.
// A restarted agent replays the journal (kind "netem-class" + the classifier's own) and removes
// every class, qdisc, filter and ifb it made.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/config.h"
#include "faults/fault.h"
#include "faults/network/spec.h"
#include "kernel/qdisc.h"
#include "kernel/tc_attach.h"

namespace chaos::network {

inline constexpr std::uint16_t kNetemEgressMajor = 0xCA05;   // root HTB on the interface
inline constexpr std::uint16_t kNetemIngressMajor = 0xCA06;  // root HTB on the agent's ifb
inline constexpr std::uint16_t kForeignClassMinor = 1;       // the default class holding a foreign root
inline constexpr std::uint16_t kIngressRedirectPrio = kernel::kAgentRedirectPrio;
// "Unlimited": HTB classes are rate limited by definition; this is far above any link.
inline constexpr std::uint64_t kUnlimitedRate = 125'000'000'000ull;  // 1 Tbit/s in bytes/s
inline constexpr std::uint32_t kDirectQueueLen = 1000;

inline constexpr const char* kNetemJournalKind = "netem-class";

// The spec's netem parameters in the kernel's units (distribution tables generated here).
Result<kernel::NetemParams> netem_params(const NetworkSpec& spec);

// Caps from the agent config (guardrails.maxDelay, guardrails.maxLoss), refused at plan time. The delay cap
// applies to latency + jitter; the loss cap to the loss percentage, or to the Gilbert-Elliott
// model's long-run loss rate.
Result<void> check_netem_caps(const NetworkSpec& spec, const AgentConfig& config);

// Kinds of foreign root qdisc the agent can move under its HTB and put back exactly: classless
// ones and prio-like ones whose whole state is their options.
bool foreign_root_movable(const std::string& kind);

// Can this root qdisc stay underneath ours? An error says why not (refused at plan time).
Result<void> check_foreign_root(kernel::TcSocket& sk, const kernel::QdiscRecord& root);

// Does this kernel have netem and htb (built in or as a module it can load)?
Result<void> probe_netem_support();

// Undoes one "netem-class" journal entry from its data alone. Idempotent.
Result<void> undo_netem_class(const nlohmann::json& undo);
void register_netem_undo(UndoRegistry& registry);

Result<std::unique_ptr<Fault>> make_netem(const FaultEntry& entry, const FaultContext& ctx);

}  // namespace chaos::network
