// One run of an experiment: plan (resolve + preflight, no mutation), then the timeline on one
// loop: baseline, each fault applied at its offset and reverted at its end, the after-phase,
// the report. Leases are renewed on every tick; a lapse (the agent was hung past its own lease)
// aborts the run, because the node may already have healed behind its back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/experiment.h"
#include "core/journal.h"
#include "core/run_events.h"
#include "runner/clock.h"
#include "runner/families.h"
#include "runner/report_builder.h"

namespace chaos {

// Progress events streamed to the client that started the run (one JSON object each; their
// names and fields: core/run_events.h).
using EventSink = std::function<void(const nlohmann::json& event)>;

// What a run is doing right now, for live monitoring (the agent's /metrics endpoint).
struct RunLive {
  struct Fault {
    std::string name, family;
    bool active = false;                           // applied and not yet reverted
    std::optional<Duration> apply_took, revert_took;  // once apply() / revert() returned
    nlohmann::json sample;                         // the latest Fault::sample() (null before one)
  };
  std::vector<Fault> faults;
  std::uint64_t lease_renewals = 0;  // renewals of every fault's lease so far
};

class Run {
 public:
  Run(std::string id, Experiment exp, const AgentConfig& config, Journal& journal, const Families& families,
      Clock& clock);
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  const std::string& id() const { return id_; }
  const Experiment& experiment() const { return exp_; }

  // Builds every fault and probe and runs their plan(). Mutates nothing on the node.
  // On success returns the lines of what the run would touch. On a refusal, refused_at() is
  // where in the file the refused fault, probe or field was written.
  Result<std::vector<std::string>> plan();
  const std::optional<Location>& refused_at() const { return refused_at_; }

  // Runs the timeline to the end (blocking). Returns the report. Requires a successful plan().
  nlohmann::json execute(const EventSink& sink);

  // Asks a running timeline to revert everything now and stop (thread-safe, any thread). The
  // report's reason is "halted: REASON", its abortCause `cause` (halted, shutdown). The first
  // halt wins.
  void halt(const std::string& reason, AbortCause cause = AbortCause::halted);

  RunState state() const { return state_.load(); }
  // CLOCK_MONOTONIC (the run's clock) of the timeline loop's last turn; 0 before it started. The
  // loop turns at least every tick, so a stale value means it is stuck (the systemd watchdog).
  std::uint64_t last_tick_mono_ns() const { return last_tick_mono_ns_.load(std::memory_order_relaxed); }
  nlohmann::json status() const;           // short: id, name, state, elapsed, active faults
  RunLive live() const;                    // thread-safe snapshot, any time after plan()
  // Every sample of probe i (experiment().probes[i]) so far; thread-safe, any time after plan().
  std::vector<ProbeSample> probe_samples(std::size_t i) const;
  nlohmann::json report() const;           // full, once finished
  std::optional<RunOutcome> outcome() const;  // the report's outcome, once finished

 private:
  struct ActiveFault;
  // Why the timeline stops early.
  struct Abort {
    AbortCause cause;
    std::string reason;  // for people: the report's "reason"
  };
  // A fault's apply or revert, at its offset.
  struct TimelineEvent {
    Duration at;
    std::size_t fault;  // index in faults_
    bool apply;
  };

  void emit(const EventSink& sink, RunEvent kind, nlohmann::json fields = nlohmann::json::object());
  void emit_fault(const EventSink& sink, const ActiveFault& f, FaultState state,
                  nlohmann::json fields = nlohmann::json::object());
  // The steps of one turn of the timeline (execute()); each returns why the run must stop, if it must.
  std::vector<TimelineEvent> timeline() const;  // applies and reverts, in the order they are due
  void start_probes();  // a probe that cannot start halts the run (AbortCause::probe_failed)
  std::optional<Abort> lease_lapsed(std::uint64_t mono) const;
  std::optional<Abort> apply_fault(ActiveFault& f, const EventSink& sink);
  void revert_fault(ActiveFault& f, const EventSink& sink, const std::string& why);
  // Renews every active fault's lease to mono + lease and checks its telemetry's stop conditions.
  std::optional<Abort> renew_and_sample(Duration now, std::uint64_t mono, const EventSink& sink);
  std::optional<Abort> check_probe_stops(Duration now, const EventSink& sink);
  void emit_progress(const EventSink& sink);
  // After the loop: revert what is left, the aftermath checks, the report.
  nlohmann::json finish(const std::optional<Abort>& abort, const EventSink& sink);
  // The report of what the run did so far (builds RunRecord from the faults and probes).
  RunReport make_report();

  std::string id_;
  Experiment exp_;
  const AgentConfig& config_;
  Journal& journal_;
  const Families& families_;
  Clock& clock_;

  std::vector<std::unique_ptr<ActiveFault>> faults_;
  std::vector<std::unique_ptr<Probe>> probes_;
  std::vector<std::string> plan_lines_;
  bool planned_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Abort> halt_;  // what halt() asked, under mu_
  std::atomic<RunState> state_{RunState::planned};
  std::atomic<std::uint64_t> lease_renewals_{0};
  std::atomic<std::uint64_t> last_tick_mono_ns_{0};  // CLOCK_MONOTONIC of the timeline's last turn
  std::string outcome_reason_;
  std::optional<AbortCause> abort_cause_;
  nlohmann::json stop_condition_;  // the probe stop condition that aborted the run, if one did
  Clock::time_point t0_{};  // written under mu_ (status() reads it from API threads)
  std::optional<Duration> during_begin_, during_end_;  // measured: first apply, last revert
  std::optional<Location> refused_at_;                  // set by a refused plan()
  nlohmann::json samples_ = nlohmann::json::array();   // fault telemetry time series
  std::vector<nlohmann::json> probe_checks_;           // Probe::verify() results, by probe index
  nlohmann::json report_;               // under mu_ (status() and report() read it from API threads)
  std::optional<RunOutcome> outcome_;   // under mu_, with report_
  std::string started_at_, ended_at_;
};

}  // namespace chaos
