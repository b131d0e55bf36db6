// The prometheus probe against a real Prometheus (Debian's, unpacked by fetch-prometheus.sh):
// Prometheus scrapes the agent's own /metrics every second, and a probe asks it
// `sum(chaos_fault_active) or vector(0)` with `below: 1`. Before the fault the answer is 0 (the
// steady state holds); once the partition is applied the scrape shows it, the probe fails, and
// the probe's abortWhen brakes the run long before the fault's planned end: the service's own
// metrics as a stop condition, through the real PromQL engine.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "client.h"
#include "integration/support_agent.h"
#include "observe/http_client.h"

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

// The port the agent bound for /metrics (metrics.listen on port 0), from its status.
int metrics_port_of(const AgentProcess& agent) {
  auto st = cli::call_agent(agent.socket(), {{"op", "status"}});
  if (!st) return 0;
  const std::string url = st->value("metrics", "");  // http://127.0.0.1:PORT/metrics
  const auto colon = url.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(url.c_str() + colon + 1);
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

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
    // The agent binds port 0 and says which port it got: nothing can take it in between.
    agent_ = std::make_unique<AgentProcess>(dir_, "lease: 1000ms\nmetrics:\n  listen: 127.0.0.1:0\n");
    ASSERT_TRUE(agent_->start());
    metrics_port_ = metrics_port_of(*agent_);
    ASSERT_GT(metrics_port_, 0) << "no metrics address in the agent's status\n" << agent_->log();
    // A scrape a second, with a second to answer: an agent busy for 200ms must not miss scrapes.
    auto config = dir_.write("prometheus.yml", "global:\n"
                                               "  scrape_interval: 1s\n"
                                               "  scrape_timeout: 1s\n"
                                               "scrape_configs:\n"
                                               "  - job_name: chaos-agent\n"
                                               "    static_configs:\n"
                                               "      - targets: ['127.0.0.1:" + std::to_string(metrics_port_) + "']\n");
    // Prometheus's own port is chosen here and bound by it later; should another process take it
    // meanwhile, Prometheus exits saying so and it is tried again on another.
    for (int attempt = 1; attempt <= 5 && !prom_; ++attempt) {
      {
        LoopbackPort b(false);
        ASSERT_GT(b.port, 0);
        prom_port_ = b.port;
      }
      const std::string log = dir_.file("prometheus-" + std::to_string(attempt) + ".log");
      const std::string tsdb = dir_.file("tsdb-" + std::to_string(attempt));
      fs::create_directories(tsdb);
      auto c = Child::spawn({f.bin, "--config.file=" + config, "--storage.tsdb.path=" + tsdb,
                             "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_), "--log.level=warn"},
                            log, log);
      ASSERT_TRUE(c) << "could not start " << f.bin;
      // Ready, and the agent's target scraped at least once (or Prometheus gave up).
      bool ready = wait_until(
          [&] {
            if (!c->running()) return true;
            auto b = get(prom_port_, "/api/v1/query?query=up%7Bjob%3D%22chaos-agent%22%7D");
            return b && b->find(R"("value":[)") != std::string::npos && b->find(R"(,"1"])") != std::string::npos;
          },
          Ms(60000));
      if (c->running() && ready) {
        prom_.emplace(std::move(*c));
        break;
      }
      if (!c->running() && contains(c->out(), "address already in use")) {
        std::printf("port %d was taken before Prometheus bound it; again on another\n", prom_port_);
        continue;
      }
      FAIL() << "Prometheus never scraped the agent\n" << c->out();
    }
    ASSERT_TRUE(prom_) << "Prometheus found its port taken 5 times";
  }

  void TearDown() override {
    if (prom_) {
      prom_->signal(SIGTERM);
      if (!prom_->wait(Ms(5000))) prom_->signal(SIGKILL);
      if (HasFailure()) std::printf("---- prometheus log\n%s----\n", prom_->out().c_str());
      prom_.reset();  // reaped before the agent and the lab go
    }
  }

  TempDir dir_;
  TestLab lab_;
  int metrics_port_ = 0, prom_port_ = 0;
  std::optional<Child> prom_;
  std::unique_ptr<AgentProcess> agent_;  // declared last: stops before the lab goes
};

TEST_F(RealPrometheus, TheServicesOwnMetricsBrakeTheRun) {
  // A 20s run whose partition would hold from +4s to +19s; the SLO probe checks the metric
  // every 250ms and brakes when half its answers over 1s are out of bounds. A query has 3s to
  // be answered: a slow answer in the baseline is no fault's doing.
  std::string y = lab_partition_yaml(lab_, "prom-brake", "20s", "4s", "15s", false);
  y += "  steadyState:\n"
       "    - name: no-active-fault\n"
       "      interval: 250ms\n"
       "      timeout: 3s\n"
       "      checkIn: [before]\n"
       "      tolerance: {maxErrorRate: 0%}\n"
       "      abortWhen: {errorRate: 50%, window: 1s, minSamples: 3}\n"
       "      prometheus:\n"
       "        url: http://127.0.0.1:" + std::to_string(prom_port_) + "\n"
       "        query: sum(chaos_fault_active) or vector(0)\n"
       "        below: 1\n";
  auto t0 = std::chrono::steady_clock::now();
  auto r = chaosctl(dir_, agent_->args({"run", dir_.write("prom-brake.yaml", y), "-o", "json"}), Ms(120000));
  auto took = ms_between(t0, std::chrono::steady_clock::now());
  EXPECT_EQ(r.code, 1) << "an aborted run exits 1\n" << r.str();
  auto rep = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << r.str();
  EXPECT_EQ(rep["outcome"], "aborted") << rep.dump(1).substr(0, 3000);
  ASSERT_TRUE(rep.contains("stopCondition")) << rep.dump(1).substr(0, 3000);
  EXPECT_EQ(rep["stopCondition"].value("probe", ""), "no-active-fault") << rep["stopCondition"].dump();
  const json& f = rep["faults"][0];
  double held = f["revertedAt"].get<double>() - f["appliedAt"].get<double>();
  // The scrape (1s) plus two failed answers of the 1s window (500ms), with room for a loaded
  // machine: anything well under the planned 15s is the brake.
  EXPECT_LT(held, 10.0) << f.dump();
  // Unbraked, the run lasts its 20s (plus chaosctl's own start and the report): shorter is the brake.
  EXPECT_LT(took, 20000) << "the run went on after the brake";
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

  // Prometheus saw the fault end, too: the gauge's series went stale after the revert (at the
  // next scrape; the wait returns as soon as it has).
  EXPECT_TRUE(wait_until(
      [&] {
        auto b = get(prom_port_, "/api/v1/query?query=sum(chaos_fault_active)%20or%20vector(0)");
        return b && b->find(R"(,"0"])") != std::string::npos;
      },
      Ms(30000)));
}

}  // namespace
}  // namespace chaos::itest
