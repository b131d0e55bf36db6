#include "core/experiment.h"

#include <algorithm>

namespace chaos {

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::before: return "before";
    case Phase::during: return "during";
    case Phase::after: return "after";
  }
  return "?";
}

Duration Experiment::faults_begin() const {
  if (faults.empty()) return duration;
  Duration b = faults.front().start;
  for (const auto& f : faults) b = std::min(b, f.start);
  return b;
}

Duration Experiment::faults_end() const {
  if (faults.empty()) return duration;
  Duration e{0};
  for (const auto& f : faults) e = std::max(e, f.end());
  return e;
}

nlohmann::json Experiment::to_json() const {
  nlohmann::json j;
  j["apiVersion"] = api_version;
  j["name"] = name;
  j["file"] = file;
  j["labels"] = labels;
  j["duration"] = format_duration(duration);
  j["faults"] = nlohmann::json::array();
  for (const auto& f : faults) {
    nlohmann::json fj{{"name", f.name},
                      {"family", f.family},
                      {"start", format_duration(f.start)},
                      {"duration", format_duration(f.duration)}};
    if (f.spec) fj[f.family] = f.spec->to_json();
    j["faults"].push_back(fj);
  }
  j["abortWhen"] = nlohmann::json::array();
  for (const auto& a : abort_when) {
    nlohmann::json aj{{"fault", a.fault}, {"key", a.key}};
    if (a.above) aj["above"] = *a.above;
    if (a.below) aj["below"] = *a.below;
    j["abortWhen"].push_back(aj);
  }
  j["steadyState"] = nlohmann::json::array();
  for (const auto& p : probes) {
    nlohmann::json pj{{"name", p.name},
                      {"kind", p.kind},
                      {"interval", format_duration(p.interval)},
                      {"timeout", format_duration(p.timeout)}};
    nlohmann::json phases = nlohmann::json::array();
    for (auto ph : p.check_in) phases.push_back(phase_name(ph));
    pj["checkIn"] = phases;
    nlohmann::json tol = nlohmann::json::object();
    if (p.tolerance.max_error_rate) tol["maxErrorRate"] = *p.tolerance.max_error_rate;
    if (p.tolerance.p50) tol["p50"] = format_duration(*p.tolerance.p50);
    if (p.tolerance.p90) tol["p90"] = format_duration(*p.tolerance.p90);
    if (p.tolerance.p99) tol["p99"] = format_duration(*p.tolerance.p99);
    if (p.tolerance.max) tol["max"] = format_duration(*p.tolerance.max);
    pj["tolerance"] = tol;
    if (p.abort_when) {
      nlohmann::json a;
      if (p.abort_when->error_rate) a["errorRate"] = *p.abort_when->error_rate;
      if (p.abort_when->p50) a["p50"] = format_duration(*p.abort_when->p50);
      if (p.abort_when->p99) a["p99"] = format_duration(*p.abort_when->p99);
      a["window"] = format_duration(p.abort_when->window);
      a["minSamples"] = p.abort_when->min_samples;
      pj["abortWhen"] = a;
    }
    if (p.spec) pj[p.kind] = p.spec->to_json();
    j["steadyState"].push_back(pj);
  }
  return j;
}

}  // namespace chaos
