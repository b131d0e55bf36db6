// The prometheus probe against a real Prometheus (Debian's, unpacked by fetch-prometheus.sh):
// Prometheus scrapes the agent's own /metrics every 250ms, and a probe asks it
// `sum(chaos_fault_active) or vector(0)` with `below: 1`. Before the fault the answer is 0 (the
// steady state holds); once the partition is applied the scrape shows it, the probe fails, and
// the probe's abortWhen brakes the run long before the fault's planned end: the service's own
// metrics as a stop condition, through the real PromQL engine.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "integration/support_agent.h"
#include "kernel/http_client.h"

namespace chaos::itest {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The unpacked prometheus binary, or why there is none (the fetch script's exit 77: skip).
struct Fetched {
  std::string bin;
  std::string why;
  bool skip = false;
};

Fetched fetch_prometheus() {
  Fetched f;
  std::string cmd = std::string("bash ") + CHAOS_SOURCE_DIR + "/tests/integration/fetch-prometheus.sh " +
                    CHAOS_BINARY_DIR + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    f.why = "popen failed";
    return f;
  }
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int st = ::pclose(p);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::string last = out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  if (code == 0 && fs::exists(last)) f.bin = last;
  else {
    f.skip = code == 77;
    f.why = "fetch-prometheus.sh exited " + std::to_string(code) + ": " + out;
  }
  return f;
}

// GET path on 127.0.0.1:port; the body when the answer is 200.
std::optional<std::string> get(int port, const std::string& path) {
  HttpRequest req;
  req.host = "127.0.0.1";
  req.port = static_cast<std::uint16_t>(port);
  req.path = path;
  auto r = http_exchange(req, std::chrono::seconds(2));
  if (!r || r->status != 200) return std::nullopt;
  return r->body;
}

class RealPrometheus : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, BPF, tc";
    auto f = fetch_prometheus();
    if (f.bin.empty()) {
      if (f.skip) GTEST_SKIP() << f.why;
      FAIL() << f.why;
    }
    ASSERT_TRUE(lab_.up());
    {
      LoopbackPort a(false), b(false);  // two free ports, released for the agent and Prometheus
      ASSERT_GT(a.port, 0);
      ASSERT_GT(b.port, 0);
      metrics_port_ = a.port;
      prom_port_ = b.port;
    }
    agent_ = std::make_unique<AgentProcess>(dir_, "lease: 1000ms\nmetrics:\n  listen: 127.0.0.1:" +
                                                      std::to_string(metrics_port_) + "\n");
    ASSERT_TRUE(agent_->start());
    auto config = dir_.write("prometheus.yml", "global:\n"
                                               "  scrape_interval: 250ms\n"
                                               "  scrape_timeout: 200ms\n"
                                               "scrape_configs:\n"
                                               "  - job_name: chaos-agent\n"
                                               "    static_configs:\n"
                                               "      - targets: ['127.0.0.1:" + std::to_string(metrics_port_) + "']\n");
    fs::create_directories(dir_.file("tsdb"));
    auto c = Child::spawn({f.bin, "--config.file=" + config, "--storage.tsdb.path=" + dir_.file("tsdb"),
                           "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_), "--log.level=warn"},
                          dir_.file("prometheus.log"), dir_.file("prometheus.log"));
    ASSERT_TRUE(c) << "could not start " << f.bin;
    prom_.emplace(std::move(*c));
    // Ready, and the agent's target scraped at least once.
    ASSERT_TRUE(wait_until(
        [&] {
          auto b = get(prom_port_, "/api/v1/query?query=up%7Bjob%3D%22chaos-agent%22%7D");
          return b && b->find(R"("value":[)") != std::string::npos && b->find(R"(,"1"])") != std::string::npos;
        },
        Ms(20000)))
        << "Prometheus never scraped the agent\n"
        << prom_->out();
  }

  void TearDown() override {
    if (prom_) {
      prom_->signal(SIGTERM);
      if (!prom_->wait(Ms(5000))) prom_->signal(SIGKILL);
      if (HasFailure()) std::printf("---- prometheus log\n%s----\n", prom_->out().c_str());
    }
  }

  TempDir dir_;
  TestLab lab_;
  int metrics_port_ = 0, prom_port_ = 0;
  std::optional<Child> prom_;
  std::unique_ptr<AgentProcess> agent_;  // declared last: stops before the lab goes
};

TEST_F(RealPrometheus, TheServicesOwnMetricsBrakeTheRun) {
  // A 20s run whose partition would hold from +2s to +17s; the SLO probe checks the metric
  // every 250ms and brakes when half its answers over 1s are out of bounds.
  std::string y = lab_partition_yaml(lab_, "prom-brake", "20s", "2s", "15s", false);
  y += "  steadyState:\n"
       "    - name: no-active-fault\n"
       "      interval: 250ms\n"
       "      timeout: 1s\n"
       "      checkIn: [before]\n"
       "      tolerance: {maxErrorRate: 0%}\n"
       "      abortWhen: {errorRate: 50%, window: 1s, minSamples: 3}\n"
       "      prometheus:\n"
       "        url: http://127.0.0.1:" + std::to_string(prom_port_) + "\n"
       "        query: sum(chaos_fault_active) or vector(0)\n"
       "        below: 1\n";
  auto t0 = std::chrono::steady_clock::now();
  auto r = chaosctl(dir_, agent_->args({"run", dir_.write("prom-brake.yaml", y), "-o", "json"}));
  auto took = ms_between(t0, std::chrono::steady_clock::now());
  EXPECT_EQ(r.code, 1) << "an aborted run exits 1\n" << r.str();
  auto rep = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << r.str();
  EXPECT_EQ(rep["outcome"], "aborted") << rep.dump(1).substr(0, 3000);
  ASSERT_TRUE(rep.contains("stopCondition")) << rep.dump(1).substr(0, 3000);
  EXPECT_EQ(rep["stopCondition"].value("probe", ""), "no-active-fault") << rep["stopCondition"].dump();
  const json& f = rep["faults"][0];
  double held = f["revertedAt"].get<double>() - f["appliedAt"].get<double>();
  // The scrape (250ms) plus two failed answers of the 1s window (500ms), with room for a
  // loaded machine; the plan was 15s.
  EXPECT_LT(held, 8.0) << f.dump();
  EXPECT_LT(took, 15000) << "the run went on after the brake";
  const json& p = rep["probes"][0];
  EXPECT_GT(p["phases"]["before"]["requests"].get<int>(), 4);
  EXPECT_EQ(p["phases"]["before"]["errors"], 0) << "no fault yet: sum is 0, below 1";
  int saw_one = 0;
  for (const auto& s : p["samples"])
    if (!s[1].get<bool>() && s.dump().find("value 1, expected below 1") != std::string::npos) ++saw_one;
  EXPECT_GE(saw_one, 2) << "Prometheus reported the active fault to the probe\n" << p["samples"].dump();
  // The values themselves, per phase and over time: 0 throughout the baseline, 1 once the scrape
  // saw the fault.
  EXPECT_EQ(p["phases"]["before"]["value"].value("max", -1.0), 0.0) << p["phases"].dump();
  EXPECT_EQ(p["phases"]["during"]["value"].value("max", -1.0), 1.0) << p["phases"].dump();
  ASSERT_TRUE(p.contains("values"));
  EXPECT_EQ(p["spec"].value("below", 0.0), 1.0);
  std::printf("fault held %.2fs of 15s; %d answers said \"value 1, expected below 1\"; run took %lld ms\n", held,
              saw_one, took);

  // Prometheus saw the fault end, too: the gauge's series went stale after the revert.
  EXPECT_TRUE(wait_until(
      [&] {
        auto b = get(prom_port_, "/api/v1/query?query=sum(chaos_fault_active)%20or%20vector(0)");
        return b && b->find(R"(,"0"])") != std::string::npos;
      },
      Ms(5000)));
}

}  // namespace
}  // namespace chaos::itest
