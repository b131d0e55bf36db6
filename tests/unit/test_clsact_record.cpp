// The clsact qdisc's journal record (kernel/clsact.h) and which tc filters carry the agent's marks:
// the pieces of issue 10's fix that need no kernel. The kernel side is in
// tests/integration/test_classifier_attach.cpp (ClassifierJournal) and the kill torture.
#include <gtest/gtest.h>

#include "core/journal.h"
#include "kernel/classifier.h"
#include "kernel/clsact.h"
#include "kernel/tc_attach.h"

namespace chaos::kernel {
namespace {

using json = nlohmann::json;

TEST(ClsactRecord, RoundTripsThroughTheJournalsJson) {
  ClsactRecord r{"/run/netns/lab-client", 4, 4026532538ull, 3, "eth0"};
  auto j = r.to_json();
  EXPECT_EQ(j, json({{"netns", "/run/netns/lab-client"}, {"netns_dev", 4}, {"netns_ino", 4026532538ull},
                     {"ifindex", 3}, {"ifname", "eth0"}}));
  auto back = ClsactRecord::from_json(j);
  ASSERT_TRUE(back) << back.error().text();
  EXPECT_EQ(back->to_json(), j);
  EXPECT_EQ(back->describe(), "clsact on eth0 (ifindex 3) in /run/netns/lab-client");
}

TEST(ClsactRecord, OnlyTheIfindexIsRequired) {
  auto r = ClsactRecord::from_json({{"ifindex", 7}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->netns_path, "");
  EXPECT_EQ(r->netns_ino, 0u);
  EXPECT_EQ(r->describe(), "clsact on (ifindex 7)");
}

TEST(ClsactRecord, RefusesWhatCannotNameAnInterface) {
  for (const json& j : {json(nullptr), json::array(), json::object(), json({{"ifindex", 0}}),
                        json({{"ifindex", -2}}), json({{"ifindex", "3"}}), json({{"ifindex", 3}, {"netns", 5}})}) {
    auto r = ClsactRecord::from_json(j);
    EXPECT_FALSE(r) << j.dump();
    if (!r) {
      EXPECT_EQ(r.error().code, EINVAL) << j.dump();
    }
  }
}

TEST(ClsactRecord, ItsUndoIsAContainerRegisteredWithTheClassifiers) {
  UndoRegistry reg;
  register_classifier_undo(reg);
  EXPECT_EQ(reg.order(kClsactJournalKind), UndoOrder::container);
  EXPECT_EQ(reg.order(kClassifierJournalKind), UndoOrder::contents);
  // Bad undo data is an error (the entry stays outstanding), never a crash.
  JournalEntry e;
  e.kind = kClsactJournalKind;
  e.undo = json::object();
  auto r = reg.undo_noted(e);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
}

TEST(AgentFilter, RecognisesTheAgentsMarksOnly) {
  TcFilterInfo cls;
  cls.kind = "bpf";
  cls.prio = kClassicPrio;
  cls.bpf_name = "chaos_cls";
  EXPECT_TRUE(is_agent_filter(cls));
  TcFilterInfo per_prio = cls;  // the per-priority entry the kernel lists before the filters
  per_prio.handle = 0;
  per_prio.bpf_name.clear();
  EXPECT_TRUE(is_agent_filter(per_prio));
  TcFilterInfo named = cls;  // our program at another priority
  named.prio = 1;
  EXPECT_TRUE(is_agent_filter(named));
  TcFilterInfo redirect;
  redirect.kind = "u32";
  redirect.prio = kAgentRedirectPrio;
  EXPECT_TRUE(is_agent_filter(redirect));

  TcFilterInfo foreign_u32 = redirect;
  foreign_u32.prio = 7;
  EXPECT_FALSE(is_agent_filter(foreign_u32));
  TcFilterInfo foreign_bpf;
  foreign_bpf.kind = "bpf";
  foreign_bpf.prio = 1;
  foreign_bpf.bpf_name = "cilium_tc";
  EXPECT_FALSE(is_agent_filter(foreign_bpf));
  TcFilterInfo foreign_at_redirect_prio;  // not u32: not ours
  foreign_at_redirect_prio.kind = "flower";
  foreign_at_redirect_prio.prio = kAgentRedirectPrio;
  EXPECT_FALSE(is_agent_filter(foreign_at_redirect_prio));
}

TEST(ClsactShare, AnEmptyShareReleasesToNothing) {
  ClsactShare s;
  EXPECT_FALSE(s);
  EXPECT_FALSE(s.made_it());
  EXPECT_FALSE(s.agents());
  EXPECT_TRUE(s.release());
  s.forget();
  EXPECT_EQ(clsact_users(1, 2, 3), 0);
}

}  // namespace
}  // namespace chaos::kernel
