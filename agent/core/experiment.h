// The typed experiment: everything past the parser works on these values, never on strings.
// core knows no fault family: each family's block is parsed by the family (see spec_registry.h)
// into a FaultSpec subclass the family later downcasts.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diag.h"
#include "core/units.h"

namespace chaos {

// Parsed family block (network:, gpu:, memory:, etcd:).
struct FaultSpec {
  virtual ~FaultSpec() = default;
  virtual nlohmann::json to_json() const = 0;
};

// Parsed probe block (http:, ...).
struct ProbeSpec {
  virtual ~ProbeSpec() = default;
  virtual nlohmann::json to_json() const = 0;
};

struct FaultEntry {
  std::string name;
  Duration start{0};     // offset from the start of the run
  Duration duration{0};  // how long the fault holds
  std::string family;    // "network", "gpu", "memory", "etcd"
  std::shared_ptr<const FaultSpec> spec;
  Location loc;
  Duration end() const { return start + duration; }
};

// Limits on what a probe may observe in a phase for the hypothesis to hold.
struct Tolerance {
  std::optional<double> max_error_rate;  // fraction 0..1 of failed samples
  std::optional<Duration> p50;           // latency percentiles must stay at or below these
  std::optional<Duration> p90;
  std::optional<Duration> p99;
  std::optional<Duration> max;
};

// A stop condition on a probe: the run aborts (every fault reverted at once) when, over the last
// `window`, the probe's samples cross one of these. Checked every tick from the start of the run
// until the last fault is reverted, so a baseline that is already broken stops the run before
// anything is injected.
struct AbortWhen {
  std::optional<double> error_rate;  // abort at or above this fraction of failed samples
  std::optional<Duration> p50;       // abort when this latency percentile of successful samples is above
  std::optional<Duration> p99;
  Duration window{std::chrono::seconds(2)};
  std::size_t min_samples = 5;  // fewer samples in the window decide nothing
  bool any() const { return error_rate || p50 || p99; }
};

// A stop condition on a fault's own telemetry (what Fault::sample() reports every tick: GPU
// temperature, memory PSI, dropped packets, the namespace's TCP retransmits...): the run aborts
// when the value at `key` (nested keys joined with '.', array elements by index) is above
// `above` or below `below`. Checked on every sample while the fault holds. A key the fault's
// samples do not have aborts the run too: a brake that cannot see must not look like one.
struct TelemetryAbort {
  std::string fault;
  std::string key;
  std::optional<double> above;
  std::optional<double> below;
  Location loc;
};

enum class Phase { before, during, after };
const char* phase_name(Phase p);

struct ProbeEntry {
  std::string name;
  std::string kind;  // "http", ...
  Duration interval{std::chrono::milliseconds(100)};
  Duration timeout{std::chrono::seconds(1)};
  std::vector<Phase> check_in{Phase::before, Phase::after};  // phases the hypothesis is checked in
  Tolerance tolerance;
  std::optional<AbortWhen> abort_when;
  std::shared_ptr<const ProbeSpec> spec;
  Location loc;
};

struct Experiment {
  std::string file;  // where it was read from (for messages)
  std::string api_version;
  std::string name;
  std::map<std::string, std::string> labels;
  Duration duration{0};  // hard cap for the whole run
  Location duration_loc;  // where spec.duration was written (plan-time refusals point at it)
  std::vector<FaultEntry> faults;
  std::vector<ProbeEntry> probes;
  std::vector<TelemetryAbort> abort_when;  // spec.abortWhen

  // [first fault start, last fault end): everything outside is before/after.
  Duration faults_begin() const;
  Duration faults_end() const;
  nlohmann::json to_json() const;
};

}  // namespace chaos
