// The one interface every fault family implements. A new fault is a new folder under faults/
// with a FaultFamily, listed once in runner/families.cpp (and its parsers once in
// runner/spec_parsers.cpp, for the fuzz tier). The family owns its experiment block, its part of
// agent.yaml and its Chaos Mesh converter; core, the CLI and the server reach them only through
// what the family registers here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "core/config.h"
#include "core/experiment.h"
#include "core/fields.h"
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

// ---- Chaos Mesh import (chaosctl import / run MANIFEST)

// The Chaos Mesh object to convert: the manifest's own, or the one a Schedule embeds.
struct ChaosMeshObject {
  std::string kind;  // "NetworkChaos"
  YNode kind_node;   // where the kind is (errors about the object as a whole point here)
  std::string name;  // metadata.name ("" none; a Schedule's own name for its embedded object)
  YNode spec;        // the object's spec
};

// chaosctl's flags, as the converter gets them.
struct ChaosMeshFlags {
  std::string target;               // --target as given ("" = none): the family parses it
  std::string interface;            // --interface ("" = none)
  std::vector<Cidr> peers;          // --peer
  std::optional<Duration> duration;  // --duration (when the manifest has none)
  // Host names in the manifest become addresses at import time; tests inject a fake.
  std::function<Result<std::vector<Cidr>>(const std::string& host)> resolve;
};

struct ChaosMeshImport {
  std::string yaml;                   // the native experiment
  std::vector<std::string> warnings;  // what did not carry over exactly
};

// A family's converter. kinds empty: the family converts nothing.
struct ChaosMeshConverter {
  std::vector<std::string> kinds;  // the Chaos Mesh kinds it converts: "NetworkChaos", ...
  // What it converts, in "chaos-agent converts A, B and Schedules of those": "StressChaos memory stressors".
  std::string converts;
  // The --target forms it takes, for messages and the usage ("host", "netns:NAME", ...).
  std::vector<std::string> target_forms;
  std::function<bool(const std::string& target)> takes_target;
  // What is wrong with the other flags whatever the manifest (nullopt: nothing); may be empty.
  std::function<std::optional<std::string>(const ChaosMeshFlags&)> check_flags;
  // The native experiment, or the first problem located in the manifest (refused: no equivalent).
  std::function<Converted<ChaosMeshImport>(const ChaosMeshObject&, const ChaosMeshFlags&)> convert;
};

struct FaultFamily {
  std::string name;        // the YAML key of the family block: "network"
  FaultSpecParser parse;   // reads the block strictly
  FaultFactory make;       // builds the runtime fault
  // Registers the undo function for every journal kind this family writes.
  std::function<void(UndoRegistry&)> register_undo;
  // Its part of agent.yaml (guardrails keys, a section of its own); none: make is empty.
  ConfigSection config;
  // Its Chaos Mesh converter; none: no kinds.
  ChaosMeshConverter chaos_mesh;
};

}  // namespace chaos
