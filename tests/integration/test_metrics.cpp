// The agent's Prometheus /metrics endpoint, end to end: the real chaos-agent with
// metrics.listen on a loopback port, a real partition in a lab ("t<pid>"), and scrapes over
// loopback TCP while the fault holds and after the run.
//
// What is proven:
//   - during the fault: chaos_fault_active{run,experiment,fault,family} is 1, the partition's
//     drop counter (chaos_fault_telemetry{key="egress_dropped"}) and the probe's error counter
//     rise from one scrape to the next;
//   - the fault's series goes when it is reverted, while the run still goes on; every series of
//     the run goes when it ends; runs_finished_total{outcome="held"} counts it; apply and revert
//     durations are observed once each;
//   - a lease lapse (SIGSTOP past the lease) is counted, and the run as aborted;
//   - a restarted agent reports how many journal entries its start-up replay reverted;
//   - a port already in use is a clear start-up error (exit 1), a bad address a config error
//     with FILE:LINE:COL (exit 2).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client.h"
#include "integration/support_agent.h"
#include "observe/http_client.h"

namespace chaos::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

constexpr std::uint16_t kHttp = kLabResponderPort;
constexpr Ms kLease{1000};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// GET /metrics from 127.0.0.1:port over a plain TCP connection; the body, or nullopt (with the
// reason in *why) when there was no 200 answer within the timeout.
std::optional<std::string> scrape(int port, std::string* why = nullptr) {
  HttpRequest req;
  req.host = "127.0.0.1";
  req.port = static_cast<std::uint16_t>(port);
  req.path = "/metrics";
  auto r = http_exchange(req, std::chrono::seconds(2));
  std::string w;
  if (!r) w = r.error().text();
  else if (r->status != 200) w = "HTTP status: " + r->head.substr(0, r->head.find("\r\n"));
  else return r->body;
  if (why) *why = w;
  return std::nullopt;
}

// The port the agent bound for /metrics (metrics.listen on port 0: the kernel picks a free one, so
// no other process can take it between a choice and the bind), from its status.
int metrics_port_of(const AgentProcess& agent) {
  auto st = cli::call_agent(agent.socket(), {{"op", "status"}});
  if (!st) return 0;
  const std::string url = st->value("metrics", "");  // http://127.0.0.1:PORT/metrics
  const auto colon = url.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(url.c_str() + colon + 1);
}

// One line of the text exposition format.
struct Series {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Series> parse_exposition(const std::string& text) {
  std::vector<Series> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Series s;
    std::size_t i = line.find_first_of("{ ");
    if (i == std::string::npos) continue;
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        auto eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string key = line.substr(i, eq - i), value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) ++j;
          value += line[j];
        }
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      i = line.find(' ', i);
      if (i == std::string::npos) continue;
    }
    s.value = std::strtod(line.c_str() + i + 1, nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// A scrape, parsed.
class Scrape {
 public:
  explicit Scrape(std::string text) : text_(std::move(text)), series_(parse_exposition(text_)) {}
  const std::string& text() const { return text_; }
  // The value of the one series called name whose labels include `match`.
  std::optional<double> get(const std::string& name, const std::map<std::string, std::string>& match = {}) const {
    for (const auto& s : series_) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) ok = false;
      }
      if (ok) return s.value;
    }
    return std::nullopt;
  }
  double value(const std::string& name, const std::map<std::string, std::string>& match = {}) const {
    return get(name, match).value_or(-1);
  }
  // Every series carrying label `key` = `value` (any metric).
  std::vector<std::string> with_label(const std::string& key, const std::string& value) const {
    std::vector<std::string> out;
    for (const auto& s : series_)
      if (auto it = s.labels.find(key); it != s.labels.end() && it->second == value) out.push_back(s.name);
    return out;
  }

 private:
  std::string text_;
  std::vector<Series> series_;
};

class AgentMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, BPF, tc";
    if (!fs::exists(agent_binary()) || !fs::exists(chaosctl_binary()))
      FAIL() << "build chaos-agent and chaosctl first (" << agent_binary() << ")";
  }

  // Brings up the lab and an agent serving /metrics on a loopback port the kernel picks.
  void start_agent_and_lab() {
    ASSERT_TRUE(lab_.up());
    client_ns_ = lab_.netns_path("client");
    server_ip_ = lab_.address("server");
    agent_ = std::make_unique<AgentProcess>(dir_, "lease: " + std::to_string(kLease.count()) +
                                                      "ms\nmetrics:\n  listen: 127.0.0.1:0\n");
    ASSERT_NO_FATAL_FAILURE(start_agent());
    ASSERT_TRUE(http_get(client_ns_, server_ip_, kHttp, Ms(5000)).ok) << "the lab serves HTTP before any fault";
  }
  // (Re)starts the agent and learns the port it bound.
  void start_agent() {
    ASSERT_TRUE(agent_->start());
    port_ = metrics_port_of(*agent_);
    ASSERT_GT(port_, 0) << "no metrics address in the agent's status\n" << agent_->log();
    EXPECT_TRUE(contains(agent_->log(), "metrics: http://127.0.0.1:" + std::to_string(port_) + "/metrics"))
        << agent_->log();
  }

  Scrape must_scrape() {
    std::string why;
    auto body = scrape(port_, &why);
    EXPECT_TRUE(body) << "scrape of 127.0.0.1:" << port_ << "/metrics: " << why;
    return Scrape(body.value_or(""));
  }

  // Scrapes until pred holds (or the timeout passes); returns the last scrape.
  Scrape scrape_until(const std::function<bool(const Scrape&)>& pred, Ms timeout) {
    std::optional<Scrape> last;
    wait_until(
        [&] {
          auto body = scrape(port_);
          if (!body) return false;
          last.emplace(*body);
          return pred(*last);
        },
        timeout);
    return last.value_or(Scrape(""));
  }

  // A partition of the client's egress TCP to the server's HTTP port, probed every 100ms.
  std::string experiment(const std::string& name, const std::string& duration, const std::string& start,
                         const std::string& fault_duration) const {
    return dir_.write(name + ".yaml", lab_partition_yaml(lab_, name, duration, start, fault_duration, true));
  }

  // The run label of the active fault "cut", once its gauge shows up.
  std::string wait_fault_active(Ms timeout) {
    auto s = scrape_until([](const Scrape& s) { return s.value("chaos_fault_active", {{"fault", "cut"}}) == 1; },
                          timeout);
    for (const auto& line : parse_exposition(s.text()))
      if (line.name == "chaos_fault_active" && line.labels.count("run")) return line.labels.at("run");
    ADD_FAILURE() << "chaos_fault_active{fault=\"cut\"} never showed up\n" << s.text() << agent_->log();
    return "";
  }

  TempDir dir_;
  TestLab lab_;
  std::string client_ns_, server_ip_;
  int port_ = 0;
  std::unique_ptr<AgentProcess> agent_;  // declared last: stops before the lab goes
};

TEST_F(AgentMetrics, LiveDuringThePartitionAndCleanAfterTheRun) {
  ASSERT_NO_FATAL_FAILURE(start_agent_and_lab());
  auto before = must_scrape();
  EXPECT_EQ(before.value("chaos_agent_info"), 1) << before.text();
  EXPECT_TRUE(before.get("chaos_agent_info", {{"version", "0.1.0"}})) << before.text();
  EXPECT_GT(before.value("chaos_agent_start_time_seconds"), 1.6e9);
  EXPECT_EQ(before.value("chaos_startup_journal_reverted"), 0);
  EXPECT_EQ(before.value("chaos_runs_active"), 0);
  EXPECT_EQ(before.value("chaos_runs_started_total"), 0);
  for (const char* o : {"held", "deviated", "aborted", "failed"})
    EXPECT_EQ(before.value("chaos_runs_finished_total", {{"outcome", o}}), 0) << o;
  EXPECT_FALSE(before.get("chaos_fault_active")) << before.text();

  // The fault holds from +2s to +10s of a 13s run; progress (and so telemetry) comes once a second.
  // Long enough that the scrapes below, each waited for with a generous deadline, all land
  // while it holds. (The waits return as soon as what they wait for is there.)
  auto run = chaosctl_async(dir_, agent_->args({"run", experiment("metrics-partition", "13s", "2s", "8s"), "-o", "json"}));
  ASSERT_TRUE(run);
  const std::string id = wait_fault_active(Ms(30000));
  ASSERT_FALSE(id.empty());
  const std::map<std::string, std::string> fault{{"run", id}, {"fault", "cut"}};
  const std::map<std::string, std::string> probe{{"run", id}, {"probe", "client-to-server"}};
  const std::map<std::string, std::string> dropped{{"run", id}, {"fault", "cut"}, {"key", "egress_dropped"}};

  // First scrape with telemetry: the partition has dropped something and the probe has failed.
  auto s1 = scrape_until(
      [&](const Scrape& s) { return s.value("chaos_fault_telemetry", dropped) > 0 && s.value("chaos_probe_errors_total", probe) > 0; },
      Ms(6000));
  EXPECT_EQ(s1.value("chaos_fault_active", {{"run", id}, {"experiment", "metrics-partition"}, {"fault", "cut"},
                                            {"family", "network"}}),
            1)
      << s1.text();
  EXPECT_EQ(s1.value("chaos_runs_active"), 1);
  EXPECT_EQ(s1.value("chaos_runs_started_total"), 1);
  EXPECT_GT(s1.value("chaos_fault_telemetry", dropped), 0) << s1.text();
  EXPECT_GT(s1.value("chaos_fault_telemetry", {{"run", id}, {"key", "egress_matched"}}), 0) << s1.text();
  EXPECT_GT(s1.value("chaos_probe_errors_total", probe), 0) << s1.text();
  EXPECT_GT(s1.value("chaos_probe_requests_total", probe), s1.value("chaos_probe_errors_total", probe));
  // 2s of baseline at one request per 100ms: about 20.
  EXPECT_GT(s1.value("chaos_probe_latency_seconds_count", probe), 5) << "the successful baseline requests";
  EXPECT_GT(s1.value("chaos_lease_renewals_total"), 0);
  EXPECT_EQ(s1.value("chaos_fault_apply_duration_seconds_count", {{"family", "network"}}), 1) << s1.text();

  // At a later progress event (once a second, however late the timeline gets to it): both still
  // rising, the fault still on.
  auto s2 = scrape_until(
      [&](const Scrape& s) {
        return s.value("chaos_fault_telemetry", dropped) > s1.value("chaos_fault_telemetry", dropped) &&
               s.value("chaos_probe_errors_total", probe) > s1.value("chaos_probe_errors_total", probe) &&
               s.value("chaos_lease_renewals_total") > s1.value("chaos_lease_renewals_total");
      },
      Ms(5000));
  EXPECT_EQ(s2.value("chaos_fault_active", fault), 1) << "the fault ends at +10s\n" << s2.text();
  EXPECT_GT(s2.value("chaos_fault_telemetry", dropped), s1.value("chaos_fault_telemetry", dropped)) << s2.text();
  EXPECT_GT(s2.value("chaos_probe_errors_total", probe), s1.value("chaos_probe_errors_total", probe)) << s2.text();
  EXPECT_GT(s2.value("chaos_lease_renewals_total"), s1.value("chaos_lease_renewals_total"));
  std::printf("during: egress_dropped %.0f -> %.0f, probe errors %.0f -> %.0f, lease renewals %.0f -> %.0f\n",
              s1.value("chaos_fault_telemetry", dropped), s2.value("chaos_fault_telemetry", dropped),
              s1.value("chaos_probe_errors_total", probe), s2.value("chaos_probe_errors_total", probe),
              s1.value("chaos_lease_renewals_total"), s2.value("chaos_lease_renewals_total"));
  {
    // The agent's series as a scrape showed them mid-fault (histogram buckets left out).
    std::istringstream in(s2.text());
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("chaos_", 0) == 0 && !contains(line, "_bucket")) std::printf("  %s\n", line.c_str());
  }

  // Reverted at +10s, the run goes on to +13s: the fault's series is gone, the run's are not.
  auto s3 = scrape_until([&](const Scrape& s) { return !s.get("chaos_fault_active", fault); }, Ms(30000));
  EXPECT_FALSE(s3.get("chaos_fault_active", fault)) << s3.text();
  EXPECT_EQ(s3.value("chaos_runs_active"), 1) << "checked while the run still goes on\n" << s3.text();
  EXPECT_EQ(s3.value("chaos_fault_revert_duration_seconds_count", {{"family", "network"}}), 1) << s3.text();
  EXPECT_TRUE(s3.get("chaos_probe_requests_total", probe)) << s3.text();
  EXPECT_FALSE(s3.get("chaos_fault_telemetry", dropped)) << "a reverted fault's telemetry is still exported\n"
                                                        << s3.text();

  auto code = run->wait(Ms(60000));
  ASSERT_TRUE(code) << "chaosctl run did not finish";
  EXPECT_EQ(*code, 0) << run->out() << run->err();

  auto after = must_scrape();
  EXPECT_TRUE(after.with_label("run", id).empty()) << "series of the finished run remain:\n" << after.text();
  EXPECT_EQ(after.value("chaos_runs_finished_total", {{"outcome", "held"}}), 1) << after.text();
  EXPECT_EQ(after.value("chaos_runs_finished_total", {{"outcome", "deviated"}}), 0);
  EXPECT_EQ(after.value("chaos_runs_active"), 0);
  EXPECT_EQ(after.value("chaos_fault_apply_duration_seconds_count", {{"family", "network"}}), 1);
  EXPECT_EQ(after.value("chaos_fault_revert_duration_seconds_count", {{"family", "network"}}), 1);
  EXPECT_GT(after.value("chaos_fault_apply_duration_seconds_sum", {{"family", "network"}}), 0);
  EXPECT_GE(after.value("chaos_lease_renewals_total"), s2.value("chaos_lease_renewals_total"));
  EXPECT_EQ(after.value("chaos_lease_lapses_total"), 0);
  EXPECT_FALSE(after.get("chaos_fault_errors_total")) << "no apply or revert failed\n" << after.text();
}

// SIGSTOP past the lease: the run aborts on the lapse once the agent resumes.
TEST_F(AgentMetrics, LeaseLapseIsCountedAndTheRunAborted) {
  ASSERT_NO_FATAL_FAILURE(start_agent_and_lab());
  auto run = chaosctl_async(dir_, agent_->args({"run", experiment("metrics-lapse", "20s", "200ms", "15s")}));
  ASSERT_TRUE(run);
  const std::string id = wait_fault_active(Ms(30000));
  ASSERT_FALSE(id.empty());
  agent_->signal(SIGSTOP);
  std::this_thread::sleep_for(kLease + Ms(800));
  agent_->signal(SIGCONT);
  auto code = run->wait(Ms(30000));
  ASSERT_TRUE(code) << "the run did not end after the lapse";
  EXPECT_NE(*code, 0);
  auto s = must_scrape();
  EXPECT_EQ(s.value("chaos_lease_lapses_total"), 1) << s.text() << agent_->log();
  EXPECT_EQ(s.value("chaos_runs_finished_total", {{"outcome", "aborted"}}), 1) << s.text();
  EXPECT_TRUE(s.with_label("run", id).empty()) << s.text();
}

// A restarted agent says how much of a dead agent's work its journal replay undid.
TEST_F(AgentMetrics, RestartReportsTheJournalReplay) {
  ASSERT_NO_FATAL_FAILURE(start_agent_and_lab());
  auto run = chaosctl_async(dir_, agent_->args({"run", experiment("metrics-killed", "20s", "200ms", "15s")}));
  ASSERT_TRUE(run);
  ASSERT_FALSE(wait_fault_active(Ms(30000)).empty());
  agent_->signal(SIGKILL);
  ASSERT_EQ(agent_->wait_exit(Ms(10000)), 128 + SIGKILL);
  run->wait(Ms(15000));
  ASSERT_FALSE(journal_outstanding(agent_->state_dir()).empty()) << "the dead agent's attachment is journaled";
  ASSERT_NO_FATAL_FAILURE(start_agent());  // a new process: a new port
  auto s = must_scrape();
  EXPECT_GE(s.value("chaos_startup_journal_reverted"), 1) << s.text();
  EXPECT_EQ(s.value("chaos_runs_active"), 0);
  EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty());
}

// The port is taken: the agent refuses to start and says why, instead of running unobserved.
TEST_F(AgentMetrics, PortInUseIsAStartupError) {
  LoopbackPort taken(true);
  ASSERT_GT(taken.port, 0);
  std::string addr = "127.0.0.1:" + std::to_string(taken.port);
  auto cfg = dir_.write("busy.yaml", "metrics: {listen: \"" + addr + "\"}\n");
  auto c = Child::spawn({agent_binary(), "--socket", dir_.file("busy.sock"), "--state-dir", dir_.file("busy-state"),
                         "--config", cfg},
                        dir_.file("busy.out"), dir_.file("busy.err"));
  ASSERT_TRUE(c);
  auto code = c->wait(Ms(15000));
  ASSERT_TRUE(code) << "the agent kept running on a port it could not bind\n" << c->err();
  EXPECT_EQ(*code, 1) << c->err();
  EXPECT_TRUE(contains(c->err(), "metrics.listen " + addr + ": cannot serve /metrics there")) << c->err();
  EXPECT_FALSE(fs::exists(dir_.file("busy.sock"))) << "no API socket: the agent never accepted work";
}

// A bad address is a config error with its place, before anything starts.
TEST_F(AgentMetrics, BadAddressIsAConfigError) {
  auto cfg = dir_.write("bad.yaml", "lease: 2s\nmetrics:\n  listen: localhost:9464\n");
  auto c = Child::spawn({agent_binary(), "--socket", dir_.file("bad.sock"), "--state-dir", dir_.file("bad-state"),
                         "--config", cfg},
                        dir_.file("bad.out"), dir_.file("bad.err"));
  ASSERT_TRUE(c);
  auto code = c->wait(Ms(15000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 2) << c->err();
  EXPECT_TRUE(contains(c->err(), cfg + ":3:11: error: metrics.listen: \"localhost:9464\": \"localhost\" is not an IP "
                                       "address"))
      << c->err();
}

}  // namespace
}  // namespace chaos::itest
