// The agent's Prometheus /metrics endpoint (metrics.listen in agent.yaml). One registry; the
// service feeds it from each run's event stream (started, fault applied/reverted, progress once
// a second, done) plus the run's live() snapshot. Series labelled with a run exist only while
// that run does: they are removed when a fault is reverted or the run ends, so nothing stale is
// exported. docs/operations.md lists every metric.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/journal.h"
#include "core/result.h"

namespace prometheus {
class Counter;
class Exposer;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace chaos {

class Run;

// The version the agent reports as chaos_agent_info{version=...}.
const char* agent_version();

// The numeric leaves of a telemetry sample, keyed by their path joined with '_'
// ({"egress":{"dropped":3}} -> egress_dropped = 3; array elements by index: gpus_0_duty).
// Booleans count as 0/1; strings and nulls are left out.
std::vector<std::pair<std::string, double>> flatten_telemetry(const nlohmann::json& sample);

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves /metrics on address ("127.0.0.1:9464", "[::1]:9464"; port 0: any free port, which
  // port() and url() then tell). Fails when it cannot bind.
  Result<void> listen(const std::string& address);
  // The port it listens on (after listen()), 0 when none.
  int port() const;
  // http://HOST:PORT/metrics with the port it listens on, "" before listen().
  std::string url() const;

  // The journal replay made at start-up, before the agent accepted work.
  void recovered(const RecoveryReport& rep);
  // One event of a run's stream (called on the run's timeline thread, before the client sees it).
  void on_run_event(const Run& run, const nlohmann::json& event);

  // The exposition text, as a scrape would get it.
  std::string text() const;

 private:
  struct ProbeSeries {
    prometheus::Counter* requests = nullptr;
    prometheus::Counter* errors = nullptr;
    prometheus::Histogram* latency = nullptr;
    prometheus::Gauge* value = nullptr;  // made at the probe's first measured value
    std::uint64_t seen = 0;  // the highest seq counted (probes that do not number: samples counted)
  };
  struct RunSeries {
    std::string experiment;
    std::map<std::string, prometheus::Gauge*> active;                              // by fault
    std::map<std::pair<std::string, std::string>, prometheus::Gauge*> telemetry;  // by (fault, key)
    std::vector<ProbeSeries> probes;                                               // by probe index
    std::uint64_t lease_renewals = 0;                                              // already counted
  };

  void record(const Run& run, const nlohmann::json& event);
  void update(const Run& run, RunSeries& rs);  // telemetry, probes, lease renewals
  void forget(const std::string& run_id, RunSeries& rs);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string host_;  // as configured: "127.0.0.1", "[::1]"

  prometheus::Family<prometheus::Gauge>* info_;
  prometheus::Family<prometheus::Gauge>* start_time_;
  prometheus::Family<prometheus::Gauge>* recovery_;
  prometheus::Family<prometheus::Counter>* runs_started_;
  prometheus::Family<prometheus::Counter>* runs_finished_;
  prometheus::Family<prometheus::Gauge>* runs_active_;
  prometheus::Family<prometheus::Gauge>* fault_active_;
  prometheus::Family<prometheus::Histogram>* apply_seconds_;
  prometheus::Family<prometheus::Histogram>* revert_seconds_;
  prometheus::Family<prometheus::Counter>* fault_errors_;
  prometheus::Family<prometheus::Counter>* lease_renewals_;
  prometheus::Family<prometheus::Counter>* lease_lapses_;
  prometheus::Family<prometheus::Counter>* stop_conditions_;
  prometheus::Family<prometheus::Counter>* probe_requests_;
  prometheus::Family<prometheus::Counter>* probe_errors_;
  prometheus::Family<prometheus::Histogram>* probe_latency_;
  prometheus::Family<prometheus::Gauge>* probe_value_;
  prometheus::Family<prometheus::Gauge>* telemetry_;

  std::mutex mu_;  // runs_ (the families lock themselves)
  std::map<std::string, RunSeries> runs_;
};

}  // namespace chaos
