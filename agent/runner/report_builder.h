// A finished run's report: the JSON a run leaves in STATE/runs/ID/run.json, streams back as the
// final event, and agent/report renders (docs/reports.md). Built from a plain record of what the
// run did, so the timeline (runner/run.cpp) and the report's shape do not depend on each other.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/experiment.h"
#include "core/run_events.h"
#include "observe/probe.h"

namespace chaos {

// What one fault did, as the report tells it.
struct FaultRecord {
  const FaultEntry* entry = nullptr;
  std::vector<std::string> plan;                               // Fault::plan()'s lines
  std::optional<Duration> applied_at, reverted_at;             // since the run's start
  std::optional<Duration> plan_took, apply_took, revert_took;  // wall time of plan(), apply(), revert()
  std::string error;                                           // "apply failed: ...", "revert failed: ..."
  nlohmann::json observed = nlohmann::json::object();          // Fault::observe()
  std::vector<std::string> violations;                         // Fault::verify()
};

// What one probe measured.
struct ProbeRecord {
  const ProbeEntry* entry = nullptr;
  std::vector<ProbeSample> samples;
  nlohmann::json check;  // Probe::verify() (null: it checks nothing after the run)
};

// Everything the report says about a run. The references live as long as the run.
struct RunRecord {
  const std::string& id;
  const Experiment& experiment;
  std::string started_at, ended_at;  // UTC, ISO 8601
  RunState state = RunState::planned;
  const std::vector<std::string>& plan;                // the run's plan lines
  std::optional<Duration> during_begin, during_end;    // measured: first apply, last revert
  std::vector<FaultRecord> faults;                     // by experiment().faults index
  std::vector<ProbeRecord> probes;                     // by experiment().probes index
  const nlohmann::json& series;                        // fault telemetry: [{"t","fault","sample"}]
  std::string reason;                                  // why it aborted or failed, for people
  std::optional<AbortCause> abort_cause;               // why it aborted, for code
  nlohmann::json stop_condition;                       // the stop condition that aborted it, if one did
};

struct RunReport {
  RunOutcome outcome = RunOutcome::failed;  // one of kReportOutcomes
  nlohmann::json json;
};

RunReport build_report(const RunRecord& run);

}  // namespace chaos
