// The prometheus probe: the steady state as the service's own metrics say it. Every interval it
// asks a Prometheus server for one PromQL value (GET /api/v1/query) and judges it against
// `below` / `above`: an inference p99 that must stay under 500 ms, an availability ratio that
// must stay over 99%, a GPU's utilization from DCGM. With abortWhen on the probe, the same query
// is a stop condition: the run is reverted when the service's SLO says so.
//
//   steadyState:
//     - name: inference-p99
//       interval: 1s
//       timeout: 2s
//       prometheus:
//         url: http://127.0.0.1:9090
//         query: histogram_quantile(0.99, sum(rate(request_seconds_bucket[1m])) by (le))
//         below: 0.5
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/net_target.h"
#include "observe/probe.h"

namespace chaos {

struct PrometheusProbeSpec : ProbeSpec {
  std::string url;  // the server, as written
  std::string host;
  std::uint16_t port = 9090;
  std::string path_prefix;  // "" or "/prometheus" (a server under a route prefix)
  std::string query;
  std::optional<double> below, above;  // neither: any one value is a success
  NetTarget target;                    // where the queries come from
  nlohmann::json to_json() const override;
};

std::shared_ptr<const ProbeSpec> parse_prometheus_probe(MapReader& r);
ProbeKind prometheus_probe_kind();

// The verdict on one answer of /api/v1/query: ok when it holds exactly one value (an instant
// vector of one series, or a scalar) that is a number inside the bounds. The error says why not:
// "value 0.73, expected below 0.5", "no series", "3 series: aggregate the query to one".
// A finite value is kept in the sample's `value`, in bounds or not. `status` and `latency` are
// left to the caller.
ProbeSample judge_prometheus_answer(int http_status, std::string_view body, const PrometheusProbeSpec& spec);

// One query, in the calling thread's namespace.
ProbeSample prometheus_query_once(const PrometheusProbeSpec& spec, Duration timeout);

}  // namespace chaos
