// The rtnetlink messages behind netem faults, inspected attribute by attribute (no kernel needed):
// netem (every parameter, 64-bit latency/jitter/rate), HTB qdisc and classes, the ingress u32
// redirect, verbatim qdisc copies; netem's distribution tables against iproute2's; the spec to
// kernel-unit conversion and the caps.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/parser.h"
#include "faults/network/config.h"
#include "faults/network/netem.h"
#include "faults/network/spec.h"
#include "kernel/ifb.h"
#include "kernel/qdisc.h"
#include "runner/families.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using kernel::NetemParams;
using ::testing::HasSubstr;

struct Parsed {
  nlmsghdr* hdr = nullptr;
  tcmsg* tc = nullptr;
  nlattr* tb[TCA_MAX + 1] = {};
};

Parsed parse(nl_msg* m) {
  Parsed p;
  p.hdr = nlmsg_hdr(m);
  p.tc = static_cast<tcmsg*>(nlmsg_data(p.hdr));
  EXPECT_EQ(nlmsg_parse(p.hdr, sizeof(tcmsg), p.tb, TCA_MAX, nullptr), 0);
  return p;
}

template <class T>
T get_struct(nlattr* a) {
  T v{};
  EXPECT_GE(nla_len(a), static_cast<int>(sizeof(T)));
  std::memcpy(&v, nla_data(a), sizeof(T));
  return v;
}

// netem's TCA_OPTIONS: tc_netem_qopt, then attributes.
struct NetemOpts {
  tc_netem_qopt q{};
  nlattr* tb[TCA_NETEM_MAX + 1] = {};
};

NetemOpts netem_opts(nlattr* options) {
  NetemOpts o;
  EXPECT_GE(nla_len(options), static_cast<int>(sizeof(tc_netem_qopt)));
  std::memcpy(&o.q, nla_data(options), sizeof o.q);
  int rest = nla_len(options) - NLA_ALIGN(sizeof(tc_netem_qopt));
  auto* first = reinterpret_cast<nlattr*>(static_cast<char*>(nla_data(options)) + NLA_ALIGN(sizeof(tc_netem_qopt)));
  EXPECT_EQ(nla_parse(o.tb, TCA_NETEM_MAX, first, rest, nullptr), 0);
  return o;
}

TEST(NetemProbability, MatchesTcEncoding) {
  EXPECT_EQ(kernel::probability_u32(0), 0u);
  EXPECT_EQ(kernel::probability_u32(1), UINT32_MAX);
  EXPECT_EQ(kernel::probability_u32(0.1), 429496730u);  // tc: rint(0.1 * UINT32_MAX)
  EXPECT_EQ(kernel::probability_u32(0.25), 1073741824u);
  EXPECT_EQ(kernel::probability_u32(-1), 0u);
}

TEST(NetemHandles, Format) {
  EXPECT_EQ(kernel::format_tc_handle(kernel::tc_handle(0xCA05, 0)), "ca05:");
  EXPECT_EQ(kernel::format_tc_handle(kernel::tc_handle(0xCA05, 2)), "ca05:2");
  EXPECT_EQ(kernel::format_tc_handle(TC_H_ROOT), "root");
}

std::vector<std::int16_t> read_dist(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::int16_t> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    for (int v; ss >> v;) out.push_back(static_cast<std::int16_t>(v));
  }
  return out;
}

using kernel::NetemDistribution;

class DistTable : public ::testing::TestWithParam<NetemDistribution> {};

TEST_P(DistTable, IdenticalToIproute2) {
  auto t = kernel::netem_distribution_table(GetParam());
  ASSERT_EQ(t.size(), 4096u);
  // iproute2's file is named like the distribution (normal.dist): the name table's spelling.
  const std::string name(chaos::name(GetParam()));
  std::string installed;
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu/tc/", "/usr/lib/tc/", "/usr/lib64/tc/"})
    if (std::filesystem::exists(std::string(dir) + name + ".dist")) installed = std::string(dir) + name + ".dist";
  if (installed.empty()) GTEST_SKIP() << "iproute2's " << name << ".dist is not installed to compare with";
  auto want = read_dist(installed);
  ASSERT_EQ(want.size(), 4096u) << installed;
  int differ = 0;
  for (std::size_t i = 0; i < want.size(); ++i) differ += t[i] != want[i];
  EXPECT_EQ(differ, 0) << "entries differing from " << installed;
}

INSTANTIATE_TEST_SUITE_P(All, DistTable,
                         ::testing::Values(NetemDistribution::normal, NetemDistribution::pareto,
                                           NetemDistribution::paretonormal),
                         [](const auto& info) { return std::string(name(info.param)); });

TEST(DistTableShape, NormalIsSymmetricWithUnitSigma) {
  auto t = kernel::netem_distribution_table(NetemDistribution::normal);
  ASSERT_EQ(t.size(), 4096u);
  double sum = 0, sq = 0;
  for (auto v : t) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  double mean = sum / t.size() / NETEM_DIST_SCALE;
  double sd = std::sqrt(sq / t.size()) / NETEM_DIST_SCALE;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(sd, 1.0, 0.02);  // netem scales the table by sigma = jitter
  EXPECT_TRUE(std::is_sorted(t.begin(), t.end()));
  EXPECT_TRUE(kernel::netem_distribution_table(NetemDistribution::uniform).empty()) << "netem's own: no table";
}

TEST(NetemMessage, EveryParameter) {
  NetemParams p;
  p.limit = 1000;
  p.latency_ns = 100'000'000;
  p.jitter_ns = 10'000'000;
  p.delay_corr = kernel::probability_u32(0.25);
  p.delay_dist = kernel::netem_distribution_table(NetemDistribution::normal);
  p.loss = kernel::probability_u32(0.1);
  p.loss_corr = kernel::probability_u32(0.5);
  p.duplicate = kernel::probability_u32(0.01);
  p.duplicate_corr = 7;
  p.corrupt = kernel::probability_u32(0.02);
  p.corrupt_corr = 8;
  p.reorder = kernel::probability_u32(0.3);
  p.reorder_corr = 9;
  p.gap = 5;
  p.rate_bytes_per_s = 125'000;
  auto m = kernel::build_netem_qdisc(7, 0xCA050002, 0, p, NLM_F_CREATE | NLM_F_EXCL);
  ASSERT_TRUE(m) << m.error().text();
  auto pm = parse(m->get());
  EXPECT_EQ(pm.hdr->nlmsg_type, RTM_NEWQDISC);
  EXPECT_EQ(pm.hdr->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REQUEST), NLM_F_CREATE | NLM_F_EXCL | NLM_F_REQUEST);
  EXPECT_EQ(pm.tc->tcm_ifindex, 7);
  EXPECT_EQ(pm.tc->tcm_parent, 0xCA050002u);
  EXPECT_EQ(pm.tc->tcm_handle, 0u);
  ASSERT_TRUE(pm.tb[TCA_KIND]);
  EXPECT_STREQ(nla_get_string(pm.tb[TCA_KIND]), "netem");
  ASSERT_TRUE(pm.tb[TCA_OPTIONS]);
  auto o = netem_opts(pm.tb[TCA_OPTIONS]);
  EXPECT_EQ(o.q.limit, 1000u);
  EXPECT_EQ(o.q.latency, 100'000'000u >> 6) << "psched ticks of 64 ns";
  EXPECT_EQ(o.q.jitter, 10'000'000u >> 6);
  EXPECT_EQ(o.q.loss, kernel::probability_u32(0.1));
  EXPECT_EQ(o.q.duplicate, kernel::probability_u32(0.01));
  EXPECT_EQ(o.q.gap, 5u);
  ASSERT_TRUE(o.tb[TCA_NETEM_CORR]);
  auto corr = get_struct<tc_netem_corr>(o.tb[TCA_NETEM_CORR]);
  EXPECT_EQ(corr.delay_corr, kernel::probability_u32(0.25));
  EXPECT_EQ(corr.loss_corr, kernel::probability_u32(0.5));
  EXPECT_EQ(corr.dup_corr, 7u);
  ASSERT_TRUE(o.tb[TCA_NETEM_DELAY_DIST]);
  ASSERT_EQ(nla_len(o.tb[TCA_NETEM_DELAY_DIST]), 4096 * 2);
  EXPECT_EQ(std::memcmp(nla_data(o.tb[TCA_NETEM_DELAY_DIST]), p.delay_dist.data(), 8192), 0);
  ASSERT_TRUE(o.tb[TCA_NETEM_REORDER]);
  auto ro = get_struct<tc_netem_reorder>(o.tb[TCA_NETEM_REORDER]);
  EXPECT_EQ(ro.probability, kernel::probability_u32(0.3));
  EXPECT_EQ(ro.correlation, 9u);
  ASSERT_TRUE(o.tb[TCA_NETEM_CORRUPT]);
  auto co = get_struct<tc_netem_corrupt>(o.tb[TCA_NETEM_CORRUPT]);
  EXPECT_EQ(co.probability, kernel::probability_u32(0.02));
  EXPECT_EQ(co.correlation, 8u);
  ASSERT_TRUE(o.tb[TCA_NETEM_RATE]);
  EXPECT_EQ(get_struct<tc_netem_rate>(o.tb[TCA_NETEM_RATE]).rate, 125'000u);
  EXPECT_FALSE(o.tb[TCA_NETEM_RATE64]) << "only above 32 bits";
  ASSERT_TRUE(o.tb[TCA_NETEM_LATENCY64]);
  EXPECT_EQ(nla_get_s64(o.tb[TCA_NETEM_LATENCY64]), 100'000'000);
  ASSERT_TRUE(o.tb[TCA_NETEM_JITTER64]);
  EXPECT_EQ(nla_get_s64(o.tb[TCA_NETEM_JITTER64]), 10'000'000);
  EXPECT_FALSE(o.tb[TCA_NETEM_LOSS]) << "no Gilbert-Elliott model asked for";
}

TEST(NetemMessage, LargeValuesUse64BitAttributes) {
  NetemParams p;
  p.latency_ns = 600'000'000'000;  // 10 minutes: 2^32 ticks of 64 ns are only 274 s
  p.jitter_ns = 300'000'000'000;
  p.rate_bytes_per_s = 10'000'000'000;  // 80 Gbit/s: above 2^32 bytes/s
  auto m = kernel::build_netem_qdisc(3, 0xCA050002, 0, p, NLM_F_CREATE);
  ASSERT_TRUE(m);
  auto o = netem_opts(parse(m->get()).tb[TCA_OPTIONS]);
  EXPECT_EQ(o.q.latency, UINT32_MAX) << "the 32-bit field saturates";
  EXPECT_EQ(nla_get_s64(o.tb[TCA_NETEM_LATENCY64]), 600'000'000'000);
  EXPECT_EQ(nla_get_s64(o.tb[TCA_NETEM_JITTER64]), 300'000'000'000);
  EXPECT_EQ(get_struct<tc_netem_rate>(o.tb[TCA_NETEM_RATE]).rate, UINT32_MAX);
  ASSERT_TRUE(o.tb[TCA_NETEM_RATE64]);
  EXPECT_EQ(nla_get_u64(o.tb[TCA_NETEM_RATE64]), 10'000'000'000ull);
  EXPECT_FALSE(o.tb[TCA_NETEM_DELAY_DIST]);
}

TEST(NetemMessage, GilbertElliott) {
  NetemParams p;
  p.loss = kernel::probability_u32(0.5);
  p.gemodel = kernel::NetemGeModel{1, 2, 3, 4};
  auto m = kernel::build_netem_qdisc(3, 0xCA050002, 0, p, NLM_F_CREATE);
  ASSERT_TRUE(m);
  auto o = netem_opts(parse(m->get()).tb[TCA_OPTIONS]);
  EXPECT_EQ(o.q.loss, 0u) << "the GE model replaces random loss";
  ASSERT_TRUE(o.tb[TCA_NETEM_LOSS]);
  nlattr* ge[NETEM_LOSS_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(ge, NETEM_LOSS_MAX, o.tb[TCA_NETEM_LOSS], nullptr), 0);
  ASSERT_TRUE(ge[NETEM_LOSS_GE]);
  auto g = get_struct<tc_netem_gemodel>(ge[NETEM_LOSS_GE]);
  EXPECT_EQ(g.p, 1u);
  EXPECT_EQ(g.r, 2u);
  EXPECT_EQ(g.h, 3u);
  EXPECT_EQ(g.k1, 4u);
}

TEST(NetemMessage, RefusesDistributionWithoutJitter) {
  NetemParams p;
  p.latency_ns = 1'000'000;
  p.delay_dist = {1, 2, 3};
  EXPECT_FALSE(kernel::build_netem_qdisc(3, 0xCA050002, 0, p, NLM_F_CREATE));
}

TEST(HtbMessage, RootWithDirectQueue) {
  auto m = kernel::build_htb_qdisc(4, TC_H_ROOT, 0xCA050000, 0, 1000, NLM_F_CREATE | NLM_F_EXCL);
  ASSERT_TRUE(m);
  auto pm = parse(m->get());
  EXPECT_EQ(pm.tc->tcm_parent, TC_H_ROOT);
  EXPECT_EQ(pm.tc->tcm_handle, 0xCA050000u);
  EXPECT_STREQ(nla_get_string(pm.tb[TCA_KIND]), "htb");
  nlattr* tb[TCA_HTB_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(tb, TCA_HTB_MAX, pm.tb[TCA_OPTIONS], nullptr), 0);
  ASSERT_TRUE(tb[TCA_HTB_INIT]);
  auto g = get_struct<tc_htb_glob>(tb[TCA_HTB_INIT]);
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.rate2quantum, 10u);
  EXPECT_EQ(g.defcls, 0u) << "unclassified packets: the direct queue, unshaped";
  ASSERT_TRUE(tb[TCA_HTB_DIRECT_QLEN]);
  EXPECT_EQ(nla_get_u32(tb[TCA_HTB_DIRECT_QLEN]), 1000u);
}

TEST(HtbMessage, ClassAbove32BitsUsesRate64) {
  auto m = kernel::build_htb_class(4, 0xCA050000, 0xCA050002, network::kUnlimitedRate, NLM_F_CREATE | NLM_F_EXCL);
  ASSERT_TRUE(m);
  auto pm = parse(m->get());
  EXPECT_EQ(pm.hdr->nlmsg_type, RTM_NEWTCLASS);
  EXPECT_EQ(pm.tc->tcm_parent, 0xCA050000u);
  EXPECT_EQ(pm.tc->tcm_handle, 0xCA050002u);
  nlattr* tb[TCA_HTB_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(tb, TCA_HTB_MAX, pm.tb[TCA_OPTIONS], nullptr), 0);
  auto o = get_struct<tc_htb_opt>(tb[TCA_HTB_PARMS]);
  EXPECT_EQ(o.rate.linklayer, TC_LINKLAYER_ETHERNET) << "so the kernel needs no rate table";
  EXPECT_EQ(o.rate.rate, UINT32_MAX);
  EXPECT_EQ(o.ceil.rate, UINT32_MAX);
  EXPECT_GT(o.buffer, 0u);
  EXPECT_GT(o.quantum, 0u);
  ASSERT_TRUE(tb[TCA_HTB_RATE64]);
  ASSERT_TRUE(tb[TCA_HTB_CEIL64]);
  EXPECT_EQ(nla_get_u64(tb[TCA_HTB_RATE64]), network::kUnlimitedRate);
  EXPECT_FALSE(kernel::build_htb_class(4, 0xCA050000, 0xCA050002, 0, NLM_F_CREATE)) << "rate 0 is refused";
}

TEST(U32Message, MatchAllRedirectToIfb) {
  auto m = kernel::build_u32_redirect_filter(5, 0xFFFFFFF2, network::kIngressRedirectPrio, 42);
  ASSERT_TRUE(m);
  auto pm = parse(m->get());
  EXPECT_EQ(pm.hdr->nlmsg_type, RTM_NEWTFILTER);
  EXPECT_EQ(pm.tc->tcm_parent, 0xFFFFFFF2u);
  EXPECT_EQ(TC_H_MAJ(pm.tc->tcm_info) >> 16, network::kIngressRedirectPrio);
  EXPECT_EQ(ntohs(static_cast<std::uint16_t>(TC_H_MIN(pm.tc->tcm_info))), ETH_P_ALL);
  EXPECT_STREQ(nla_get_string(pm.tb[TCA_KIND]), "u32");
  nlattr* tb[TCA_U32_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(tb, TCA_U32_MAX, pm.tb[TCA_OPTIONS], nullptr), 0);
  ASSERT_TRUE(tb[TCA_U32_SEL]);
  ASSERT_EQ(nla_len(tb[TCA_U32_SEL]), static_cast<int>(sizeof(tc_u32_sel) + sizeof(tc_u32_key)));
  auto* sel = static_cast<tc_u32_sel*>(nla_data(tb[TCA_U32_SEL]));
  EXPECT_EQ(sel->nkeys, 1);
  EXPECT_TRUE(sel->flags & TC_U32_TERMINAL);
  EXPECT_EQ(sel->keys[0].mask, 0u) << "mask 0: every packet matches";
  ASSERT_TRUE(tb[TCA_U32_ACT]);
  nlattr* acts[TCA_ACT_MAX_PRIO + 1] = {};
  ASSERT_EQ(nla_parse_nested(acts, TCA_ACT_MAX_PRIO, tb[TCA_U32_ACT], nullptr), 0);
  ASSERT_TRUE(acts[1]);
  nlattr* act[TCA_ACT_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(act, TCA_ACT_MAX, acts[1], nullptr), 0);
  EXPECT_STREQ(nla_get_string(act[TCA_ACT_KIND]), "mirred");
  nlattr* mo[TCA_MIRRED_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(mo, TCA_MIRRED_MAX, act[TCA_ACT_OPTIONS], nullptr), 0);
  auto mir = get_struct<tc_mirred>(mo[TCA_MIRRED_PARMS]);
  EXPECT_EQ(mir.eaction, TCA_EGRESS_REDIR);
  EXPECT_EQ(mir.action, TC_ACT_STOLEN);
  EXPECT_EQ(mir.ifindex, 42u);
}

TEST(QdiscCopy, VerbatimOptionsAndRoundTrip) {
  kernel::QdiscRecord q;
  q.ifindex = 9;
  q.handle = 0x10000;
  q.parent = TC_H_ROOT;
  q.kind = "tbf";
  q.options = {1, 2, 3, 4, 5, 6, 7, 8, 0xff};
  q.has_options = true;
  auto m = kernel::build_qdisc_copy(q, 0xCA050001, NLM_F_CREATE | NLM_F_EXCL);
  ASSERT_TRUE(m);
  auto back = kernel::parse_qdisc_message(nlmsg_hdr(m->get()));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, "tbf");
  EXPECT_EQ(back->handle, 0x10000u);
  EXPECT_EQ(back->parent, 0xCA050001u) << "re-parented under the agent's default class";
  EXPECT_EQ(back->options, q.options);
  back->parent = TC_H_ROOT;
  EXPECT_TRUE(back->same_config(q));
  back->options.back() = 0xfe;
  EXPECT_FALSE(back->same_config(q)) << "one byte differs";

  auto j = q.to_json();
  auto r = kernel::QdiscRecord::from_json(j);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->same_config(q));
  EXPECT_EQ(j["options"], "0102030405060708ff");

  q.has_stab = true;
  EXPECT_FALSE(kernel::build_qdisc_copy(q, TC_H_ROOT, NLM_F_CREATE)) << "a size table cannot be copied from a dump";
}

TEST(QdiscRecord, DefaultQdiscHasNoHandle) {
  kernel::QdiscRecord q;
  q.kind = "noqueue";
  EXPECT_TRUE(q.is_default());
  q.handle = 0x10000;
  EXPECT_FALSE(q.is_default());
}

TEST(ForeignRoot, MovableKinds) {
  for (const char* k : {"tbf", "prio", "pfifo", "fq_codel", "netem", "sfq"}) EXPECT_TRUE(network::foreign_root_movable(k)) << k;
  for (const char* k : {"htb", "hfsc", "mq", "mqprio", "clsact", "ingress", "drr"})
    EXPECT_FALSE(network::foreign_root_movable(k)) << k;
}

TEST(Ifb, Names) {
  EXPECT_EQ(kernel::agent_ifb_name(7), "chaosifb7");
  EXPECT_TRUE(kernel::is_agent_ifb_name("chaosifb12"));
  EXPECT_FALSE(kernel::is_agent_ifb_name("ifb0"));
  EXPECT_FALSE(kernel::is_agent_ifb_name("ifb1"));
  EXPECT_FALSE(kernel::is_agent_ifb_name("chaosifb"));
  EXPECT_FALSE(kernel::is_agent_ifb_name("chaosifbx"));
}

// ---- spec -> kernel units, caps

std::shared_ptr<const network::NetworkSpec> spec_of(const std::string& block) {
  std::string text =
      "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: t}\nspec:\n  duration: 10s\n  faults:\n"
      "    - name: f\n      duration: 5s\n      network:\n" + block;
  auto out = parse_experiment(text, "t.yaml", builtin_families().spec_registry());
  EXPECT_TRUE(out.diags.ok()) << out.diags.str();
  if (!out.experiment) return nullptr;
  return std::static_pointer_cast<const network::NetworkSpec>(out.experiment->faults.at(0).spec);
}

TEST(NetemParams, FromSpec) {
  auto s = spec_of(
      "        action: netem\n        netns: x\n        interface: eth0\n"
      "        delay: {latency: 100ms, jitter: 10ms, correlation: 25%, distribution: normal}\n"
      "        loss: {loss: 10%, correlation: 50%}\n"
      "        duplicate: {duplicate: 1%}\n"
      "        corrupt: {corrupt: 2%, correlation: 3%}\n"
      "        reorder: {reorder: 30%}\n"
      "        rate: {rate: 1mbit}\n");
  ASSERT_TRUE(s);
  auto p = network::netem_params(*s);
  ASSERT_TRUE(p) << p.error().text();
  EXPECT_EQ(p->latency_ns, 100'000'000);
  EXPECT_EQ(p->jitter_ns, 10'000'000);
  EXPECT_EQ(p->delay_corr, kernel::probability_u32(0.25));
  EXPECT_EQ(p->delay_dist, kernel::netem_distribution_table(NetemDistribution::normal));
  EXPECT_EQ(p->loss, kernel::probability_u32(0.10));
  EXPECT_EQ(p->loss_corr, kernel::probability_u32(0.5));
  EXPECT_EQ(p->duplicate, kernel::probability_u32(0.01));
  EXPECT_EQ(p->corrupt, kernel::probability_u32(0.02));
  EXPECT_EQ(p->corrupt_corr, kernel::probability_u32(0.03));
  EXPECT_EQ(p->reorder, kernel::probability_u32(0.3));
  EXPECT_EQ(p->gap, 1u) << "as tc: reorder without a gap gets gap 1";
  EXPECT_EQ(p->rate_bytes_per_s, 125'000u);
  EXPECT_EQ(p->limit, 1000u);
}

TEST(NetemParams, GilbertElliottAndUniform) {
  auto s = spec_of(
      "        action: netem\n        netns: x\n        interface: eth0\n"
      "        delay: {latency: 50ms, jitter: 5ms}\n"
      "        loss: {gemodel: {p: 1%, r: 10%, h: 20%, k: 0%}}\n");
  ASSERT_TRUE(s);
  auto p = network::netem_params(*s);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->delay_dist.empty()) << "no distribution: netem's uniform";
  ASSERT_TRUE(p->gemodel);
  EXPECT_EQ(p->gemodel->p, kernel::probability_u32(0.01));
  EXPECT_EQ(p->gemodel->r, kernel::probability_u32(0.10));
  EXPECT_EQ(p->gemodel->h, kernel::probability_u32(0.20));
  EXPECT_EQ(p->gemodel->k1, 0u);
}

TEST(NetemCaps, DelayAndLossRefusedAtPlan) {
  auto s = spec_of(
      "        action: netem\n        netns: x\n        interface: eth0\n"
      "        delay: {latency: 400ms, jitter: 200ms}\n        loss: {loss: 20%}\n");
  ASSERT_TRUE(s);
  AgentConfig c;
  EXPECT_TRUE(network::check_netem_caps(*s, c)) << "no caps configured";
  // The caps are the network family's part of agent.yaml (faults/network/config.h).
  network::NetworkConfig caps;
  auto set = [&] { network::set_config(c, caps); };
  caps.max_delay = 500ms;
  set();
  auto r = network::check_netem_caps(*s, c);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("guardrails.maxDelay"));
  caps.max_delay = 600ms;
  caps.max_loss_fraction = 0.1;
  set();
  r = network::check_netem_caps(*s, c);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("guardrails.maxLoss"));
  caps.max_loss_fraction = 0.2;
  set();
  EXPECT_TRUE(network::check_netem_caps(*s, c));

  // Gilbert-Elliott: the long-run rate, p/(p+r) * (1-h) = 0.5 * 1.0.
  auto ge = spec_of(
      "        action: loss\n        netns: x\n        interface: eth0\n"
      "        loss: {gemodel: {p: 10%, r: 10%}}\n");
  ASSERT_TRUE(ge);
  caps.max_loss_fraction = 0.4;
  set();
  EXPECT_FALSE(network::check_netem_caps(*ge, c));
  caps.max_loss_fraction = 0.5;
  set();
  EXPECT_TRUE(network::check_netem_caps(*ge, c));
}

TEST(NetemUndo, GoneNamespaceIsNothingToUndo) {
  nlohmann::json u{{"netns", "/run/netns/chaos-test-never-existed-" + std::to_string(getpid())},
                   {"netnsDev", 1},
                   {"netnsIno", 2},
                   {"direction", "egress"},
                   {"ifindex", 3},
                   {"ifname", "eth0"},
                   {"root", 0xCA050000u},
                   {"classid", 0xCA050002u}};
  EXPECT_TRUE(network::undo_netem_class(u)) << "idempotent: the namespace and its qdiscs are gone";
  EXPECT_TRUE(network::undo_netem_class(u));
  nlohmann::json bad{{"netns", "/x"}};
  EXPECT_FALSE(network::undo_netem_class(bad)) << "undo data without ifindex/root/classid is an error";
}

TEST(ShippedNetemExperiments, Validate) {
  auto reg = builtin_families().spec_registry();
  for (const char* f : {"netem-delay.yaml", "netem-loss-ingress.yaml", "seed-delay-500ms-one-port.yaml"}) {
    auto o = parse_experiment_file(std::string(CHAOS_SOURCE_DIR) + "/experiments/" + f, reg);
    EXPECT_TRUE(o.diags.ok()) << f << ":\n" << o.diags.str();
  }
}

}  // namespace
}  // namespace chaos
