#include "observe/tcp_probe.h"

#include <charconv>

#include "core/units.h"
#include "observe/http_client.h"
#include "kernel/target.h"
#include "observe/net_probe.h"

namespace chaos {

using namespace std::chrono;

nlohmann::json TcpProbeSpec::to_json() const { return {{"address", address}, {"from", target.str()}}; }

std::shared_ptr<const ProbeSpec> parse_tcp_probe(MapReader& r) {
  auto spec = std::make_shared<TcpProbeSpec>();
  bool ok = true;
  if (auto a = r.str("address", true)) {
    std::string_view s = *a;
    std::string_view host, port;
    if (!s.empty() && s.front() == '[') {
      auto close = s.find("]:");
      if (close != std::string_view::npos) {
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
      }
    } else if (auto colon = s.rfind(':'); colon != std::string_view::npos && s.find(':') == colon) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
    }
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (host.empty() || port.empty() || ec != std::errc{} || end != port.data() + port.size() || p < 1 ||
        p > 65535 || !make_sockaddr(std::string(host), static_cast<std::uint16_t>(p))) {
      r.child("address")->error("\"" + *a + "\": expected ADDRESS:PORT with an address literal, like "
                                "198.18.0.20:8001 or [2001:2::20]:8001 (namespaces have no resolver)");
      ok = false;
    } else {
      spec->address = *a;
      spec->host = std::string(host);
      spec->port = static_cast<std::uint16_t>(p);
    }
  }
  if (auto t = read_net_target(r)) spec->target = *t; else ok = false;
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

ProbeSample tcp_connect_once(const TcpProbeSpec& spec, Duration timeout) {
  auto t0 = steady_clock::now();
  auto conn = tcp_connect(spec.host, spec.port, t0 + timeout);
  ProbeSample s;
  s.latency = steady_clock::now() - t0;
  s.ok = conn.has_value();
  if (!conn) s.error = conn.error().text();
  return s;
}

ProbeKind tcp_probe_kind() {
  return net_probe_kind<TcpProbeSpec>(
      {"tcp", parse_tcp_probe, tcp_connect_once, [](const TcpProbeSpec& s) { return "TCP connect to " + s.address; },
       "connections"});
}

}  // namespace chaos
