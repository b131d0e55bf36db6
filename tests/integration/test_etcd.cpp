// The etcd family end to end through the real binaries, against a real 3-member etcd cluster
// (Debian's etcd-server) that `chaosctl lab up --name e<pid> --etcd 3` starts in the test's own
// lab; the lab (namespaces, members) goes with `lab down` at the end, also after a failure.
//
// What is proven:
//   - isolating the leader elects a new one; the old leader rejoins as a follower after the
//     heal; the writer sees errors only inside the fault window; 0 acknowledged writes lost;
//   - isolating a follower changes neither the leader nor its term;
//   - cut-clients stops the clients' writes and nothing else;
//   - acknowledged writes that vanish are counted and fail the run (the check can fail);
//   - SIGKILL of the agent while the leader is isolated (classic attach: the filter outlives the
//     process): the lease heals the partition, the cluster becomes healthy again without any
//     agent, and the restarted agent removes the filter, the clsact qdisc and the journal entry.
//
// The cluster's state is also read independently of the agent (etcd's own status API from each
// member's namespace), so the agent's report is checked against etcd, not against itself.
#include <signal.h>
#include <sys/stat.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/support_agent.h"
#include "kernel/etcd_lab.h"
#include "kernel/lab.h"
#include "kernel/netns.h"
#include "observe/etcd_client.h"

namespace chaos::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using nlohmann::json;

constexpr Ms kLease{1000};

// The cluster as etcd itself reports it, read from inside each member's namespace.
struct ClusterView {
  std::map<std::string, etcd::EtcdStatus> status;  // by member name; missing: no answer
  std::map<std::uint64_t, std::string> names;      // member id -> name
  std::uint64_t leader() const {                   // the leader a majority reports (0: none)
    std::map<std::uint64_t, int> votes;
    for (const auto& [n, s] : status)
      if (s.leader) ++votes[s.leader];
    for (auto [id, v] : votes)
      if (v * 2 > 3) return id;
    return 0;
  }
  bool healthy() const {  // every member answers and all agree on one leader
    if (status.size() != 3) return false;
    std::uint64_t l = status.begin()->second.leader;
    if (l == 0) return false;
    for (const auto& [n, s] : status)
      if (s.leader != l) return false;
    return true;
  }
  std::string leader_name() const {
    auto it = names.find(leader());
    return it == names.end() ? "" : it->second;
  }
  std::string str() const {
    std::string out;
    for (const auto& [n, s] : status)
      out += n + ": leader " + etcd::member_id_hex(s.leader) + " term " + std::to_string(s.raft_term) + "; ";
    return out + "(" + std::to_string(status.size()) + "/3 answering)";
  }
};

// The writer's verdict checked the way Jepsen checks a register: every acknowledged write is on
// every member; every key present was sent (acknowledged, or indeterminate: a put whose answer
// never came may have been committed anyway, so it may be present or absent).
void expect_every_acknowledged_write_everywhere(const json& v) {
  EXPECT_EQ(v.value("lost", -1), 0) << v.dump();
  EXPECT_EQ(v.value("unexpected", -1), 0) << v.dump();
  EXPECT_TRUE(v["violations"].empty()) << v.dump();
  const int acked = v.value("acknowledged", -1);
  for (const auto& [m, pm] : v["perMember"].items()) {
    EXPECT_TRUE(pm.value("read", false)) << m;
    EXPECT_EQ(pm.value("missing", -1), 0) << m << ": " << pm.dump();
    EXPECT_EQ(pm.value("wrongValue", -1), 0) << m << ": " << pm.dump();
    EXPECT_EQ(pm.value("unexpected", -1), 0) << m << ": " << pm.dump();
    EXPECT_EQ(pm.value("found", 0), acked + pm.value("ambiguousFound", 0)) << m << ": " << pm.dump();
    EXPECT_LE(pm.value("ambiguousFound", 0), v.value("ambiguous", 0)) << m << ": " << pm.dump();
  }
}

class EtcdLab {
 public:
  EtcdLab() : name_("e" + std::to_string(::getpid())) {}
  ~EtcdLab() {
    if (auto r = lab_down(name_); !r) std::fprintf(stderr, "lab down %s: %s\n", name_.c_str(), r.error().text().c_str());
  }
  const std::string& name() const { return name_; }
  std::string netns(const std::string& member) const { return std::string(kNetnsRunDir) + "/" + name_ + "-" + member; }
  std::string ip(int k) const { return "198.18.0." + std::to_string(30 + k); }
  std::string url(int k) const { return "http://" + ip(k) + ":2379"; }

  ClusterView view() const {
    ClusterView v;
    for (int k = 1; k <= 3; ++k) {
      std::string m = "etcd" + std::to_string(k);
      auto u = *etcd::parse_etcd_url(url(k));
      in_netns(netns(m), [&] {
        if (auto s = etcd::status(u, Ms(500))) {
          v.status[m] = *s;
          v.names[s->member_id] = m;
        }
      });
    }
    return v;
  }

 private:
  std::string name_;
};

class EtcdEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || ::access(kEtcdBinary, X_OK) != 0 || !fs::exists(chaosctl_binary())) return;
    lab_ = new EtcdLab();
    dir_ = new TempDir("chaos-etcd-lab");
    auto t0 = steady_clock::now();
    lab_up_ = chaosctl(*dir_, {"lab", "up", "--name", lab_->name(), "--etcd", "3"}, Ms(60000));
    std::printf("lab up --etcd 3: %lld ms\n", static_cast<long long>(ms_between(t0, steady_clock::now())));
  }
  static void TearDownTestSuite() {
    delete lab_;  // lab down: members, namespaces, state
    lab_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, BPF, tc";
    if (::access(kEtcdBinary, X_OK) != 0) GTEST_SKIP() << kEtcdBinary << " missing: run scripts/install-deps.sh (etcd-server)";
    if (!fs::exists(agent_binary()) || !fs::exists(chaosctl_binary()))
      FAIL() << "build chaos-agent and chaosctl first (" << agent_binary() << ")";
    ASSERT_EQ(lab_up_.code, 0) << "chaosctl lab up --etcd 3: " << lab_up_.str();
    ASSERT_TRUE(wait_until([&] { return lab_->view().healthy(); }, Ms(15000)))
        << "the cluster is not healthy before the test: " << lab_->view().str();
  }

  void start_agent(const std::string& attach = "auto") {
    agent_ = std::make_unique<AgentProcess>(tmp_, "lease: " + std::to_string(kLease.count()) +
                                                      "ms\nnetwork:\n  attach: " + attach + "\n");
    ASSERT_TRUE(agent_->start());
  }

  std::string endpoints_block() const {
    std::string y = "        endpoints:\n";
    for (int k = 1; k <= 3; ++k)
      y += "          - {url: \"" + lab_->url(k) + "\", lab: " + lab_->name() + "/etcd" + std::to_string(k) + "}\n";
    return y;
  }

  std::string writer(const std::string& prefix = "/itest/") const {
    return "  steadyState:\n"
           "    - name: writes\n"
           "      interval: 50ms\n"
           "      timeout: 1s\n"  // a put slower than this on a busy CI disk is not the fault's doing
           "      checkIn: [before, after]\n"
           "      tolerance: {maxErrorRate: 0%}\n"
           "      etcdWriter:\n"
           "        endpoints: [\"" + lab_->url(1) + "\", \"" + lab_->url(2) + "\", \"" + lab_->url(3) + "\"]\n"
           "        lab: " + lab_->name() + "/client\n"
           "        prefix: " + prefix + "\n";
  }

  std::string experiment(const std::string& name, const std::string& duration, const std::string& start,
                         const std::string& fault_duration, const std::string& body, bool with_writer,
                         const std::string& prefix = "/itest/") const {
    std::string y = "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: " + name + "}\nspec:\n"
                    "  duration: " + duration + "\n"
                    "  faults:\n"
                    "    - name: etcd-fault\n"
                    "      start: " + start + "\n"
                    "      duration: " + fault_duration + "\n"
                    "      etcd:\n" + body + endpoints_block();
    if (with_writer) y += writer(prefix);
    return tmp_.write(name + ".yaml", y);
  }

  // chaosctl run FILE -o json: the exit code and the report.
  std::pair<int, json> run(const std::string& file, Ms timeout = Ms(60000)) {
    auto r = chaosctl(tmp_, agent_->args({"run", file, "-o", "json"}), timeout);
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.str() << "\n" << agent_->log();
    return {r.code, j.is_discarded() ? json::object() : j};
  }

  // Nothing of ours on a member's eth0, nothing open in the journal.
  void expect_clean(const std::string& member) {
    SCOPED_TRACE("clean after the run on " + member);
    std::string ns = lab_->netns(member);
    int ifindex = 0;
    in_netns(ns, [&] { ifindex = static_cast<int>(if_nametoindex("eth0")); });
    ASSERT_GT(ifindex, 0);
    EXPECT_TRUE(chaos_filters(ns, ifindex).empty()) << "a classic filter is left on " << member;
    EXPECT_EQ(clsact_kind(ns, ifindex), "") << "a clsact qdisc is left on " << member;
    // tcx links are global; the ones on this ifindex whose program is chaos_cls are ours only
    // if they run in the member's namespace, which a link's info does not say: the journal does.
    EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty())
        << "journal entries outstanding: " << json(journal_outstanding(agent_->state_dir())).dump();
    // The runner releases a finished run's faults: the agent holds no chaos_cls program (and so
    // no tcx link runs one of its programs).
    EXPECT_TRUE(wait_until(
        [&] {
          auto loaded = chaos_prog_ids();
          for (auto id : prog_ids_held_by(agent_->pid()))
            if (loaded.count(id)) return false;
          return true;
        },
        Ms(3000)))
        << "the agent still holds a chaos_cls program after the run";
  }

  static EtcdLab* lab_;
  static TempDir* dir_;
  static CmdResult lab_up_;
  TempDir tmp_{"chaos-etcd"};
  std::unique_ptr<AgentProcess> agent_;
};

EtcdLab* EtcdEndToEnd::lab_ = nullptr;
TempDir* EtcdEndToEnd::dir_ = nullptr;
CmdResult EtcdEndToEnd::lab_up_;

TEST_F(EtcdEndToEnd, IsolatingTheLeaderElectsANewOneAndLosesNoAcknowledgedWrite) {
  start_agent();
  auto before = lab_->view();
  std::string old_leader = before.leader_name();
  ASSERT_FALSE(old_leader.empty()) << before.str();
  auto file = experiment("isolate-leader", "14s", "3s", "6s",
                         "        action: isolate-member\n        member: leader\n", true);
  auto [code, rep] = run(file);
  ASSERT_TRUE(rep.contains("faults")) << rep.dump();
  const json& f = rep["faults"][0];
  const json& obs = f["observed"];
  const json& cl = obs["cluster"];
  std::printf("isolate leader %s: apply %.1f ms, revert %.1f ms, new leader after %s ms, healthy %s ms after heal\n",
              old_leader.c_str(), f.value("apply_ms", -1.0), f.value("revert_ms", -1.0),
              cl.value("newLeaderElectedAfter_ms", json()).dump().c_str(),
              cl.value("healthyAfterHeal_ms", json()).dump().c_str());
  EXPECT_EQ(code, 0) << "the hypothesis must hold: " << rep.dump(1).substr(0, 4000);

  // The agent's account.
  EXPECT_EQ(obs.value("chosen", ""), old_leader);
  EXPECT_EQ(obs.value("chosenRole", ""), "leader");
  EXPECT_GE(cl.value("leaderChanges", 0), 1);
  std::string new_leader = cl.value("leaderAfterHeal", "");
  EXPECT_FALSE(new_leader.empty());
  EXPECT_NE(new_leader, old_leader);
  EXPECT_EQ(cl.value("isolatedRoleAfterHeal", ""), "follower");
  ASSERT_TRUE(cl.contains("newLeaderElectedAfter_ms")) << cl.dump();
  // etcd's followers wait a randomized [1, 2) election timeouts (1000ms here) since the last
  // heartbeat (at most one 100ms heartbeat before the cut), then need a pre-vote and a vote.
  double elected = cl["newLeaderElectedAfter_ms"].get<double>();
  EXPECT_GE(elected, 800.0);
  EXPECT_LE(elected, 4000.0);
  EXPECT_GT(cl.value("noWorkingLeaderDuringFault_ms", 0.0), 800.0);
  ASSERT_FALSE(cl["healthyAfterHeal_ms"].is_null()) << cl.dump();
  EXPECT_LT(cl["healthyAfterHeal_ms"].get<double>(), 3000.0);
  for (const auto& d : obs["drops"]) EXPECT_GT(d.value("dropped", 0), 0) << d.dump();
  EXPECT_EQ(obs["drops"].size(), 2u) << "egress and ingress on the member's eth0";
  // The isolated leader's own namespace counted its side of the cut: heartbeats and appends to
  // its peers went unanswered and were retransmitted.
  ASSERT_TRUE(obs.contains("kernel")) << obs.dump();
  EXPECT_FALSE(obs["kernel"].contains("error")) << obs["kernel"].dump();
  EXPECT_GT(obs["kernel"].value("tcpRetransSegs", 0), 0) << obs["kernel"].dump();
  std::printf("isolated leader's kernel counters over the fault: %s\n", obs["kernel"].dump().c_str());

  // The writer: errors only inside the fault window, none lost.
  const json& p = rep["probes"][0];
  EXPECT_EQ(p["phases"]["before"].value("errors", -1), 0);
  EXPECT_EQ(p["phases"]["after"].value("errors", -1), 0);
  EXPECT_GT(p["phases"]["during"].value("errors", 0), 0) << "a leader cut off stalls the writes for a while";
  ASSERT_TRUE(p.contains("errorWindow"));
  EXPECT_GE(p["errorWindow"]["first"].get<double>(), f["appliedAt"].get<double>() - 0.1);
  EXPECT_LE(p["errorWindow"]["last"].get<double>(), f["revertedAt"].get<double>() + 0.1);
  const json& v = p["verify"];
  EXPECT_EQ(v.value("lost", -1), 0) << v.dump();
  EXPECT_GT(v.value("acknowledged", 0), 150);
  ASSERT_EQ(v["perMember"].size(), 3u) << v.dump();
  expect_every_acknowledged_write_everywhere(v);

  // etcd's own account, independently: one leader again, not the old one, which follows it.
  ClusterView after;
  ASSERT_TRUE(wait_until([&] { return (after = lab_->view()).healthy(); }, Ms(5000))) << after.str();
  EXPECT_EQ(after.leader_name(), new_leader);
  EXPECT_NE(after.status[old_leader].leader, after.status[old_leader].member_id) << "the old leader is a follower";
  expect_clean(old_leader);
}

TEST_F(EtcdEndToEnd, IsolatingAFollowerKeepsTheLeaderAndItsTerm) {
  start_agent();
  auto before = lab_->view();
  std::string leader = before.leader_name();
  ASSERT_FALSE(leader.empty()) << before.str();
  std::uint64_t term = before.status[leader].raft_term;
  // Longer than two election timeouts: the follower really loses its leader meanwhile.
  auto file = experiment("isolate-follower", "9s", "2s", "4s",
                         "        action: isolate-member\n        member: follower\n", true);
  auto [code, rep] = run(file);
  ASSERT_TRUE(rep.contains("faults")) << rep.dump();
  EXPECT_EQ(code, 0) << rep.dump(1).substr(0, 4000);
  const json& obs = rep["faults"][0]["observed"];
  const json& cl = obs["cluster"];
  std::string isolated = obs.value("chosen", "");
  EXPECT_EQ(obs.value("chosenRole", ""), "follower");
  EXPECT_NE(isolated, leader);
  EXPECT_EQ(cl.value("leaderChanges", -1), 0) << cl.dump();
  EXPECT_EQ(cl.value("leaderAfterHeal", ""), leader);
  EXPECT_EQ(cl.value("noWorkingLeaderDuringFault_ms", -1.0), 0.0) << cl.dump();
  EXPECT_GT(cl["members"][isolated].value("noLeader_ms", 0.0), 1000.0) << "the isolated follower lost its leader";
  expect_every_acknowledged_write_everywhere(rep["probes"][0]["verify"]);

  auto after = lab_->view();
  EXPECT_EQ(after.leader_name(), leader) << after.str();
  EXPECT_EQ(after.status[leader].raft_term, term) << "pre-vote: the follower's return must not raise the term";
  expect_clean(isolated);
}

TEST_F(EtcdEndToEnd, CutClientsStopsTheWritesAndNothingElse) {
  start_agent();
  std::string leader = lab_->view().leader_name();
  std::string body = "        action: cut-clients\n        clients: {lab: " + lab_->name() + "/client}\n";
  auto [code, rep] = run(experiment("cut-clients", "7s", "2s", "2s", body, true));
  ASSERT_TRUE(rep.contains("faults")) << rep.dump();
  EXPECT_EQ(code, 0) << rep.dump(1).substr(0, 4000);
  const json& p = rep["probes"][0];
  EXPECT_EQ(p["phases"]["before"].value("errors", -1), 0);
  EXPECT_EQ(p["phases"]["after"].value("errors", -1), 0);
  // Writes start every 50ms; all but the edges of the window fail.
  EXPECT_GE(p["phases"]["during"].value("errors", 0), 30);
  const json& obs = rep["faults"][0]["observed"];
  EXPECT_EQ(obs["cluster"].value("leaderChanges", -1), 0);
  EXPECT_EQ(obs["cluster"].value("leaderAfterHeal", ""), leader);
  ASSERT_EQ(obs["drops"].size(), 1u);
  EXPECT_GT(obs["drops"][0].value("dropped", 0), 0);
  expect_every_acknowledged_write_everywhere(p["verify"]);
  ASSERT_TRUE(obs.contains("kernel")) << obs.dump();
  EXPECT_FALSE(obs["kernel"].contains("error")) << obs["kernel"].dump();
  std::printf("cut-off clients' kernel counters over the fault: %s\n", obs["kernel"].dump().c_str());
  int ifindex = 0;
  in_netns(lab_->netns("client"), [&] { ifindex = static_cast<int>(if_nametoindex("eth0")); });
  EXPECT_TRUE(chaos_filters(lab_->netns("client"), ifindex).empty());
  EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty());
}

// cut-clients for one cgroup only: a loop of etcdctl puts inside a cgroup v2 loses etcd during
// the window, while the agent's own writer (same namespace, another cgroup) never notices.
TEST_F(EtcdEndToEnd, CutClientsOfOneCgroupOnly) {
  const std::string cg_root = "/sys/fs/cgroup/unified";
  if (!fs::exists(cg_root + "/cgroup.procs")) GTEST_SKIP() << "no cgroup v2 at " << cg_root;
  if (::access("/usr/bin/etcdctl", X_OK) != 0) GTEST_SKIP() << "etcdctl missing (etcd-client)";
  const std::string cg_name = "chaos-etcd-itest-" + std::to_string(::getpid());
  const std::string cg = cg_root + "/" + cg_name;
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << cg;
  struct CgroupGone {
    std::string path;
    ~CgroupGone() {
      for (int i = 0; i < 100 && ::rmdir(path.c_str()) != 0 && errno == EBUSY; ++i) std::this_thread::sleep_for(Ms(50));
    }
  } gone{cg};
  start_agent();
  // The loop joins the cgroup first, then enters the client's namespace; one line per put.
  std::string loop = "echo $$ > " + cg + "/cgroup.procs && exec ip netns exec " + lab_->name() +
                     "-client sh -c 'while :; do if ETCDCTL_API=3 etcdctl --endpoints=" + lab_->url(1) +
                     " --dial-timeout=300ms --command-timeout=300ms put /itest-cg/k v >/dev/null 2>&1; "
                     "then echo \"$(date +%s%3N) ok\"; else echo \"$(date +%s%3N) fail\"; fi; sleep 0.05; done'";
  auto puts = Child::spawn({"/bin/sh", "-c", loop}, tmp_.file("loop.out"), tmp_.file("loop.err"));
  ASSERT_TRUE(puts);
  std::string body = "        action: cut-clients\n        clients: {lab: " + lab_->name() + "/client, cgroup: /" +
                     cg_name + "}\n";
  auto [code, rep] = run(experiment("cut-cgroup", "8s", "3s", "3s", body, true));
  puts->signal(SIGKILL);
  puts->wait(Ms(2000));
  ASSERT_TRUE(rep.contains("faults")) << rep.dump();
  EXPECT_EQ(code, 0) << rep.dump(1).substr(0, 4000);
  const json& p = rep["probes"][0];
  for (const char* ph : {"before", "during", "after"})
    EXPECT_EQ(p["phases"][ph].value("errors", -1), 0) << ph << ": the writer is not in the cgroup";
  const json& f = rep["faults"][0];
  EXPECT_GT(f["observed"]["drops"][0].value("dropped", 0), 0);

  // Run times are seconds since the report's startedAt (UTC, ms): the loop prints epoch ms.
  std::tm tm{};
  std::string started = rep.value("startedAt", "");
  ASSERT_TRUE(strptime(started.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) << started;
  double t0 = static_cast<double>(timegm(&tm)) * 1000 + std::stod(started.substr(20, 3));
  double from = t0 + f["appliedAt"].get<double>() * 1000;
  double to = t0 + f["revertedAt"].get<double>() * 1000;
  int ok_before = 0, ok_after = 0, fails = 0, fails_outside = 0;
  std::istringstream in(puts->out());
  std::string ts, what;
  while (in >> ts >> what) {
    double t = std::stod(ts);
    if (what == "ok") {
      if (t < from) ++ok_before;
      if (t > to + 1000) ++ok_after;
    } else {
      ++fails;
      // An etcdctl that began just before the revert ends (and prints) up to its timeouts later.
      if (t < from - 50 || t > to + 800) ++fails_outside;
    }
  }
  std::printf("etcdctl loop in cgroup %s: %d ok before, %d failed, %d ok after\n", cg_name.c_str(), ok_before,
              fails, ok_after);
  EXPECT_GT(ok_before, 0) << puts->out() << puts->err();
  EXPECT_GT(ok_after, 0) << puts->out();
  EXPECT_GE(fails, 3) << puts->out();
  EXPECT_EQ(fails_outside, 0) << puts->out();
  EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty());
}

// The check can fail: keys deleted behind the writer's back are acknowledged writes missing from
// every member, and the run deviates (exit 1) with the number in the report.
TEST_F(EtcdEndToEnd, AcknowledgedWritesThatVanishFailTheRun) {
  start_agent();
  const std::string prefix = "/itest-vanish-" + std::to_string(::getpid()) + "/";
  auto file = experiment("vanish", "6s", "4s", "1s", "        action: isolate-member\n        member: follower\n",
                         true, prefix);
  auto r = chaosctl_async(tmp_, agent_->args({"run", file, "-o", "json"}));
  ASSERT_TRUE(r);
  std::this_thread::sleep_for(Ms(2500));
  std::uint64_t deleted = 0;
  in_netns(lab_->netns("etcd1"), [&] {
    auto d = etcd::delete_range(*etcd::parse_etcd_url(lab_->url(1)), prefix, etcd::prefix_end(prefix), Ms(2000));
    ASSERT_TRUE(d) << d.error().text();
    deleted = *d;
  });
  ASSERT_GT(deleted, 20u) << "the writer should have written for 2.5s by now";
  auto code = r->wait(Ms(60000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << "lost acknowledged writes must fail the run\n" << r->out().substr(0, 3000);
  auto rep = json::parse(r->out(), nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << r->out() << r->err();
  EXPECT_EQ(rep.value("outcome", ""), "deviated");
  const json& v = rep["probes"][0]["verify"];
  EXPECT_GE(v.value("lost", 0u), deleted) << v.dump();
  bool flagged = false;
  for (const auto& h : rep["probes"][0]["hypothesis"])
    if (h.value("check", "") == "consistency" && !h.value("held", true)) flagged = true;
  EXPECT_TRUE(flagged) << rep["probes"][0]["hypothesis"].dump();
  std::printf("deleted %llu keys behind the writer: read-back reports %s lost\n",
              static_cast<unsigned long long>(deleted), v.value("lost", json()).dump().c_str());
}

TEST_F(EtcdEndToEnd, SigkillWhileTheLeaderIsIsolatedHealsByLeaseAndRestartCleansUp) {
  // Classic attach: the filter outlives the agent, so only the lease can heal the cluster.
  start_agent("classic");
  auto before = lab_->view();
  std::string leader = before.leader_name();
  ASSERT_FALSE(leader.empty()) << before.str();
  std::string ns = lab_->netns(leader);
  int ifindex = 0;
  in_netns(ns, [&] { ifindex = static_cast<int>(if_nametoindex("eth0")); });
  ASSERT_GT(ifindex, 0);
  auto file = experiment("killed", "40s", "200ms", "30s", "        action: isolate-member\n        member: leader\n",
                         false);
  auto r = chaosctl_async(tmp_, agent_->args({"run", file}));
  ASSERT_TRUE(r);
  ASSERT_TRUE(wait_until([&] { return chaos_filters(ns, ifindex).size() >= 2; }, Ms(5000)))
      << "egress and ingress filters on the leader's eth0\n" << agent_->log();
  // The isolation works: the others elect a new leader.
  ClusterView during;
  ASSERT_TRUE(wait_until([&] {
    during = lab_->view();
    return during.leader() != 0 && during.leader_name() != leader;
  }, Ms(6000))) << during.str();

  std::set<std::uint32_t> progs;
  for (const auto& f : chaos_filters(ns, ifindex)) progs.insert(f.bpf_prog_id);
  ASSERT_FALSE(progs.empty());

  auto t_kill = steady_clock::now();
  agent_->signal(SIGKILL);
  ASSERT_EQ(agent_->wait_exit(Ms(2000)), 128 + SIGKILL);
  EXPECT_GE(chaos_filters(ns, ifindex).size(), 2u) << "classic filters outlive the agent";
  ClusterView healed;
  bool ok = wait_until([&] { return (healed = lab_->view()).healthy(); }, kLease + Ms(4000));
  auto took = ms_between(t_kill, steady_clock::now());
  std::printf("cluster healthy %lld ms after SIGKILL (lease %lld ms), no agent running\n", took,
              static_cast<long long>(kLease.count()));
  ASSERT_TRUE(ok) << "the lease did not heal the partition: " << healed.str();
  EXPECT_NE(healed.status[leader].leader, healed.status[leader].member_id) << "the old leader rejoined as a follower";
  EXPECT_FALSE(chaos_filters(ns, ifindex).empty()) << "still there, expired: it is the lease that healed";
  auto rc = r->wait(Ms(5000));
  ASSERT_TRUE(rc);
  EXPECT_NE(*rc, 0) << "chaosctl run must not report success when the agent died";
  ASSERT_FALSE(journal_outstanding(agent_->state_dir()).empty()) << "the dead agent's attachment is journaled";

  ASSERT_TRUE(agent_->start()) << "restart on the same state dir";
  EXPECT_NE(agent_->log().find("journal replay"), std::string::npos) << agent_->log();
  expect_clean(leader);
  // The programs the dead agent's filters ran are gone with the filters.
  EXPECT_TRUE(wait_until(
      [&] {
        for (auto id : progs)
          if (prog_loaded(id)) return false;
        return true;
      },
      Ms(3000)))
      << "a program of the dead agent is still loaded";
}

}  // namespace
}  // namespace chaos::itest
