// Workload targets on the real kernel (root): faults name processes and cgroups the way they run,
// resolved at plan time on every run, and exactly the chosen ones are hit.
//   - memory: three workload processes in three test cgroups; `process: {name: ...}` with mode
//     all puts a hog in each of the three, mode fixed 1 (with a seed) in exactly the one the seed
//     picks, a cgroup glob with fixed-percent 67 in two; every hog is gone after the revert;
//   - network, through the real binaries: a partition targets a process running in the lab
//     client's namespace, with no interface given: the agent finds the namespace from the process
//     and the interface from that namespace's default route; the probe sees the partition during
//     the fault and none after it; the report names the chosen process. A process that does not
//     exist is a plan-time refusal that lists what does, and changes nothing.
// Every cgroup and process the test makes is removed in TearDown, also on failure.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/journal.h"
#include "core/log.h"
#include "faults/memory/memory.h"
#include "faults/memory/spec.h"
#include "integration/support_agent.h"
#include "kernel/cgroup.h"
#include "kernel/netlink.h"
#include "kernel/netns.h"
#include "kernel/process.h"
#include "kernel/worker.h"

namespace chaos::itest {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using nlohmann::json;
constexpr std::uint64_t MiB = 1ull << 20;

// A process named `comm` that waits, after joining the cgroup dir (when given) and entering the
// network namespace at netns_path (when given). Killed (and reaped) by the destructor.
class Waiter {
 public:
  Waiter(const std::string& comm, const std::string& cgroup_dir, const std::string& netns_path) {
    int p[2];
    if (::pipe(p) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(p[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
      if (!cgroup_dir.empty() && !cgroup::write_file(cgroup_dir + "/cgroup.procs", std::to_string(::getpid())))
        ::_exit(2);
      if (!netns_path.empty()) {
        int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(3);
        ::close(fd);
      }
      char ok = 1;
      (void)!::write(p[1], &ok, 1);
      for (;;) ::pause();
    }
    ::close(p[1]);
    char ok = 0;
    if (pid_ < 0 || ::read(p[0], &ok, 1) != 1) pid_ = -1;
    ::close(p[0]);
  }
  ~Waiter() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// ---- memory

class MemoryTargets : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (creates cgroups)";
    auto h = cgroup::find_hierarchy("memory");
    if (!h) GTEST_SKIP() << "no memory controller mounted: " << h.error().text();
    h_ = *h;
    if (h_.version == cgroup::Version::v2) {
      auto sc = cgroup::read_file(h_.mount + "/cgroup.subtree_control");
      if (sc && sc->find("memory") == std::string::npos)
        if (auto r = cgroup::write_file(h_.mount + "/cgroup.subtree_control", "+memory"); !r)
          GTEST_SKIP() << "cannot enable the v2 memory controller: " << r.error().text();
    }
    prefix_ = "chaos-tgt-" + std::to_string(::getpid());
    comm_ = "ctgt" + std::to_string(::getpid() % 1000000);
    for (int i = 0; i < 3; ++i) {
      auto cg = cgroup::MemoryCgroup::create(h_, prefix_ + "-" + std::to_string(i));
      ASSERT_TRUE(cg) << cg.error().text();
      cgs_.push_back(*cg);
      ASSERT_TRUE(cgs_.back().set_memory_limit(256 * MiB));
      waiters_.push_back(std::make_unique<Waiter>(comm_, cgs_.back().dir(), ""));
      ASSERT_GT(waiters_.back()->pid(), 0);
    }
    state_dir_ = "/tmp/" + prefix_ + "-state";
    std::filesystem::remove_all(state_dir_);
    auto j = Journal::open(state_dir_);
    ASSERT_TRUE(j) << j.error().text();
    journal_ = std::move(*j);
  }

  void TearDown() override {
    fault_.reset();  // reverts if a test failed half-way
    waiters_.clear();
    for (auto& cg : cgs_) {
      for (int i = 0; i < 200; ++i) {
        auto procs = cg.procs(true);
        if (!procs || procs->empty()) break;
        for (pid_t p : *procs) ::kill(p, SIGKILL);
        std::this_thread::sleep_for(10ms);
      }
      bool removed = false;
      for (int i = 0; i < 100 && !removed; ++i) {
        removed = static_cast<bool>(cg.remove());
        if (!removed) std::this_thread::sleep_for(20ms);
      }
      EXPECT_TRUE(removed) << "test cgroup " << cg.dir() << " left behind";
    }
    journal_.reset();
    std::filesystem::remove_all(state_dir_);
  }

  // Builds the fault the way the runner does: through the memory family's make().
  Result<std::unique_ptr<Fault>> make(const Target& t) {
    auto s = std::make_shared<memory::MemorySpec>();
    s->target = t;
    s->size = 8 * MiB;
    s->mode = memory::Mode::pressure;
    FaultEntry e;
    e.name = "hog";
    e.family = "memory";
    e.spec = s;
    FaultContext ctx{&config_, journal_.get(), "r-" + prefix_, logger("memory")};
    return memory::family().make(e, ctx);
  }

  // How many processes each test cgroup holds now (the workload alone is 1, with a hog 2).
  std::vector<std::size_t> counts() {
    std::vector<std::size_t> out;
    for (auto& cg : cgs_) {
      auto p = cg.procs(true);
      out.push_back(p ? p->size() : 0);
    }
    return out;
  }

  // Plans, applies, checks which cgroups got a hog, reverts and checks they are all gone.
  void expect_hogs_in(const Target& t, const std::vector<std::size_t>& want) {
    auto f = make(t);
    ASSERT_TRUE(f) << f.error().text();
    fault_ = std::move(*f);
    auto lines = fault_->plan();
    ASSERT_TRUE(lines) << lines.error().text();
    for (const auto& l : *lines) std::cout << "  plan: " << l << "\n";
    ASSERT_TRUE(fault_->apply());
    ASSERT_TRUE(fault_->renew(monotonic_ns() + 60'000'000'000ull));
    EXPECT_TRUE(wait_until([&] { return counts() == want; }, Ms(10000)))
        << "a hog in exactly the chosen cgroups (workload alone: 1, with a hog: 2)";
    EXPECT_EQ(counts(), want);
    auto obs = fault_->observe();
    EXPECT_TRUE(obs.contains("selection")) << obs.dump();
    ASSERT_TRUE(fault_->revert());
    EXPECT_TRUE(wait_until([&] { return counts() == std::vector<std::size_t>{1, 1, 1}; }, Ms(10000)))
        << "every hog gone after the revert";
    fault_.reset();
  }

  Target process(SelectMode m, std::int64_t value = 0, std::optional<std::uint64_t> seed = std::nullopt) {
    Target t;
    t.kind = Target::Kind::process;
    t.process.name = comm_;
    t.select.mode = m;
    t.select.value = value;
    t.select.seed = seed;
    return t;
  }

  cgroup::Hierarchy h_;
  std::string prefix_, comm_, state_dir_;
  std::vector<cgroup::MemoryCgroup> cgs_;
  std::vector<std::unique_ptr<Waiter>> waiters_;
  std::unique_ptr<Journal> journal_;
  AgentConfig config_;
  std::unique_ptr<Fault> fault_;
};

TEST_F(MemoryTargets, ModeAllHitsEveryMatchingProcessesCgroup) { expect_hogs_in(process(SelectMode::all), {2, 2, 2}); }

TEST_F(MemoryTargets, ModeFixedHitsExactlyTheOneTheSeedPicks) {
  // The matches are in pid order, and the waiters were started in cgroup order.
  auto c = choose(3, process(SelectMode::fixed, 1, 12345).select);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->chosen.size(), 1u);
  std::vector<std::size_t> want{1, 1, 1};
  std::vector<pid_t> pids;
  for (auto& w : waiters_) pids.push_back(w->pid());
  auto order = pids;
  std::sort(order.begin(), order.end());
  pid_t chosen = order[c->chosen[0]];
  want[std::find(pids.begin(), pids.end(), chosen) - pids.begin()] = 2;
  expect_hogs_in(process(SelectMode::fixed, 1, 12345), want);
}

TEST_F(MemoryTargets, ACgroupGlobWithFixedPercentHitsTwoOfThree) {
  Target t;
  t.kind = Target::Kind::cgroup;
  t.path = "/" + prefix_ + "-*";
  t.select.mode = SelectMode::fixed_percent;
  t.select.value = 67;  // floor(3 * 0.67) = 2
  auto f = make(t);
  ASSERT_TRUE(f) << f.error().text();
  auto lines = (*f)->plan();
  ASSERT_TRUE(lines) << lines.error().text();
  EXPECT_THAT(lines->at(0), HasSubstr("3 matches, chose 2 of 3"));
  f->reset();
  auto f2 = make(t);
  ASSERT_TRUE(f2);
  fault_ = std::move(*f2);
  ASSERT_TRUE(fault_->plan());
  ASSERT_TRUE(fault_->apply());
  auto two_hit = [&] {
    auto n = counts();
    return std::count(n.begin(), n.end(), 2u) == 2 && std::count(n.begin(), n.end(), 1u) == 1;
  };
  EXPECT_TRUE(wait_until(two_hit, Ms(10000))) << "two of the three cgroups have a hog";
  ASSERT_TRUE(fault_->revert());
  EXPECT_TRUE(wait_until([&] { return counts() == std::vector<std::size_t>{1, 1, 1}; }, Ms(10000)));
  fault_.reset();
}

TEST_F(MemoryTargets, NoMatchIsAPlanTimeErrorThatListsWhatExists) {
  Target t = process(SelectMode::one);
  t.process.name = "chaos-nosuch";
  auto f = make(t);
  ASSERT_FALSE(f);
  EXPECT_THAT(f.error().message, HasSubstr("no process matches name=chaos-nosuch; processes here: "));
  EXPECT_THAT(f.error().message, HasSubstr(comm_ + " (3)"));
  EXPECT_EQ(counts(), (std::vector<std::size_t>{1, 1, 1}));
}

// ---- network, end to end

class NetworkTargets : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, BPF, tc";
    if (!std::filesystem::exists(agent_binary()) || !std::filesystem::exists(chaosctl_binary()))
      FAIL() << "build chaos-agent and chaosctl first (" << agent_binary() << ")";
    ASSERT_TRUE(lab_.up());
    client_ns_ = lab_.netns_path("client");
    server_ip_ = lab_.address("server");
    // The lab's hosts share one subnet and have no default route; the client gets one (in the
    // lab's own namespace) so that the agent has an interface to find.
    auto sk = NetlinkSocket::open_in(client_ns_);
    ASSERT_TRUE(sk) << sk.error().text();
    auto any = parse_cidr("0.0.0.0/0");
    ASSERT_TRUE(any);
    ASSERT_TRUE(add_route(*sk, *any, "eth0", server_ip_));
    comm_ = "ctn" + std::to_string(::getpid() % 1000000);
    waiter_ = std::make_unique<Waiter>(comm_, "", client_ns_);
    ASSERT_GT(waiter_->pid(), 0);
    agent_ = std::make_unique<AgentProcess>(dir_, "lease: 1000ms\n");
    ASSERT_TRUE(agent_->start());
    ASSERT_TRUE(http_get(client_ns_, server_ip_, kLabResponderPort, Ms(5000)).ok) << "the lab serves HTTP";
  }

  void TearDown() override {
    agent_.reset();
    waiter_.reset();
  }

  std::string experiment(const std::string& name, const std::string& process_name) {
    std::string y = lab_partition_yaml(lab_, name, "8s", "1500ms", "4s", true);
    const std::string lab_line = "        lab: " + lab_.target("client") + "\n";
    auto at = y.find(lab_line);  // the fault's (the probe's comes later)
    EXPECT_NE(at, std::string::npos);
    y.replace(at, lab_line.size(), "        target: {process: {name: " + process_name + "}}\n");
    return dir_.write(name + ".yaml", y);
  }

  TempDir dir_{"chaos-targets"};
  TestLab lab_{"tg"};
  std::string client_ns_, server_ip_, comm_;
  std::unique_ptr<Waiter> waiter_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(NetworkTargets, APartitionOnAProcessTargetFindsItsNamespaceAndInterface) {
  auto file = experiment("by-process", comm_);
  auto dry = chaosctl(dir_, agent_->args({"run", file, "--dry-run"}));
  EXPECT_EQ(dry.code, 0) << dry.str();
  const std::string label = "pid " + std::to_string(waiter_->pid()) + " (" + comm_ + ")";
  EXPECT_THAT(dry.out + dry.err, HasSubstr("1 match, chose 1 of 1"));
  EXPECT_THAT(dry.out + dry.err, HasSubstr("chosen: " + label));
  EXPECT_THAT(dry.out + dry.err, HasSubstr("eth0"));

  auto run = chaosctl(dir_, agent_->args({"run", file, "-o", "json"}), Ms(40000));
  ASSERT_EQ(run.code, 0) << run.str() << agent_->log();
  auto rep = json::parse(run.out, nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << run.out;
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1);
  const auto& f = rep["faults"][0];
  const auto& sel = f["observed"]["selection"];
  ASSERT_EQ(sel["chosen"].size(), 1u) << f.dump();
  EXPECT_EQ(sel["chosen"][0]["label"], label);
  EXPECT_GT(f["observed"]["egress"].value("dropped", 0), 0) << f.dump();
  const auto& p = rep["probes"][0];
  EXPECT_EQ(p["phases"]["before"]["errors"], 0);
  EXPECT_GT(p["phases"]["during"]["errors"].get<int>(), 0) << "the partition hit the process's namespace";
  EXPECT_EQ(p["phases"]["after"]["errors"], 0);
  EXPECT_TRUE(http_get(client_ns_, server_ip_, kLabResponderPort, Ms(5000)).ok) << "after the run";
  EXPECT_EQ(clsact_kind(client_ns_, lab_.ifindex("client")), "") << "nothing left on the interface";
}

TEST_F(NetworkTargets, NoSuchProcessIsRefusedAndChangesNothing) {
  auto before = snapshot_netns({client_ns_});
  auto file = experiment("no-such", "chaos-nosuch");
  auto run = chaosctl(dir_, agent_->args({"run", file}));
  EXPECT_NE(run.code, 0) << run.str();
  EXPECT_THAT(run.out + run.err, HasSubstr("no process matches name=chaos-nosuch; processes here: "));
  EXPECT_THAT(run.out + run.err, HasSubstr("no-such.yaml:"));
  EXPECT_EQ(snapshot_netns({client_ns_}).str(), before.str());
}

}  // namespace
}  // namespace chaos::itest
