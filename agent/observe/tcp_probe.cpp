#include "observe/tcp_probe.h"

#include <charconv>

#include "core/units.h"
#include "kernel/http_client.h"
#include "kernel/target.h"
#include "observe/open_loop.h"

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

namespace {

class TcpProbe : public OpenLoopProbe {
 public:
  explicit TcpProbe(const ProbeEntry& e)
      : OpenLoopProbe(e.interval, "connections"), entry_(e), spec_(*std::static_pointer_cast<const TcpProbeSpec>(e.spec)) {}
  ~TcpProbe() override { stop(); }

  Result<std::vector<std::string>> plan() override {
    auto ns = resolve_net_target(spec_.target);
    if (!ns) return std::unexpected(ns.error());
    set_netns(ns->netns.path);
    return std::vector<std::string>{"TCP connect to " + spec_.address + " every " + format_duration(entry_.interval) +
                                    " (timeout " + format_duration(entry_.timeout) + ") from " + ns->netns.describe};
  }

 private:
  void fire(Duration t) override {
    ProbeSample s = tcp_connect_once(spec_, entry_.timeout);
    s.t = t;
    record(s);
  }

  ProbeEntry entry_;
  TcpProbeSpec spec_;
};

}  // namespace

ProbeKind tcp_probe_kind() {
  return ProbeKind{"tcp", parse_tcp_probe, [](const ProbeEntry& e) -> Result<std::unique_ptr<Probe>> {
                     return std::unique_ptr<Probe>(new TcpProbe(e));
                   }};
}

}  // namespace chaos
