// The /metrics registry without a network: telemetry flattening, and a Metrics object fed by a
// real Run's event stream on a FakeClock (a fake fault with scripted telemetry, a fake probe with
// scripted samples), so what a scrape shows at each moment of the run is checked exactly. One test
// listens for real, on a loopback port the kernel picks (metrics.listen with port 0).
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "observe/http_client.h"
#include "runner/run.h"
#include "server/metrics.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using nlohmann::json;
using namespace fake;

TEST(FlattenTelemetry, NestedKeysJoinedWithUnderscoreNumbersOnly) {
  json s = {{"egress", {{"seen", 18}, {"matched", 17}, {"dropped", 17}, {"leaseExpiredPasses", 0}}},
            {"action", "partition"},
            {"usage_fraction", 0.25},
            {"hog_alive", true},
            {"oom", nullptr},
            {"gpus", json::array({{{"device", 0}, {"phase", "running"}, {"memory_held_bytes", 1024}}})}};
  EXPECT_THAT(flatten_telemetry(s),
              UnorderedElementsAre(Pair("egress_seen", 18), Pair("egress_matched", 17), Pair("egress_dropped", 17),
                                   Pair("egress_leaseExpiredPasses", 0), Pair("usage_fraction", 0.25),
                                   Pair("hog_alive", 1), Pair("gpus_0_device", 0),
                                   Pair("gpus_0_memory_held_bytes", 1024)));
}

TEST(FlattenTelemetry, NothingNumericGivesNothing) {
  EXPECT_TRUE(flatten_telemetry(nullptr).empty());
  EXPECT_TRUE(flatten_telemetry(json::object()).empty());
  EXPECT_TRUE(flatten_telemetry(json{{"error", "gone"}}).empty());
  // A bare number has no key to go under.
  EXPECT_TRUE(flatten_telemetry(json(3)).empty());
  EXPECT_THAT(flatten_telemetry(json{{"a", {{"b", {{"c", -1.5}}}}}}), ElementsAre(Pair("a_b_c", -1.5)));
}

// ---- a run on a fake clock, feeding Metrics

// One value of a series in the exposition text: `name{labels...} value`, labels in the order
// prometheus-cpp prints them (sorted by name). nullopt when the series is absent.
std::optional<double> value_of(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(text.substr(at + series.size() + 2));
}

// The fault counts its samples: telemetry that rises on every tick, as a drop counter does.
class MetricsFromARun : public FakeRunTest {
 protected:
  void SetUp() override {
    FakeRunTest::SetUp();
    script_.on_sample = [](const std::string&, int n) -> json {
      return {{"egress", {{"dropped", n}, {"attach", "tcx"}}}, {"healthy", false}};
    };
  }

  // One fault "cut" from `start` for `len`, and one probe "api".
  static Experiment experiment(Duration total = 5s, Duration start = 1s, Duration len = 2s) {
    return fake::experiment("metered", total, {fault("cut", start, len)}, {probe("api")});
  }

  std::vector<ProbeSample>& samples_ = probes_["api"].samples;
};

TEST_F(MetricsFromARun, SeriesFollowTheRunAndGoWhenItEnds) {
  Metrics m;
  const std::string id = "metered-1";
  const std::string fault_series =
      "chaos_fault_active{experiment=\"metered\",family=\"fake\",fault=\"cut\",run=\"" + id + "\"}";
  const std::string dropped = "chaos_fault_telemetry{fault=\"cut\",key=\"egress_dropped\",run=\"" + id + "\"}";
  const std::string healthy = "chaos_fault_telemetry{fault=\"cut\",key=\"healthy\",run=\"" + id + "\"}";
  const std::string errors = "chaos_probe_errors_total{probe=\"api\",run=\"" + id + "\"}";
  const std::string requests = "chaos_probe_requests_total{probe=\"api\",run=\"" + id + "\"}";
  const std::string latency_count = "chaos_probe_latency_seconds_count{probe=\"api\",run=\"" + id + "\"}";
  // The baseline before the run: 5 fine requests, then errors while the fault holds.
  for (int i = 0; i < 5; ++i) samples_.push_back(sample(i * 100ms, true, 2ms));

  chaos::Run run(id, experiment(), config_, *journal_, families_, clock_);
  ASSERT_TRUE(run.plan());
  std::map<std::string, std::string> seen;  // a scrape at interesting moments
  int progress = 0;
  run.execute([&](const json& ev) {
    m.on_run_event(run, ev);
    const std::string kind = ev["event"];
    if (kind == "started") seen["started"] = m.text();
    if (kind == "fault" && ev["state"] == "applied") seen["applied"] = m.text();
    if (kind == "fault" && ev["state"] == "reverted") seen["reverted"] = m.text();
    if (kind == "progress") {
      ++progress;
      seen["progress" + std::to_string(progress)] = m.text();
      // The probe fails while the fault holds (+1s..+3s): three more errors each second.
      // They measure a value too (as a prometheus probe does): 0.6 then 0.7.
      if (progress == 1 || progress == 2)
        for (int i = 0; i < 3; ++i) {
          samples_.push_back(sample(1s + progress * 100ms + i * 10ms, false, 300ms));
          samples_.back().value = 0.5 + 0.1 * progress;
        }
      // And is fine again after the revert (+3s), so the hypothesis holds.
      if (progress == 3 || progress == 4)
        for (int i = 0; i < 2; ++i) samples_.push_back(sample(progress * 1s + 100ms + i * 10ms, true, 2ms));
    }
  });

  EXPECT_EQ(value_of(seen["started"], "chaos_runs_active"), 1);
  EXPECT_EQ(value_of(seen["started"], "chaos_runs_started_total"), 1);
  EXPECT_EQ(value_of(seen["started"], requests), 0) << "probe series exist from the start, at 0";
  EXPECT_FALSE(value_of(seen["started"], fault_series));

  EXPECT_EQ(value_of(seen["applied"], fault_series), 1) << seen["applied"];
  EXPECT_EQ(value_of(seen["applied"], "chaos_fault_apply_duration_seconds_count{family=\"fake\"}"), 1);

  // Progress at +1s (the fault applied at +1s, sampled on that tick), +2s: telemetry and probe
  // counters rise; strings ("attach") are not exported, booleans are 0/1.
  const std::string& p1 = seen["progress1"];
  const std::string& p2 = seen["progress2"];
  ASSERT_TRUE(value_of(p1, dropped)) << p1;
  EXPECT_GT(*value_of(p2, dropped), *value_of(p1, dropped)) << p2;
  EXPECT_EQ(value_of(p1, healthy), 0);
  EXPECT_THAT(p1, Not(HasSubstr("key=\"egress_attach\"")));
  EXPECT_EQ(value_of(p1, requests), 5);
  EXPECT_EQ(value_of(p1, errors), 0);
  EXPECT_EQ(value_of(p1, latency_count), 5) << "every successful request is observed";
  EXPECT_EQ(value_of(p2, errors), 3);
  EXPECT_EQ(value_of(p2, requests), 8);
  EXPECT_EQ(value_of(p2, latency_count), 5) << "failed requests are not latency observations";
  EXPECT_EQ(value_of(seen["progress3"], errors), 6);
  const std::string value = "chaos_probe_value{probe=\"api\",run=\"" + id + "\"}";
  EXPECT_FALSE(value_of(p1, value)) << "no series before the probe measured a value";
  EXPECT_EQ(value_of(p2, value), 0.6) << p2;
  EXPECT_EQ(value_of(seen["progress3"], value), 0.7);
  EXPECT_GT(*value_of(p2, "chaos_lease_renewals_total"), *value_of(p1, "chaos_lease_renewals_total"));

  // Reverted at +3s: the fault's gauge and its telemetry go at once.
  EXPECT_FALSE(value_of(seen["reverted"], fault_series)) << seen["reverted"];
  EXPECT_FALSE(value_of(seen["reverted"], dropped)) << seen["reverted"];
  EXPECT_EQ(value_of(seen["reverted"], "chaos_fault_revert_duration_seconds_count{family=\"fake\"}"), 1);

  // The run ended: it is counted by outcome, and nothing labelled with it is left.
  std::string after = m.text();
  EXPECT_EQ(run.report()["outcome"], "held");
  EXPECT_EQ(value_of(after, "chaos_runs_finished_total{outcome=\"held\"}"), 1) << after;
  EXPECT_EQ(value_of(after, "chaos_runs_finished_total{outcome=\"aborted\"}"), 0);
  EXPECT_EQ(value_of(after, "chaos_runs_active"), 0);
  EXPECT_THAT(after, Not(HasSubstr(id))) << after;
  // 20 ticks with the fault in place (+1.0s..+2.9s; reverted at +3.0s before that tick's renewal).
  EXPECT_EQ(value_of(after, "chaos_lease_renewals_total"), 20) << after;
}

TEST_F(MetricsFromARun, AFailureRecordedLateIsCountedOnceAndNoSuccessTwice) {
  // As an open-loop probe keeps them: in start order, numbered in the order they were recorded.
  // The request that started at +1.0s timed out and was recorded after the two that started
  // later and answered; the counters must see 1 error and 3 requests, not 0 and a double count.
  Metrics m;
  const std::string id = "late-1";
  const std::string errors = "chaos_probe_errors_total{probe=\"api\",run=\"" + id + "\"}";
  const std::string requests = "chaos_probe_requests_total{probe=\"api\",run=\"" + id + "\"}";
  const std::string latency_count = "chaos_probe_latency_seconds_count{probe=\"api\",run=\"" + id + "\"}";
  auto numbered = [](ProbeSample s, std::uint64_t seq) {
    s.seq = seq;
    return s;
  };
  chaos::Run run(id, experiment(), config_, *journal_, families_, clock_);
  ASSERT_TRUE(run.plan());
  std::map<int, std::string> at;
  int progress = 0;
  run.execute([&](const json& ev) {
    m.on_run_event(run, ev);
    if (ev["event"] != "progress") return;
    at[++progress] = m.text();
    if (progress == 1) {  // two answers recorded first
      samples_.push_back(numbered(sample(1100ms, true, 2ms), 1));
      samples_.push_back(numbered(sample(1200ms, true, 2ms), 2));
    }
    if (progress == 2)  // the timeout, recorded third, kept first
      samples_.insert(samples_.begin(), numbered(sample(1000ms, false, 300ms), 3));
  });
  EXPECT_EQ(value_of(at[2], requests), 2) << at[2];
  EXPECT_EQ(value_of(at[2], errors), 0);
  EXPECT_EQ(value_of(at[3], requests), 3) << at[3];
  EXPECT_EQ(value_of(at[3], errors), 1) << "the late failure is counted";
  EXPECT_EQ(value_of(at[3], latency_count), 2) << "no success counted twice";
}

TEST_F(MetricsFromARun, AStopConditionOnTelemetryIsCountedAndTheRunAsAborted) {
  Metrics m;
  auto e = experiment();
  e.abort_when.push_back(TelemetryAbort{.fault = "cut", .key = "egress.dropped", .above = 4});  // the counting fault reports 5 on its fifth tick
  chaos::Run run("stopped-1", std::move(e), config_, *journal_, families_, clock_);
  ASSERT_TRUE(run.plan());
  run.execute([&](const json& ev) { m.on_run_event(run, ev); });
  std::string t = m.text();
  EXPECT_EQ(run.report()["outcome"], "aborted");
  EXPECT_EQ(value_of(t, "chaos_stop_conditions_total{on=\"fault\"}"), 1) << t;
  EXPECT_EQ(value_of(t, "chaos_stop_conditions_total{on=\"probe\"}"), 0) << t;
  EXPECT_EQ(value_of(t, "chaos_runs_finished_total{outcome=\"aborted\"}"), 1) << t;
}

TEST_F(MetricsFromARun, LeaseLapsesAreCountedByTheAbortCauseNotByTheReasonsWords) {
  // A lapse: after the 3rd renewal CLOCK_MONOTONIC jumps past the lease, as after a SIGSTOP.
  script_.on_renew = [&](const std::string&, int n) -> Result<void> {
    if (n == 3) clock_.skew(3s);
    return {};
  };
  Metrics m;
  chaos::Run lapsed("lapsed-1", experiment(), config_, *journal_, families_, clock_);
  ASSERT_TRUE(lapsed.plan());
  lapsed.execute([&](const json& ev) { m.on_run_event(lapsed, ev); });
  ASSERT_EQ(lapsed.report()["abortCause"], "lease-lapsed") << lapsed.report()["reason"];
  EXPECT_EQ(value_of(m.text(), "chaos_lease_lapses_total"), 1) << m.text();
  // A halt whose reason reads like a lapse is a halt.
  chaos::Run halted("halted-1", experiment(), config_, *journal_, families_, clock_);
  script_.renews = 0;
  script_.on_renew = [&](const std::string&, int n) -> Result<void> {
    if (n == 3) halted.halt("lease lapsed, said the operator");
    return {};
  };
  ASSERT_TRUE(halted.plan());
  halted.execute([&](const json& ev) { m.on_run_event(halted, ev); });
  ASSERT_EQ(halted.report()["abortCause"], "halted");
  EXPECT_EQ(value_of(m.text(), "chaos_lease_lapses_total"), 1) << m.text();
  EXPECT_EQ(value_of(m.text(), "chaos_runs_finished_total{outcome=\"aborted\"}"), 2) << m.text();
}

TEST_F(MetricsFromARun, LiveAndStatusAreSafeFromAnotherThreadWhileTheRunGoes) {
  // status() and live() read what the timeline thread writes (fault state, t0, telemetry): call
  // them continuously from another thread during a run and check they stay consistent. The real
  // clock: the fake one is not meant to be read from two threads.
  // The fault is planned far longer than the test takes: the reader halts the run once it has
  // seen the fault active and a few renewals, so what it must see does not depend on how the two
  // threads happen to be scheduled on a loaded machine.
  RealClock clock;
  config_.tick = 10ms;
  chaos::Run run("metered-2", experiment(60s, 100ms, 50s), config_, *journal_, families_, clock);
  ASSERT_TRUE(run.plan());
  std::atomic<bool> done{false};
  int seen_active = 0;
  std::thread reader([&] {
    bool halted = false;
    while (!done) {
      auto l = run.live();
      auto st = run.status();
      EXPECT_EQ(l.faults.size(), 1u);
      if (!l.faults.empty() && l.faults[0].active) ++seen_active;
      EXPECT_TRUE(st["activeFaults"].is_array());
      if (!halted && seen_active > 0 && l.lease_renewals > 5) {
        run.halt("the reader has seen the fault live");
        halted = true;
      }
      std::this_thread::yield();  // two cores: leave the timeline thread room
    }
  });
  run.execute([](const json&) {});
  done = true;
  reader.join();
  auto l = run.live();
  ASSERT_EQ(l.faults.size(), 1u);
  EXPECT_FALSE(l.faults[0].active);
  EXPECT_TRUE(l.faults[0].apply_took);
  EXPECT_TRUE(l.faults[0].revert_took);
  EXPECT_EQ(l.faults[0].family, "fake");
  // One sample per renewal, and the last one is kept after the revert.
  EXPECT_GT(l.lease_renewals, 5u);
  EXPECT_EQ(l.faults[0].sample["egress"]["dropped"], l.lease_renewals);
  EXPECT_GT(seen_active, 0) << "the reader never saw the fault applied";
}

// Port 0: the kernel picks a free port and the agent says which (its log line and `status` use
// url()), so that nothing can take the port between a choice and the bind.
TEST(Metrics, ListensOnAFreePortAndSaysWhich) {
  Metrics m;
  EXPECT_EQ(m.port(), 0);
  EXPECT_EQ(m.url(), "");
  ASSERT_TRUE(m.listen("127.0.0.1:0"));
  ASSERT_GT(m.port(), 0);
  EXPECT_EQ(m.url(), "http://127.0.0.1:" + std::to_string(m.port()) + "/metrics");
  HttpRequest req;
  req.host = "127.0.0.1";
  req.port = static_cast<std::uint16_t>(m.port());
  req.path = "/metrics";
  auto r = http_exchange(req, 30s);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("chaos_agent_info"));
}

}  // namespace
}  // namespace chaos
