#include "server/metrics.h"

#include <chrono>
#include <exception>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "core/log.h"
#include "runner/run.h"

#ifndef CHAOS_VERSION
#define CHAOS_VERSION "unknown"
#endif

namespace chaos {

namespace {

using prometheus::Histogram;

// Applying or reverting a fault: a netlink round trip (~1 ms) up to starting a GPU worker (s).
const Histogram::BucketBoundaries kFaultBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.25,  0.5,    1,     2.5,  5,     10};
// A probe request: sub-millisecond on a lab bridge, up to a timeout.
const Histogram::BucketBoundaries kProbeBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

void flatten_into(const nlohmann::json& j, const std::string& prefix,
                  std::vector<std::pair<std::string, double>>& out) {
  auto key = [&](const std::string& k) { return prefix.empty() ? k : prefix + "_" + k; };
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten_into(v, key(k), out);
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) flatten_into(j[i], key(std::to_string(i)), out);
  } else if (j.is_boolean()) {
    if (!prefix.empty()) out.emplace_back(prefix, j.get<bool>() ? 1.0 : 0.0);
  } else if (j.is_number()) {
    if (!prefix.empty()) out.emplace_back(prefix, j.get<double>());
  }
}

}  // namespace

const char* agent_version() { return CHAOS_VERSION; }

std::vector<std::pair<std::string, double>> flatten_telemetry(const nlohmann::json& sample) {
  std::vector<std::pair<std::string, double>> out;
  flatten_into(sample, "", out);
  return out;
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  using namespace prometheus;
  auto& r = *registry_;
  info_ = &BuildGauge().Name("chaos_agent_info").Help("The agent's version; always 1").Register(r);
  start_time_ = &BuildGauge()
                     .Name("chaos_agent_start_time_seconds")
                     .Help("When the agent started accepting work, seconds since the Unix epoch")
                     .Register(r);
  recovery_ = &BuildGauge()
                   .Name("chaos_startup_journal_reverted")
                   .Help("Journal entries a previous agent left outstanding that the start-up replay reverted")
                   .Register(r);
  runs_started_ = &BuildCounter().Name("chaos_runs_started_total").Help("Runs whose timeline started").Register(r);
  runs_finished_ = &BuildCounter()
                        .Name("chaos_runs_finished_total")
                        .Help("Runs that ended, by outcome: held, deviated, aborted, failed")
                        .Register(r);
  runs_active_ = &BuildGauge().Name("chaos_runs_active").Help("Runs whose timeline is in progress").Register(r);
  fault_active_ = &BuildGauge()
                       .Name("chaos_fault_active")
                       .Help("1 while a fault is applied; the series is removed when it is reverted")
                       .Register(r);
  apply_seconds_ = &BuildHistogram()
                        .Name("chaos_fault_apply_duration_seconds")
                        .Help("Time Fault::apply() took, by fault family")
                        .Register(r);
  revert_seconds_ = &BuildHistogram()
                         .Name("chaos_fault_revert_duration_seconds")
                         .Help("Time Fault::revert() took, by fault family")
                         .Register(r);
  fault_errors_ = &BuildCounter()
                       .Name("chaos_fault_errors_total")
                       .Help("Faults whose apply or revert failed, by family and stage")
                       .Register(r);
  lease_renewals_ =
      &BuildCounter().Name("chaos_lease_renewals_total").Help("Dead-man lease renewals of active faults").Register(r);
  lease_lapses_ = &BuildCounter()
                       .Name("chaos_lease_lapses_total")
                       .Help("Runs aborted because a lease lapsed (the agent was hung and the fault stopped by itself)")
                       .Register(r);
  stop_conditions_ = &BuildCounter()
                          .Name("chaos_stop_conditions_total")
                          .Help("Runs aborted by a stop condition (abortWhen), by what tripped it: probe or fault")
                          .Register(r);
  probe_requests_ = &BuildCounter()
                         .Name("chaos_probe_requests_total")
                         .Help("Steady-state probe requests of an active run")
                         .Register(r);
  probe_errors_ = &BuildCounter()
                       .Name("chaos_probe_errors_total")
                       .Help("Steady-state probe requests that failed, of an active run")
                       .Register(r);
  probe_value_ = &BuildGauge()
                     .Name("chaos_probe_value")
                     .Help("The latest value a steady-state probe measured (a prometheus probe's query), of an active run")
                     .Register(r);
  probe_latency_ = &BuildHistogram()
                        .Name("chaos_probe_latency_seconds")
                        .Help("Latency of successful steady-state probe requests, of an active run")
                        .Register(r);
  telemetry_ = &BuildGauge()
                    .Name("chaos_fault_telemetry")
                    .Help("Numeric fields of a fault's latest telemetry sample, nested keys joined with _")
                    .Register(r);

  info_->Add({{"version", agent_version()}}).Set(1);
  runs_started_->Add({});
  runs_active_->Add({});
  lease_renewals_->Add({});
  lease_lapses_->Add({});
  stop_conditions_->Add({{"on", "probe"}});
  stop_conditions_->Add({{"on", "fault"}});
  // Every outcome a run's report can have, exported from 0 so that increase() sees the first one.
  for (RunOutcome o : kReportOutcomes) runs_finished_->Add({{"outcome", std::string(name(o))}});
}

Metrics::~Metrics() = default;

Result<void> Metrics::listen(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return fail("metrics.listen " + address + ": cannot serve /metrics there (" + e.what() +
                "); is the port in use or the address not on this host?");
  }
  exposer_->RegisterCollectable(registry_);
  host_ = address.substr(0, address.rfind(':'));
  start_time_->Add({}).Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  return {};
}

int Metrics::port() const {
  if (!exposer_) return 0;
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string Metrics::url() const {
  if (!exposer_) return "";
  return "http://" + host_ + ":" + std::to_string(port()) + "/metrics";
}

void Metrics::recovered(const RecoveryReport& rep) { recovery_->Add({}).Set(rep.reverted); }

std::string Metrics::text() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

void Metrics::on_run_event(const Run& run, const nlohmann::json& ev) {
  // Called on the run's timeline: nothing here may stop it from reverting its faults.
  try {
    record(run, ev);
  } catch (const std::exception& e) {
    logger("metrics")->warn("run {}: event {} not recorded: {}", run.id(), ev.dump(), e.what());
  }
}

void Metrics::record(const Run& run, const nlohmann::json& ev) {
  // The run's own events (core/run_events.h), read once into their enums; a word the table does
  // not know throws, and on_run_event() logs it.
  const RunEvent kind = parse_field<RunEvent>(ev, "event").value();
  const std::string& id = run.id();
  std::lock_guard lk(mu_);
  if (kind == RunEvent::started) {
    RunSeries& rs = runs_[id];
    rs.experiment = run.experiment().name;
    for (const auto& p : run.experiment().probes) {
      prometheus::Labels l{{"run", id}, {"probe", p.name}};
      rs.probes.push_back({&probe_requests_->Add(l), &probe_errors_->Add(l), &probe_latency_->Add(l, kProbeBuckets)});
    }
    runs_started_->Add({}).Increment();
    runs_active_->Add({}).Increment();
    return;
  }
  auto it = runs_.find(id);
  if (it == runs_.end()) return;
  RunSeries& rs = it->second;

  if (kind == RunEvent::fault) {
    const std::string name = ev.value("fault", "");
    const FaultState state = parse_field<FaultState>(ev, "state").value();
    RunLive live = run.live();
    const RunLive::Fault* f = nullptr;
    for (const auto& x : live.faults)
      if (x.name == name) f = &x;
    if (!f) return;
    prometheus::Labels fam{{"family", f->family}};
    if (state == FaultState::applied) {
      auto& g = fault_active_->Add({{"run", id}, {"experiment", rs.experiment}, {"fault", name}, {"family", f->family}});
      g.Set(1);
      rs.active[name] = &g;
      if (f->apply_took) apply_seconds_->Add(fam, kFaultBuckets).Observe(seconds(*f->apply_took));
    } else if (state == FaultState::failed) {
      fault_errors_->Add({{"family", f->family}, {"stage", "apply"}}).Increment();
    } else if (state == FaultState::reverted || state == FaultState::revert_failed) {
      if (auto a = rs.active.find(name); a != rs.active.end()) {
        fault_active_->Remove(a->second);
        rs.active.erase(a);
      }
      // Its telemetry goes with it: a reverted fault exports no last values.
      for (auto t = rs.telemetry.begin(); t != rs.telemetry.end();) {
        if (t->first.first == name) {
          telemetry_->Remove(t->second);
          t = rs.telemetry.erase(t);
        } else {
          ++t;
        }
      }
      if (state == FaultState::reverted && f->revert_took) revert_seconds_->Add(fam, kFaultBuckets).Observe(seconds(*f->revert_took));
      if (state == FaultState::revert_failed) fault_errors_->Add({{"family", f->family}, {"stage", "revert"}}).Increment();
    }
  } else if (kind == RunEvent::progress) {
    update(run, rs);
  } else if (kind == RunEvent::stop_condition) {
    stop_conditions_->Add({{"on", ev.contains("fault") ? "fault" : "probe"}}).Increment();
  } else if (kind == RunEvent::aborted) {
    if (parse_field<AbortCause>(ev, "abortCause").value() == AbortCause::lease_lapsed)
      lease_lapses_->Add({}).Increment();
  } else if (kind == RunEvent::done) {
    update(run, rs);
    if (auto outcome = run.outcome()) runs_finished_->Add({{"outcome", std::string(name(*outcome))}}).Increment();
    runs_active_->Add({}).Decrement();
    forget(id, rs);
    runs_.erase(it);
  }
}

void Metrics::update(const Run& run, RunSeries& rs) {
  const std::string& id = run.id();
  RunLive live = run.live();
  if (live.lease_renewals > rs.lease_renewals) {
    lease_renewals_->Add({}).Increment(static_cast<double>(live.lease_renewals - rs.lease_renewals));
    rs.lease_renewals = live.lease_renewals;
  }
  for (const auto& f : live.faults) {
    if (!f.active || f.sample.is_null()) continue;
    for (const auto& [key, value] : flatten_telemetry(f.sample)) {
      auto& g = rs.telemetry[{f.name, key}];
      if (!g) g = &telemetry_->Add({{"run", id}, {"fault", f.name}, {"key", key}});
      g->Set(value);
    }
  }
  for (std::size_t i = 0; i < rs.probes.size(); ++i) {
    ProbeSeries& ps = rs.probes[i];
    auto samples = run.probe_samples(i);
    // New samples by their record number: a request that timed out is kept (in start order)
    // before later ones that answered, so "everything past the last position" would count a
    // success twice and miss the failure. Probes that do not number fall back to positions.
    const bool numbered = !samples.empty() && samples.back().seq != 0;
    std::uint64_t newest = ps.seen, value_seq = 0;
    for (std::size_t j = 0; j < samples.size(); ++j) {
      const ProbeSample& x = samples[j];
      const std::uint64_t n = numbered ? x.seq : j + 1;
      if (n <= ps.seen) continue;
      newest = std::max(newest, n);
      ps.requests->Increment();
      if (!x.ok) ps.errors->Increment();
      else ps.latency->Observe(seconds(x.latency));
      if (x.value && n > value_seq) {  // the latest recorded value wins
        value_seq = n;
        if (!ps.value) ps.value = &probe_value_->Add({{"run", id}, {"probe", run.experiment().probes[i].name}});
        ps.value->Set(*x.value);
      }
    }
    ps.seen = newest;
  }
}

void Metrics::forget(const std::string& run_id, RunSeries& rs) {
  for (auto& [name, g] : rs.active) fault_active_->Remove(g);
  for (auto& [key, g] : rs.telemetry) telemetry_->Remove(g);
  for (auto& ps : rs.probes) {
    probe_requests_->Remove(ps.requests);
    probe_errors_->Remove(ps.errors);
    probe_latency_->Remove(ps.latency);
    if (ps.value) probe_value_->Remove(ps.value);
  }
  logger("metrics")->debug("run {}: removed its series", run_id);
}

}  // namespace chaos
