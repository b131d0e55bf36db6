// The http probe: GET a URL at a fixed interval from inside a network namespace, recording each
// request's latency and status.
//
//   steadyState:
//     - name: api
//       interval: 100ms
//       timeout: 500ms
//       tolerance: {maxErrorRate: 0%, p99: 200ms}
//       http: {url: "http://198.18.0.20:8080/", lab: client, expectStatus: [200]}
#pragma once

#include <string>
#include <vector>

#include "core/net_target.h"
#include "observe/probe.h"

namespace chaos {

struct HttpProbeSpec : ProbeSpec {
  std::string url;
  std::string host;      // address literal (IPv4, or IPv6 without brackets) or "localhost"
  std::uint16_t port = 80;
  std::string path = "/";
  std::string method = "GET";
  NetTarget target;      // where the requests come from
  std::vector<int> expect_status;  // empty: any 2xx
  nlohmann::json to_json() const override;
};

std::shared_ptr<const ProbeSpec> parse_http_probe(MapReader& r);
ProbeKind http_probe_kind();

// One blocking HTTP/1.1 request over a fresh TCP connection, in the calling thread's namespace.
ProbeSample http_request_once(const HttpProbeSpec& spec, Duration timeout);

}  // namespace chaos
