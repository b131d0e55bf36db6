// The one interface every fault family implements. A new fault is a new folder under faults/
// with a FaultFamily, listed once in runner/families.cpp; nothing else branches on families.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "core/config.h"
#include "core/experiment.h"
#include "core/journal.h"
#include "core/result.h"
#include "core/spec_registry.h"

namespace chaos {

// What the runner hands to every fault.
struct FaultContext {
  const AgentConfig* config = nullptr;
  Journal* journal = nullptr;  // journal every mutation here *before* making it
  std::string run_id;
  std::shared_ptr<spdlog::logger> log;
};

class Fault {
 public:
  virtual ~Fault() = default;

  // Resolves targets and runs preflight checks (kernel features, guardrails, capacity).
  // Mutates nothing. Returns one line per thing apply() would touch (shown by --dry-run).
  virtual Result<std::vector<std::string>> plan() = 0;

  // Makes the change. Each mutation is journaled (Journal::intend) before it is made.
  virtual Result<void> apply() = 0;

  // Extends the dead-man lease: the fault must stop by itself after deadline_mono_ns
  // (CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() reads) unless renewed again.
  virtual Result<void> renew(std::uint64_t deadline_mono_ns) = 0;

  // Undoes everything apply() did, also after a partial apply. Idempotent.
  virtual Result<void> revert() = 0;

  // One sample of the fault's own telemetry for the run's time series (null: nothing to add).
  // Called on every runner tick while the fault is active.
  virtual nlohmann::json sample() { return nullptr; }

  // Summary for the report: requested vs achieved, counters.
  virtual nlohmann::json observe() const { return nlohmann::json::object(); }

  // Checks of the aftermath, called once after the timeline ended (every fault reverted, every
  // probe stopped), before the report; observe() is read again afterwards. May block, briefly.
  // Each string returned is a violation that makes the run deviate (etcd: the cluster never
  // became healthy again after the heal).
  virtual std::vector<std::string> verify() { return {}; }
};

using FaultFactory =
    std::function<Result<std::unique_ptr<Fault>>(const FaultEntry& entry, const FaultContext& ctx)>;

struct FaultFamily {
  std::string name;        // the YAML key of the family block: "network"
  FaultSpecParser parse;   // reads the block strictly
  FaultFactory make;       // builds the runtime fault
  // Registers the undo function for every journal kind this family writes.
  std::function<void(UndoRegistry&)> register_undo;
};

}  // namespace chaos
