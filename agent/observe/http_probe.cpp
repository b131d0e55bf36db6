#include "observe/http_probe.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "kernel/http_client.h"
#include "kernel/target.h"
#include "observe/open_loop.h"

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

namespace {

class HttpProbe : public OpenLoopProbe {
 public:
  explicit HttpProbe(const ProbeEntry& e)
      : OpenLoopProbe(e.interval, "requests"), entry_(e), spec_(*std::static_pointer_cast<const HttpProbeSpec>(e.spec)) {}
  ~HttpProbe() override { stop(); }

  Result<std::vector<std::string>> plan() override {
    auto ns = resolve_net_target(spec_.target);
    if (!ns) return std::unexpected(ns.error());
    set_netns(ns->netns.path);
    return std::vector<std::string>{spec_.method + " " + spec_.url + " every " + format_duration(entry_.interval) +
                                    " (timeout " + format_duration(entry_.timeout) + ") from " + ns->netns.describe};
  }

 private:
  // Open loop (OpenLoopProbe): a request starts every interval whether or not earlier ones have
  // answered, on a short-lived thread inside the target namespace.
  void fire(Duration t) override {
    ProbeSample s = http_request_once(spec_, entry_.timeout);
    s.t = t;
    record(s);
  }

  ProbeEntry entry_;
  HttpProbeSpec spec_;
};

}  // namespace

ProbeKind http_probe_kind() {
  return ProbeKind{"http", parse_http_probe, [](const ProbeEntry& e) -> Result<std::unique_ptr<Probe>> {
                     return std::unique_ptr<Probe>(new HttpProbe(e));
                   }};
}

}  // namespace chaos
