#include "kernel/qdisc.h"

#include <arpa/inet.h>
#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>

#include "kernel/netns.h"

namespace chaos::kernel {

namespace {

// A netem table is 8 KiB; the default netlink message (one page) would not hold it.
constexpr std::size_t kDefaultMsgSize = 16 * 1024;
constexpr std::uint32_t kPschedShift = 6;  // psched ticks are 64 ns

std::uint32_t ns_to_ticks_clamped(std::int64_t ns) {
  if (ns <= 0) return 0;
  auto t = static_cast<std::uint64_t>(ns) >> kPschedShift;
  return t > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(t);
}

std::uint32_t clamp32(std::uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(v); }

std::unexpected<Error> msg_full(const char* what) {
  return fail(std::string("build the ") + what + " netlink message: attribute does not fit", EMSGSIZE);
}

tc_ratespec ethernet_rate(std::uint64_t bytes_per_s) {
  tc_ratespec r{};
  r.linklayer = TC_LINKLAYER_ETHERNET;  // the kernel then computes costs itself: no rate table
  r.rate = clamp32(bytes_per_s);
  return r;
}

std::string to_hex(const std::vector<std::uint8_t>& b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (auto c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

Result<std::vector<std::uint8_t>> from_hex(const std::string& s) {
  if (s.size() % 2) return fail("qdisc options: odd-length hex string", EINVAL);
  std::vector<std::uint8_t> out;
  out.reserve(s.size() / 2);
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); i += 2) {
    int hi = nib(s[i]), lo = nib(s[i + 1]);
    if (hi < 0 || lo < 0) return fail("qdisc options: not a hex string", EINVAL);
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

// ---- distribution tables (iproute2's netem/maketable programs, same arithmetic)

constexpr int kTableSize = 16384;
constexpr double kTableFactor = NETEM_DIST_SCALE;

double normal_cdf(double x) { return .5 + .5 * std::erf(x / std::sqrt(2.0)); }

// table[i] = the x whose normal CDF rounds to i/16384 (the last such x of the sweep).
std::vector<double> normal_inverse_table() {
  std::vector<double> table(kTableSize + 1, 0.0);
  for (double x = -10.0; x < 10.05; x += .00005) {
    long i = std::lrint(kTableSize * normal_cdf(x));
    if (i >= 0 && i <= kTableSize) table[static_cast<std::size_t>(i)] = x;
  }
  return table;
}

int pareto_value(int i) {  // paretonormal.c's paretovalue()
  i = 65536 - 4 * i;
  double d = static_cast<double>(i) / 65536.0;
  d = 1.0 / std::pow(d, 1.0 / 3.0);
  d -= 1.5;
  d *= (4.0 / 3.0) * kTableFactor;
  if (d > 32767) d = 32767;
  return static_cast<int>(std::lrint(d));
}

std::int16_t clamp16(long v) {
  return static_cast<std::int16_t>(std::clamp<long>(v, SHRT_MIN, SHRT_MAX));
}

// NETEM_LOSS nested attribute of the Gilbert-Elliott model.
constexpr int kNetemLossGe = 2;  // NETEM_LOSS_GE

}  // namespace

std::string format_tc_handle(std::uint32_t h) {
  if (h == TC_H_ROOT) return "root";
  if (h == 0) return "none";
  char buf[32];
  if (TC_H_MIN(h) == 0)
    std::snprintf(buf, sizeof buf, "%x:", TC_H_MAJ(h) >> 16);
  else
    std::snprintf(buf, sizeof buf, "%x:%x", TC_H_MAJ(h) >> 16, TC_H_MIN(h));
  return buf;
}

std::uint32_t probability_u32(double fraction) {
  if (!(fraction > 0)) return 0;
  if (fraction >= 1) return UINT32_MAX;
  return static_cast<std::uint32_t>(std::llrint(fraction * static_cast<double>(UINT32_MAX)));
}

std::vector<std::int16_t> netem_distribution_table(NetemDistribution d) {
  std::vector<std::int16_t> out;
  switch (d) {
    case NetemDistribution::uniform:
      return out;
    case NetemDistribution::normal: {
      out.reserve(kTableSize / 4);
      auto t = normal_inverse_table();
      for (int i = 0; i < kTableSize; i += 4) out.push_back(clamp16(std::lrint(t[i] * kTableFactor)));
      return out;
    }
    case NetemDistribution::pareto:
      out.reserve(kTableSize / 4);
      for (int i = 65536; i > 0; i -= 16) {
        double v = static_cast<double>(i) / 65536.0;
        v = 1.0 / std::pow(v, 1.0 / 3.0);
        v -= 1.5;
        v *= (4.0 / 3.0) * kTableFactor;
        if (v > 32767) v = 32767;
        out.push_back(static_cast<std::int16_t>(std::lrint(v)));
      }
      return out;
    case NetemDistribution::paretonormal: {
      out.reserve(kTableSize / 4);
      auto t = normal_inverse_table();
      for (int i = 0; i < kTableSize; i += 4) {
        int normvalue = static_cast<int>(std::lrint(t[i] * kTableFactor));
        int parvalue = pareto_value(i);
        out.push_back(clamp16((normvalue + 3 * parvalue) / 4));
      }
      return out;
    }
  }
  return out;
}

// ---- QdiscRecord

bool QdiscRecord::same_config(const QdiscRecord& o) const {
  return kind == o.kind && handle == o.handle && parent == o.parent && has_options == o.has_options &&
         options == o.options;
}

std::string QdiscRecord::describe() const {
  return kind + " " + format_tc_handle(handle) + " parent " + format_tc_handle(parent) + " (" +
         std::to_string(options.size()) + " option bytes)";
}

nlohmann::json QdiscRecord::to_json() const {
  nlohmann::json j{{"ifindex", ifindex}, {"handle", handle}, {"parent", parent}, {"kind", kind}};
  if (has_options) j["options"] = to_hex(options);
  if (has_stab) j["stab"] = true;
  return j;
}

Result<QdiscRecord> QdiscRecord::from_json(const nlohmann::json& j) {
  try {
    QdiscRecord q;
    q.ifindex = j.value("ifindex", 0);
    q.handle = j.at("handle").get<std::uint32_t>();
    q.parent = j.at("parent").get<std::uint32_t>();
    q.kind = j.at("kind").get<std::string>();
    q.has_stab = j.value("stab", false);
    if (j.contains("options")) {
      auto b = from_hex(j["options"].get<std::string>());
      if (!b) return std::unexpected(b.error());
      q.options = std::move(*b);
      q.has_options = true;
    }
    return q;
  } catch (const std::exception& e) {
    return fail(std::string("qdisc record: ") + e.what(), EINVAL);
  }
}

std::optional<QdiscRecord> parse_qdisc_message(nlmsghdr* hdr) {
  if (hdr->nlmsg_type != RTM_NEWQDISC) return std::nullopt;
  auto* t = static_cast<tcmsg*>(nlmsg_data(hdr));
  nlattr* tb[TCA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) return std::nullopt;
  QdiscRecord q;
  q.ifindex = t->tcm_ifindex;
  q.handle = t->tcm_handle;
  q.parent = t->tcm_parent;
  if (tb[TCA_KIND]) q.kind = nla_get_string(tb[TCA_KIND]);
  if (tb[TCA_OPTIONS]) {
    auto* p = static_cast<const std::uint8_t*>(nla_data(tb[TCA_OPTIONS]));
    q.options.assign(p, p + nla_len(tb[TCA_OPTIONS]));
    q.has_options = true;
  }
  q.has_stab = tb[TCA_STAB] != nullptr;
  if (tb[TCA_STATS2]) {
    nlattr* st[TCA_STATS_MAX + 1] = {};
    if (nla_parse_nested(st, TCA_STATS_MAX, tb[TCA_STATS2], nullptr) == 0) {
      if (st[TCA_STATS_QUEUE] && nla_len(st[TCA_STATS_QUEUE]) >= static_cast<int>(sizeof(gnet_stats_queue))) {
        gnet_stats_queue gq{};
        std::memcpy(&gq, nla_data(st[TCA_STATS_QUEUE]), sizeof gq);
        q.qlen = gq.qlen;
        q.drops = gq.drops;
      }
      if (st[TCA_STATS_BASIC] && nla_len(st[TCA_STATS_BASIC]) >= static_cast<int>(sizeof(gnet_stats_basic))) {
        gnet_stats_basic gb{};
        std::memcpy(&gb, nla_data(st[TCA_STATS_BASIC]), sizeof gb);
        q.sent_packets = gb.packets;
      }
    }
  } else if (tb[TCA_STATS] && nla_len(tb[TCA_STATS]) >= static_cast<int>(sizeof(tc_stats))) {
    tc_stats ts{};
    std::memcpy(&ts, nla_data(tb[TCA_STATS]), sizeof ts);
    q.qlen = ts.qlen;
    q.drops = ts.drops;
    q.sent_packets = ts.packets;
  }
  return q;
}

// ---- builders

Result<NlMsg> tc_request(int type, int flags, int ifindex, std::uint32_t parent, std::uint32_t handle,
                         std::uint32_t info, std::size_t size) {
  return tc_message(type, flags, ifindex, parent, handle, info, size ? size : kDefaultMsgSize);
}

Result<NlMsg> build_htb_qdisc(int ifindex, std::uint32_t parent, std::uint32_t handle, std::uint32_t defcls,
                              std::uint32_t direct_qlen, int flags) {
  auto m = tc_request(RTM_NEWQDISC, NLM_F_REQUEST | flags, ifindex, parent, handle);
  if (!m) return m;
  nl_msg* msg = m->get();
  tc_htb_glob g{};
  g.version = TC_HTB_PROTOVER;
  g.rate2quantum = 10;
  g.defcls = defcls;
  nlattr* opts = nullptr;
  if (nla_put_string(msg, TCA_KIND, "htb") < 0 || !(opts = nla_nest_start(msg, TCA_OPTIONS)) ||
      nla_put(msg, TCA_HTB_INIT, sizeof g, &g) < 0 || nla_put_u32(msg, TCA_HTB_DIRECT_QLEN, direct_qlen) < 0)
    return msg_full("htb qdisc");
  nla_nest_end(msg, opts);
  return m;
}

Result<NlMsg> build_htb_class(int ifindex, std::uint32_t parent, std::uint32_t classid,
                              std::uint64_t rate_bytes_per_s, int flags) {
  if (rate_bytes_per_s == 0) return fail("htb class " + format_tc_handle(classid) + ": rate 0", EINVAL);
  auto m = tc_request(RTM_NEWTCLASS, NLM_F_REQUEST | flags, ifindex, parent, classid);
  if (!m) return m;
  nl_msg* msg = m->get();
  tc_htb_opt o{};
  o.rate = ethernet_rate(rate_bytes_per_s);
  o.ceil = o.rate;
  // A 1 ms burst at the class rate: the rate is far above the link, so this never holds a packet.
  o.buffer = o.cbuffer = ns_to_ticks_clamped(1'000'000);
  // Explicit, so the kernel does not derive one from rate/r2q and warn that it is too big.
  o.quantum = 60000;
  nlattr* opts = nullptr;
  if (nla_put_string(msg, TCA_KIND, "htb") < 0 || !(opts = nla_nest_start(msg, TCA_OPTIONS)) ||
      nla_put(msg, TCA_HTB_PARMS, sizeof o, &o) < 0)
    return msg_full("htb class");
  if (rate_bytes_per_s > UINT32_MAX) {
    std::uint64_t r = rate_bytes_per_s;
    if (nla_put_u64(msg, TCA_HTB_RATE64, r) < 0 || nla_put_u64(msg, TCA_HTB_CEIL64, r) < 0)
      return msg_full("htb class");
  }
  nla_nest_end(msg, opts);
  return m;
}

Result<NlMsg> build_netem_qdisc(int ifindex, std::uint32_t parent, std::uint32_t handle, const NetemParams& p,
                                int flags) {
  if (p.latency_ns < 0 || p.jitter_ns < 0) return fail("netem: negative latency or jitter", EINVAL);
  if (!p.delay_dist.empty() && (p.jitter_ns == 0 || p.delay_dist.size() > NETEM_DIST_MAX))
    return fail("netem: a delay distribution needs a jitter and at most 16384 entries", EINVAL);
  auto m = tc_request(RTM_NEWQDISC, NLM_F_REQUEST | flags, ifindex, parent, handle, 0,
                      kDefaultMsgSize + p.delay_dist.size() * sizeof(std::int16_t));
  if (!m) return m;
  nl_msg* msg = m->get();
  if (nla_put_string(msg, TCA_KIND, "netem") < 0) return msg_full("netem qdisc");

  tc_netem_qopt q{};
  q.limit = p.limit;
  // The 32-bit fields are in psched ticks; the 64-bit attributes below carry the exact values and
  // take precedence in every kernel that has them (4.3+), so large delays do not wrap.
  q.latency = ns_to_ticks_clamped(p.latency_ns);
  q.jitter = ns_to_ticks_clamped(p.jitter_ns);
  q.loss = p.gemodel ? 0 : p.loss;
  q.gap = p.gap;
  q.duplicate = p.duplicate;
  // netem's options are not a nest: a struct tc_netem_qopt, then attributes, all in TCA_OPTIONS.
  auto* opts = reinterpret_cast<nlattr*>(nlmsg_tail(nlmsg_hdr(msg)));
  if (nla_put(msg, TCA_OPTIONS, sizeof q, &q) < 0) return msg_full("netem qdisc");

  tc_netem_corr corr{};
  corr.delay_corr = p.delay_corr;
  corr.loss_corr = p.loss_corr;
  corr.dup_corr = p.duplicate_corr;
  if (nla_put(msg, TCA_NETEM_CORR, sizeof corr, &corr) < 0) return msg_full("netem qdisc");
  if (!p.delay_dist.empty() &&
      nla_put(msg, TCA_NETEM_DELAY_DIST, static_cast<int>(p.delay_dist.size() * sizeof(std::int16_t)),
              p.delay_dist.data()) < 0)
    return msg_full("netem qdisc");
  if (p.reorder) {
    tc_netem_reorder r{};
    r.probability = p.reorder;
    r.correlation = p.reorder_corr;
    if (nla_put(msg, TCA_NETEM_REORDER, sizeof r, &r) < 0) return msg_full("netem qdisc");
  }
  if (p.corrupt) {
    tc_netem_corrupt c{};
    c.probability = p.corrupt;
    c.correlation = p.corrupt_corr;
    if (nla_put(msg, TCA_NETEM_CORRUPT, sizeof c, &c) < 0) return msg_full("netem qdisc");
  }
  if (p.gemodel) {
    tc_netem_gemodel ge{};
    ge.p = p.gemodel->p;
    ge.r = p.gemodel->r;
    ge.h = p.gemodel->h;
    ge.k1 = p.gemodel->k1;
    nlattr* loss = nla_nest_start(msg, TCA_NETEM_LOSS);
    if (!loss || nla_put(msg, kNetemLossGe, sizeof ge, &ge) < 0) return msg_full("netem qdisc");
    nla_nest_end(msg, loss);
  }
  if (p.rate_bytes_per_s) {
    tc_netem_rate r{};
    r.rate = clamp32(p.rate_bytes_per_s);
    if (nla_put(msg, TCA_NETEM_RATE, sizeof r, &r) < 0) return msg_full("netem qdisc");
    if (p.rate_bytes_per_s > UINT32_MAX && nla_put_u64(msg, TCA_NETEM_RATE64, p.rate_bytes_per_s) < 0)
      return msg_full("netem qdisc");
  }
  if (p.latency_ns && nla_put_s64(msg, TCA_NETEM_LATENCY64, p.latency_ns) < 0) return msg_full("netem qdisc");
  if (p.jitter_ns && nla_put_s64(msg, TCA_NETEM_JITTER64, p.jitter_ns) < 0) return msg_full("netem qdisc");
  opts->nla_len = static_cast<std::uint16_t>(reinterpret_cast<char*>(nlmsg_tail(nlmsg_hdr(msg))) -
                                             reinterpret_cast<char*>(opts));
  return m;
}

Result<NlMsg> build_qdisc_copy(const QdiscRecord& q, std::uint32_t parent, int flags) {
  if (q.has_stab) return fail("qdisc " + q.describe() + " has a size table, which a dump cannot reproduce", ENOTSUP);
  auto m = tc_request(RTM_NEWQDISC, NLM_F_REQUEST | flags, q.ifindex, parent, q.handle, 0,
                      kDefaultMsgSize + q.options.size());
  if (!m) return m;
  if (nla_put_string(m->get(), TCA_KIND, q.kind.c_str()) < 0) return msg_full("qdisc copy");
  if (q.has_options &&
      nla_put(m->get(), TCA_OPTIONS, static_cast<int>(q.options.size()), q.options.data()) < 0)
    return msg_full("qdisc copy");
  return m;
}

Result<NlMsg> build_qdisc_delete(int ifindex, std::uint32_t parent, std::uint32_t handle) {
  return tc_request(RTM_DELQDISC, NLM_F_REQUEST, ifindex, parent, handle);
}

Result<NlMsg> build_class_delete(int ifindex, std::uint32_t classid) {
  return tc_request(RTM_DELTCLASS, NLM_F_REQUEST, ifindex, TC_H_MAJ(classid), classid);
}

Result<NlMsg> build_u32_redirect_filter(int ifindex, std::uint32_t parent, std::uint16_t prio,
                                        int target_ifindex) {
  auto m = tc_request(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, ifindex, parent, 0,
                      TC_H_MAKE(static_cast<std::uint32_t>(prio) << 16, htons(ETH_P_ALL)));
  if (!m) return m;
  nl_msg* msg = m->get();
  // One key that matches every packet: mask 0, value 0 (tc_u32_sel ends in a flexible array).
  alignas(tc_u32_sel) std::uint8_t s[sizeof(tc_u32_sel) + sizeof(tc_u32_key)] = {};
  auto* sel = reinterpret_cast<tc_u32_sel*>(s);
  sel->flags = TC_U32_TERMINAL;
  sel->nkeys = 1;
  tc_mirred mir{};
  mir.action = TC_ACT_STOLEN;
  mir.eaction = TCA_EGRESS_REDIR;
  mir.ifindex = static_cast<std::uint32_t>(target_ifindex);
  nlattr *opts = nullptr, *acts = nullptr, *act = nullptr, *aopts = nullptr;
  if (nla_put_string(msg, TCA_KIND, "u32") < 0 || !(opts = nla_nest_start(msg, TCA_OPTIONS)) ||
      nla_put(msg, TCA_U32_SEL, sizeof s, s) < 0 || !(acts = nla_nest_start(msg, TCA_U32_ACT)) ||
      !(act = nla_nest_start(msg, 1)) || nla_put_string(msg, TCA_ACT_KIND, "mirred") < 0 ||
      !(aopts = nla_nest_start(msg, TCA_ACT_OPTIONS)) || nla_put(msg, TCA_MIRRED_PARMS, sizeof mir, &mir) < 0)
    return msg_full("u32 redirect filter");
  nla_nest_end(msg, aopts);
  nla_nest_end(msg, act);
  nla_nest_end(msg, acts);
  nla_nest_end(msg, opts);
  return m;
}

Result<NlMsg> build_filter_delete(int ifindex, std::uint32_t parent, std::uint16_t prio, const std::string& kind) {
  auto m = tc_request(RTM_DELTFILTER, NLM_F_REQUEST, ifindex, parent, 0,
                      TC_H_MAKE(static_cast<std::uint32_t>(prio) << 16, htons(ETH_P_ALL)));
  if (!m) return m;
  // With TCA_KIND the kernel refuses to delete a filter of another kind at that priority.
  if (!kind.empty() && nla_put_string(m->get(), TCA_KIND, kind.c_str()) < 0) return msg_full("filter delete");
  return m;
}

// ---- TcSocket

Result<TcSocket> TcSocket::open_in(const std::string& netns_path) {
  std::optional<NetnsGuard> guard;
  if (!netns_path.empty()) {
    auto g = NetnsGuard::enter(netns_path);
    if (!g) return wrap(g.error(), "tc netlink socket");
    guard.emplace(std::move(*g));
  }
  // Dumps of a busy host can be large.
  auto sk = open_route_socket(64 * 1024);
  if (!sk) return std::unexpected(sk.error());
  return TcSocket(sk->release());
}

TcSocket::~TcSocket() {
  if (sk_) nl_socket_free(sk_);
}

TcSocket& TcSocket::operator=(TcSocket&& o) noexcept {
  if (this != &o) {
    if (sk_) nl_socket_free(sk_);
    sk_ = o.sk_;
    o.sk_ = nullptr;
  }
  return *this;
}

Result<void> TcSocket::request(nl_msg* msg, const std::string& what) {
  nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
  return rtnl_transact(sk_, msg, what, {});
}

Result<void> TcSocket::dump(nl_msg* msg, const std::string& what, const std::function<void(nlmsghdr*)>& on_msg) {
  return rtnl_transact(sk_, msg, what, on_msg);
}

Result<std::vector<QdiscRecord>> TcSocket::qdiscs(int ifindex) {
  auto m = tc_request(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, ifindex, 0, 0, 0, 4096);
  if (!m) return std::unexpected(m.error());
  std::vector<QdiscRecord> out;
  auto r = dump(m->get(), "list qdiscs of ifindex " + std::to_string(ifindex), [&](nlmsghdr* h) {
    if (auto q = parse_qdisc_message(h); q && q->ifindex == ifindex) out.push_back(std::move(*q));
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::optional<QdiscRecord>> TcSocket::root_qdisc(int ifindex) {
  auto all = qdiscs(ifindex);
  if (!all) return std::unexpected(all.error());
  for (auto& q : *all)
    if (q.parent == TC_H_ROOT) return std::optional<QdiscRecord>(std::move(q));
  return std::optional<QdiscRecord>();
}

Result<std::vector<ClassRecord>> TcSocket::classes(int ifindex) {
  auto m = tc_request(RTM_GETTCLASS, NLM_F_REQUEST | NLM_F_DUMP, ifindex, 0, 0, 0, 4096);
  if (!m) return std::unexpected(m.error());
  std::vector<ClassRecord> out;
  auto r = dump(m->get(), "list classes of ifindex " + std::to_string(ifindex), [&](nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWTCLASS) return;
    auto* t = static_cast<tcmsg*>(nlmsg_data(h));
    if (t->tcm_ifindex != ifindex) return;
    nlattr* tb[TCA_MAX + 1] = {};
    if (nlmsg_parse(h, sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) return;
    ClassRecord c;
    c.classid = t->tcm_handle;
    c.parent = t->tcm_parent;
    c.leaf = t->tcm_info;
    if (tb[TCA_KIND]) c.kind = nla_get_string(tb[TCA_KIND]);
    out.push_back(std::move(c));
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::vector<TcFilterInfo>> TcSocket::filters(int ifindex, std::uint32_t parent) {
  auto m = tc_request(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, ifindex, parent, 0, 0, 4096);
  if (!m) return std::unexpected(m.error());
  std::vector<TcFilterInfo> out;
  auto r = dump(m->get(), "list filters of " + format_tc_handle(parent) + " on ifindex " + std::to_string(ifindex),
                [&](nlmsghdr* h) {
                  if (auto f = parse_filter_message(h)) out.push_back(std::move(*f));
                });
  if (!r) {
    // A qdisc without filter support (or gone) answers EINVAL/ENOENT/EOPNOTSUPP: no filters.
    if (r.error().code == EINVAL || r.error().code == ENOENT || r.error().code == EOPNOTSUPP) return out;
    return std::unexpected(r.error());
  }
  return out;
}

std::optional<TcFilterInfo> parse_filter_message(nlmsghdr* hdr) {
  if (hdr->nlmsg_type != RTM_NEWTFILTER) return std::nullopt;
  auto* t = static_cast<tcmsg*>(nlmsg_data(hdr));
  nlattr* tb[TCA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) return std::nullopt;
  TcFilterInfo f;
  f.parent = t->tcm_parent;
  f.handle = t->tcm_handle;
  f.prio = static_cast<std::uint16_t>(TC_H_MAJ(t->tcm_info) >> 16);
  f.protocol = ntohs(static_cast<std::uint16_t>(TC_H_MIN(t->tcm_info)));
  if (tb[TCA_KIND]) f.kind = nla_get_string(tb[TCA_KIND]);
  if (f.kind == "bpf" && tb[TCA_OPTIONS]) {
    nlattr* ob[TCA_BPF_MAX + 1] = {};
    if (nla_parse_nested(ob, TCA_BPF_MAX, tb[TCA_OPTIONS], nullptr) == 0) {
      if (ob[TCA_BPF_NAME]) f.bpf_name = nla_get_string(ob[TCA_BPF_NAME]);
      if (ob[TCA_BPF_ID]) f.bpf_prog_id = nla_get_u32(ob[TCA_BPF_ID]);
      if (ob[TCA_BPF_FLAGS]) f.direct_action = nla_get_u32(ob[TCA_BPF_FLAGS]) & TCA_BPF_FLAG_ACT_DIRECT;
    }
  }
  return f;
}

}  // namespace chaos::kernel
