#include "observe/http_probe.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "observe/http_client.h"
#include "kernel/target.h"
#include "observe/net_probe.h"

namespace chaos {

using namespace std::chrono;

nlohmann::json HttpProbeSpec::to_json() const {
  return {{"url", url}, {"method", method}, {"from", target.str()}, {"expectStatus", expect_status}};
}

std::shared_ptr<const ProbeSpec> parse_http_probe(MapReader& r) {
  auto spec = std::make_shared<HttpProbeSpec>();
  bool ok = true;
  if (auto u = r.str("url", true)) {
    if (auto url = parse_http_url(*u)) {
      spec->url = *u;
      spec->host = url->host;
      spec->port = url->port;
      spec->path = url->path;
    } else {
      r.child("url")->error("\"" + *u + "\": " + url.error().message);
      ok = false;
    }
  }
  if (auto m = r.one_of("method", {"GET", "HEAD"})) spec->method = *m;
  if (auto t = read_net_target(r)) spec->target = *t; else ok = false;
  if (auto c = r.child("expectStatus")) {
    auto items = c->is_scalar() ? std::vector<YNode>{*c} : c->elements();
    for (const auto& e : items)
      if (auto v = e.as_int(100, 599)) spec->expect_status.push_back(static_cast<int>(*v));
  }
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

ProbeSample http_request_once(const HttpProbeSpec& spec, Duration timeout) {
  auto t_start = steady_clock::now();
  HttpRequest req;
  req.method = spec.method;
  req.host = spec.host;
  req.port = spec.port;
  req.path = spec.path;
  req.user_agent = "chaos-agent-probe";
  req.status_only = true;
  auto r = http_exchange(req, timeout);
  ProbeSample s;
  s.latency = steady_clock::now() - t_start;
  if (!r) {
    s.error = r.error().text();
    return s;
  }
  s.status = r->status;
  s.ok = spec.expect_status.empty() ? (s.status >= 200 && s.status < 300)
                                    : std::find(spec.expect_status.begin(), spec.expect_status.end(), s.status) !=
                                          spec.expect_status.end();
  if (!s.ok) s.error = "HTTP " + std::to_string(s.status);
  return s;
}

ProbeKind http_probe_kind() {
  return net_probe_kind<HttpProbeSpec>(
      {"http", parse_http_probe, http_request_once,
       [](const HttpProbeSpec& s) { return s.method + " " + s.url; }, "requests"});
}

}  // namespace chaos
