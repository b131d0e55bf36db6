// What a cgroup, unit, pid or process target (core/target.h) matches on this node right now, and
// which of the matches a run takes. Read-only: /proc, the cgroup filesystem, the user database.
//
// Containers and pods (containerd's and CRI's APIs) are not resolved yet: see docs/targets.md.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/target.h"
#include "kernel/cgroup.h"

namespace chaos {

// One match of a target: a cgroup (cgroup and unit targets) or a process (pid and process targets).
struct Workload {
  std::string label;         // "cgroup /system.slice/a.service", "pid 4242 (python3)"
  cgroup::CgroupPath cgroup;  // where it lives in the hierarchy asked for
  std::vector<pid_t> pids;    // its processes when resolved (a cgroup's whole subtree), ascending
  nlohmann::json to_json() const;
};

// The matches of a target, in a stable order (cgroups by path, processes by pid), and the choice.
struct WorkloadSet {
  std::vector<Workload> matches;
  Choice choice;
  std::vector<const Workload*> chosen() const;
  // "3 matches, chose 1 (seed 42): pid 4242 (python3)"; for the plan and --dry-run.
  std::vector<std::string> plan_lines() const;
  // {"matches": [...labels], "chosen": [...labels], "mode": ..., "seed": N}: for the report.
  nlohmann::json to_json(const Target& t) const;
};

// Every match of `t` (a workload or pid target), cgroup paths in hierarchy `h` (the memory
// family's, or any hierarchy for a network target, which only needs the processes).
// No match is ENOENT, and the message lists what does exist here:
//   no process matches name=python3; processes here: bash (3), sshd (2), systemd (1), ...
Result<std::vector<Workload>> find_workloads(const Target& t, const cgroup::Hierarchy& h);

// find_workloads, then choose() with the target's selection.
Result<WorkloadSet> resolve_workloads(const Target& t, const cgroup::Hierarchy& h);

// Pieces, exposed for unit tests.
// The command line of /proc/PID/cmdline's text: arguments joined by single spaces.
std::string cmdline_text(const std::string& raw);
// A user name or numeric uid as a uid; ENOENT for an unknown name.
Result<long> resolve_user(const std::string& user);

// A ProcessSelector made ready to test processes: its regex compiled, its user resolved.
class ProcessMatcher {
 public:
  static Result<ProcessMatcher> make(const ProcessSelector& sel);
  ProcessMatcher(ProcessMatcher&& o) noexcept;
  ProcessMatcher& operator=(ProcessMatcher&&) = delete;
  ProcessMatcher(const ProcessMatcher&) = delete;
  ProcessMatcher& operator=(const ProcessMatcher&) = delete;
  ~ProcessMatcher();
  // comm: /proc/PID/comm; cmdline: cmdline_text(); argv0: the first argument; uid: the real uid.
  bool matches(const std::string& comm, const std::string& cmdline, const std::string& argv0, long uid) const;

 private:
  ProcessMatcher() = default;
  ProcessSelector sel_;
  long uid_ = -1;
  void* regex_ = nullptr;  // a regex_t, when cmdline is given
};

}  // namespace chaos
