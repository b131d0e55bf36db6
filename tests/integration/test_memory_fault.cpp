// The memory fault on the real kernel (root): a workload process in a 256MiB test cgroup, the
// Fault object driven directly (plan/apply/renew/sample/revert) as the runner will.
//   - pressure to 80% holds within ±5% for the fault's duration, at the requested rate;
//   - mode oom, victim workload: the OOM killer takes the workload (oom_kill +1, named in victims);
//   - mode oom, victim hog: the hog is taken, the workload lives;
//   - the hog is gone after revert; SIGKILL of the "agent" leaves no hog (PDEATHSIG, long before
//     its 60s lease), and the journal's undo of a dead agent's entry is safe; a hog whose lease is
//     not renewed dies by itself, killed by its lease timer;
//   - plan-time refusals: fraction without a limit, oom without a limit, a size that reaches the
//     limit, the root cgroup, a unit systemd does not run.
// Works on whichever hierarchy carries the memory controller (v1 here, v2 in the VM).
// Every test cgroup is named chaos-test-<pid>-<n> and removed in TearDown, also on failure.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/journal.h"
#include "core/log.h"
#include "faults/memory/memory.h"
#include "faults/memory/memory_fault.h"
#include "kernel/cgroup.h"
#include "kernel/worker.h"

namespace chaos::memory {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
constexpr std::uint64_t MiB = 1ull << 20;

// A process that joins `dir`, allocates and touches `bytes`, says so on `ready`, then waits.
pid_t start_workload(const std::string& dir, std::uint64_t bytes) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NAME, "chaos-workload", 0, 0, 0);
    if (!cgroup::write_file(dir + "/cgroup.procs", std::to_string(::getpid()))) ::_exit(2);
    auto* mem = static_cast<volatile char*>(::malloc(bytes));
    for (std::uint64_t i = 0; i < bytes; i += 4096) mem[i] = 1;
    char ok = 1;
    (void)!::write(p[1], &ok, 1);
    for (;;) ::pause();
  }
  ::close(p[1]);
  char ok = 0;
  ssize_t n = ::read(p[0], &ok, 1);
  ::close(p[0]);
  return n == 1 ? pid : -1;
}

// How fast this machine faults anonymous memory in (bytes/s): real hardware does GB/s, the vm
// tier's software-emulated CPU some tens of MB/s. The rate test asks for what the machine can do.
double fault_in_speed() {
  const std::size_t len = 64 * MiB;
  void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 0;
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < len; i += 4096) static_cast<volatile char*>(m)[i] = 1;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::munmap(m, len);
  return static_cast<double>(len) / s;
}

class MemoryFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (creates cgroups)";
    auto h = cgroup::find_hierarchy("memory");
    if (!h) GTEST_SKIP() << "no memory controller mounted: " << h.error().text();
    h_ = *h;
    if (h_.version == cgroup::Version::v2) {
      // A fresh cgroup2 mount (the VM) has no controller enabled for children yet.
      auto sc = cgroup::read_file(h_.mount + "/cgroup.subtree_control");
      if (sc && sc->find("memory") == std::string::npos)
        if (auto r = cgroup::write_file(h_.mount + "/cgroup.subtree_control", "+memory"); !r)
          GTEST_SKIP() << "cannot enable the v2 memory controller: " << r.error().text();
    }
    static int counter = 0;
    name_ = "chaos-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    auto cg = cgroup::MemoryCgroup::create(h_, name_);
    ASSERT_TRUE(cg) << cg.error().text();
    cg_ = *cg;
    ASSERT_TRUE(cg_->set_memory_limit(256 * MiB));
    state_dir_ = "/tmp/" + name_ + "-state";
    std::filesystem::remove_all(state_dir_);
    auto j = Journal::open(state_dir_);
    ASSERT_TRUE(j) << j.error().text();
    journal_ = std::move(*j);
  }

  void TearDown() override {
    fault_.reset();  // reverts if a test failed half-way
    if (cg_) {
      // Kill whatever is left in the test cgroup, wait until it is empty, remove it.
      for (int i = 0; i < 200; ++i) {
        auto procs = cg_->procs(true);
        if (!procs || procs->empty()) break;
        for (pid_t p : *procs) ::kill(p, SIGKILL);
        std::this_thread::sleep_for(10ms);
      }
      for (pid_t w : workloads_) ::waitpid(w, nullptr, WNOHANG);
      bool removed = false;
      for (int i = 0; i < 100 && !removed; ++i) {
        removed = static_cast<bool>(cg_->remove());
        if (!removed) std::this_thread::sleep_for(20ms);
      }
      EXPECT_TRUE(removed) << "test cgroup " << cg_->dir() << " left behind";
      EXPECT_FALSE(std::filesystem::exists(cg_->dir()));
    }
    journal_.reset();
    std::filesystem::remove_all(state_dir_);
  }

  pid_t workload(std::uint64_t bytes) {
    pid_t p = start_workload(cg_->dir(), bytes);
    if (p > 0) workloads_.push_back(p);
    return p;
  }

  std::shared_ptr<MemorySpec> spec(Mode mode) {
    auto s = std::make_shared<MemorySpec>();
    s->target.kind = MemoryTarget::Kind::cgroup;
    s->target.path = "/" + name_;
    s->mode = mode;
    s->victim = mode == Mode::oom ? Victim::workload : Victim::hog;
    return s;
  }

  MemoryFault& make(std::shared_ptr<MemorySpec> s) {
    FaultContext ctx;
    ctx.config = &config_;
    ctx.journal = journal_.get();
    ctx.run_id = "r-" + name_;
    ctx.log = logger("memory");
    fault_ = std::make_unique<MemoryFault>(s, ctx, "hog");
    return *fault_;
  }

  void renew() { fault_->renew(monotonic_ns() + static_cast<std::uint64_t>(config_.lease.count())); }

  // Renews and samples every `tick` until pred(sample) or timeout; returns the samples. It returns
  // as soon as pred holds, so a long timeout costs nothing when the machine is quick.
  std::vector<nlohmann::json> run_until(const std::function<bool(const nlohmann::json&)>& pred,
                                        std::chrono::milliseconds timeout, std::chrono::milliseconds tick = 100ms) {
    std::vector<nlohmann::json> out;
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      renew();
      auto s = fault_->sample();
      out.push_back(s);
      if (pred(s)) break;
      std::this_thread::sleep_for(tick);
    }
    return out;
  }

  cgroup::Hierarchy h_;
  std::string name_;
  std::optional<cgroup::MemoryCgroup> cg_;
  std::string state_dir_;
  std::unique_ptr<Journal> journal_;
  AgentConfig config_;
  std::unique_ptr<MemoryFault> fault_;
  std::vector<pid_t> workloads_;
};

TEST_F(MemoryFaultTest, PressureTo80PercentHoldsWithin5Percent) {
  pid_t w = workload(4 * MiB);
  ASSERT_GT(w, 0);
  auto s = spec(Mode::pressure);
  s->fraction = 0.8;
  // 256MiB/s, or 30% of what this machine can fault in when that is less (the vm tier): the
  // speed is measured once, and a hog starved later (a loaded host) must still keep up.
  const double speed = fault_in_speed();
  s->rate = std::min<std::uint64_t>(256 * MiB, static_cast<std::uint64_t>(speed * 0.3) / MiB * MiB);
  ASSERT_GT(*s->rate, 0u);
  std::cout << "  fault-in speed " << speed / MiB << " MiB/s, asking for " << *s->rate / MiB << " MiB/s\n";
  auto& f = make(s);
  auto lines = f.plan();
  ASSERT_TRUE(lines) << lines.error().text();
  for (const auto& l : *lines) std::cout << "  plan: " << l << "\n";
  const std::uint64_t limit = 256 * MiB;
  const std::uint64_t want = static_cast<std::uint64_t>(std::llround(0.8 * limit));
  EXPECT_EQ(f.planned()->bytes, want);
  auto base = *cg_->usage();

  {
    auto applied = f.apply();
    ASSERT_TRUE(applied) << applied.error().text();
  }
  auto hog = f.hog();
  ASSERT_TRUE(hog);
  // The hog lives in the target, at +1000 (victim hog).
  EXPECT_TRUE(*cg_->contains(hog->pid));
  EXPECT_EQ(*cgroup::read_file("/proc/" + std::to_string(hog->pid) + "/oom_score_adj"), "1000\n");
  // The journal has it, with pid and start time, before and while it runs.
  auto out = journal_->outstanding();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, kHogJournalKind);
  EXPECT_EQ(out[0].undo["pid"], hog->pid);
  EXPECT_EQ(out[0].undo["start_time"], hog->start_time);
  EXPECT_EQ(out[0].undo["cgroup"], cg_->dir());

  // Ramp: 204.8MiB at 256MiB/s is 0.8s; the deadline (3x, plus 30s) only bounds a hog that stalled.
  auto ramp = std::chrono::milliseconds(static_cast<std::int64_t>(3000.0 * want / *s->rate) + 30000);
  run_until([](const nlohmann::json& x) { return x["hog_phase"] == "holding"; }, ramp, 20ms);
  ASSERT_EQ(hog_phase_name(f.hog_phase()), std::string("holding"));
  // Hold: 30 samples 100ms apart like the runner's tick (a count, not a window: a slow sample()
  // under emulation must not leave too few).
  std::vector<nlohmann::json> hold;
  for (int i = 0; i < 30; ++i) {
    renew();
    hold.push_back(f.sample());
    std::this_thread::sleep_for(100ms);
  }
  double lo = 1, hi = 0;
  for (const auto& x : hold) {
    double frac = x["usage_fraction"].get<double>();
    lo = std::min(lo, frac);
    hi = std::max(hi, frac);
    EXPECT_NEAR(frac, 0.80, 0.05) << x.dump();
    std::uint64_t added = x["usage_bytes"].get<std::uint64_t>() - base;
    EXPECT_NEAR(static_cast<double>(added), static_cast<double>(want), 0.05 * want) << x.dump();
    EXPECT_EQ(x["oom_kill"], 0) << x.dump();
  }
  auto obs = f.observe();
  std::cout << "  usage/limit over " << hold.size() << " samples: " << lo << " .. " << hi << "\n"
            << "  observe: " << obs.dump() << "\n";
  EXPECT_EQ(obs["achieved"]["hog_bytes"], (want + 4095) / 4096 * 4096);  // whole pages
  // The rate: pacing never goes above what was asked for (15% for the clock's granularity);
  // starvation can only slow the hog, so below it the bound is generous.
  double rate = obs["achieved"]["achieved_rate_bytes_per_s"].get<double>();
  EXPECT_LE(rate, 1.15 * static_cast<double>(*s->rate));
  EXPECT_GE(rate, 0.5 * static_cast<double>(*s->rate));
  EXPECT_EQ(obs["achieved"]["oom_kills"], 0);
  EXPECT_TRUE(obs["achieved"]["victims"].empty());

  ASSERT_TRUE(f.revert());
  EXPECT_FALSE(process_alive(*hog)) << "hog survived revert";
  EXPECT_TRUE(journal_->outstanding().empty());
  EXPECT_LT(*cg_->usage(), base + 16 * MiB) << "the hog's memory was not given back";
  EXPECT_EQ(::waitpid(w, nullptr, WNOHANG), 0) << "the workload should only have felt pressure";
  EXPECT_TRUE(f.revert());  // idempotent
  EXPECT_EQ(*cg_->limit().value(), 256 * MiB) << "the fault must never change the target's limit";
}

TEST_F(MemoryFaultTest, OomVictimWorkloadKillsTheWorkloadAndNamesIt) {
  pid_t w = workload(32 * MiB);
  ASSERT_GT(w, 0);
  auto s = spec(Mode::oom);
  s->rate = 512 * MiB;
  auto& f = make(s);
  {
    auto planned = f.plan();
    ASSERT_TRUE(planned) << planned.error().text();
  }
  {
    auto applied = f.apply();
    ASSERT_TRUE(applied) << applied.error().text();
  }
  auto hog = f.hog();
  ASSERT_TRUE(hog);
  // -1000 on the hog where the agent may lower it; otherwise the workload is raised to +1000.
  if (can_lower_oom_score_adj()) {
    EXPECT_EQ(*cgroup::read_file("/proc/" + std::to_string(hog->pid) + "/oom_score_adj"), "-1000\n");
  } else {
    EXPECT_EQ(*cgroup::read_file("/proc/" + std::to_string(w) + "/oom_score_adj"), "1000\n");
  }
  // Filling 224MiB under software emulation (the vm tier) alone takes about 10s.
  auto oom_seen = [](const nlohmann::json& x) { return x.value("victims", 0) > 0 && x["hog_phase"] == "oom-seen"; };
  auto until_oom = run_until(oom_seen, 120s, 50ms);
  ASSERT_TRUE(oom_seen(until_oom.back())) << "no OOM kill seen: " << until_oom.back().dump();
  // A second look a few ticks later: no further kills once the hog has stopped growing.
  run_until([](const nlohmann::json&) { return false; }, 500ms);
  auto obs = f.observe();
  std::cout << "  observe: " << obs.dump() << "\n";
  // With the hog at -1000 the kernel can only ever take the workload. In the fallback (workload
  // raised to +1000, the hog left at 0) the workload always goes first, but the kernel may also
  // take the hog in the same OOM episode (docs/memory.md: the hog's own charge retries while the
  // dying workload is still being uncharged). That second victim can only be the hog itself.
  const bool hog_protected = can_lower_oom_score_adj();
  const auto& victims = obs["achieved"]["victims"];
  if (hog_protected || victims.size() < 2) {
    EXPECT_EQ(obs["achieved"]["oom_kills"], 1);
    ASSERT_EQ(victims.size(), 1u);
  } else {
    std::printf("  fallback: the hog was taken too, after the workload\n");
    ASSERT_EQ(victims.size(), 2u);
    EXPECT_TRUE(victims[1]["hog"].get<bool>()) << "a second victim that is not the hog: " << victims.dump();
  }
  if (h_.version == cgroup::Version::v2 || !obs["achieved"]["oom_events"].is_null()) {
    EXPECT_GE(obs["achieved"]["oom_events"].get<int>(), 1);
  }
  auto v = victims[0];
  EXPECT_EQ(v["pid"], w);
  EXPECT_EQ(v["name"], "chaos-workload");
  EXPECT_FALSE(v["hog"].get<bool>());
  if (obs["kernel_log"] == "read") {
    EXPECT_EQ(v["source"], "kmsg");
  }
  EXPECT_NE(obs["achieved"]["first_oom_kill_ms"], nullptr);
  // The workload really died of SIGKILL; the hog lives on, holding.
  int st = 0;
  ASSERT_EQ(::waitpid(w, &st, 0), w);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  if (victims.size() == 1) {
    EXPECT_TRUE(process_alive(*hog));
    EXPECT_EQ(hog_phase_name(f.hog_phase()), std::string("oom-seen"));
  }

  ASSERT_TRUE(f.revert());
  EXPECT_FALSE(process_alive(*hog));
  EXPECT_TRUE(journal_->outstanding().empty());
}

// Without CAP_SYS_RESOURCE (this sandbox's root lacks it) victim workload raises the workload's
// processes instead; they get their old value back on revert and from the journal.
TEST_F(MemoryFaultTest, WorkloadOomScoreIsRestoredOnRevertAndFromTheJournal) {
  pid_t w = workload(4 * MiB);
  ASSERT_GT(w, 0);
  std::string adj = "/proc/" + std::to_string(w) + "/oom_score_adj";
  ASSERT_TRUE(cgroup::write_file(adj, "100"));  // raising is always allowed
  auto s = spec(Mode::oom);
  s->size = 16 * MiB;  // a cap far below the limit: no OOM, the workload survives
  auto& f = make(s);
  {
    auto applied = f.apply();
    ASSERT_TRUE(applied) << applied.error().text();
  }
  run_until([](const nlohmann::json& x) { return x["hog_phase"] == "capped"; }, 5s, 20ms);
  if (can_lower_oom_score_adj()) {
    EXPECT_EQ(*cgroup::read_file(adj), "100\n") << "with CAP_SYS_RESOURCE the workload is left alone";
    ASSERT_TRUE(f.revert());
    return;
  }
  EXPECT_EQ(*cgroup::read_file(adj), "1000\n");
  // A process that joins during the fault is raised at the next sample.
  pid_t late = workload(MiB);
  ASSERT_GT(late, 0);
  f.sample();
  EXPECT_EQ(*cgroup::read_file("/proc/" + std::to_string(late) + "/oom_score_adj"), "1000\n");
  auto entries = journal_->outstanding();
  ASSERT_EQ(entries.size(), 3u);  // the hog, the first batch, the late process
  // The journal alone restores them (what recovery after an agent crash would do).
  for (const auto& e : entries)
    if (e.kind == kOomScoreJournalKind) {
      ASSERT_TRUE(undo_oom_score_adj(e.undo));
    }
  EXPECT_EQ(*cgroup::read_file(adj), "100\n");
  EXPECT_EQ(*cgroup::read_file("/proc/" + std::to_string(late) + "/oom_score_adj"), "0\n");
  ASSERT_TRUE(cgroup::write_file(adj, "1000"));
  // And so does revert.
  ASSERT_TRUE(f.revert());
  EXPECT_EQ(*cgroup::read_file(adj), "100\n");
  EXPECT_TRUE(journal_->outstanding().empty());
  EXPECT_EQ(f.observe()["achieved"]["oom_kills"], 0);
}

TEST_F(MemoryFaultTest, OomVictimHogSparesTheWorkload) {
  pid_t w = workload(32 * MiB);
  ASSERT_GT(w, 0);
  auto s = spec(Mode::oom);
  s->victim = Victim::hog;
  auto& f = make(s);
  {
    auto planned = f.plan();
    ASSERT_TRUE(planned) << planned.error().text();
  }
  {
    auto applied = f.apply();
    ASSERT_TRUE(applied) << applied.error().text();
  }
  auto hog = f.hog();
  ASSERT_TRUE(hog);
  // As fast as the hog can fault in: about 10s under software emulation (the vm tier).
  auto hog_taken = [](const nlohmann::json& x) { return x.value("victims", 0) > 0 && !x["hog_alive"].get<bool>(); };
  auto until_oom = run_until(hog_taken, 120s, 50ms);
  ASSERT_TRUE(hog_taken(until_oom.back())) << "the hog was not taken: " << until_oom.back().dump();
  auto obs = f.observe();
  std::cout << "  observe: " << obs.dump() << "\n";
  EXPECT_GE(obs["achieved"]["oom_kills"].get<int>(), 1);
  ASSERT_GE(obs["achieved"]["victims"].size(), 1u);
  EXPECT_EQ(obs["achieved"]["victims"][0]["pid"], hog->pid);
  EXPECT_TRUE(obs["achieved"]["victims"][0]["hog"].get<bool>());
  EXPECT_EQ(obs["achieved"]["hog_exit"], "killed by SIGKILL");
  EXPECT_EQ(::waitpid(w, nullptr, WNOHANG), 0) << "the workload was killed although the hog was the victim";
  ASSERT_TRUE(f.revert());
  EXPECT_TRUE(journal_->outstanding().empty());
}

TEST_F(MemoryFaultTest, SigkillOfTheAgentLeavesNoHog) {
  ASSERT_GT(workload(4 * MiB), 0);
  const std::uint64_t base = *cg_->usage();
  config_.lease = 60s;  // only PDEATHSIG can end the hog well before that
  int ids[2];
  ASSERT_EQ(::pipe(ids), 0);
  // Orphans come to us rather than to PID 1, so the dead worker is reaped here, not left a zombie.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t agent = ::fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    auto s = spec(Mode::pressure);
    s->size = 64 * MiB;
    auto& f = make(s);
    if (!f.apply()) ::_exit(1);
    ProcessIdentity id = *f.hog();
    (void)!::write(ids[1], &id, sizeof id);
    for (;;) {
      renew();
      f.sample();
      std::this_thread::sleep_for(100ms);
    }
  }
  ::close(ids[1]);
  ProcessIdentity id{};
  ASSERT_EQ(::read(ids[0], &id, sizeof id), static_cast<ssize_t>(sizeof id));
  ::close(ids[0]);
  ASSERT_TRUE(process_alive(id));
  // The hog holds (most of) its 64MiB when the agent dies: read from the cgroup, not slept for.
  bool allocated = false;
  for (auto until = std::chrono::steady_clock::now() + 60s; !allocated && std::chrono::steady_clock::now() < until;) {
    auto u = cg_->usage();
    allocated = u && *u >= base + 60 * MiB;
    if (!allocated) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(allocated) << "usage " << cg_->usage().value_or(0) << ", base " << base;
  ::kill(agent, SIGKILL);
  ::waitpid(agent, nullptr, 0);
  // Anything far below the 60s lease proves PDEATHSIG ended it; freeing 64MiB is slow under
  // emulation (the vm tier), so the deadline is generous (wait_gone returns once it is gone).
  EXPECT_TRUE(wait_gone(id, 10s)) << "hog " << id.pid << " outlived the SIGKILLed agent by 10s (lease 60s)";
  ::waitpid(id.pid, nullptr, 0);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);

  // The dead agent's journal still lists the hog; recovery undoes it safely (already gone).
  journal_.reset();
  auto j = Journal::open(state_dir_);
  ASSERT_TRUE(j);
  auto out = (*j)->outstanding();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].undo["pid"], id.pid);
  UndoRegistry reg;
  family().register_undo(reg);
  auto rep = recover(**j, reg);
  EXPECT_EQ(rep.reverted, 1);
  EXPECT_EQ(rep.failed, 0);
  EXPECT_TRUE((*j)->outstanding().empty());
  journal_ = std::move(*j);
}

TEST_F(MemoryFaultTest, JournalUndoKillsOnlyTheSameProcess) {
  ASSERT_GT(workload(4 * MiB), 0);
  auto s = spec(Mode::pressure);
  s->size = 32 * MiB;
  auto& f = make(s);
  {
    auto applied = f.apply();
    ASSERT_TRUE(applied) << applied.error().text();
  }
  auto hog = f.hog();
  ASSERT_TRUE(hog);
  auto undo = journal_->outstanding().at(0).undo;
  auto stranger = undo;
  stranger["start_time"] = undo["start_time"].get<std::uint64_t>() + 1;  // a reused pid
  ASSERT_TRUE(undo_memory_hog(stranger));
  EXPECT_TRUE(process_alive(*hog)) << "undo killed a process whose start time did not match";
  ASSERT_TRUE(undo_memory_hog(undo));
  EXPECT_FALSE(process_alive(*hog));
  EXPECT_TRUE(undo_memory_hog(undo)) << "undo must be idempotent";
  EXPECT_TRUE(undo_memory_hog({{"pid", 0}, {"start_time", 0}, {"cgroup", cg_->dir()}}));  // never started
  EXPECT_FALSE(undo_memory_hog({{"pid", 5}}));  // unusable undo data is an error, not a guess
  ASSERT_TRUE(f.revert());  // the fault reaps what the undo killed
  EXPECT_TRUE(journal_->outstanding().empty());
}

TEST_F(MemoryFaultTest, HogDiesByItselfWhenTheLeaseIsNotRenewed) {
  ASSERT_GT(workload(4 * MiB), 0);
  // Long enough that apply() (journal fsyncs, cgroup writes) and the first steps run on it even
  // on a loaded machine: the lease must lapse afterwards, with nobody renewing.
  config_.lease = 2s;
  auto s = spec(Mode::pressure);
  s->size = 32 * MiB;
  auto& f = make(s);
  {
    auto applied = f.apply();
    ASSERT_TRUE(applied) << applied.error().text();
  }
  auto hog = f.hog();
  ASSERT_TRUE(hog);
  // A hung agent: alive, fds open, but no renewals. Nothing else ends the hog before the revert
  // below, so the deadline is generous (wait_gone returns as soon as it is gone).
  EXPECT_TRUE(wait_gone(*hog, 30s)) << "hog outlived its 2s lease by 28s";
  auto x = f.sample();
  EXPECT_FALSE(x["hog_alive"].get<bool>());
  // Killed by the lease timer's SIGKILL (a hog that sees the lapse first waits for it).
  EXPECT_EQ(f.observe()["achieved"]["hog_exit"], "killed by SIGKILL");
  ASSERT_TRUE(f.revert());
}

TEST_F(MemoryFaultTest, PlanRefusesWhatItCannotDoSafely) {
  ASSERT_GT(workload(4 * MiB), 0);
  auto plan_error = [&](std::shared_ptr<MemorySpec> s) {
    auto r = make(s).plan();
    EXPECT_FALSE(r);
    return r ? std::string() : r.error().message;
  };
  auto big = spec(Mode::pressure);
  big->size = 256 * MiB;
  EXPECT_THAT(plan_error(big), HasSubstr("pressure mode would end in the OOM killer"));
  auto unit = spec(Mode::pressure);
  unit->target.kind = MemoryTarget::Kind::unit;
  unit->target.unit = "chaos-no-such-unit.service";
  unit->size = MiB;
  EXPECT_THAT(plan_error(unit), HasSubstr("unit chaos-no-such-unit.service: no cgroup for it"));
  auto root = spec(Mode::pressure);
  root->target.path = "/";
  root->size = MiB;
  EXPECT_THAT(plan_error(root), HasSubstr("the root cgroup is not a target"));
  config_.protected_cgroups = {"/" + name_};
  auto prot = spec(Mode::pressure);
  prot->size = MiB;
  EXPECT_THAT(plan_error(prot), HasSubstr("is protected by the agent's config"));
  config_.protected_cgroups.clear();

  // Without a limit: fraction and oom refused, size fine.
  if (h_.version == cgroup::Version::v1) ASSERT_TRUE(cgroup::write_file(cg_->dir() + "/memory.limit_in_bytes", "-1"));
  else ASSERT_TRUE(cgroup::write_file(cg_->dir() + "/memory.max", "max"));
  ASSERT_FALSE(cg_->limit().value()) << "could not lift the test cgroup's limit";
  auto frac = spec(Mode::pressure);
  frac->fraction = 0.5;
  EXPECT_THAT(plan_error(frac), HasSubstr("has no memory limit, nor has any cgroup above it; give size instead"));
  auto oom = spec(Mode::oom);
  EXPECT_THAT(plan_error(oom), HasSubstr("mode oom: cgroup /" + name_ + " has no memory limit"));
  auto sized = spec(Mode::pressure);
  sized->size = 16 * MiB;
  auto ok = make(sized).plan();
  ASSERT_TRUE(ok) << ok.error().text();
  EXPECT_THAT((*ok)[0], HasSubstr("limit none"));
}

}  // namespace
}  // namespace chaos::memory
