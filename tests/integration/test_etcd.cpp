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
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/support_agent.h"
#include "lab/etcd_lab.h"
#include "lab/lab.h"
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

// The report's startedAt (UTC, to the ms) as epoch ms: run times (seconds since then) map onto
// the wall clock that `date +%s%3N` and system_clock print.
double run_t0_epoch_ms(const json& rep) {
  std::tm tm{};
  std::string started = rep.value("startedAt", "");
  if (started.size() < 23 || !strptime(started.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return -1;
  return static_cast<double>(timegm(&tm)) * 1000 + std::stod(started.substr(20, 3));
}

// Failed writer samples that the fault cannot explain: phase_of()'s rule (agent/runner/run.cpp):
// a request still in flight when apply() began counts in the fault (t + latency >= during.from;
// during.from is when apply() began, at or before appliedAt); one that started after the revert
// completed is outside it.
void expect_errors_only_inside_the_fault(const json& rep) {
  const double from = rep["phases"]["during"]["from"].get<double>();
  const double reverted = rep["faults"][0]["revertedAt"].get<double>();
  int failed = 0;
  for (const auto& s : rep["probes"][0]["samples"]) {
    if (s[1].get<bool>()) continue;
    ++failed;
    const double t = s[0].get<double>(), done = t + s[2].get<double>() / 1000.0;
    EXPECT_GE(done + 0.001, from) << "a put that ended before the fault began failed: " << s.dump();  // ms rounding
    EXPECT_LE(t, reverted + 0.1) << "a put that started after the revert failed: " << s.dump();
  }
  EXPECT_GT(failed, 0);
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
  // 7s after the heal: the old leader's return is measured (healthyAfterHeal_ms) only while the run lasts.
  auto file = experiment("isolate-leader", "16s", "3s", "6s",
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
  // Those are physical lower bounds. The upper ones are scheduling: three members, the agent and
  // its poller share two cores, and raft's timers slip when starved. A new leader inside the 6s
  // fault is what proves the isolation (not the heal) elected it.
  double elected = cl["newLeaderElectedAfter_ms"].get<double>();
  EXPECT_GE(elected, 800.0);
  EXPECT_LT(elected, 6000.0) << "no new leader while the old one was cut off";
  EXPECT_GT(cl.value("noWorkingLeaderDuringFault_ms", 0.0), 800.0);
  // Healthy again while the run still watched (7s after the heal, against 1s election timeouts).
  ASSERT_FALSE(cl["healthyAfterHeal_ms"].is_null()) << cl.dump();
  EXPECT_LT(cl["healthyAfterHeal_ms"].get<double>(), 7000.0);
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
  EXPECT_LE(p["errorWindow"]["last"].get<double>(), f["revertedAt"].get<double>() + 0.1);
  expect_errors_only_inside_the_fault(rep);
  const json& v = p["verify"];
  EXPECT_EQ(v.value("lost", -1), 0) << v.dump();
  // Most puts were acknowledged: only the leaderless part of the 6s fault fails them. A ratio,
  // not a count: a starved open loop starts fewer puts, it does not fail more of them.
  int requests = 0;
  for (const char* ph : {"before", "during", "after"}) requests += p["phases"][ph].value("requests", 0);
  EXPECT_GT(v.value("acknowledged", 0), requests / 2) << v.dump() << " of " << requests << " puts";
  ASSERT_EQ(v["perMember"].size(), 3u) << v.dump();
  expect_every_acknowledged_write_everywhere(v);

  // etcd's own account, independently: one leader again, not the old one, which follows it.
  ClusterView after;  // wait_until returns as soon as it holds: the deadline is for a loaded machine
  ASSERT_TRUE(wait_until([&] { return (after = lab_->view()).healthy(); }, Ms(30000))) << after.str();
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

  // One view can miss a member that answers late (a 500ms status timeout); ask until all three do.
  ClusterView after;
  ASSERT_TRUE(wait_until([&] { return (after = lab_->view()).healthy(); }, Ms(30000))) << after.str();
  EXPECT_EQ(after.leader_name(), leader) << after.str();
  EXPECT_EQ(after.status[leader].raft_term, term) << "pre-vote: the follower's return must not raise the term";
  expect_clean(isolated);
}

TEST_F(EtcdEndToEnd, CutClientsStopsTheWritesAndNothingElse) {
  start_agent();
  std::string leader = lab_->view().leader_name();
  std::string body = "        action: cut-clients\n        clients: {lab: " + lab_->name() + "/client}\n";
  auto [code, rep] = run(experiment("cut-clients", "9s", "2s", "4s", body, true));
  ASSERT_TRUE(rep.contains("faults")) << rep.dump();
  EXPECT_EQ(code, 0) << rep.dump(1).substr(0, 4000);
  const json& p = rep["probes"][0];
  EXPECT_EQ(p["phases"]["before"].value("errors", -1), 0);
  EXPECT_EQ(p["phases"]["after"].value("errors", -1), 0);
  EXPECT_GT(p["phases"]["during"].value("errors", 0), 0);
  // Every put that started with the cut in place and would have had its answer (1s timeout)
  // before the revert began failed, however many the open loop managed to start. The extra
  // second covers a put whose thread started late (t is its scheduled start).
  const json& f = rep["faults"][0];
  const double on = f["appliedAt"].get<double>();
  const double revert_began = f["revertedAt"].get<double>() - f.value("revert_ms", 0.0) / 1000.0;
  int inside = 0;
  for (const auto& s : p["samples"]) {
    const double t = s[0].get<double>();
    if (t < on || t + 1.0 + 1.0 > revert_began) continue;
    ++inside;
    EXPECT_FALSE(s[1].get<bool>()) << "a put went through the cut: " << s.dump();
  }
  EXPECT_GE(inside, 5) << "puts started well inside the cut (" << on << " .. " << revert_began << ")";
  const json& obs = f["observed"];
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
      // The loop's shell is killed below, but an etcdctl it started may still be running: kill
      // whatever is left in the cgroup, then remove it once it is empty.
      for (int i = 0; i < 300 && ::rmdir(path.c_str()) != 0 && errno == EBUSY; ++i) {
        std::ifstream procs(path + "/cgroup.procs");
        for (pid_t pid; procs >> pid;) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(Ms(50));
      }
      if (fs::exists(path)) ADD_FAILURE() << "test cgroup " << path << " left behind";
    }
  } gone{cg};
  start_agent();
  // The loop joins the cgroup first, then enters the client's namespace; one line per put with
  // its start and end (epoch ms). Timeouts of 2s: one etcdctl (exec, dial, a raft commit) on a
  // loaded two-core machine can take far longer than the 300ms a quiet one needs.
  std::string loop = "echo $$ > " + cg + "/cgroup.procs && exec ip netns exec " + lab_->name() +
                     "-client sh -c 'while :; do s=$(date +%s%3N); if ETCDCTL_API=3 etcdctl --endpoints=" +
                     lab_->url(1) +
                     " --dial-timeout=2s --command-timeout=2s put /itest-cg/k v >/dev/null 2>&1; "
                     "then echo \"$s $(date +%s%3N) ok\"; else echo \"$s $(date +%s%3N) fail\"; fi; sleep 0.05; done'";
  auto puts = Child::spawn({"/bin/sh", "-c", loop}, tmp_.file("loop.out"), tmp_.file("loop.err"));
  ASSERT_TRUE(puts);
  std::string body = "        action: cut-clients\n        clients: {lab: " + lab_->name() + "/client, cgroup: /" +
                     cg_name + "}\n";
  // 6s after the revert: room for puts that start after it and finish, even slowly.
  auto [code, rep] = run(experiment("cut-cgroup", "12s", "3s", "3s", body, true));
  puts->signal(SIGKILL);
  puts->wait(Ms(10000));
  ASSERT_TRUE(rep.contains("faults")) << rep.dump();
  EXPECT_EQ(code, 0) << rep.dump(1).substr(0, 4000);
  const json& p = rep["probes"][0];
  for (const char* ph : {"before", "during", "after"})
    EXPECT_EQ(p["phases"][ph].value("errors", -1), 0) << ph << ": the writer is not in the cgroup";
  const json& f = rep["faults"][0];
  EXPECT_GT(f["observed"]["drops"][0].value("dropped", 0), 0);

  // Run times are seconds since the report's startedAt (UTC, ms): the loop prints epoch ms. Each
  // put is judged by its whole interval [start, end], never by when its line was printed.
  const double t0 = run_t0_epoch_ms(rep);
  ASSERT_GT(t0, 0) << rep.value("startedAt", "");
  // The cut can act from the moment apply() begins until the revert has completed; a put that
  // ran entirely inside [applied, revert began] cannot have reached etcd. 100ms of margin each
  // side for the two clocks (the report's startedAt against the steady run clock).
  const double cut_from = t0 + rep["phases"]["during"]["from"].get<double>() * 1000 - 100;
  const double cut_to = t0 + f["revertedAt"].get<double>() * 1000 + 100;
  const double held_from = t0 + f["appliedAt"].get<double>() * 1000 + 100;
  const double held_to = t0 + (f["revertedAt"].get<double>() - f.value("revert_ms", 0.0) / 1000.0) * 1000 - 100;
  int ok_before = 0, ok_after = 0, ok_inside = 0, fails = 0, fails_outside = 0;
  std::istringstream in(puts->out());
  std::string ts, te, what;
  while (in >> ts >> te >> what) {
    const double start = std::stod(ts), end = std::stod(te);
    if (what == "ok") {
      if (end < cut_from) ++ok_before;
      if (start > cut_to) ++ok_after;
      if (start >= held_from && end <= held_to) ++ok_inside;
    } else {
      ++fails;
      if (end < cut_from || start > cut_to) ++fails_outside;
    }
  }
  std::printf("etcdctl loop in cgroup %s: %d ok before, %d failed, %d ok after\n", cg_name.c_str(), ok_before,
              fails, ok_after);
  EXPECT_GT(ok_before, 0) << puts->out() << puts->err();
  EXPECT_GT(ok_after, 0) << puts->out();
  // With 2s timeouts one or two failures fit in the 3s cut.
  EXPECT_GE(fails, 1) << puts->out();
  EXPECT_EQ(fails_outside, 0) << puts->out();
  EXPECT_EQ(ok_inside, 0) << "a put of the cut cgroup went through while the cut held\n" << puts->out();
  EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty());
}

// The check can fail: keys deleted behind the writer's back are acknowledged writes missing from
// every member, and the run deviates (exit 1) with the number in the report.
TEST_F(EtcdEndToEnd, AcknowledgedWritesThatVanishFailTheRun) {
  start_agent();
  const std::string prefix = "/itest-vanish-" + std::to_string(::getpid()) + "/";
  // The fault comes late (+10s): the keys are deleted well before it, whenever the writer got going.
  auto file = experiment("vanish", "15s", "10s", "1s", "        action: isolate-member\n        member: follower\n",
                         true, prefix);
  auto r = chaosctl_async(tmp_, agent_->args({"run", file, "-o", "json"}));
  ASSERT_TRUE(r);
  const auto url1 = *etcd::parse_etcd_url(lab_->url(1));
  // Counted in etcd, not guessed from a sleep: wait until the writer has put 20 keys.
  std::size_t present = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        in_netns(lab_->netns("etcd1"), [&] {
          if (auto kvs = etcd::range_all(url1, prefix, etcd::prefix_end(prefix), false, Ms(2000))) present = kvs->size();
        });
        std::this_thread::sleep_for(Ms(200));
        return present >= 20;
      },
      Ms(30000)))
      << present << " keys under " << prefix << "\n" << agent_->log();
  std::uint64_t deleted = 0;
  in_netns(lab_->netns("etcd1"), [&] {
    auto d = etcd::delete_range(url1, prefix, etcd::prefix_end(prefix), Ms(5000));
    ASSERT_TRUE(d) << d.error().text();
    deleted = *d;
  });
  const double deleted_by_ms =
      static_cast<double>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  ASSERT_GE(deleted, 20u);
  auto code = r->wait(Ms(60000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << "lost acknowledged writes must fail the run\n" << r->out().substr(0, 3000);
  auto rep = json::parse(r->out(), nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << r->out() << r->err();
  EXPECT_EQ(rep.value("outcome", ""), "deviated");
  const json& v = rep["probes"][0]["verify"];
  // Every deleted key was an acknowledged write (now lost) or one whose answer never came (an
  // indeterminate put, which may be absent). Only puts that started before the delete can have
  // been deleted, so only their failures (with a second for the two clocks) excuse a missing one.
  const double t0 = run_t0_epoch_ms(rep);
  ASSERT_GT(t0, 0) << rep.value("startedAt", "");
  std::uint64_t failed_before_delete = 0;
  for (const auto& s : rep["probes"][0]["samples"])
    if (!s[1].get<bool>() && t0 + s[0].get<double>() * 1000 < deleted_by_ms + 1000) ++failed_before_delete;
  const std::uint64_t lost = v.value("lost", 0u);
  EXPECT_GE(lost + failed_before_delete, deleted) << v.dump();
  EXPECT_LE(lost, deleted) << "acknowledged writes lost that nobody deleted: " << v.dump();
  EXPECT_GT(lost, 0u) << v.dump();
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
  // wait_until returns as soon as it holds: long deadlines cost nothing on a quiet machine.
  ASSERT_TRUE(wait_until([&] { return chaos_filters(ns, ifindex).size() >= 2; }, Ms(30000)))
      << "egress and ingress filters on the leader's eth0\n" << agent_->log();
  // The isolation works: the others elect a new leader.
  ClusterView during;
  ASSERT_TRUE(wait_until([&] {
    during = lab_->view();
    return during.leader() != 0 && during.leader_name() != leader;
  }, Ms(20000))) << during.str();

  std::set<std::uint32_t> progs;
  for (const auto& f : chaos_filters(ns, ifindex)) progs.insert(f.bpf_prog_id);
  ASSERT_FALSE(progs.empty());

  auto t_kill = steady_clock::now();
  agent_->signal(SIGKILL);
  ASSERT_EQ(agent_->wait_exit(Ms(10000)), 128 + SIGKILL);
  EXPECT_GE(chaos_filters(ns, ifindex).size(), 2u) << "classic filters outlive the agent";
  ClusterView healed;
  // The old leader rejoins and all three agree once the lease has passed; on two loaded cores
  // that can take a while. No agent runs until the restart below, so whatever heals it within
  // the deadline is the lease.
  bool ok = wait_until([&] { return (healed = lab_->view()).healthy(); }, Ms(30000));
  auto took = ms_between(t_kill, steady_clock::now());
  std::printf("cluster healthy %lld ms after SIGKILL (lease %lld ms), no agent running\n", took,
              static_cast<long long>(kLease.count()));
  ASSERT_TRUE(ok) << "the lease did not heal the partition: " << healed.str();
  EXPECT_NE(healed.status[leader].leader, healed.status[leader].member_id) << "the old leader rejoined as a follower";
  EXPECT_FALSE(chaos_filters(ns, ifindex).empty()) << "still there, expired: it is the lease that healed";
  auto rc = r->wait(Ms(15000));
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
