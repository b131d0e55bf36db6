// Attaching a tc BPF program to an interface, two ways, and undoing it from plain data.
//
//   tcx:     a BPF link (bpf_link_create with BPF_TCX_INGRESS/EGRESS). It lives as long as an fd
//            refers to it: an agent that dies takes it along.
//   classic: a clsact qdisc (made if absent) plus a direct-action cls_bpf filter under
//            ffff:fff2 (ingress) or ffff:fff3 (egress), built as rtnetlink messages by hand
//            (libnl 3.7 has no cls_bpf). Classic filters outlive the process: the lease inside
//            the program and the journal are what bring the node back.
//
// The attach functions act in the calling thread's network namespace (enter it first). The
// detach functions take the namespace as a path ("" = the calling thread's), enter it on this
// thread only for the duration of the call, and are idempotent: something already gone
// (filter, qdisc, link, device, namespace) is success.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/enum_names.h"
#include "core/result.h"
#include "kernel/qdisc.h"  // TcFilterInfo

struct nl_sock;

namespace chaos::kernel {

enum class TcDirection : std::uint8_t { egress, ingress };
const char* tc_direction_name(TcDirection d);  // "egress", "ingress"
Result<TcDirection> parse_tc_direction(std::string_view s);

// automatic: tcx where the kernel has it, classic when it refuses (EINVAL/EOPNOTSUPP).
enum class AttachMode : std::uint8_t { automatic, tcx, classic };
// The one spelling of each mode: agent.yaml's network.attach, the journal, plan lines, reports.
inline constexpr auto kAttachModeNames = name_table<AttachMode>(
    "attach mode", {{AttachMode::automatic, "auto"}, {AttachMode::tcx, "tcx"}, {AttachMode::classic, "classic"}});
constexpr const auto& names_of(AttachMode) { return kAttachModeNames; }
const char* attach_mode_name(AttachMode m);  // "auto", "tcx", "classic"
Result<AttachMode> parse_attach_mode(std::string_view s);  // the journal's "mode"

// Classic filters: our priority (one tc "tp" of kind bpf, protocol all) and the first handle
// tried; concurrent faults on one hook share the priority and take the next free handle.
inline constexpr std::uint16_t kClassicPrio = 0x0CA0;
inline constexpr std::uint32_t kClassicHandleBase = 0xCA050001;
// The priority of netem's ingress redirect (a u32 filter to the agent's ifb).
inline constexpr std::uint16_t kAgentRedirectPrio = 0x0CA1;
// clsact's hooks (linux/pkt_sched.h: TC_H_CLSACT major, TC_H_MIN_INGRESS / TC_H_MIN_EGRESS).
inline constexpr std::uint32_t kClsactIngressParent = 0xFFFFFFF2;
inline constexpr std::uint32_t kClsactEgressParent = 0xFFFFFFF3;
std::uint32_t clsact_parent(TcDirection d);

// ---- tcx ----

// Creates the link; returns its fd (the caller owns it: closing it detaches). The kernel's
// error comes back as is (EINVAL on kernels without tcx).
Result<int> tcx_attach(int prog_fd, int ifindex, TcDirection dir);

// Finds and detaches a tcx link. With link_id, that link, if it still is a tcx link running a
// program named `prog_name` (and `prog_id`, when non-zero): an id the kernel has since reused
// for something else is left alone. Without link_id, the tcx link on (ifindex, dir) whose
// program has `prog_id` (required then: ifindex alone is ambiguous, links are global while
// ifindexes are per namespace). netns_path is accepted for symmetry and for the log; links are
// found globally.
Result<void> detach_tcx_link(const std::string& netns_path, int ifindex, TcDirection dir,
                             std::uint32_t link_id, std::uint32_t prog_id,
                             const std::string& prog_name);

// ---- classic (clsact + cls_bpf) ----

// Filters on one hook of `ifindex` (all chains): in the calling thread's namespace, or over `sk`
// (any rtnetlink socket). The clsact qdisc itself (find, make, remove) is kernel/clsact.h's.
Result<std::vector<TcFilterInfo>> list_clsact_filters(int ifindex, TcDirection dir);
Result<std::vector<TcFilterInfo>> list_clsact_filters(nl_sock* sk, int ifindex, TcDirection dir);

struct ClassicAttachPlan {
  bool create_clsact = false;  // the slot is empty: attach will create clsact (and own it)
  std::uint16_t prio = kClassicPrio;
  std::uint32_t handle = 0;  // first free handle from kClassicHandleBase
};
// Looks, changes nothing: what classic_attach() would do (so it can be journaled first).
Result<ClassicAttachPlan> plan_classic_attach(int ifindex, TcDirection dir,
                                              std::uint16_t prio = kClassicPrio);
// Adds the filter (NLM_F_EXCL: never replaces anything) under a clsact that is there already
// (kernel/clsact.h ClsactShare makes it when the plan says the slot is empty).
Result<void> classic_add_filter(int ifindex, TcDirection dir, int prog_fd, std::uint16_t prio,
                                std::uint32_t handle, const std::string& name);

// Does this filter carry the agent's marks (a cls_bpf named chaos_cls*, anything at kClassicPrio,
// a u32 at kAgentRedirectPrio)?
bool is_agent_filter(const TcFilterInfo& f);

// Removes our filter (recognised by prio, handle, kind bpf, name `prog_name`, and prog_id when
// non-zero), then, when created_clsact, the clsact qdisc if no filter is left on either hook
// (remove_clsact_if_unused(), kernel/clsact.h).
// created_clsact is for records that own the clsact themselves (no journal: see kernel/clsact.h);
// the agent's journaled clsact is a separate entry, and the Classifier passes false.
Result<void> detach_classic_filter(const std::string& netns_path, int ifindex, TcDirection dir,
                                   std::uint16_t prio, std::uint32_t handle, bool created_clsact,
                                   std::uint32_t prog_id, const std::string& prog_name);

}  // namespace chaos::kernel
