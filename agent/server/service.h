// The agent's state and operations, independent of transport: runs, the journal, recovery.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/journal.h"
#include "runner/clock.h"
#include "runner/families.h"
#include "runner/run.h"
#include "server/audit.h"

namespace chaos {

class Metrics;

// Who asked, for logs and the audit log (server/access.h says how the API learns it).
struct Caller {
  int uid = -1;
  int pid = -1;
  std::string user;  // the user's name, when known
  std::string exe;   // the caller's executable, when known
  std::string via;   // "schedule NAME": started by the agent itself on a schedule
  std::string str() const {
    std::string s = "uid " + std::to_string(uid);
    if (!user.empty()) s += " (" + user + ")";
    s += " pid " + std::to_string(pid);
    if (!via.empty()) s += " via " + via;
    return s;
  }
};

class AgentService {
 public:
  AgentService(AgentConfig config, std::string state_dir, const Families& families);
  ~AgentService();

  // Opens the journal and reverts whatever a dead agent left behind. Must succeed before the
  // agent accepts work.
  Result<RecoveryReport> start();

  // Parses, plans and (unless dry_run) runs an experiment; events stream to sink. Blocks until
  // the run ends. The returned object is the final event.
  nlohmann::json run(const std::string& yaml, const std::string& file, bool dry_run, const Caller& who,
                     const EventSink& sink);
  nlohmann::json validate(const std::string& yaml, const std::string& file) const;
  nlohmann::json status() const;
  nlohmann::json halt(const std::string& run_id, const Caller& who);  // "" = all
  nlohmann::json recover(const Caller& who);
  nlohmann::json report(const std::string& run_id) const;

  // Running runs whose timeline has not turned for longer than `limit` (for the watchdog), as
  // "run ID: timeline stuck for Ns".
  std::vector<std::string> stalled_runs(std::chrono::nanoseconds limit) const;

  // Halts every run and waits for their reverts (SIGTERM/SIGINT path).
  void shutdown(const std::string& reason);

  const AgentConfig& config() const { return config_; }
  // Feeds every run's events to the /metrics endpoint from now on (set before serving).
  void set_metrics(Metrics* m) { metrics_ = m; }
  const std::string& state_dir() const { return state_dir_; }
  // STATE/audit.jsonl (open after start()).
  AuditLog* audit_log() const { return audit_.get(); }
  // Appends one audit record for `who`, filling uid, user, pid, exe and via from it.
  Result<void> audit(const Caller& who, AuditRecord r) const;

 private:
  std::string new_run_id(const std::string& name);

  AgentConfig config_;
  std::string state_dir_;
  const Families& families_;
  SpecRegistry spec_;
  UndoRegistry undo_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<AuditLog> audit_;
  RealClock clock_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Run>> runs_;  // active, and the last kFinishedKept finished
  // Finished runs in the order they ended; older ones are dropped from memory (their reports
  // stay in STATE/runs/ID/run.json), so a schedule firing every minute does not grow the agent.
  static constexpr std::size_t kFinishedKept = 32;
  std::deque<std::string> finished_;
  bool shutting_down_ = false;
  int planning_ = 0;  // runs past the api.maxConcurrentRuns check, not yet in runs_
  Metrics* metrics_ = nullptr;  // owned by main; outlives the service's runs
};

}  // namespace chaos
