// Traffic-control objects over rtnetlink, built by hand with libnl's message API (never by
// running tc): HTB qdiscs and classes, netem qdiscs with every parameter (64-bit latency,
// jitter and rate included), a u32 match-all filter that redirects to an ifb, and verbatim
// copies of whatever qdisc was there before (kind + raw TCA_OPTIONS), so a foreign root qdisc
// can be put back exactly as the kernel dumped it.
//
// The message builders are pure (they only build an nl_msg) so unit tests can inspect every
// attribute; TcSocket sends them in one network namespace and turns the kernel's answer into
// a Result carrying errno and the kernel's extended-ack text.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/enum_names.h"
#include "core/result.h"
#include "kernel/rtnl.h"

struct nl_msg;
struct nl_sock;
struct nlmsghdr;

namespace chaos::kernel {

// tc handles: "ca05:" is 0xCA050000, class "ca05:2" is 0xCA050002.
constexpr std::uint32_t tc_handle(std::uint16_t major, std::uint16_t minor) {
  return (static_cast<std::uint32_t>(major) << 16) | minor;
}
std::string format_tc_handle(std::uint32_t h);  // "ca05:2", "ca05:", "root", "none"

// Probabilities the way tc encodes them: fraction * UINT32_MAX, rounded.
std::uint32_t probability_u32(double fraction);

// netem's delay distributions: uniform is netem's own (no table: it draws uniformly in
// latency +- jitter); the others are tables iproute2 ships. The names are the experiment's
// delay.distribution (faults/network/spec.h reads them with this table).
enum class NetemDistribution : std::uint8_t { uniform, normal, pareto, paretonormal };
inline constexpr auto kNetemDistributionNames = name_table<NetemDistribution>(
    "netem distribution", {{NetemDistribution::uniform, "uniform"},
                           {NetemDistribution::normal, "normal"},
                           {NetemDistribution::pareto, "pareto"},
                           {NetemDistribution::paretonormal, "paretonormal"}});
constexpr const auto& names_of(NetemDistribution) { return kNetemDistributionNames; }
// The table of a distribution, generated exactly as iproute2's maketable programs (normal.c,
// pareto.c, paretonormal.c) do: 4096 signed 16-bit entries, scale NETEM_DIST_SCALE (8192).
// Empty for uniform.
std::vector<std::int16_t> netem_distribution_table(NetemDistribution d);

struct NetemGeModel {  // Gilbert-Elliott, netem's fields: p, r, h (= 1-h), k1 (= 1-k)
  std::uint32_t p = 0, r = 0, h = 0, k1 = 0;
};

// Everything a netem qdisc takes, in the kernel's units.
struct NetemParams {
  std::uint32_t limit = 1000;  // packets (tc's default)
  std::int64_t latency_ns = 0;
  std::int64_t jitter_ns = 0;
  std::uint32_t delay_corr = 0;
  std::vector<std::int16_t> delay_dist;  // empty: uniform
  std::uint32_t loss = 0;
  std::uint32_t loss_corr = 0;
  std::optional<NetemGeModel> gemodel;  // replaces the random loss model
  std::uint32_t duplicate = 0;
  std::uint32_t duplicate_corr = 0;
  std::uint32_t corrupt = 0;
  std::uint32_t corrupt_corr = 0;
  std::uint32_t reorder = 0;
  std::uint32_t reorder_corr = 0;
  std::uint32_t gap = 0;
  std::uint64_t rate_bytes_per_s = 0;  // 0: no rate limit
};

// A qdisc as the kernel dumps it. `options` is the raw payload of TCA_OPTIONS (whatever its
// inner layout: nested attributes, a bare struct, or netem's struct-then-attributes), which is
// what makes a verbatim re-creation possible.
struct QdiscRecord {
  int ifindex = 0;
  std::uint32_t handle = 0;
  std::uint32_t parent = 0;
  std::string kind;
  std::vector<std::uint8_t> options;
  bool has_options = false;
  bool has_stab = false;  // a size table: the dump does not carry its data, so it cannot be copied
  // Statistics (never part of the configuration): packets queued now, sent and dropped so far.
  std::uint32_t qlen = 0;
  std::uint64_t sent_packets = 0;
  std::uint32_t drops = 0;

  // The kernel's default qdisc (noqueue, pfifo_fast, mq, fq_codel made at device start) has
  // handle 0; anything with a handle was configured by someone.
  bool is_default() const { return handle == 0; }
  // Same configuration: kind, handle, parent and the options byte for byte.
  bool same_config(const QdiscRecord& o) const;
  std::string describe() const;  // "tbf 1: root (24 option bytes)"
  nlohmann::json to_json() const;  // options as hex
  static Result<QdiscRecord> from_json(const nlohmann::json& j);
};

struct ClassRecord {
  std::uint32_t classid = 0;
  std::uint32_t parent = 0;
  std::uint32_t leaf = 0;  // handle of the leaf qdisc (0: none reported)
  std::string kind;
};

// A tc filter as the kernel dumps it (the one filter record: TcSocket::filters() and the clsact
// hooks' list_clsact_filters(), kernel/tc_attach.h).
struct TcFilterInfo {
  std::uint32_t parent = 0;
  std::uint16_t prio = 0;
  std::uint16_t protocol = 0;  // host order (ETH_P_ALL = 3)
  std::uint32_t handle = 0;    // 0: the per-priority entry the kernel lists before its filters
  std::string kind;            // "bpf", "u32", ...
  std::string bpf_name;        // TCA_BPF_NAME
  std::uint32_t bpf_prog_id = 0;
  bool direct_action = false;
};

// ---- message builders (pure) ----

// A qdisc/class/filter request: tcmsg header only.
Result<NlMsg> tc_request(int type, int flags, int ifindex, std::uint32_t parent, std::uint32_t handle,
                         std::uint32_t info = 0, std::size_t size = 0);

// HTB qdisc: TCA_HTB_INIT (version 3, r2q 10, default class `defcls` minor; 0 sends unclassified
// packets to the direct queue, unshaped) + TCA_HTB_DIRECT_QLEN.
Result<NlMsg> build_htb_qdisc(int ifindex, std::uint32_t parent, std::uint32_t handle, std::uint32_t defcls,
                              std::uint32_t direct_qlen, int flags);
// HTB class with rate = ceil = rate_bytes_per_s (TCA_HTB_RATE64/CEIL64 above 32 bits), link
// layer ethernet (no rate tables needed), an explicit quantum and a 1 ms buffer.
Result<NlMsg> build_htb_class(int ifindex, std::uint32_t parent, std::uint32_t classid,
                              std::uint64_t rate_bytes_per_s, int flags);
// netem qdisc: struct tc_netem_qopt followed by TCA_NETEM_* attributes inside TCA_OPTIONS (netem's
// own layout), latency/jitter always also as TCA_NETEM_LATENCY64/JITTER64, rate above 32 bits as
// TCA_NETEM_RATE64.
Result<NlMsg> build_netem_qdisc(int ifindex, std::uint32_t parent, std::uint32_t handle, const NetemParams& p,
                                int flags);
// A verbatim copy of a dumped qdisc, re-parented: kind + raw options.
Result<NlMsg> build_qdisc_copy(const QdiscRecord& q, std::uint32_t parent, int flags);
Result<NlMsg> build_qdisc_delete(int ifindex, std::uint32_t parent, std::uint32_t handle);
Result<NlMsg> build_class_delete(int ifindex, std::uint32_t classid);
// u32 match-all (one key, mask 0) at `prio`, protocol all, with action mirred egress redirect
// to target_ifindex (an ifb): the ingress half of a netem fault.
Result<NlMsg> build_u32_redirect_filter(int ifindex, std::uint32_t parent, std::uint16_t prio, int target_ifindex);
// Deletes every filter at (parent, prio, protocol all).
Result<NlMsg> build_filter_delete(int ifindex, std::uint32_t parent, std::uint16_t prio, const std::string& kind);
// The clsact qdisc's messages live with the clsact itself (kernel/clsact.h).

// ---- the socket ----

class TcSocket {
 public:
  // Bound to the namespace at netns_path ("" = the calling thread's) for its whole life.
  static Result<TcSocket> open_in(const std::string& netns_path);
  TcSocket() = default;
  ~TcSocket();
  TcSocket(TcSocket&& o) noexcept : sk_(o.sk_) { o.sk_ = nullptr; }
  TcSocket& operator=(TcSocket&& o) noexcept;
  TcSocket(const TcSocket&) = delete;
  TcSocket& operator=(const TcSocket&) = delete;

  // Sends a request with NLM_F_ACK and waits for the answer.
  Result<void> request(nl_msg* msg, const std::string& what);

  Result<std::vector<QdiscRecord>> qdiscs(int ifindex);
  Result<std::optional<QdiscRecord>> root_qdisc(int ifindex);
  Result<std::vector<ClassRecord>> classes(int ifindex);
  Result<std::vector<TcFilterInfo>> filters(int ifindex, std::uint32_t parent);

  nl_sock* get() const { return sk_; }

 private:
  explicit TcSocket(nl_sock* sk) : sk_(sk) {}
  Result<void> dump(nl_msg* msg, const std::string& what, const std::function<void(nlmsghdr*)>& on_msg);
  nl_sock* sk_ = nullptr;
};

// Parses one RTM_NEWQDISC message (for tests and the socket).
std::optional<QdiscRecord> parse_qdisc_message(nlmsghdr* hdr);
// Parses one RTM_NEWTFILTER message (cls_bpf's name, program id and flags included).
std::optional<TcFilterInfo> parse_filter_message(nlmsghdr* hdr);

}  // namespace chaos::kernel
