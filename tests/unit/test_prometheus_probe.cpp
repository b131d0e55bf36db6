// The prometheus probe without a Prometheus: its block read strictly, the verdict on each shape
// of /api/v1/query answer (fixtures in Prometheus' own format), and one query against a scripted
// loopback server (the request it sends, the status it keeps). tests/integration/
// test_prometheus.cpp runs it against Debian's real prometheus.
#include <chrono>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "observe/prometheus_probe.h"
#include "unit/support/one_shot_server.h"
#include "unit/support/spec_text.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

ParseOutcome parse_probe(const std::string& block) {
  return fake::parse_with_probes("    - name: slo\n      prometheus:\n" + block);
}

TEST(PrometheusProbeSpec, ReadsTheServerTheQueryAndTheBounds) {
  auto o = parse_probe("        url: http://127.0.0.1\n"
                       "        query: sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))\n"
                       "        below: 0.01\n");
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  auto s = std::static_pointer_cast<const PrometheusProbeSpec>(o.experiment->probes[0].spec);
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 9090) << "Prometheus' port when the URL names none";
  EXPECT_EQ(s->path_prefix, "");
  EXPECT_EQ(*s->below, 0.01);
  EXPECT_FALSE(s->above);

  auto prefixed = parse_probe("        url: \"http://[::1]:9091/prometheus/\"\n"
                              "        query: up\n"
                              "        above: 0.5\n"
                              "        lab: client\n");
  ASSERT_TRUE(prefixed.diags.ok()) << prefixed.diags.str();
  auto p = std::static_pointer_cast<const PrometheusProbeSpec>(prefixed.experiment->probes[0].spec);
  EXPECT_EQ(p->host, "::1");
  EXPECT_EQ(p->port, 9091);
  EXPECT_EQ(p->path_prefix, "/prometheus");
  EXPECT_EQ(p->target.str(), "lab client");
}

TEST(PrometheusProbeSpec, BadBlocksSayWhereAndWhatWouldBeRight) {
  auto missing = parse_probe("        url: http://127.0.0.1:9090\n");
  EXPECT_THAT(missing.diags.str(), HasSubstr("spec.steadyState[0].prometheus.query"));
  auto host = parse_probe("        url: http://prometheus.monitoring:9090\n        query: up\n");
  EXPECT_THAT(host.diags.str(), HasSubstr("exp.yaml:15:14: error: spec.steadyState[0].prometheus.url: "
                                          "\"http://prometheus.monitoring:9090\": expected an address literal"));
  auto https = parse_probe("        url: https://127.0.0.1:9090\n        query: up\n");
  EXPECT_THAT(https.diags.str(), HasSubstr("expected a URL like http://"));
  auto empty = parse_probe("        url: http://127.0.0.1:9090\n        query: \" \"\n");
  EXPECT_THAT(empty.diags.str(), HasSubstr("prometheus.query: expected a PromQL expression"));
  auto nothing_passes = parse_probe("        url: http://127.0.0.1:9090\n        query: up\n        above: 2\n"
                                    "        below: 1\n");
  EXPECT_THAT(nothing_passes.diags.str(), HasSubstr("prometheus.above: above 2 and below 1 leave no value"));
  auto typo = parse_probe("        url: http://127.0.0.1:9090\n        query: up\n        max: 1\n");
  EXPECT_THAT(typo.diags.str(), HasSubstr("prometheus.max"));
}

PrometheusProbeSpec bounds(std::optional<double> below, std::optional<double> above) {
  PrometheusProbeSpec s;
  s.below = below;
  s.above = above;
  return s;
}

std::string vector_of(std::initializer_list<const char*> values) {
  std::string r;
  for (const char* v : values)
    r += std::string(r.empty() ? "" : ",") + R"({"metric":{"job":"api"},"value":[1764437000.123,")" + v + "\"]}";
  return R"({"status":"success","data":{"resultType":"vector","result":[)" + r + "]}}";
}

TEST(PrometheusAnswer, OneValueInsideTheBoundsIsASuccess) {
  EXPECT_TRUE(judge_prometheus_answer(200, vector_of({"0.25"}), bounds(0.5, std::nullopt)).ok);
  EXPECT_TRUE(judge_prometheus_answer(200, vector_of({"0.25"}), bounds(0.5, 0.1)).ok);
  EXPECT_TRUE(judge_prometheus_answer(200, vector_of({"7"}), bounds(std::nullopt, std::nullopt)).ok)
      << "no bounds: any one value";
  EXPECT_TRUE(judge_prometheus_answer(200, R"({"status":"success","data":{"resultType":"scalar","result":[1764437000,"3"]}})",
                                      bounds(4, 2))
                  .ok);
}

TEST(PrometheusAnswer, TheValueIsKeptInBoundsOrNot) {
  auto in = judge_prometheus_answer(200, vector_of({"0.25"}), bounds(0.5, std::nullopt));
  ASSERT_TRUE(in.value);
  EXPECT_DOUBLE_EQ(*in.value, 0.25);
  auto out = judge_prometheus_answer(200, vector_of({"0.73"}), bounds(0.5, std::nullopt));
  EXPECT_FALSE(out.ok);
  ASSERT_TRUE(out.value) << "the report plots the value that broke the bound";
  EXPECT_DOUBLE_EQ(*out.value, 0.73);
  EXPECT_FALSE(judge_prometheus_answer(200, vector_of({"NaN"}), bounds(1, std::nullopt)).value);
  EXPECT_FALSE(judge_prometheus_answer(200, vector_of({"+Inf"}), bounds(1, std::nullopt)).value);
  EXPECT_FALSE(judge_prometheus_answer(200, vector_of({}), bounds(1, std::nullopt)).value);
}

TEST(PrometheusAnswer, EveryOtherAnswerSaysWhy) {
  auto check = [](int status, const std::string& body, PrometheusProbeSpec spec, const std::string& why) {
    auto s = judge_prometheus_answer(status, body, spec);
    EXPECT_FALSE(s.ok) << body;
    EXPECT_EQ(s.error, why) << body;
  };
  check(200, vector_of({"0.73"}), bounds(0.5, std::nullopt), "value 0.73, expected below 0.5");
  check(200, vector_of({"0.5"}), bounds(0.5, std::nullopt), "value 0.5, expected below 0.5");
  check(200, vector_of({"0.97"}), bounds(std::nullopt, 0.99), "value 0.97, expected above 0.99");
  check(200, vector_of({"+Inf"}), bounds(0.5, std::nullopt), "value +Inf, expected below 0.5");
  check(200, vector_of({"NaN"}), bounds(std::nullopt, std::nullopt), "value NaN");
  check(200, vector_of({}), bounds(1, std::nullopt), "no series (the query matched nothing)");
  check(200, vector_of({"1", "2", "3"}), bounds(10, std::nullopt), "3 series: aggregate the query to one (sum, max, min, ...)");
  check(200, R"({"status":"success","data":{"resultType":"matrix","result":[]}})", bounds(1, std::nullopt),
        "a matrix result: expected an instant vector of one series or a scalar");
  check(400, R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <EOF>"})",
        bounds(1, std::nullopt), "query failed (HTTP 400): 1:5: parse error: unexpected <EOF>");
  check(502, "<html>Bad Gateway</html>", bounds(1, std::nullopt), "HTTP 502: the answer is not Prometheus' JSON");
  check(200, vector_of({"fast"}), bounds(1, std::nullopt), "a value that is not a number");
  // Whatever JSON another server on the port answers is a failed sample, never an exception.
  check(200, R"({"status":200})", bounds(1, std::nullopt), "query failed (HTTP 200): no reason given");
  check(200, R"({"status":"success","data":null})", bounds(1, std::nullopt), "a malformed answer: no data object");
  check(200, R"({"status":"success","data":{"resultType":7,"result":[]}})", bounds(1, std::nullopt),
        "a malformed result: expected an instant vector of one series or a scalar");
  check(200, R"({"status":"success","data":{"resultType":"vector","result":["x"]}})", bounds(1, std::nullopt),
        "a value that is not a number");
  check(200, R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}})",
        bounds(1, std::nullopt), "a value that is not a number");
  check(200, R"([1,2,3])", bounds(1, std::nullopt), "HTTP 200: the answer is not Prometheus' JSON");
}

TEST(PrometheusAnswer, OneQueryOverTheWire) {
  fake::OneShotServer srv;
  ASSERT_NE(srv.port(), 0);
  std::string body = vector_of({"0.2"});
  srv.serve("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body);
  PrometheusProbeSpec spec = bounds(0.5, std::nullopt);
  spec.host = "127.0.0.1";
  spec.port = srv.port();
  spec.path_prefix = "/prom";
  spec.query = "sum(rate(x[1m])) by (le)";
  auto s = prometheus_query_once(spec, std::chrono::duration_cast<Duration>(2s));
  EXPECT_TRUE(s.ok) << s.error;
  EXPECT_EQ(s.status, 200);
  EXPECT_GT(s.latency.count(), 0);
  EXPECT_EQ(srv.request().substr(0, srv.request().find("\r\n")),
            "GET /prom/api/v1/query?query=sum%28rate%28x%5B1m%5D%29%29%20by%20%28le%29 HTTP/1.1");
}

}  // namespace
}  // namespace chaos
