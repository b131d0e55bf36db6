#include "observe/prometheus_probe.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "core/units.h"
#include "observe/http_client.h"
#include "kernel/target.h"
#include "observe/net_probe.h"

namespace chaos {

using namespace std::chrono;
using nlohmann::json;

namespace {

std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);  // shortest round trip: 2, 0.73, 1e-05
}

// Prometheus writes sample values as strings: "0.5", "NaN", "+Inf".
std::optional<double> sample_value(const json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) return std::nullopt;
  const auto& s = pair[1].get_ref<const std::string&>();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

}  // namespace

json PrometheusProbeSpec::to_json() const {
  json j{{"url", url}, {"query", query}, {"from", target.str()}};
  if (below) j["below"] = *below;
  if (above) j["above"] = *above;
  return j;
}

std::shared_ptr<const ProbeSpec> parse_prometheus_probe(MapReader& r) {
  auto spec = std::make_shared<PrometheusProbeSpec>();
  bool ok = true;
  if (auto u = r.str("url", true)) {
    if (auto url = parse_http_url(*u)) {
      spec->url = *u;
      spec->host = url->host;
      spec->port = url->port_given ? url->port : 9090;  // Prometheus' own default
      spec->path_prefix = url->path == "/" ? "" : url->path;
      while (!spec->path_prefix.empty() && spec->path_prefix.back() == '/') spec->path_prefix.pop_back();
      if (spec->path_prefix.find('?') != std::string::npos) {
        r.child("url")->error("\"" + *u + "\": expected the server's address (and route prefix), without a query");
        ok = false;
      }
    } else {
      r.child("url")->error("\"" + *u + "\": " + url.error().message);
      ok = false;
    }
  }
  if (auto q = r.str("query", true)) {
    if (q->find_first_not_of(" \t\n") == std::string::npos) {
      r.child("query")->error("expected a PromQL expression");
      ok = false;
    } else {
      spec->query = *q;
    }
  }
  spec->below = r.number("below", -1e300, 1e300);
  spec->above = r.number("above", -1e300, 1e300);
  if (spec->below && spec->above && *spec->above >= *spec->below) {
    r.child("above")->error("above " + number_text(*spec->above) + " and below " + number_text(*spec->below) +
                            " leave no value that passes; expected above < below");
    ok = false;
  }
  if (auto t = read_net_target(r)) spec->target = *t; else ok = false;
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

ProbeSample judge_prometheus_answer(int http_status, std::string_view body, const PrometheusProbeSpec& spec) {
  ProbeSample s;
  auto failed = [&](std::string why) {
    s.ok = false;
    s.error = std::move(why);
    return s;
  };
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return failed("HTTP " + std::to_string(http_status) + ": the answer is not Prometheus' JSON");
  // Every member is checked for its type before it is read: a proxy or another server on the
  // port can answer any JSON at all.
  auto str = [](const json& o, const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str(j, "status") != "success") {
    std::string e = str(j, "error");
    return failed("query failed (HTTP " + std::to_string(http_status) + "): " + (e.empty() ? "no reason given" : e));
  }
  auto d = j.find("data");
  if (d == j.end() || !d->is_object()) return failed("a malformed answer: no data object");
  std::string type = str(*d, "resultType");
  auto res = d->find("result");
  const json result = res != d->end() ? *res : json();
  std::optional<double> v;
  if (type == "scalar") {
    v = sample_value(result);
  } else if (type == "vector" && result.is_array()) {
    if (result.empty()) return failed("no series (the query matched nothing)");
    if (result.size() > 1)
      return failed(std::to_string(result.size()) + " series: aggregate the query to one (sum, max, min, ...)");
    v = result[0].is_object() && result[0].contains("value") ? sample_value(result[0]["value"]) : std::nullopt;
  } else {
    return failed("a " + (type.empty() ? std::string("malformed") : type) +
                  " result: expected an instant vector of one series or a scalar");
  }
  if (!v) return failed("a value that is not a number");
  if (std::isnan(*v)) return failed("value NaN");
  if (std::isfinite(*v)) s.value = *v;
  if (spec.below && !(*v < *spec.below))
    return failed("value " + number_text(*v) + ", expected below " + number_text(*spec.below));
  if (spec.above && !(*v > *spec.above))
    return failed("value " + number_text(*v) + ", expected above " + number_text(*spec.above));
  s.ok = true;
  return s;
}

ProbeSample prometheus_query_once(const PrometheusProbeSpec& spec, Duration timeout) {
  auto t0 = steady_clock::now();
  HttpRequest req;
  req.host = spec.host;
  req.port = spec.port;
  req.path = spec.path_prefix + "/api/v1/query?query=" + url_encode(spec.query);
  req.user_agent = "chaos-agent-probe";
  auto r = http_exchange(req, timeout);
  ProbeSample s;
  if (!r) {
    s.error = r.error().text();
  } else {
    s = judge_prometheus_answer(r->status, r->body, spec);
    s.status = r->status;
  }
  s.latency = steady_clock::now() - t0;
  return s;
}

ProbeKind prometheus_probe_kind() {
  return net_probe_kind<PrometheusProbeSpec>(
      {"prometheus", parse_prometheus_probe, prometheus_query_once,
       [](const PrometheusProbeSpec& s) {
         std::string judge = s.below && s.above ? " between " + number_text(*s.above) + " and " + number_text(*s.below)
                             : s.below          ? " below " + number_text(*s.below)
                             : s.above          ? " above " + number_text(*s.above)
                                                : " (any one value)";
         return "PromQL " + s.query + " on " + s.url + judge;
       },
       "queries"});
}

}  // namespace chaos
