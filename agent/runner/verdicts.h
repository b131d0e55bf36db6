// What a run's samples say: latency and error statistics per phase, the steady-state hypothesis
// (a probe's tolerance in the phases it is checked in, and its verify() check), the stop
// conditions the timeline checks on every tick (a probe's abortWhen over its last window, a
// fault's telemetry against spec.abortWhen), and the run's outcome. Pure functions of samples
// and the experiment: no clock, no run.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/experiment.h"
#include "core/run_events.h"
#include "observe/probe.h"

namespace chaos {

// A duration in milliseconds as the report and the events write it (microsecond resolution).
inline double millis(Duration d) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) / 1000.0;
}

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

// One probe's verdicts over a run whose faults were in place during [during_begin, during_end).
struct ProbeVerdicts {
  nlohmann::json phases;      // {"before": PhaseStats, "during": ..., "after": ...}
  nlohmann::json hypothesis;  // [{"phase", "held", "violations"}, ...; the verify check's last]
  bool held = true;           // every verdict held
};
// `check` is what the probe's verify() returned (an object with "violations"; anything else:
// the probe checks nothing after the run).
ProbeVerdicts probe_verdicts(const ProbeEntry& probe, const std::vector<ProbeSample>& samples,
                             const nlohmann::json& check, Duration during_begin, Duration during_end);

// The outcome of a run that ended in `state`: aborted and failed runs say so; otherwise held when
// every verdict held (`held`), unless a fault reported an error (`fault_error`: failed).
RunOutcome run_outcome(RunState state, bool held, bool fault_error);

}  // namespace chaos
