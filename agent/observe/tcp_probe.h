// The tcp probe: open a TCP connection at a fixed interval from inside a network namespace and
// record how long the handshake took, for services that do not speak HTTP (an inference
// server's gRPC port, NCCL's bootstrap port, a database). Success is a completed handshake;
// the connection is then closed at once (with a reset: no TIME_WAIT pile-up).
//
//   steadyState:
//     - name: triton-grpc
//       interval: 100ms
//       timeout: 500ms
//       tcp: {address: "198.18.0.20:8001", lab: client}
#pragma once

#include <cstdint>
#include <string>

#include "core/net_target.h"
#include "observe/probe.h"

namespace chaos {

struct TcpProbeSpec : ProbeSpec {
  std::string address;  // as written: "198.18.0.20:8001", "[2001:2::20]:8001"
  std::string host;     // the address literal, without brackets
  std::uint16_t port = 0;
  NetTarget target;     // where the connections come from
  nlohmann::json to_json() const override;
};

std::shared_ptr<const ProbeSpec> parse_tcp_probe(MapReader& r);
ProbeKind tcp_probe_kind();

// One connection attempt, in the calling thread's namespace.
ProbeSample tcp_connect_once(const TcpProbeSpec& spec, Duration timeout);

}  // namespace chaos
