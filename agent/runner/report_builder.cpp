#include "runner/report_builder.h"

#include <algorithm>

#include "runner/verdicts.h"

namespace chaos {

using nlohmann::json;
using namespace std::chrono;

namespace {


json fault_json(const FaultRecord& f) {
  json fj{{"name", f.entry->name}, {"family", f.entry->family}, {"plan", f.plan},
          {"requested", {{"start", millis(f.entry->start) / 1000.0}, {"duration", millis(f.entry->duration) / 1000.0}}}};
  if (f.applied_at) fj["appliedAt"] = millis(*f.applied_at) / 1000.0;
  if (f.reverted_at) fj["revertedAt"] = millis(*f.reverted_at) / 1000.0;
  if (f.plan_took) fj["plan_ms"] = millis(*f.plan_took);
  if (f.apply_took) fj["apply_ms"] = millis(*f.apply_took);
  if (f.revert_took) fj["revert_ms"] = millis(*f.revert_took);
  if (!f.error.empty()) fj["error"] = f.error;
  fj["observed"] = f.observed;
  if (!f.violations.empty()) fj["violations"] = f.violations;
  return fj;
}

// The probe's verdicts, recovery and raw samples; clears `held` when a verdict did not hold.
json probe_json(const ProbeRecord& p, Duration db, Duration de, const std::optional<Duration>& during_end,
                bool& held) {
  const ProbeEntry& pe = *p.entry;
  const auto& ss = p.samples;
  json pj{{"name", pe.name}, {"kind", pe.kind}};
  if (pe.spec) pj["spec"] = pe.spec->to_json();
  auto verdicts = probe_verdicts(pe, ss, p.check, db, de);
  if (!verdicts.held) held = false;
  if (p.check.is_object()) pj["verify"] = p.check;
  pj["phases"] = std::move(verdicts.phases);
  pj["hypothesis"] = std::move(verdicts.hypothesis);
  // Recovery: from the last revert to the completion of the first successful request started after it.
  if (during_end) {
    for (const auto& s : ss) {
      if (s.t >= *during_end && s.ok) {
        pj["recovery_ms"] = millis(s.t + s.latency - *during_end);
        break;
      }
    }
    // Errors seen outside the window: the blast radius leaked in time.
    std::size_t first_err = 0, last_err = 0;
    bool any = false;
    for (const auto& s : ss)
      if (!s.ok) {
        if (!any) first_err = static_cast<std::size_t>(duration_cast<milliseconds>(s.t).count());
        last_err = static_cast<std::size_t>(duration_cast<milliseconds>(s.t).count());
        any = true;
      }
    if (any) pj["errorWindow"] = {{"first", first_err / 1000.0}, {"last", last_err / 1000.0}};
  }
  json raw = json::array();
  for (const auto& s : ss) {
    json x = {millis(s.t) / 1000.0, s.ok, millis(s.latency)};
    if (!s.ok) x.push_back(s.error);
    raw.push_back(x);
  }
  pj["samples"] = raw;  // [t_s, ok, latency_ms, error?]
  json values = json::array();
  for (const auto& s : ss)
    if (s.value) values.push_back({millis(s.t) / 1000.0, *s.value});
  if (!values.empty()) pj["values"] = values;  // [t_s, value]: what the probe measured
  return pj;
}

}  // namespace

RunReport build_report(const RunRecord& run) {
  const Experiment& exp = run.experiment;
  json r;
  r["run"] = run.id;
  r["experiment"] = exp.name;
  r["file"] = exp.file;
  r["startedAt"] = run.started_at;
  r["endedAt"] = run.ended_at;
  r["state"] = name(run.state);
  r["plan"] = run.plan;
  Duration end = exp.duration;
  Duration db = run.during_begin.value_or(exp.faults_begin());
  Duration de = run.during_end.value_or(exp.faults_end());
  if (de < db) de = db;
  r["phases"] = {{"before", {{"from", 0.0}, {"to", millis(db) / 1000.0}}},
                 {"during", {{"from", millis(db) / 1000.0}, {"to", millis(de) / 1000.0}}},
                 {"after", {{"from", millis(de) / 1000.0}, {"to", millis(end) / 1000.0}}}};
  json faults = json::array();
  bool held = true, fault_error = false;
  for (const auto& f : run.faults) {
    faults.push_back(fault_json(f));
    if (!f.violations.empty()) held = false;
    if (!f.error.empty()) fault_error = true;
  }
  r["faults"] = faults;
  json probes = json::array();
  for (const auto& p : run.probes) probes.push_back(probe_json(p, db, de, run.during_end, held));
  r["probes"] = probes;
  r["series"] = run.series;
  const RunOutcome outcome = run_outcome(run.state, held, fault_error);
  r["outcome"] = name(outcome);
  r["reason"] = run.reason;
  if (run.abort_cause) r["abortCause"] = name(*run.abort_cause);
  if (!run.stop_condition.is_null()) r["stopCondition"] = run.stop_condition;
  return {outcome, std::move(r)};
}

}  // namespace chaos
