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
#include "runner/clock.h"
#include "runner/families.h"

namespace chaos {

enum class RunState { planned, running, finished, aborted, failed };
const char* run_state_name(RunState s);

// Progress events streamed to the client that started the run (one JSON object each).
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

  // Asks a running timeline to revert everything now and stop (thread-safe, any thread).
  void halt(const std::string& reason);

  RunState state() const { return state_.load(); }
  // CLOCK_MONOTONIC (the run's clock) of the timeline loop's last turn; 0 before it started. The
  // loop turns at least every tick, so a stale value means it is stuck (the systemd watchdog).
  std::uint64_t last_tick_mono_ns() const { return last_tick_mono_ns_.load(std::memory_order_relaxed); }
  nlohmann::json status() const;           // short: id, name, state, elapsed, active faults
  RunLive live() const;                    // thread-safe snapshot, any time after plan()
  // Every sample of probe i (experiment().probes[i]) so far; thread-safe, any time after plan().
  std::vector<ProbeSample> probe_samples(std::size_t i) const;
  nlohmann::json report() const;           // full, once finished

 private:
  struct ActiveFault;
  void emit(const EventSink& sink, nlohmann::json ev);
  void revert_fault(ActiveFault& f, const EventSink& sink, const std::string& why);
  nlohmann::json build_report();

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
  std::optional<std::string> halt_reason_;
  std::atomic<RunState> state_{RunState::planned};
  std::atomic<std::uint64_t> lease_renewals_{0};
  std::atomic<std::uint64_t> last_tick_mono_ns_{0};  // CLOCK_MONOTONIC of the timeline's last turn
  std::string outcome_reason_;
  nlohmann::json stop_condition_;  // the probe stop condition that aborted the run, if one did
  Clock::time_point t0_{};  // written under mu_ (status() reads it from API threads)
  std::optional<Duration> during_begin_, during_end_;  // measured: first apply, last revert
  std::optional<Location> refused_at_;                  // set by a refused plan()
  nlohmann::json samples_ = nlohmann::json::array();   // fault telemetry time series
  std::vector<nlohmann::json> probe_checks_;           // Probe::verify() results, by probe index
  nlohmann::json report_;
  std::string started_at_, ended_at_;
};

// Evaluates latency/error statistics over samples in [from, to).
struct PhaseStats {
  std::size_t requests = 0;
  std::size_t errors = 0;
  double error_rate = 0;
  Duration p50{0}, p90{0}, p99{0}, max{0};
  // Over the samples that carry a value (ProbeSample::value); values == 0: none did.
  std::size_t values = 0;
  double value_min = 0, value_max = 0, value_mean = 0;
  nlohmann::json to_json() const;
};
PhaseStats phase_stats(const std::vector<ProbeSample>& samples, Duration from, Duration to);

// The phase a request belongs to, given the measured fault window [during_begin, during_end):
// before only if it *finished* before the first fault began (a request in flight when the fault
// struck is the fault's blast radius, not the baseline's: a put cut mid-flight must not fail the
// steady state before the fault); after when it started after the last revert; else during.
Phase phase_of(const ProbeSample& s, Duration during_begin, Duration during_end);
// phase_stats over the samples phase_of() puts in `phase`.
PhaseStats phase_stats(const std::vector<ProbeSample>& samples, Phase phase, Duration during_begin,
                       Duration during_end);

// Evaluates a stop condition over the samples that finished (t + latency) in [now - window, now]. Returns why
// the run must stop, or nullopt while the probe is within it (or has too few samples to say).
std::optional<std::string> check_abort(const std::vector<ProbeSample>& samples, Duration now, const AbortWhen& a);

// The number at a dotted key of a telemetry sample ("gpus.0.temperatureC"; booleans are 0/1);
// nullopt when the path is absent or not a number.
std::optional<double> telemetry_value(const nlohmann::json& sample, const std::string& key);
// Why a fault's sample meets a spec.abortWhen condition (or lacks its key); nullopt otherwise.
std::optional<std::string> check_telemetry_abort(const nlohmann::json& sample, const TelemetryAbort& a);

// Checks one phase's stats against a tolerance; returns the violations (empty: held).
std::vector<std::string> check_tolerance(const PhaseStats& s, const Tolerance& t);

}  // namespace chaos
