// Who may do what on the API (server/access.h): the op table, the policy table for every kind of
// caller, the refusal text, and the credentials the kernel gives for a real socket (no root).
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server/access.h"

namespace chaos {
namespace {

constexpr gid_t kChaos = 5001, kOperators = 5002, kOther = 5003;
constexpr uid_t kAgent = 0;

AccessPolicy policy(bool group_exists = true, bool operators_exist = true) {
  AccessPolicy p;
  p.group = "chaos";
  if (group_exists) p.group_gid = kChaos;
  p.operators_group = "chaos-operators";
  if (operators_exist) p.operators_gid = kOperators;
  p.agent_uid = kAgent;
  return p;
}

Peer peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  Peer p;
  p.uid = uid;
  p.gid = gid;
  p.pid = 4242;
  p.groups = std::move(groups);
  return p;
}

TEST(AccessOps, EveryOpHasItsTier) {
  for (const char* op : {"status", "report", "validate", "ping", "audit", "schedule.list", "schedule.show"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(access_for(op, false), Access::read);
    EXPECT_FALSE(changes_node(access_for(op, false)));
  }
  for (const char* op : {"recover", "schedule.add", "schedule.remove", "schedule.pause", "schedule.resume",
                         "schedule.trigger"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(access_for(op, false), Access::operate);
    EXPECT_TRUE(changes_node(access_for(op, false)));
  }
  EXPECT_EQ(access_for("run", false), Access::operate);
  EXPECT_EQ(access_for("run", true), Access::read) << "a dry run changes nothing";
  EXPECT_EQ(access_for("halt", false), Access::halt);
  EXPECT_TRUE(changes_node(Access::halt));
  EXPECT_EQ(access_for("no-such-op", false), Access::read) << "an unknown op is answered as unknown to readers";
}

// The whole table: caller kind x tier -> allowed.
TEST(AccessPolicyTable, WhoMayDoWhat) {
  struct Row {
    const char* who;
    Peer p;
    bool read, halt, operate;
  };
  const std::vector<Row> rows{
      {"root", peer(0, 0), true, true, true},
      {"the agent's own uid", peer(kAgent, 0), true, true, true},
      {"chaos by primary group", peer(1001, kChaos), true, true, false},
      {"chaos by supplementary group", peer(1001, 100, {100, kChaos}), true, true, false},
      {"operator by primary group", peer(1002, kOperators), true, true, true},
      {"operator by supplementary group", peer(1002, 100, {kOther, kOperators}), true, true, true},
      {"both groups", peer(1003, kChaos, {kChaos, kOperators}), true, true, true},
      {"neither", peer(1004, kOther, {100, kOther}), false, false, false},
      {"no groups at all", peer(1005, 65534), false, false, false},
  };
  const auto pol = policy();
  for (const auto& r : rows) {
    SCOPED_TRACE(r.who);
    EXPECT_EQ(authorize(Access::read, r.p, pol).allowed, r.read);
    EXPECT_EQ(authorize(Access::halt, r.p, pol).allowed, r.halt);
    EXPECT_EQ(authorize(Access::operate, r.p, pol).allowed, r.operate);
  }
}

TEST(AccessPolicyTable, TheAgentsOwnUidCountsAsRoot) {
  auto pol = policy();
  pol.agent_uid = 1500;
  EXPECT_TRUE(authorize(Access::operate, peer(1500, kOther), pol).allowed);
  EXPECT_FALSE(authorize(Access::operate, peer(1501, kOther), pol).allowed);
}

TEST(AccessPolicyTable, AGroupThatDoesNotExistGrantsNothingAndIsNamed) {
  // Group ids that happen to equal a caller's gid must not count when the group is not there.
  auto pol = policy(false, true);
  EXPECT_FALSE(authorize(Access::read, peer(1001, kChaos), pol).allowed);
  EXPECT_TRUE(authorize(Access::read, peer(1002, kOperators), pol).allowed);
  EXPECT_EQ(authorize(Access::read, peer(1001, kChaos), pol).needs,
            "uid 0 or group chaos-operators (group chaos does not exist on this node)");
  pol = policy(true, false);
  EXPECT_FALSE(authorize(Access::operate, peer(1002, kOperators), pol).allowed);
  EXPECT_EQ(authorize(Access::operate, peer(1002, kOperators), pol).needs,
            "uid 0 (group chaos-operators does not exist on this node)");
  EXPECT_EQ(authorize(Access::halt, peer(1002, kOperators), pol).needs,
            "uid 0 or group chaos (group chaos-operators does not exist on this node)");
  EXPECT_TRUE(authorize(Access::operate, peer(0, 0), policy(false, false)).allowed) << "root needs no group";
}

TEST(AccessPolicyTable, WhatEachTierNeedsInWords) {
  const auto pol = policy();
  const auto p = peer(1001, kChaos);
  EXPECT_EQ(authorize(Access::read, p, pol).needs, "uid 0 or group chaos or chaos-operators");
  EXPECT_EQ(authorize(Access::halt, p, pol).needs, "uid 0 or group chaos or chaos-operators");
  EXPECT_EQ(authorize(Access::operate, p, pol).needs, "uid 0 or group chaos-operators");
  // One group for both tiers: said once.
  auto same = pol;
  same.operators_group = "chaos";
  same.operators_gid = kChaos;
  EXPECT_EQ(authorize(Access::read, p, same).needs, "uid 0 or group chaos");
  EXPECT_TRUE(authorize(Access::operate, p, same).allowed);
}

TEST(AccessRefusal, NamesTheOpTheCallerAndTheGroupNeeded) {
  auto p = peer(1001, kChaos);
  p.user = "alice";
  p.group_names = {"chaos"};
  auto d = authorize(Access::operate, p, policy());
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(refusal_text("run", d, p),
            "permission denied: run needs uid 0 or group chaos-operators; caller uid 1001 (alice), pid 4242, groups "
            "chaos");
  // Undescribed (no names): numbers.
  auto q = peer(1004, kOther, {100, kOther});
  d = authorize(Access::read, q, policy());
  EXPECT_EQ(refusal_text("status", d, q),
            "permission denied: status needs uid 0 or group chaos or chaos-operators; caller uid 1004 (1004), pid "
            "4242, groups 5003,100");
}

TEST(AccessPeer, CredentialsOfARealSocketAreTheConnectingProcesss) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto p = read_peer(sv[0]);
  ::close(sv[0]);
  ::close(sv[1]);
  ASSERT_TRUE(p) << p.error().text();
  EXPECT_EQ(p->uid, ::getuid());
  EXPECT_EQ(p->gid, ::getgid());
  EXPECT_EQ(p->pid, ::getpid());
  std::vector<gid_t> mine(static_cast<std::size_t>(::getgroups(0, nullptr)));
  ::getgroups(static_cast<int>(mine.size()), mine.data());
  std::sort(mine.begin(), mine.end());
  auto theirs = p->groups;
  std::sort(theirs.begin(), theirs.end());
  EXPECT_EQ(theirs, mine) << "SO_PEERGROUPS: the process's own supplementary groups";
  std::array<char, 4096> buf{};
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  ASSERT_GT(n, 0);
  const std::string exe(buf.data(), static_cast<std::size_t>(n));
  // Verified through SO_PEERPIDFD where the kernel has it (6.5+), marked otherwise.
  EXPECT_TRUE(p->exe == exe || p->exe == exe + " (unverified)") << p->exe;
  describe(*p);
  EXPECT_FALSE(p->user.empty());
  ASSERT_FALSE(p->group_names.empty());
}

}  // namespace
}  // namespace chaos
