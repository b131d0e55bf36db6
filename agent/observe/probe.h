// Probes sample the system under test throughout a run (before, during and after the faults).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/experiment.h"
#include "core/result.h"
#include "core/spec_registry.h"

namespace chaos {

struct ProbeSample {
  Duration t{0};        // since the start of the run
  bool ok = false;
  Duration latency{0};  // time to the answer (or to the failure)
  int status = 0;       // protocol status (HTTP status code), 0 when none
  std::string error;    // why it failed: "connect: Connection timed out", "connect: Connection refused", "HTTP 503"
  // What the probe measured besides its latency, when it measures something (prometheus: the
  // query's value, also when it is out of bounds). The report plots it per phase.
  std::optional<double> value;
  // The order in which the probe recorded it, from 1. Samples are kept in start order, and a
  // request that times out is recorded after later ones that answered: whoever follows a probe
  // as it runs (the /metrics counters) takes the new ones by this number, not by position.
  // 0: the probe does not number its samples.
  std::uint64_t seq = 0;
};

// Monotonic clock of a run: probes stamp samples relative to its start.
struct RunClock {
  std::chrono::steady_clock::time_point start;
  Duration now() const { return std::chrono::steady_clock::now() - start; }
};

class Probe {
 public:
  virtual ~Probe() = default;
  // Resolves targets (namespace, address). Mutates nothing.
  virtual Result<std::vector<std::string>> plan() = 0;
  // Starts sampling in the background at the entry's interval.
  virtual Result<void> start(RunClock clock) = 0;
  // Stops and joins; idempotent.
  virtual void stop() = 0;
  // Snapshot of every sample so far, ordered by start time (thread-safe).
  virtual std::vector<ProbeSample> samples() const = 0;
  // The samples that started at or after `from` (the runner's stop conditions look at a short
  // window every tick; a probe that keeps its samples ordered answers without copying them all).
  virtual std::vector<ProbeSample> samples_since(Duration from) const {
    auto all = samples();
    std::erase_if(all, [&](const ProbeSample& s) { return s.t < from; });
    return all;
  }
  // A check over the whole run, made once after stop() (etcdWriter: every acknowledged write
  // read back from every member). null: none. Otherwise an object for the report whose
  // "violations" (array of strings), when not empty, make the hypothesis fail.
  virtual nlohmann::json verify() { return nullptr; }
};

using ProbeFactory = std::function<Result<std::unique_ptr<Probe>>(const ProbeEntry& entry)>;

struct ProbeKind {
  std::string name;       // the YAML key of the probe block: "http"
  ProbeSpecParser parse;
  ProbeFactory make;
};

}  // namespace chaos
