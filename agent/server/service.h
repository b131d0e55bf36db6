// The agent's state and operations, independent of transport: runs, the journal, recovery.
#pragma once

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

  // Halts every run and waits for their reverts (SIGTERM/SIGINT path).
  void shutdown(const std::string& reason);

  const AgentConfig& config() const { return config_; }
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
  std::map<std::string, std::shared_ptr<Run>> runs_;  // active and finished this lifetime
  bool shutting_down_ = false;
};

}  // namespace chaos
