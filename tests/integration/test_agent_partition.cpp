// The partition end to end through the real binaries: build/bin/chaos-agent (its own socket,
// state dir and config in a temp dir) and build/bin/chaosctl, against a lab ("t<pid>") made by
// the test, on both attach paths (tcx and classic clsact + cls_bpf, chosen by the agent config).
//
// What is proven, on the real kernel:
//   - the partition stops exactly the matching traffic (TCP to the server's 8080) and nothing
//     else (a second listener on 8081, ICMP), and the revert brings it back;
//   - a SIGKILLed agent's partition heals by itself within the lease, and a restarted agent
//     removes every kernel object the dead one made (journal replay);
//   - a SIGSTOPped agent's partition heals once the lease ran out, and after SIGCONT the agent
//     notices the lapse, aborts the run and cleans up;
//   - halt RUN, halt --all and SIGTERM revert at once;
//   - a bad experiment changes nothing on the node; validate's exit codes.
//
// Nothing is ever attached to the host's own interfaces: the guardrail case is a --dry-run
// (plan only), and every fault targets the lab's client namespace.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/support_agent.h"
#include "kernel/bpf_util.h"
#include "kernel/netlink.h"
#include "kernel/netns.h"

namespace chaos::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using nlohmann::json;

constexpr std::uint16_t kHttp = kLabResponderPort;  // matched by the partition
constexpr std::uint16_t kSidePort = 8081;           // the same server, not matched
constexpr Ms kLease{1000};
// How long a lease-expired fault may take to let traffic through, beyond the lease itself: the
// last renewal is at most one tick (100 ms) before the stop, plus the poll's granularity, plus
// whatever a loaded machine adds to one HTTP exchange. Later than that would not be the lease
// (the fault itself holds for 30 s).
constexpr Ms kRecoveryMargin{2000};
// The recovery polls' HTTP timeout: under the 1 s initial SYN retransmission timeout, so a SYN
// the partition drops still fails the poll, yet a slow exchange on a loaded machine does not.
constexpr Ms kPollTimeout{900};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The kernel objects our agent had made while a fault held.
struct Ours {
  std::set<std::uint32_t> progs;  // chaos_cls programs the agent held or had attached
  std::vector<TcxLink> links;
  std::vector<kernel::TcFilterInfo> filters;
  bool any() const { return !links.empty() || !filters.empty(); }
};

class AgentPartition : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, BPF, tc";
    if (!fs::exists(agent_binary()) || !fs::exists(chaosctl_binary()))
      FAIL() << "build chaos-agent and chaosctl first (" << agent_binary() << ")";
    if (mode() == "tcx" && !kernel::tcx_supported()) GTEST_SKIP() << "this kernel has no tcx; the classic path still runs";
    ASSERT_TRUE(lab_.up());
    client_ns_ = lab_.netns_path("client");
    server_ip_ = lab_.address("server");
    ifindex_ = lab_.ifindex("client");
    ASSERT_GT(ifindex_, 0);
    ASSERT_EQ(clsact_kind(client_ns_, ifindex_), "") << "the lab's client starts without a clsact qdisc";
    lab_spaces_ = {client_ns_, lab_.netns_path("server"), lab_.netns_path("switch")};
    lab_before_ = snapshot_netns(lab_spaces_);
    agent_ = std::make_unique<AgentProcess>(dir_, "lease: " + std::to_string(kLease.count()) +
                                                      "ms\nnetwork:\n  attach: " + mode() + "\n");
    ASSERT_TRUE(agent_->start());
    ASSERT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok) << "the lab serves HTTP before any fault";
  }

  std::string mode() const { return GetParam(); }

  // A partition of the client's egress TCP to the server's port 8080.
  std::string experiment(const std::string& name, const std::string& duration, const std::string& start,
                         const std::string& fault_duration, bool probe) const {
    return dir_.write(name + ".yaml", lab_partition_yaml(lab_, name, duration, start, fault_duration, probe));
  }

  // A long fault, for killing, stopping and halting the agent while it holds.
  std::string long_experiment(const std::string& name) const { return experiment(name, "40s", "200ms", "30s", false); }

  // What of ours is in the kernel now: chaos_cls programs the agent holds (plus `known` ones),
  // tcx links running one of them, classic filters on the client's eth0 (its namespace is ours).
  Ours ours(const std::set<std::uint32_t>& known = {}) {
    Ours o;
    o.progs = known;
    if (agent_->running()) {
      auto loaded = chaos_prog_ids();
      for (auto id : prog_ids_held_by(agent_->pid()))
        if (loaded.count(id)) o.progs.insert(id);
    }
    for (const auto& l : chaos_tcx_links(ifindex_))
      if (o.progs.count(l.prog_id)) o.links.push_back(l);
    o.filters = chaos_filters(client_ns_, ifindex_);
    for (const auto& f : o.filters) o.progs.insert(f.bpf_prog_id);
    return o;
  }

  // Waits until the fault is in the kernel the way the configured mode puts it there.
  bool wait_attached(Ours& out, Ms timeout = Ms(5000)) {
    return wait_until(
        [&] {
          out = ours();
          return mode() == "tcx" ? !out.links.empty() && out.filters.empty() : !out.filters.empty() && out.links.empty();
        },
        timeout);
  }

  std::string run_id() {
    auto st = chaosctl(dir_, agent_->args({"status", "-o", "json"}));
    auto j = json::parse(st.out, nullptr, false);
    if (j.is_discarded() || !j.contains("runs") || j["runs"].empty()) {
      ADD_FAILURE() << "status: " << st.str();
      return "";
    }
    return j["runs"].back().value("run", std::string());
  }

  json report(const std::string& id) {
    auto r = chaosctl(dir_, agent_->args({"report", id, "--format", "json"}));
    EXPECT_EQ(r.code, 0) << r.str();
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.str();
    return j.is_discarded() ? json::object() : j;
  }

  // Nothing of ours is left: none of the programs seen during the fault is loaded (so no tcx
  // link runs one), the agent holds no chaos_cls program, the lab's namespaces look exactly as
  // before the test (no filter, no clsact: the lab had none), the journal has nothing open.
  void expect_clean(const std::set<std::uint32_t>& seen, const std::string& when) {
    SCOPED_TRACE(when);
    ASSERT_FALSE(seen.empty()) << "no program was seen during the fault: nothing to check against";
    // Programs are freed after their last reference goes (RCU): give the kernel a moment.
    bool gone = wait_until(
        [&] {
          for (auto id : seen)
            if (prog_loaded(id)) return false;
          return true;
        },
        Ms(15000));  // returns as soon as they are gone; RCU and kworkers slip on a loaded machine
    EXPECT_TRUE(gone) << "programs the fault used are still loaded: " << [&] {
      std::string s;
      for (auto id : seen)
        if (prog_loaded(id)) s += std::to_string(id) + " ";
      return s;
    }();
    if (agent_->running()) {
      auto loaded = chaos_prog_ids();
      for (auto id : prog_ids_held_by(agent_->pid()))
        EXPECT_FALSE(loaded.count(id)) << "the agent still holds chaos_cls program " << id;
    }
    EXPECT_TRUE(chaos_filters(client_ns_, ifindex_).empty()) << "a classic filter is left on the client";
    EXPECT_EQ(clsact_kind(client_ns_, ifindex_), "") << "the clsact qdisc the agent created is left";
    auto now = snapshot_netns(lab_spaces_);
    EXPECT_EQ(lab_before_.lines, now.lines) << "the lab's namespaces changed.\nbefore:\n"
                                            << lab_before_.str() << "now:\n" << now.str();
    EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty())
        << "journal entries outstanding: " << json(journal_outstanding(agent_->state_dir())).dump();
  }

  void expect_partitioned(const std::string& when) {
    auto s = http_get(client_ns_, server_ip_, kHttp, Ms(250));
    EXPECT_FALSE(s.ok) << when << ": HTTP to " << kHttp << " passed through the partition";
  }

  TempDir dir_;
  TestLab lab_;
  std::vector<std::string> lab_spaces_;
  NodeSnapshot lab_before_;
  std::string client_ns_, server_ip_;
  int ifindex_ = 0;
  std::unique_ptr<AgentProcess> agent_;  // declared last: stops before the lab goes
};

// (a) Only the matching traffic stops, and the revert restores it; the report shows errors only
// inside the partition window and the hypothesis held before and after.
TEST_P(AgentPartition, PartitionStopsOnlyMatchingTrafficAndRevertRestoresIt) {
  SideListener side(lab_.netns_path("server"), kSidePort);
  ASSERT_TRUE(side.ready());
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kSidePort, Ms(5000)).ok) << "before: side port";
  EXPECT_TRUE(ping(client_ns_, server_ip_, Ms(5000))) << "before: ICMP";

  // The fault starts between two probe requests (they go every 100ms from 0), not on one.
  // The fault holds 6 s, so the during-checks below (about 2 s on an idle machine) fit in it on a
  // loaded one too.
  auto file = experiment("partition", "10s", "1550ms", "6s", true);
  auto run = chaosctl_async(dir_, agent_->args({"run", file, "-o", "json"}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << "the partition never showed up in the kernel\n" << agent_->log();

  auto blocked = http_get(client_ns_, server_ip_, kHttp, Ms(300));
  EXPECT_FALSE(blocked.ok) << "during: HTTP to " << kHttp << " passed";
  EXPECT_EQ(blocked.error, "connect: " + std::string(std::strerror(ETIMEDOUT))) << "a drop, not a refusal";
  // One connection that waits past the SYN retransmission timeout (1s): the client namespace's
  // TcpExt.TCPSynRetrans must count it in the fault's kernel counters (checked in the report).
  auto slow = http_get(client_ns_, server_ip_, kHttp, Ms(1400));
  EXPECT_FALSE(slow.ok) << "during: a slow HTTP to " << kHttp << " passed";
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kSidePort, Ms(2000)).ok) << "during: port " << kSidePort << " must pass";
  EXPECT_TRUE(ping(client_ns_, server_ip_, Ms(2000))) << "during: ICMP must pass";
  // The checks above ran while the fault held (otherwise their passing proves nothing).
  Ours still;
  EXPECT_TRUE(wait_attached(still, Ms(0))) << "the fault ended before the during-checks finished";

  auto code = run->wait(Ms(15000));
  ASSERT_TRUE(code) << "chaosctl run did not finish";
  EXPECT_EQ(*code, 0) << run->out() << run->err();

  EXPECT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok) << "after: HTTP to " << kHttp;
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kSidePort, Ms(5000)).ok) << "after: side port";
  expect_clean(o.progs, "after the run");

  auto rep = json::parse(run->out(), nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << run->out();
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1);
  const auto& f = rep["faults"][0];
  EXPECT_EQ(f["observed"]["egress"]["attach"], mode()) << f.dump();
  EXPECT_GT(f["observed"]["egress"].value("dropped", 0), 0) << f.dump();
  double from = rep["phases"]["during"]["from"].get<double>();
  double to = rep["phases"]["during"]["to"].get<double>();
  // Never early (the timeline applies at its offset, not before); late only by what a loaded
  // machine adds to one tick and one BPF load/attach or detach.
  EXPECT_GE(from, 1.55 - 0.001);
  EXPECT_LT(from, 1.55 + 1.0);
  EXPECT_GE(to, 7.55 - 0.001);
  EXPECT_LT(to, 7.55 + 1.0);
  // Kernel counters of the client's namespace over the fault: at least the slow request's SYN
  // retransmission; read from the lab namespace, not the host's.
  ASSERT_TRUE(f["observed"].contains("kernel")) << f.dump();
  const auto& k = f["observed"]["kernel"];
  EXPECT_FALSE(k.contains("error")) << k.dump();
  EXPECT_GE(k.value("tcpExtTCPSynRetrans", 0), 1) << k.dump();
  std::printf("[%s] kernel counters in the client namespace during the fault: %s\n", mode().c_str(), k.dump().c_str());
  const auto& p = rep["probes"][0];
  EXPECT_GT(p["phases"]["before"]["requests"].get<int>(), 5);
  EXPECT_EQ(p["phases"]["before"]["errors"], 0);
  EXPECT_GT(p["phases"]["during"]["errors"].get<int>(), 0);
  EXPECT_GT(p["phases"]["after"]["requests"].get<int>(), 5);
  EXPECT_EQ(p["phases"]["after"]["errors"], 0);
  for (const auto& h : p["hypothesis"]) EXPECT_TRUE(h["held"].get<bool>()) << h.dump();
  int errors = 0;
  for (const auto& s : p["samples"]) {
    if (s[1].get<bool>()) continue;
    ++errors;
    double t = s[0].get<double>();
    // A request may start before the window and be cut by the fault; it ends inside it.
    EXPECT_GE(t + s[2].get<double>() / 1000.0, from) << "an error before the partition window: " << s.dump();
    EXPECT_LT(t, to) << "an error after the partition window: " << s.dump();
  }
  EXPECT_GT(errors, 0);
  std::printf("[%s] partition window %.3f-%.3fs, probe errors %d (all inside), recovery after revert %.1f ms\n",
              mode().c_str(), from, to, errors, p.value("recovery_ms", -1.0));

  // The same report, fetched by run id.
  auto by_id = report(rep["run"].get<std::string>());
  EXPECT_EQ(by_id.value("outcome", ""), "held");
}

// (b) SIGKILL while the partition holds: the lease heals the node without any agent; a restarted
// agent replays the journal and removes everything the dead one made.
TEST_P(AgentPartition, SigkillHealsWithinTheLeaseAndRestartCleansUp) {
  auto run = chaosctl_async(dir_, agent_->args({"run", long_experiment("killed")}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << agent_->log();
  expect_partitioned("before SIGKILL");

  auto t_kill = steady_clock::now();
  agent_->signal(SIGKILL);
  auto rec = measure_recovery(client_ns_, server_ip_, kHttp, t_kill, kLease + Ms(5000), Ms(50), kPollTimeout);
  ASSERT_EQ(agent_->wait_exit(Ms(2000)), 128 + SIGKILL);
  ASSERT_TRUE(rec) << "traffic did not come back after the agent died";
  std::printf("[%s] recovery after SIGKILL: %lld ms (lease %lld ms)\n", mode().c_str(),
              static_cast<long long>(rec->count()), static_cast<long long>(kLease.count()));
  EXPECT_LE(*rec, kLease + kRecoveryMargin);

  auto left = journal_outstanding(agent_->state_dir());
  ASSERT_FALSE(left.empty()) << "the journal must list the attachment the dead agent made";
  auto of_kind = [&](const std::string& kind) {
    return std::count_if(left.begin(), left.end(), [&](const json& e) { return e.value("kind", "") == kind; });
  };
  auto cls = std::find_if(left.begin(), left.end(), [](const json& e) { return e.value("kind", "") == "bpf-classifier"; });
  ASSERT_NE(cls, left.end()) << json(left).dump();
  EXPECT_EQ((*cls)["undo"].value("mode", ""), mode()) << cls->dump();
  // Classic: the clsact the agent made is an entry of its own (tcx needs none).
  EXPECT_EQ(of_kind("clsact"), mode() == "classic" ? 1 : 0) << json(left).dump();
  if (mode() == "classic") {
    // A classic filter outlives its process: still there, and harmless because of the lease.
    EXPECT_FALSE(chaos_filters(client_ns_, ifindex_).empty()) << "expected the dead agent's filter to remain";
    EXPECT_EQ(clsact_kind(client_ns_, ifindex_), "clsact");
    EXPECT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok) << "the expired filter must pass traffic";
  } else {
    EXPECT_TRUE(wait_until([&] { return ours(o.progs).links.empty(); }, Ms(10000)))
        << "a tcx link must die with its process";
  }
  auto rc = run->wait(Ms(5000));
  ASSERT_TRUE(rc);
  EXPECT_NE(*rc, 0) << "chaosctl run must not report success when the agent died";

  ASSERT_TRUE(agent_->start()) << "restart on the same state dir";
  EXPECT_TRUE(contains(agent_->log(), "journal replay")) << agent_->log();
  expect_clean(o.progs, "after the restarted agent's journal replay");
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok);
}

// (b2) direction: both, reverted normally (issue 10): with a classic attach the egress filter
// makes the clsact qdisc and the ingress filter joins it; the revert must remove it whichever
// filter goes first. Then the same under SIGKILL mid-fault and a restart.
TEST_P(AgentPartition, BothDirectionsLeaveNoClsactAfterTheRevertNorAfterAKill) {
  auto both = [&](const std::string& name, const std::string& dur, const std::string& fault_dur) {
    std::string y = lab_partition_yaml(lab_, name, dur, "200ms", fault_dur, false);
    auto at = y.find("direction: egress");
    y.replace(at, std::string("direction: egress").size(), "direction: both");
    return dir_.write(name + ".yaml", y);
  };
  auto attached_both = [&](Ours& o) {
    return wait_until(
        [&] {
          o = ours();
          return mode() == "tcx" ? o.links.size() == 2 : o.filters.size() == 2;
        },
        Ms(5000));
  };
  {
    auto run = chaosctl_async(dir_, agent_->args({"run", both("both", "3s", "1500ms")}));
    ASSERT_TRUE(run);
    Ours o;
    ASSERT_TRUE(attached_both(o)) << "egress and ingress never both showed up\n" << agent_->log();
    expect_partitioned("both directions");
    auto code = run->wait(Ms(15000));
    ASSERT_TRUE(code) << "chaosctl run did not finish";
    EXPECT_EQ(*code, 0) << run->out() << run->err();
    expect_clean(o.progs, "after the revert of a both-directions partition");
  }
  {
    auto run = chaosctl_async(dir_, agent_->args({"run", both("both-killed", "40s", "30s")}));
    ASSERT_TRUE(run);
    Ours o;
    ASSERT_TRUE(attached_both(o)) << agent_->log();
    agent_->signal(SIGKILL);
    ASSERT_EQ(agent_->wait_exit(Ms(2000)), 128 + SIGKILL);
    run->wait(Ms(5000));
    ASSERT_TRUE(agent_->start()) << "restart on the same state dir";
    expect_clean(o.progs, "after the restarted agent's replay of a both-directions partition");
  }
}

// (c) SIGSTOP while the partition holds: the fds stay open (a tcx link stays), the lease heals
// the node; after SIGCONT the agent sees the lapse, aborts with that reason and cleans up.
TEST_P(AgentPartition, SigstopHealsWhenTheLeaseExpiresAndTheAgentAbortsOnLapse) {
  auto run = chaosctl_async(dir_, agent_->args({"run", long_experiment("stopped")}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << agent_->log();
  std::string id = run_id();
  expect_partitioned("before SIGSTOP");

  auto t_stop = steady_clock::now();
  agent_->signal(SIGSTOP);
  auto rec = measure_recovery(client_ns_, server_ip_, kHttp, t_stop, kLease + Ms(5000), Ms(50), kPollTimeout);
  // Still attached: the hung agent's fds keep the link (or the filter) in place; only the lease
  // inside the program lets traffic through.
  Ours held;
  bool still = wait_attached(held, Ms(0));
  agent_->signal(SIGCONT);
  ASSERT_TRUE(rec) << "traffic did not come back while the agent was stopped";
  std::printf("[%s] recovery while SIGSTOPped: %lld ms (lease %lld ms)\n", mode().c_str(),
              static_cast<long long>(rec->count()), static_cast<long long>(kLease.count()));
  EXPECT_LE(*rec, kLease + kRecoveryMargin);
  EXPECT_TRUE(still) << "the stopped agent's attachment should still be in the kernel";

  auto code = run->wait(Ms(5000));
  ASSERT_TRUE(code) << "the run did not end after SIGCONT";
  EXPECT_EQ(*code, 1) << run->out() << run->err();
  EXPECT_TRUE(contains(run->out(), "lease lapsed")) << run->out();
  auto rep = report(id);
  EXPECT_EQ(rep.value("outcome", ""), "aborted");
  EXPECT_TRUE(contains(rep.value("reason", ""), "lease lapsed")) << rep.value("reason", "");
  EXPECT_TRUE(agent_->running());
  expect_clean(o.progs, "after the lapse");
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok);
}

// (d) halt RUN, halt --all: the revert happens at once, the run ends aborted.
TEST_P(AgentPartition, HaltRunRevertsAtOnce) {
  auto run = chaosctl_async(dir_, agent_->args({"run", long_experiment("halt-one")}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << agent_->log();
  std::string id = run_id();
  ASSERT_FALSE(id.empty());
  expect_partitioned("before halt");

  auto h = chaosctl(dir_, agent_->args({"halt", id}));
  // From the answer on: the halt has been delivered (process start-up is not the agent's doing).
  auto t0 = steady_clock::now();
  EXPECT_EQ(h.code, 0) << h.str();
  EXPECT_TRUE(contains(h.out, "halted " + id)) << h.str();
  auto rec = measure_recovery(client_ns_, server_ip_, kHttp, t0, Ms(10000), Ms(10), kPollTimeout);
  ASSERT_TRUE(rec);
  EXPECT_TRUE(wait_until([&] { return !ours().any(); }, Ms(10000))) << "still attached 10 s after halt";
  std::printf("[%s] traffic back %lld ms after `chaosctl halt RUN` answered\n", mode().c_str(),
              static_cast<long long>(rec->count()));
  // The fault had 30 s to go and the agent kept renewing it: anything far below that is the halt.
  EXPECT_LE(*rec, Ms(5000));
  auto code = run->wait(Ms(5000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << run->out();
  auto rep = report(id);
  EXPECT_EQ(rep.value("outcome", ""), "aborted");
  EXPECT_TRUE(contains(rep.value("reason", ""), "halted")) << rep.value("reason", "");
  expect_clean(o.progs, "after halt");
}

// A stop condition on the probe aborts the run as soon as the partition hurts more than it
// allows: the fault is reverted about a window after it went in, not at its planned end.
TEST_P(AgentPartition, StopConditionAbortsTheRunEarly) {
  std::string file = experiment("stop-cond", "30s", "1500ms", "20s", true);
  {
    std::ofstream(file, std::ios::app) << "      abortWhen: {errorRate: 50%, window: 1s}\n";
  }
  auto v = chaosctl(dir_, {"validate", file});
  ASSERT_EQ(v.code, 0) << v.str();
  auto t0 = steady_clock::now();
  auto run = chaosctl_async(dir_, agent_->args({"run", file}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << agent_->log();
  auto code = run->wait(Ms(40000));
  auto took = ms_between(t0, steady_clock::now());
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << run->out();
  EXPECT_TRUE(contains(run->out(), "stop condition met: probe client-to-server")) << run->out();
  EXPECT_LT(took, 25000) << "the run went on for " << took << " ms; the fault was planned for 20s (run 30s)";
  std::string id = run_id();
  ASSERT_FALSE(id.empty());
  auto rep = report(id);
  EXPECT_EQ(rep.value("outcome", ""), "aborted") << rep.dump(1);
  ASSERT_TRUE(rep.contains("stopCondition")) << rep.dump(1);
  EXPECT_EQ(rep["stopCondition"].value("probe", ""), "client-to-server");
  const auto& f = rep["faults"][0];
  ASSERT_TRUE(f.contains("appliedAt") && f.contains("revertedAt")) << f.dump(1);
  double held = f["revertedAt"].get<double>() - f["appliedAt"].get<double>();
  std::printf("[%s] stop condition: fault held %.2f s (window 1s, 50%%), reason: %s\n", mode().c_str(), held,
              rep.value("reason", "").c_str());
  // Planned for 20 s: well under half of it is the brake (a window of answers plus one probe
  // timeout, 2 s, plus what a loaded machine adds), not the plan.
  EXPECT_LT(held, 10.0);
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok) << "traffic is not back after the abort";
  expect_clean(o.progs, "after the stop condition");
}

// A stop condition on the fault's own telemetry (spec.abortWhen): the partition's drop counter
// past 3 packets aborts the run, long before the fault's planned end.
TEST_P(AgentPartition, TelemetryStopConditionAbortsTheRunEarly) {
  std::string file = experiment("stop-drops", "30s", "1s", "20s", true);
  {
    std::ofstream(file, std::ios::app) << "  abortWhen:\n    - {fault: cut, key: egress.dropped, above: 3}\n";
  }
  auto v = chaosctl(dir_, {"validate", file});
  ASSERT_EQ(v.code, 0) << v.str();
  auto run = chaosctl_async(dir_, agent_->args({"run", file}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << agent_->log();
  auto code = run->wait(Ms(40000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << run->out();
  EXPECT_TRUE(contains(run->out(), "stop condition met")) << run->out();
  auto rep = report(run_id());
  EXPECT_EQ(rep.value("outcome", ""), "aborted") << rep.dump(1);
  ASSERT_TRUE(rep.contains("stopCondition")) << rep.dump(1);
  EXPECT_EQ(rep["stopCondition"].value("key", ""), "egress.dropped");
  const auto& f = rep["faults"][0];
  ASSERT_TRUE(f.contains("appliedAt") && f.contains("revertedAt")) << f.dump(1);
  double held = f["revertedAt"].get<double>() - f["appliedAt"].get<double>();
  std::printf("[%s] telemetry stop condition: fault held %.2f s, reason: %s\n", mode().c_str(), held,
              rep.value("reason", "").c_str());
  EXPECT_LT(held, 10.0);  // planned for 20 s; the drops pass 3 within a second or two of the apply
  EXPECT_GT(f["observed"]["egress"].value("dropped", 0), 3) << f.dump();
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok) << "traffic is not back after the abort";
  expect_clean(o.progs, "after the telemetry stop condition");
}

TEST_P(AgentPartition, HaltAllRevertsAtOnce) {
  auto run = chaosctl_async(dir_, agent_->args({"run", long_experiment("halt-all")}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << agent_->log();
  std::string id = run_id();
  expect_partitioned("before halt --all");

  auto h = chaosctl(dir_, agent_->args({"halt", "--all"}));
  auto t0 = steady_clock::now();  // the halt has been delivered
  EXPECT_EQ(h.code, 0) << h.str();
  EXPECT_TRUE(contains(h.out, "halted " + id)) << h.str();
  auto rec = measure_recovery(client_ns_, server_ip_, kHttp, t0, Ms(10000), Ms(10), kPollTimeout);
  ASSERT_TRUE(rec);
  std::printf("[%s] traffic back %lld ms after `chaosctl halt --all` answered\n", mode().c_str(),
              static_cast<long long>(rec->count()));
  EXPECT_LE(*rec, Ms(5000));  // 30 s of fault were left: this is the halt
  auto code = run->wait(Ms(5000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << run->out();
  EXPECT_EQ(report(id).value("outcome", ""), "aborted");
  expect_clean(o.progs, "after halt --all");
  // Nothing left to halt.
  auto again = chaosctl(dir_, agent_->args({"halt", "--all"}));
  EXPECT_EQ(again.code, 0);
  EXPECT_TRUE(contains(again.out, "nothing to halt")) << again.str();
}

// SIGTERM mid-fault: the agent reverts before it exits.
TEST_P(AgentPartition, SigtermRevertsBeforeExit) {
  auto run = chaosctl_async(dir_, agent_->args({"run", long_experiment("terminated")}));
  ASSERT_TRUE(run);
  Ours o;
  ASSERT_TRUE(wait_attached(o)) << agent_->log();
  expect_partitioned("before SIGTERM");

  auto t0 = steady_clock::now();
  agent_->signal(SIGTERM);
  auto code = agent_->wait_exit(Ms(10000));
  ASSERT_TRUE(code) << "the agent did not exit on SIGTERM";
  EXPECT_EQ(*code, 0) << agent_->log();
  std::printf("[%s] agent exited %lld ms after SIGTERM\n", mode().c_str(),
              static_cast<long long>(ms_between(t0, steady_clock::now())));
  // Checked the instant it has gone: for classic, only its own revert removes the filter (the
  // lease would take another second, and a process exit never removes it).
  EXPECT_TRUE(chaos_filters(client_ns_, ifindex_).empty()) << "the filter outlived the agent";
  EXPECT_EQ(clsact_kind(client_ns_, ifindex_), "");
  EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty()) << "the journal says something was not reverted";
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kHttp, kPollTimeout).ok) << "traffic right after the agent exited";
  auto rc = run->wait(Ms(5000));
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 1) << "the run was aborted by the agent's stop\n" << run->out() << run->err();
  EXPECT_TRUE(contains(run->out(), "ABORTED")) << run->out();
  expect_clean(o.progs, "after SIGTERM");
}

// (e) Bad experiments change nothing: not in the lab, not on the host.
TEST_P(AgentPartition, BadExperimentChangesNothing) {
  std::vector<std::string> spaces{kRootNetnsPath, client_ns_, lab_.netns_path("server"), lab_.netns_path("switch")};
  auto before = snapshot_netns(spaces);
  auto unchanged = [&](const std::string& what) {
    auto after = snapshot_netns(spaces);
    EXPECT_EQ(before.lines, after.lines) << what << " changed the node.\nbefore:\n" << before.str() << "after:\n" << after.str();
    // Programs and tcx links are global; the agent's are the ones it holds (a tcx link, too,
    // lives only through the agent's fd).
    auto loaded = chaos_prog_ids();
    for (auto id : prog_ids_held_by(agent_->pid()))
      EXPECT_FALSE(loaded.count(id)) << what << ": the agent holds chaos_cls program " << id;
    EXPECT_TRUE(agent_->running()) << what << " took the agent down";
  };
  auto base = fs::path(experiment("good", "5s", "1s", "2s", false));
  std::string good = [&] {
    std::ifstream in(base);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }();
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    auto p = s.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    if (p != std::string::npos) s.replace(p, from.size(), to);
    return s;
  };
  auto line_of = [](const std::string& text, const std::string& needle) {
    auto p = text.find(needle);
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(p), '\n'));
  };

  {  // An unknown field: the error names file:line:col and the field.
    std::string y = replace(good, "        direction: egress\n", "        direction: egress\n        bogus: 1\n");
    auto f = dir_.write("unknown-field.yaml", y);
    auto r = chaosctl(dir_, agent_->args({"run", f}));
    EXPECT_EQ(r.code, 2) << r.str();
    EXPECT_TRUE(contains(r.err, f + ":" + std::to_string(line_of(y, "bogus")) + ":9: error:")) << r.str();
    EXPECT_TRUE(contains(r.err, "bogus")) << r.str();
    std::printf("[%s] refused: %s", mode().c_str(), r.err.c_str());
    unchanged("an unknown field");
  }
  {  // A fault that would outlast spec.duration.
    std::string y = replace(good, "  duration: 5s\n", "  duration: 2500ms\n");
    auto f = dir_.write("outlasts.yaml", y);
    auto r = chaosctl(dir_, agent_->args({"run", f}));
    EXPECT_EQ(r.code, 2) << r.str();
    // At the fault's duration (its value starts in column 17).
    EXPECT_TRUE(contains(r.err, f + ":" + std::to_string(line_of(y, "      duration: 2s")) + ":17: error:")) << r.str();
    EXPECT_TRUE(contains(r.err, "spec.duration")) << r.str();
    std::printf("[%s] refused: %s", mode().c_str(), r.err.c_str());
    unchanged("a fault outlasting spec.duration");
  }
  {  // An interface that does not exist: refused at plan.
    std::string y = replace(good, "        direction: egress\n", "        interface: nosuch0\n        direction: egress\n");
    auto f = dir_.write("no-interface.yaml", y);
    auto r = chaosctl(dir_, agent_->args({"run", f}));
    EXPECT_EQ(r.code, 2) << r.str();
    EXPECT_TRUE(contains(r.err, "nosuch0")) << r.str();
    EXPECT_TRUE(contains(r.err, "not found")) << r.str();
    // At the fault's entry (the "- name: cut" item, column 7), as the parser located it.
    EXPECT_TRUE(contains(r.err, f + ":" + std::to_string(line_of(y, "    - name: cut")) + ":7: error: refused at plan: fault cut: "))
        << r.str();
    std::printf("[%s] refused: %s", mode().c_str(), r.err.c_str());
    unchanged("a nonexistent interface");
  }
  {  // The guardrail: the host's default-route interface in the root namespace. Only ever a
     // dry run (plan, no apply), so nothing could be attached even if the guardrail failed.
    auto defaults = default_route_interfaces();
    ASSERT_TRUE(defaults) << defaults.error().text();
    if (defaults->empty()) {
      std::printf("guardrail case skipped: the host has no default route here\n");
    } else {
      std::string iface = (*defaults)[0].name;
      std::string y = replace(good, "        lab: " + lab_.target("client") + "\n", "        interface: " + iface + "\n");
      auto f = dir_.write("guardrail.yaml", y);
      auto r = chaosctl(dir_, agent_->args({"run", f, "--dry-run"}));
      EXPECT_EQ(r.code, 2) << r.str();
      EXPECT_TRUE(contains(r.err, "default route")) << r.str();
      EXPECT_TRUE(contains(r.err, "guardrail")) << r.str();
      EXPECT_TRUE(contains(r.err, f + ":")) << r.str();
      EXPECT_FALSE(contains(r.err, "Operation not permitted")) << "a guardrail is a refusal, not a failed call: " << r.str();
      std::printf("[%s] refused: %s", mode().c_str(), r.err.c_str());
      unchanged("the guardrail case");
    }
  }
}

// (h) The tcp probe, for services that do not speak HTTP: connections to the cut port time out
// during the partition and only then; connections to the server's other port never fail.
TEST_P(AgentPartition, TcpProbesSeeTheCutPortAndOnlyIt) {
  SideListener side(lab_.netns_path("server"), kSidePort);
  ASSERT_TRUE(side.ready());
  const std::string from = "        lab: " + lab_.target("client") + "\n";
  // The fault starts and ends halfway between two probe ticks (every 100ms from 0), not on one:
  // a connection stamped on the tick of the apply could leave after the drop is in place.
  std::string y = lab_partition_yaml(lab_, "tcp-probes", "4s", "1050ms", "1500ms", false);
  y += "  steadyState:\n"
       "    - name: cut-port\n"
       "      interval: 100ms\n"
       // Under the 1 s SYN retransmission timeout, so a dropped SYN fails the probe, but long
       // enough that a loaded machine's slow accept is not an error.
       "      timeout: 900ms\n"
       "      tolerance: {maxErrorRate: 0%}\n"
       "      tcp:\n"
       "        address: \"" + server_ip_ + ":" + std::to_string(kHttp) + "\"\n" + from +
       "    - name: side-port\n"
       "      interval: 100ms\n"
       "      timeout: 900ms\n"
       "      checkIn: [before, during, after]\n"
       "      tolerance: {maxErrorRate: 0%}\n"
       "      tcp:\n"
       "        address: \"" + server_ip_ + ":" + std::to_string(kSidePort) + "\"\n" + from;
  auto r = chaosctl(dir_, agent_->args({"run", dir_.write("tcp-probes.yaml", y), "-o", "json"}));
  ASSERT_EQ(r.code, 0) << r.str();
  auto rep = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << r.out;
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1).substr(0, 3000);
  double on = rep["phases"]["during"]["from"].get<double>(), off = rep["phases"]["during"]["to"].get<double>();
  const json& cut = rep["probes"][0];
  const json& other = rep["probes"][1];
  ASSERT_EQ(cut["name"], "cut-port");
  EXPECT_GT(cut["phases"]["before"]["requests"].get<int>(), 5);
  EXPECT_EQ(cut["phases"]["before"]["errors"], 0);
  EXPECT_GT(cut["phases"]["during"]["errors"].get<int>(), 5) << cut["phases"].dump();
  EXPECT_EQ(cut["phases"]["after"]["errors"], 0);
  int timeouts = 0;
  for (const auto& s : cut["samples"]) {
    if (s[1].get<bool>()) continue;
    EXPECT_GE(s[0].get<double>() + s[2].get<double>() / 1000.0, on) << s.dump();  // it ended inside
    EXPECT_LT(s[0].get<double>(), off) << s.dump();
    if (s.dump().find("connect: " + std::string(std::strerror(ETIMEDOUT))) != std::string::npos) ++timeouts;
  }
  EXPECT_GT(timeouts, 0) << "dropped SYNs show up as connect timeouts";
  for (const char* ph : {"before", "during", "after"}) {
    EXPECT_GT(other["phases"][ph]["requests"].get<int>(), 5) << ph;
    EXPECT_EQ(other["phases"][ph]["errors"], 0) << ph << ": the unmatched port must pass";
  }
  std::printf("[%s] tcp probes: cut port %d errors during the fault (%d connect timeouts), side port %d/%d/%d "
              "connections without an error\n",
              mode().c_str(), cut["phases"]["during"]["errors"].get<int>(), timeouts,
              other["phases"]["before"]["requests"].get<int>(), other["phases"]["during"]["requests"].get<int>(),
              other["phases"]["after"]["requests"].get<int>());
}

INSTANTIATE_TEST_SUITE_P(AttachPaths, AgentPartition, ::testing::Values("tcx", "classic"),
                         [](const auto& info) { return info.param; });

// (f) validate: 0 when every file is valid, 1 otherwise; errors point at FILE:LINE:COL.
TEST(ChaosctlValidate, ExitCodesOnShippedAndBrokenFiles) {
  if (!fs::exists(chaosctl_binary())) FAIL() << "build chaosctl first (" << chaosctl_binary() << ")";
  TempDir dir;
  std::vector<std::string> shipped;
  for (const auto& e : fs::directory_iterator(std::string(CHAOS_SOURCE_DIR) + "/experiments"))
    if (e.path().extension() == ".yaml") shipped.push_back(e.path().string());
  ASSERT_FALSE(shipped.empty());
  for (const auto& f : shipped) {
    auto r = chaosctl(dir, {"validate", f});
    EXPECT_EQ(r.code, 0) << f << "\n" << r.str();
  }
  std::vector<std::string> all{"validate"};
  all.insert(all.end(), shipped.begin(), shipped.end());
  EXPECT_EQ(chaosctl(dir, all).code, 0);

  auto broken = dir.write("broken.yaml",
                          "apiVersion: chaos-agent/v1\n"
                          "kind: Experiment\n"
                          "metadata:\n"
                          "  name: broken\n"
                          "spec:\n"
                          "  duration: 5 parsecs\n"
                          "  faults:\n"
                          "    - name: cut\n"
                          "      start: 1s\n"
                          "      duration: 1s\n"
                          "      network:\n"
                          "        action: partition\n"
                          "        netns: somewhere\n"
                          "        colour: blue\n");
  auto r = chaosctl(dir, {"validate", broken});
  EXPECT_EQ(r.code, 1) << r.str();
  // One pass reports every error, each at its place.
  EXPECT_TRUE(contains(r.err, broken + ":6:13: error:")) << r.str();
  EXPECT_TRUE(contains(r.err, broken + ":14:9: error:")) << r.str();
  std::vector<std::string> mixed{"validate", shipped[0], broken};
  EXPECT_EQ(chaosctl(dir, mixed).code, 1);
  EXPECT_EQ(chaosctl(dir, {"validate", dir.file("missing.yaml")}).code, 1);
}

}  // namespace
}  // namespace chaos::itest
