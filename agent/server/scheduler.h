// Scheduled game days: experiments the agent runs by itself on a schedule (core/cron.h, UTC).
//
// Each schedule keeps a copy of the experiment text taken (and validated) when it was added, so
// editing or deleting the source file later changes nothing. Schedules and their recent history
// live in STATE/schedules.json (written to a temporary file, fsync'ed, renamed), so they survive
// agent restarts. A firing missed while the agent was down is recorded once as "missed" and not
// caught up. Runs go through AgentService::run like any other: journaled, reverted on halt and
// shutdown, their reports under STATE/runs/ID.
//
// Concurrency policy, per schedule: forbid (the default) skips a firing while a run of this
// schedule, or any other run on the node, is active, and records "skipped" with the reason;
// allow starts the run regardless.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cron.h"
#include "core/enum_names.h"
#include "core/run_events.h"
#include "server/service.h"

namespace chaos {

enum class OverlapPolicy { forbid, allow };

// What became of one firing: running while its run goes, then the run's outcome (RunOutcome's
// names); skipped (policy forbid), missed (the agent was down), interrupted (the agent died
// mid-run). Written in the schedules file's history and `chaosctl schedule history`.
enum class FiringOutcome { running, held, deviated, aborted, failed, planned, refused, invalid, skipped, missed, interrupted };
inline constexpr auto kFiringOutcomeNames = name_table<FiringOutcome>("firing outcome", {
    {FiringOutcome::running, "running"},
    {FiringOutcome::held, name(RunOutcome::held)},
    {FiringOutcome::deviated, name(RunOutcome::deviated)},
    {FiringOutcome::aborted, name(RunOutcome::aborted)},
    {FiringOutcome::failed, name(RunOutcome::failed)},
    {FiringOutcome::planned, name(RunOutcome::planned)},
    {FiringOutcome::refused, name(RunOutcome::refused)},
    {FiringOutcome::invalid, name(RunOutcome::invalid)},
    {FiringOutcome::skipped, "skipped"},
    {FiringOutcome::missed, "missed"},
    {FiringOutcome::interrupted, "interrupted"},
});
constexpr const auto& names_of(FiringOutcome) { return kFiringOutcomeNames; }
// The firing's outcome when its run ended with `o`.
FiringOutcome firing_outcome(RunOutcome o);

// One entry of a schedule's history.
struct ScheduleFiring {
  std::uint64_t seq = 0;      // the scheduler's own id for the entry
  std::string run_id;         // empty when no run started (skipped, missed, refused before planning)
  std::string scheduled_for;  // UTC
  std::string started_at;     // UTC; empty when no run started
  FiringOutcome outcome = FiringOutcome::running;
  std::string reason;
  bool manual = false;  // schedule trigger
};

struct Schedule {
  std::string name;
  CronSchedule cron;
  std::string file;        // where the experiment came from (informational)
  std::string yaml;        // the experiment, as it was when the schedule was added
  std::string experiment;  // its metadata.name
  OverlapPolicy policy = OverlapPolicy::forbid;
  int history_limit = 10;
  bool suspended = false;
  std::optional<std::chrono::system_clock::time_point> next_run;  // none while suspended
  std::string created_at;
  std::deque<ScheduleFiring> history;  // oldest first, at most history_limit
  std::uint64_t uid = 0;               // this agent's id for it: a re-added name is a new schedule
};

class Scheduler {
 public:
  using Clock = std::chrono::system_clock;

  Scheduler(AgentService& service, std::string state_dir);
  ~Scheduler();  // stop() + join()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Reads STATE/schedules.json (none yet: no schedules). Records firings missed while the agent
  // was down, and runs a dead agent left "running" as "interrupted". On an error the scheduler
  // stays unavailable (every schedule op says why) and never overwrites the file.
  Result<void> load();
  // Starts the thread that fires schedules.
  void start();
  // No firing starts after this returns (call before AgentService::shutdown).
  void stop();
  // Waits for scheduled runs still going to finish and record their outcome (call after
  // AgentService::shutdown, which halts them).
  void join();

  // The API: schedule.add, .list, .show, .remove, .pause, .resume, .trigger.
  nlohmann::json handle(const std::string& op, const nlohmann::json& req, const Caller& who);

 private:
  struct ActiveRun {
    std::string schedule;
    std::uint64_t schedule_uid = 0;
    std::string run_id;  // empty until the run is planned
  };

  nlohmann::json add(const nlohmann::json& req, const Caller& who);
  nlohmann::json trigger(const std::string& name, const Caller& who);
  void loop();
  // Starts a run of s (or records why not). Returns the history entry's seq, and the skip
  // reason when skipped. `active` is the service's runs in progress, taken before locking.
  std::pair<std::uint64_t, std::string> fire_locked(Schedule& s, Clock::time_point scheduled_for, bool manual,
                                                    const std::vector<std::string>& active);
  void run_thread(std::string name, std::uint64_t seq, std::string yaml, std::string file);
  ScheduleFiring* entry_locked(const std::string& name, std::uint64_t seq);
  void record_locked(Schedule& s, ScheduleFiring f);
  std::vector<std::string> active_runs() const;  // runs the service has planned or running
  Result<void> save_locked();
  void reap_locked();
  std::vector<std::string> active_of_locked(const Schedule& s) const;  // its runs in progress
  nlohmann::json to_json(const Schedule& s, bool history) const;

  AgentService& service_;
  std::string path_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Schedule> schedules_;
  std::map<std::uint64_t, ActiveRun> active_;  // scheduled runs in progress, by history seq
  std::map<std::uint64_t, std::thread> threads_;
  std::vector<std::uint64_t> finished_;  // threads that are done and can be joined
  std::uint64_t seq_ = 0;
  std::optional<std::string> unavailable_;  // why schedules cannot be used (load failed)
  bool loaded_ = false;
  bool stopping_ = false;
  std::thread timer_;
};

}  // namespace chaos
