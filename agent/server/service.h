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

namespace chaos {

class Metrics;

struct Caller {
  int uid = -1;
  int pid = -1;
  std::string str() const { return "uid " + std::to_string(uid) + " pid " + std::to_string(pid); }
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

 private:
  std::string new_run_id(const std::string& name);

  AgentConfig config_;
  std::string state_dir_;
  const Families& families_;
  SpecRegistry spec_;
  UndoRegistry undo_;
  std::unique_ptr<Journal> journal_;
  RealClock clock_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Run>> runs_;  // active, and the last kFinishedKept finished
  // Finished runs in the order they ended; older ones are dropped from memory (their reports
  // stay in STATE/runs/ID/run.json), so a schedule firing every minute does not grow the agent.
  static constexpr std::size_t kFinishedKept = 32;
  std::deque<std::string> finished_;
  bool shutting_down_ = false;
  Metrics* metrics_ = nullptr;  // owned by main; outlives the service's runs
};

}  // namespace chaos
