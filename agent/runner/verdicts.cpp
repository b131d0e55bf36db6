#include "runner/verdicts.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>

#include "core/units.h"

namespace chaos {

using namespace std::chrono;

Phase phase_of(const ProbeSample& s, Duration during_begin, Duration during_end) {
  if (s.t >= during_end) return Phase::after;
  if (s.t + s.latency < during_begin) return Phase::before;
  return Phase::during;
}

namespace {

PhaseStats stats_of(const std::vector<ProbeSample>& samples, const std::function<bool(const ProbeSample&)>& in) {
  PhaseStats s;
  std::vector<Duration> lat;
  double sum = 0;
  for (const auto& x : samples) {
    if (!in(x)) continue;
    s.requests++;
    if (!x.ok) s.errors++;
    else lat.push_back(x.latency);
    if (x.value) {
      s.value_min = s.values ? std::min(s.value_min, *x.value) : *x.value;
      s.value_max = s.values ? std::max(s.value_max, *x.value) : *x.value;
      sum += *x.value;
      s.values++;
    }
  }
  if (s.values) s.value_mean = sum / static_cast<double>(s.values);
  s.error_rate = s.requests ? static_cast<double>(s.errors) / static_cast<double>(s.requests) : 0.0;
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double q) {
      // Nearest-rank percentile.
      auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(lat.size())));
      return lat[std::min(lat.size() - 1, rank == 0 ? 0 : rank - 1)];
    };
    s.p50 = pct(0.50);
    s.p90 = pct(0.90);
    s.p99 = pct(0.99);
    s.max = lat.back();
  }
  return s;
}

}  // namespace

PhaseStats phase_stats(const std::vector<ProbeSample>& samples, Duration from, Duration to) {
  return stats_of(samples, [&](const ProbeSample& x) { return x.t >= from && x.t < to; });
}

PhaseStats phase_stats(const std::vector<ProbeSample>& samples, Phase phase, Duration during_begin,
                       Duration during_end) {
  return stats_of(samples,
                  [&](const ProbeSample& x) { return phase_of(x, during_begin, during_end) == phase; });
}

nlohmann::json PhaseStats::to_json() const {
  nlohmann::json j{{"requests", requests}, {"errors", errors},  {"errorRate", error_rate}, {"p50_ms", millis(p50)},
                   {"p90_ms", millis(p90)},   {"p99_ms", millis(p99)}, {"max_ms", millis(max)}};
  if (values) j["value"] = {{"samples", values}, {"min", value_min}, {"mean", value_mean}, {"max", value_max}};
  return j;
}

std::optional<std::string> check_abort(const std::vector<ProbeSample>& samples, Duration now, const AbortWhen& a) {
  // The answers seen in the last window (by when each request finished, so a probe whose timeout
  // is longer than the window still brakes: its failures land in the window when they happen).
  const Duration from = now > a.window ? now - a.window : Duration{0};
  auto st = stats_of(samples, [&](const ProbeSample& x) {
    const Duration done = x.t + x.latency;
    return done >= from && done <= now;
  });
  if (st.requests < a.min_samples) return std::nullopt;
  char buf[160];
  if (a.error_rate && st.error_rate + 1e-12 >= *a.error_rate) {
    std::snprintf(buf, sizeof buf, "error rate %.1f%% (%zu/%zu) over the last %s, at or above %.1f%%",
                  st.error_rate * 100, st.errors, st.requests, format_duration(a.window).c_str(), *a.error_rate * 100);
    return std::string(buf);
  }
  const std::size_t ok = st.requests - st.errors;
  if (ok < a.min_samples) return std::nullopt;
  auto lat = [&](const char* name, Duration got, const std::optional<Duration>& lim) -> std::optional<std::string> {
    if (!lim || got <= *lim) return std::nullopt;
    return std::string(name) + " " + format_duration(got) + " over the last " + format_duration(a.window) +
           " (" + std::to_string(ok) + " successful samples), above " + format_duration(*lim);
  };
  if (auto v = lat("p50", st.p50, a.p50)) return v;
  if (auto v = lat("p99", st.p99, a.p99)) return v;
  return std::nullopt;
}

namespace {

// The node at a dotted key, or nullptr when the path does not exist.
const nlohmann::json* telemetry_node(const nlohmann::json& sample, const std::string& key) {
  const nlohmann::json* at = &sample;
  std::size_t pos = 0;
  while (pos <= key.size()) {
    auto dot = key.find('.', pos);
    std::string part = key.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (at->is_object()) {
      auto it = at->find(part);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      std::size_t i = 0;
      auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), i);
      if (part.empty() || ec != std::errc{} || end != part.data() + part.size() || i >= at->size()) return nullptr;
      at = &(*at)[i];
    } else {
      return nullptr;
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return at;
}

}  // namespace

std::optional<double> telemetry_value(const nlohmann::json& sample, const std::string& key) {
  const nlohmann::json* at = telemetry_node(sample, key);
  if (!at) return std::nullopt;
  if (at->is_boolean()) return at->get<bool>() ? 1.0 : 0.0;
  if (at->is_number()) return at->get<double>();
  return std::nullopt;
}

std::optional<std::string> check_telemetry_abort(const nlohmann::json& sample, const TelemetryAbort& a) {
  // Present but null: the fault has not measured it yet (a GPU's duty cycle before two bursts).
  if (const auto* node = telemetry_node(sample, a.key); node && node->is_null()) return std::nullopt;
  auto v = telemetry_value(sample, a.key);
  auto num = [](double x) {
    char b[48];
    std::snprintf(b, sizeof b, "%.6g", x);
    return std::string(b);
  };
  if (!v && telemetry_node(sample, a.key))
    return a.key + " is " + telemetry_node(sample, a.key)->dump() +
           " in the fault's telemetry, not a number; a stop condition that cannot compare stops the run";
  if (!v) {
    std::string keys;
    if (sample.is_object())
      for (const auto& [k, _] : sample.items()) keys += (keys.empty() ? "" : ", ") + k;
    return a.key + " is not in the fault's telemetry (its top-level keys: " + (keys.empty() ? "none" : keys) +
           "); a stop condition that cannot see stops the run";
  }
  if (a.above && *v > *a.above) return a.key + " = " + num(*v) + ", above " + num(*a.above);
  if (a.below && *v < *a.below) return a.key + " = " + num(*v) + ", below " + num(*a.below);
  return std::nullopt;
}

std::vector<std::string> check_tolerance(const PhaseStats& s, const Tolerance& t) {
  std::vector<std::string> v;
  if (s.requests == 0) {
    v.push_back("no samples in this phase");
    return v;
  }
  auto pct = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f%%", x * 100);
    return std::string(b);
  };
  if (t.max_error_rate && s.error_rate > *t.max_error_rate + 1e-12)
    v.push_back("error rate " + pct(s.error_rate) + " (" + std::to_string(s.errors) + "/" +
                std::to_string(s.requests) + ") above " + pct(*t.max_error_rate));
  auto lat = [&](const char* name, Duration got, const std::optional<Duration>& lim) {
    if (lim && got > *lim) v.push_back(std::string(name) + " " + format_duration(got) + " above " + format_duration(*lim));
  };
  lat("p50", s.p50, t.p50);
  lat("p90", s.p90, t.p90);
  lat("p99", s.p99, t.p99);
  lat("max", s.max, t.max);
  return v;
}
ProbeVerdicts probe_verdicts(const ProbeEntry& pe, const std::vector<ProbeSample>& ss, const nlohmann::json& check,
                             Duration db, Duration de) {
  using nlohmann::json;
  ProbeVerdicts out{json::object(), json::array(), true};
  for (Phase ph : {Phase::before, Phase::during, Phase::after}) {
    auto st = phase_stats(ss, ph, db, de);
    out.phases[phase_name(ph)] = st.to_json();
    if (std::find(pe.check_in.begin(), pe.check_in.end(), ph) != pe.check_in.end()) {
      auto v = check_tolerance(st, pe.tolerance);
      if (!v.empty()) out.held = false;
      out.hypothesis.push_back({{"phase", phase_name(ph)}, {"held", v.empty()}, {"violations", v}});
    }
  }
  if (check.is_object()) {
    json v = check.value("violations", json::array());
    if (!v.empty()) out.held = false;
    out.hypothesis.push_back({{"phase", phase_name(Phase::after)}, {"check", check.value("check", std::string("verify"))},
                              {"held", v.empty()}, {"violations", v}});
  }
  return out;
}

RunOutcome run_outcome(RunState state, bool held, bool fault_error) {
  if (state == RunState::aborted) return RunOutcome::aborted;
  if (state == RunState::failed) return RunOutcome::failed;
  if (!held) return RunOutcome::deviated;
  // A fault that reported an error (a revert that failed) fails a run whose verdicts held.
  return fault_error ? RunOutcome::failed : RunOutcome::held;
}

}  // namespace chaos
