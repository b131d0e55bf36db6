// The memory fault: a hog process inside the target cgroup, so its pages count against the
// target's limit. Pressure mode grows it to a size at a rate and holds; oom mode grows it until
// the cgroup's OOM killer fires. Nothing about the target is changed: not its limit, not its
// processes (the OOM killer, not the agent, takes the victim).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "faults/fault.h"
#include "faults/memory/hog.h"
#include "faults/memory/oom_watch.h"
#include "faults/memory/spec.h"
#include "kernel/cgroup.h"
#include "kernel/worker.h"

namespace chaos::memory {

// The journal kind of the hog. Undo data: {"pid", "start_time", "cgroup"}; pid 0 means the hog
// was never started.
inline constexpr const char* kHogJournalKind = "memory-hog";
// Kills the hog named by the undo data if, and only if, pid and start time still match.
Result<void> undo_memory_hog(const nlohmann::json& undo);

// Without CAP_SYS_RESOURCE the hog cannot go below its inherited oom_score_adj, so for
// victim: workload the workload's processes are raised to +1000 instead. Undo data:
// {"procs": [{"pid", "start_time", "value"}]}: each process still alive gets its value back.
inline constexpr const char* kOomScoreJournalKind = "memory-oom-score-adj";
Result<void> undo_oom_score_adj(const nlohmann::json& undo);

// Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE in its effective set).
bool can_lower_oom_score_adj();

// What plan() resolved. Planning reads, never writes.
struct MemoryPlan {
  cgroup::Hierarchy hierarchy;
  cgroup::CgroupPath cgroup;
  std::optional<cgroup::MemoryCgroup::EffectiveLimit> limit;
  std::uint64_t usage_at_plan = 0;
  std::uint64_t bytes = 0;  // the hog's size; in oom mode its cap
  std::uint64_t rate = 0;   // bytes per second, 0: unbounded
  int oom_score_adj = 0;       // the hog's; 0 in fallback mode (left as inherited)
  bool raise_workload = false;  // fallback for victim workload without CAP_SYS_RESOURCE
  std::vector<std::string> lines;
};

class MemoryFault : public Fault {
 public:
  MemoryFault(std::shared_ptr<const MemorySpec> spec, FaultContext ctx, std::string name = "memory");
  ~MemoryFault() override;

  Result<std::vector<std::string>> plan() override;
  Result<void> apply() override;
  Result<void> renew(std::uint64_t deadline_mono_ns) override;
  Result<void> revert() override;
  nlohmann::json sample() override;
  nlohmann::json observe() const override;

  const std::optional<MemoryPlan>& planned() const { return plan_; }
  // The running hog (tests and the benchmark watch it).
  std::optional<ProcessIdentity> hog() const;
  std::uint64_t hog_bytes() const;
  HogPhase hog_phase() const;

 private:
  Result<void> apply_impl();
  std::int64_t since_start_ms() const;
  std::map<pid_t, std::string> snapshot_procs();
  // Fallback mode: raises processes of the target not raised yet (journaled first).
  Result<void> raise_workload(const std::map<pid_t, std::string>& procs);
  Result<void> restore_workload();

  std::shared_ptr<const MemorySpec> spec_;
  FaultContext ctx_;
  std::string name_;
  std::shared_ptr<spdlog::logger> log_;

  std::optional<MemoryPlan> plan_;
  std::optional<cgroup::MemoryCgroup> cg_;
  std::optional<Worker> worker_;
  std::optional<std::uint64_t> seq_;
  bool reverted_ = false;

  // Blast-radius state, from apply() on.
  std::uint64_t t0_ns_ = 0;  // CLOCK_MONOTONIC at apply
  cgroup::MemoryEvents base_events_;
  std::optional<cgroup::Pressure> base_psi_;
  std::optional<cgroup::OomEventCounter> oom_counter_;  // v1 only
  std::optional<KmsgReader> kmsg_;
  std::string kmsg_error_;
  std::optional<VictimTracker> tracker_;
  std::uint64_t last_oom_kill_delta_ = 0;
  struct Raised {
    ProcessIdentity id;
    int old_value = 0;
    std::uint64_t seq = 0;
  };
  std::vector<Raised> raised_;
  std::set<pid_t> raised_pids_;

  // Accumulated for observe().
  std::uint64_t samples_ = 0;
  std::uint64_t peak_usage_ = 0;
  std::uint64_t last_usage_ = 0;
  std::uint64_t peak_hog_bytes_ = 0;
  cgroup::MemoryEvents last_events_;
  std::optional<std::int64_t> first_oom_kill_ms_;
  double peak_some_avg10_ = 0, peak_full_avg10_ = 0;
  std::uint64_t some_stall_us_ = 0, full_stall_us_ = 0;
  std::string psi_scope_;
  std::string hog_exit_;
  std::int64_t hog_full_ms_ = -1;
  std::string last_error_;
};

}  // namespace chaos::memory
