// The runner's timeline on a FakeClock: a fake fault family records every call (with the fake
// clock's time and the lease deadline it was given) and a fake probe replays scripted samples, so
// each property of Run is checked exactly and instantly: offsets, ends, lease renewal on every
// tick, overlapping faults, apply failure, halt from another thread, lease lapse, phases and the
// hypothesis.
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runner/run.h"
#include "runner/verdicts.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using namespace fake;

// Every probe of these runs is "api".
class RunnerTimeline : public FakeRunTest {
 protected:
  static ProbeEntry probe(double max_error_rate) { return fake::probe("api", max_error_rate); }
  static Experiment experiment(Duration duration, std::vector<FaultEntry> faults, std::vector<ProbeEntry> probes = {}) {
    return fake::experiment("timeline", duration, std::move(faults), std::move(probes));
  }

  ProbeScript& probe_ = probes_["api"];
};

TEST_F(RunnerTimeline, FaultsApplyAtTheirOffsetAndRevertAtTheirEnd) {
  auto run = make_run(experiment(5s, {fault("a", 1s, 2s)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1);
  EXPECT_EQ(run->state(), RunState::finished);
  auto applies = script_.of("apply");
  auto reverts = script_.of("revert");
  ASSERT_EQ(applies.size(), 1u);
  ASSERT_EQ(reverts.size(), 1u);
  EXPECT_EQ(applies[0].at, D(1s));
  EXPECT_EQ(reverts[0].at, D(3s));
  EXPECT_DOUBLE_EQ(rep["faults"][0]["appliedAt"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(rep["faults"][0]["revertedAt"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(rep["phases"]["during"]["from"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(rep["phases"]["during"]["to"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(rep["phases"]["after"]["to"].get<double>(), 5.0);
  // The run lasted exactly spec.duration on the fake clock.
  EXPECT_EQ(clock_.now() - script_.t0, D(5s));
  // The fault object (in the agent: its loaded BPF programs) is released when the run ends, not
  // when the finished Run is dropped from the agent's list, which may be never.
  EXPECT_EQ(script_.destroyed, 1);
  EXPECT_EQ(run->status()["state"], "finished");
  EXPECT_EQ(run->report()["outcome"], "held");
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.front()["event"], "started");
  EXPECT_EQ(events_.back()["event"], "done");
}

TEST_F(RunnerTimeline, LeaseIsRenewedEveryTickWithDeadlineMonoPlusLease) {
  auto run = make_run(experiment(4s, {fault("a", 500ms, 2s)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "held");
  auto renews = script_.of("renew");
  // Active for 2s at a 100ms tick: the renewal right after apply plus one per tick.
  ASSERT_GE(renews.size(), 20u);
  const auto lease = static_cast<std::uint64_t>(config_.lease.count());
  for (std::size_t i = 0; i < renews.size(); ++i) {
    EXPECT_EQ(renews[i].deadline, renews[i].mono + lease) << "renew #" << i << " at " << renews[i].at.count();
    EXPECT_GE(renews[i].at, D(500ms));
    EXPECT_LT(renews[i].at, D(2500ms));
    if (i > 0) {
      EXPECT_LE(renews[i].at - renews[i - 1].at, config_.tick) << "a tick went without renewal";
    }
  }
  // Until the very end: the last renewal is within one tick of the revert.
  EXPECT_GE(renews.back().at, D(2500ms) - config_.tick);
}

TEST_F(RunnerTimeline, OverlappingFaultsAndRevertBeforeApplyAtTheSameInstant) {
  auto run = make_run(experiment(6s, {fault("a", 1s, 2s), fault("b", 2s, 2s), fault("c", 3s, 1s)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "held");
  std::vector<std::string> want = {"apply a", "apply b", "revert a", "apply c", "revert b", "revert c"};
  EXPECT_EQ(script_.sequence(), want);
  auto at = [&](const std::string& what, const std::string& f) {
    for (const auto& c : script_.calls)
      if (c.what == what && c.fault == f) return c.at;
    return Duration{-1};
  };
  EXPECT_EQ(at("apply", "a"), D(1s));
  EXPECT_EQ(at("apply", "b"), D(2s));
  EXPECT_EQ(at("revert", "a"), D(3s));
  EXPECT_EQ(at("apply", "c"), D(3s));
  EXPECT_EQ(at("revert", "b"), D(4s));
  EXPECT_EQ(at("revert", "c"), D(4s));
  // While both a and b were active, both were renewed on each tick.
  int both = 0;
  for (const auto& c : script_.of("renew"))
    if (c.at > D(2s) && c.at < D(3s) && c.fault == "b") ++both;
  EXPECT_GE(both, 9);
  // The during phase spans the first apply to the last revert.
  EXPECT_DOUBLE_EQ(rep["phases"]["during"]["from"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(rep["phases"]["during"]["to"].get<double>(), 4.0);
}

TEST_F(RunnerTimeline, ApplyFailureAbortsAndRevertsWhatWasApplied) {
  script_.on_apply = [](const std::string& f) -> Result<void> {
    if (f == "b") return fail("no such device", ENODEV);
    return {};
  };
  auto run = make_run(experiment(6s, {fault("a", 1s, 4s), fault("b", 2s, 1s), fault("c", 3s, 1s)}));
  auto rep = execute(*run);
  EXPECT_EQ(run->state(), RunState::aborted);
  EXPECT_EQ(rep["outcome"], "aborted");
  EXPECT_NE(rep["reason"].get<std::string>().find("apply failed"), std::string::npos) << rep["reason"];
  EXPECT_NE(rep["reason"].get<std::string>().find("no such device"), std::string::npos) << rep["reason"];
  // b is reverted too (a partial apply is undone), newest first; c never starts.
  std::vector<std::string> want = {"apply a", "apply b", "revert b", "revert a"};
  EXPECT_EQ(script_.sequence(), want);
  for (const auto& c : script_.of("revert")) EXPECT_EQ(c.at, D(2s)) << c.fault;
  EXPECT_TRUE(rep["faults"][1].contains("error"));
  EXPECT_FALSE(rep["faults"][2].contains("appliedAt"));
}

TEST_F(RunnerTimeline, HaltFromAnotherThreadRevertsAtOnce) {
  std::unique_ptr<chaos::Run> run;
  script_.on_renew = [&](const std::string& f, int) -> Result<void> {
    // At +1.5s an operator halts from another thread (the API's connection thread).
    if (f == "a" && script_.rel() == D(1500ms)) std::thread([&] { run->halt("operator said so"); }).join();
    return {};
  };
  run = make_run(experiment(10s, {fault("a", 1s, 5s), fault("b", 1200ms, 5s)}));
  auto rep = execute(*run);
  EXPECT_EQ(run->state(), RunState::aborted);
  EXPECT_EQ(rep["outcome"], "aborted");
  EXPECT_NE(rep["reason"].get<std::string>().find("halted: operator said so"), std::string::npos) << rep["reason"];
  std::vector<std::string> want = {"apply a", "apply b", "revert b", "revert a"};
  EXPECT_EQ(script_.sequence(), want);
  // Reverted on the very next pass of the loop, without waiting for a tick or the fault's end.
  for (const auto& c : script_.of("revert")) EXPECT_EQ(c.at, D(1500ms)) << c.fault;
  // Nothing was renewed after the halt.
  for (const auto& c : script_.of("renew")) EXPECT_LE(c.at, D(1500ms));
  EXPECT_LT(clock_.now() - script_.t0, D(2s));
  // Halting a finished run changes nothing.
  run->halt("late");
  EXPECT_EQ(run->state(), RunState::aborted);
}

TEST_F(RunnerTimeline, LeaseLapseAbortsTheRun) {
  // After the 5th renewal the process "is stopped" for 3s: CLOCK_MONOTONIC jumps past the
  // deadline it had just handed out, as a SIGSTOP'd agent sees after SIGCONT.
  script_.on_renew = [&](const std::string&, int n) -> Result<void> {
    if (n == 5) clock_.skew(3s);
    return {};
  };
  auto run = make_run(experiment(10s, {fault("a", 1s, 5s)}));
  auto rep = execute(*run);
  EXPECT_EQ(run->state(), RunState::aborted);
  EXPECT_EQ(rep["outcome"], "aborted");
  auto reason = rep["reason"].get<std::string>();
  EXPECT_NE(reason.find("lease lapsed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("fault a"), std::string::npos) << reason;
  auto renews = script_.of("renew");
  ASSERT_EQ(renews.size(), 5u) << "no renewal may follow a lapse: the fault already stopped by itself";
  auto reverts = script_.of("revert");
  ASSERT_EQ(reverts.size(), 1u);
  EXPECT_EQ(reverts[0].at, renews.back().at + config_.tick);
  bool aborted_event = false;
  for (const auto& ev : events_)
    if (ev["event"] == "aborted") aborted_event = ev["reason"].get<std::string>().find("lease lapsed") != std::string::npos;
  EXPECT_TRUE(aborted_event);
}

TEST_F(RunnerTimeline, LapseDuringApplyIsSeenBeforeTheNextRenewal) {
  // The agent hangs inside b's apply() (a stuck netlink call) longer than the lease: a, already
  // in place, stopped by itself meanwhile; the run must say so rather than renew it.
  script_.on_apply = [&](const std::string& f) -> Result<void> {
    if (f == "b") clock_.skew(2s);
    return {};
  };
  auto run = make_run(experiment(10s, {fault("a", 1s, 5s), fault("b", 2s, 3s)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "aborted");
  EXPECT_NE(rep["reason"].get<std::string>().find("lease lapsed: fault a"), std::string::npos) << rep["reason"];
  EXPECT_EQ(script_.of("revert").size(), 2u);
}

TEST_F(RunnerTimeline, ASlowApplyIsNotALapseItsLeaseStartsWhenApplyReturns) {
  // One fault whose apply() takes 2s (a GPU fill, a CUDA context) with a 1s lease: its first
  // deadline counts from the end of apply(), so the fault is not expired before it began.
  script_.on_apply = [&](const std::string&) -> Result<void> {
    clock_.skew(2s);
    return {};
  };
  auto run = make_run(experiment(10s, {fault("a", 1s, 5s)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "held") << rep["reason"];
  auto renews = script_.of("renew");
  ASSERT_FALSE(renews.empty());
  EXPECT_EQ(renews[0].deadline, renews[0].mono + 1'000'000'000ull) << "the first deadline counts from after apply()";
  EXPECT_GT(renews[0].mono, script_.of("apply")[0].mono + 1'999'000'000ull);
}

TEST_F(RunnerTimeline, RenewFailureAbortsAndReverts) {
  script_.on_renew = [&](const std::string&, int n) -> Result<void> {
    if (n == 3) return fail("map update", EBADF);
    return {};
  };
  auto run = make_run(experiment(10s, {fault("a", 1s, 5s)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "aborted");
  EXPECT_NE(rep["reason"].get<std::string>().find("lease renewal failed"), std::string::npos) << rep["reason"];
  EXPECT_EQ(script_.sequence(), (std::vector<std::string>{"apply a", "revert a"}));
}

TEST_F(RunnerTimeline, HypothesisHeldWhenErrorsStayInsideTheFaultWindow) {
  for (int i = 0; i < 50; ++i) {
    Duration t = D(std::chrono::milliseconds(100 * i));
    bool in_fault = t >= D(1s) && t < D(3s);
    probe_.samples.push_back(sample(t, !in_fault, in_fault ? Duration(300ms) : Duration(2ms)));
  }
  auto run = make_run(experiment(5s, {fault("a", 1s, 2s)}, {probe(0.0)}));
  auto rep = execute(*run);
  EXPECT_TRUE(probe_.started);
  EXPECT_TRUE(probe_.stopped);
  EXPECT_EQ(rep["outcome"], "held") << rep["probes"].dump(1);
  const auto& p = rep["probes"][0];
  EXPECT_EQ(p["phases"]["before"]["requests"], 10);
  EXPECT_EQ(p["phases"]["before"]["errors"], 0);
  EXPECT_EQ(p["phases"]["during"]["requests"], 20);
  EXPECT_EQ(p["phases"]["during"]["errors"], 20);
  EXPECT_EQ(p["phases"]["after"]["requests"], 20);
  EXPECT_EQ(p["phases"]["after"]["errors"], 0);
  ASSERT_EQ(p["hypothesis"].size(), 2u);
  for (const auto& h : p["hypothesis"]) EXPECT_TRUE(h["held"].get<bool>()) << h.dump();
  EXPECT_DOUBLE_EQ(p["errorWindow"]["first"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(p["errorWindow"]["last"].get<double>(), 2.9);
  // First good request after the revert at 3s: started at 3.0s, answered 2ms later.
  EXPECT_NEAR(p["recovery_ms"].get<double>(), 2.0, 1e-9);
}

TEST_F(RunnerTimeline, ProbeValuesArePerPhaseAndInTheReport) {
  // A probe that measures something (a prometheus query): 0 before, 1 during (out of bounds,
  // failed), back to 0 after; one failure without a value (the server did not answer).
  for (int i = 0; i < 50; ++i) {
    Duration t = D(std::chrono::milliseconds(100 * i));
    bool in_fault = t >= D(1s) && t < D(3s);
    auto s = sample(t, !in_fault);
    s.value = in_fault ? 1.0 + (i % 2) : 0.0;
    if (i == 45) {
      s.ok = false;
      s.value.reset();
    }
    probe_.samples.push_back(s);
  }
  auto run = make_run(experiment(5s, {fault("a", 1s, 2s)}, {probe(0.0)}));
  auto rep = execute(*run);
  const auto& p = rep["probes"][0];
  EXPECT_EQ(p["phases"]["before"]["value"], nlohmann::json({{"samples", 10}, {"min", 0.0}, {"mean", 0.0}, {"max", 0.0}}));
  EXPECT_EQ(p["phases"]["during"]["value"], nlohmann::json({{"samples", 20}, {"min", 1.0}, {"mean", 1.5}, {"max", 2.0}}));
  EXPECT_EQ(p["phases"]["after"]["value"]["samples"], 19) << "the sample without a value is not counted";
  ASSERT_EQ(p["values"].size(), 49u);
  EXPECT_EQ(p["values"][10], nlohmann::json({1.0, 1.0}));
  EXPECT_EQ(p["spec"], nlohmann::json({{"fakeProbe", true}}));
}

TEST_F(RunnerTimeline, ProbesThatMeasureNothingHaveNoValues) {
  for (int i = 0; i < 10; ++i) probe_.samples.push_back(sample(D(std::chrono::milliseconds(100 * i)), true));
  auto run = make_run(experiment(2s, {fault("a", 1s, 500ms)}, {probe(0.0)}));
  auto rep = execute(*run);
  const auto& p = rep["probes"][0];
  EXPECT_FALSE(p.contains("values"));
  EXPECT_FALSE(p["phases"]["before"].contains("value"));
}

TEST_F(RunnerTimeline, HypothesisDeviatesWhenErrorsLeakIntoTheAfterPhase) {
  for (int i = 0; i < 50; ++i) {
    Duration t = D(std::chrono::milliseconds(100 * i));
    bool bad = t >= D(1s) && t < D(3500ms);  // the node took 500ms to heal after the revert
    probe_.samples.push_back(sample(t, !bad));
  }
  auto run = make_run(experiment(5s, {fault("a", 1s, 2s)}, {probe(0.0)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "deviated");
  const auto& hyp = rep["probes"][0]["hypothesis"];
  ASSERT_EQ(hyp.size(), 2u);
  EXPECT_EQ(hyp[0]["phase"], "before");
  EXPECT_TRUE(hyp[0]["held"].get<bool>());
  EXPECT_EQ(hyp[1]["phase"], "after");
  EXPECT_FALSE(hyp[1]["held"].get<bool>());
  EXPECT_NE(hyp[1]["violations"][0].get<std::string>().find("error rate 25.0% (5/20)"), std::string::npos)
      << hyp[1].dump();
  EXPECT_NEAR(rep["probes"][0]["recovery_ms"].get<double>(), 502.0, 1e-9);
}

ProbeEntry with_abort(ProbeEntry p, std::optional<double> rate, std::optional<Duration> p99 = std::nullopt) {
  AbortWhen a;
  a.error_rate = rate;
  a.p99 = p99;
  a.window = D(1s);
  a.min_samples = 5;
  p.abort_when = a;
  return p;
}

TEST_F(RunnerTimeline, StopConditionAbortsTheRunAndRevertsAtOnce) {
  // Every request fails from 1s (the fault) on; the stop condition: 50% errors over 1s.
  for (int i = 0; i < 60; ++i) {
    Duration t = D(std::chrono::milliseconds(100 * i));
    probe_.samples.push_back(sample(t, t < D(1s)));
  }
  auto run = make_run(experiment(6s, {fault("a", 1s, 4s)}, {with_abort(probe(0.0), 0.5)}));
  auto rep = execute(*run);
  EXPECT_EQ(run->state(), RunState::aborted);
  EXPECT_EQ(rep["outcome"], "aborted");
  // At 1.5s the answers in [0.5s, 1.5s] are those of 0.5 .. 1.4 (each 2ms later): 10, of which 5
  // failed (1.0 .. 1.4) = 50%; at 1.4s it was 4/10.
  ASSERT_TRUE(rep.contains("stopCondition")) << rep.dump(1);
  EXPECT_EQ(rep["stopCondition"]["probe"], "api");
  EXPECT_DOUBLE_EQ(rep["stopCondition"]["t"].get<double>(), 1.5);
  EXPECT_NE(rep["reason"].get<std::string>().find("stop condition: probe api: error rate 50.0% (5/10) over the last 1s"),
            std::string::npos)
      << rep["reason"];
  std::vector<std::string> want = {"apply a", "revert a"};
  EXPECT_EQ(script_.sequence(), want);
  EXPECT_EQ(script_.of("revert")[0].at, D(1500ms));
  bool saw = false;
  for (const auto& ev : events_) saw |= ev.value("event", "") == "stop-condition";
  EXPECT_TRUE(saw);
}

TEST_F(RunnerTimeline, StopConditionOnABrokenBaselineInjectsNothing) {
  for (int i = 0; i < 60; ++i) probe_.samples.push_back(sample(D(std::chrono::milliseconds(100 * i)), false));
  auto run = make_run(experiment(6s, {fault("a", 2s, 2s)}, {with_abort(probe(0.0), 0.5)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "aborted");
  EXPECT_TRUE(script_.sequence().empty()) << "a fault was applied on a baseline the stop condition rejected";
  // minSamples 5: the fifth answer (started at 0.4s, failed 2ms later) is in at the 0.5s tick.
  EXPECT_DOUBLE_EQ(rep["stopCondition"]["t"].get<double>(), 0.5);
}

TEST_F(RunnerTimeline, StopConditionBelowItsThresholdChangesNothing) {
  // One failure in ten during the fault: 10% < 50%; the run goes to its end.
  for (int i = 0; i < 60; ++i) probe_.samples.push_back(sample(D(std::chrono::milliseconds(100 * i)), i % 10 != 5));
  auto run = make_run(experiment(6s, {fault("a", 1s, 4s)}, {with_abort(probe(1.0), 0.5)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "held") << rep["reason"];
  EXPECT_FALSE(rep.contains("stopCondition"));
  std::vector<std::string> want = {"apply a", "revert a"};
  EXPECT_EQ(script_.sequence(), want);
  EXPECT_EQ(script_.of("revert")[0].at, D(5s));
}

TEST_F(RunnerTimeline, TelemetryStopConditionAbortsWhenAFaultsSampleCrossesIt) {
  // The fault's "GPU" heats up by 10 degrees a second from 60 once applied at 1s.
  script_.on_sample = [&](const std::string&, int) -> nlohmann::json {
    double t = std::chrono::duration<double>(script_.rel()).count();
    return {{"gpus", nlohmann::json::array({{{"temperatureC", 60 + 10 * (t - 1)}, {"busy", true}}})}};
  };
  auto e = experiment(10s, {fault("a", 1s, 6s)});
  e.abort_when.push_back(TelemetryAbort{.fault = "a", .key = "gpus.0.temperatureC", .above = 85});
  auto run = make_run(std::move(e));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "aborted");
  ASSERT_TRUE(rep.contains("stopCondition")) << rep.dump(1);
  EXPECT_EQ(rep["stopCondition"]["fault"], "a");
  // 60 + 10 * (t - 1) > 85 first at t = 3.6s (3.5s gives exactly 85, not above).
  EXPECT_DOUBLE_EQ(rep["stopCondition"]["t"].get<double>(), 3.6);
  EXPECT_NE(rep["reason"].get<std::string>().find("stop condition: fault a: gpus.0.temperatureC = 86, above 85"),
            std::string::npos)
      << rep["reason"];
  EXPECT_EQ(script_.of("revert")[0].at, D(3600ms));
}

TEST_F(RunnerTimeline, TelemetryStopConditionOnAKeyTheFaultDoesNotHaveAborts) {
  script_.on_sample = [](const std::string&, int) -> nlohmann::json { return {{"egress", {{"dropped", 1}}}}; };
  auto e = experiment(5s, {fault("a", 1s, 2s)});
  e.abort_when.push_back(TelemetryAbort{.fault = "a", .key = "egress.droped", .above = 100});
  auto run = make_run(std::move(e));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "aborted");
  EXPECT_NE(rep["reason"].get<std::string>().find("egress.droped is not in the fault's telemetry (its top-level keys: egress)"),
            std::string::npos)
      << rep["reason"];
  EXPECT_EQ(script_.of("revert")[0].at, D(1s)) << "aborted at the first sample";
}

TEST(TelemetryValue, WalksObjectsArraysAndBooleans) {
  nlohmann::json s = {{"gpus", {{{"t", 71.5}}, {{"t", 80}, {"ok", false}}}}, {"kernel", {{"tcpRetransSegs", 12}}}};
  EXPECT_EQ(telemetry_value(s, "gpus.0.t"), 71.5);
  EXPECT_EQ(telemetry_value(s, "gpus.1.t"), 80.0);
  EXPECT_EQ(telemetry_value(s, "gpus.1.ok"), 0.0);
  EXPECT_EQ(telemetry_value(s, "kernel.tcpRetransSegs"), 12.0);
  EXPECT_FALSE(telemetry_value(s, "gpus.2.t"));
  EXPECT_FALSE(telemetry_value(s, "gpus.x.t"));
  EXPECT_FALSE(telemetry_value(s, "gpus"));
  EXPECT_FALSE(telemetry_value(s, "kernel.tcpRetransSegs.x"));
  TelemetryAbort below;
  below.fault = "f";
  below.key = "gpus.0.t";
  below.below = 72;
  EXPECT_EQ(check_telemetry_abort(s, below), "gpus.0.t = 71.5, below 72");
  below.below = 71;
  EXPECT_FALSE(check_telemetry_abort(s, below));
  // An index too large for any integer type is just absent (no exception on the timeline).
  EXPECT_FALSE(telemetry_value(s, "gpus.99999999999999999999999.t"));
  // Present but null (not measured yet: a GPU's duty before two bursts) waits; a string stops.
  nlohmann::json pending = {{"gpus", {{{"duty", nullptr}, {"phase", "running"}}}}};
  TelemetryAbort duty;
  duty.fault = "f";
  duty.key = "gpus.0.duty";
  duty.below = 0.5;
  EXPECT_FALSE(check_telemetry_abort(pending, duty));
  duty.key = "gpus.0.phase";
  EXPECT_EQ(check_telemetry_abort(pending, duty),
            "gpus.0.phase is \"running\" in the fault's telemetry, not a number; a stop condition that cannot "
            "compare stops the run");
}

TEST(CheckAbort, LatencyAndMinSamples) {
  AbortWhen a;
  a.p99 = D(100ms);
  a.window = D(1s);
  a.min_samples = 3;
  // Answers at 5ms, 900ms (and, below, 850ms).
  std::vector<ProbeSample> s = {sample(D(0ms), true, D(5ms)), sample(D(500ms), true, D(400ms))};
  EXPECT_FALSE(check_abort(s, D(1000ms), a)) << "two samples are below minSamples";
  s.push_back(sample(D(550ms), true, D(300ms)));
  auto why = check_abort(s, D(1000ms), a);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "p99 400ms over the last 1s (3 successful samples), above 100ms");
  // Later the slow answers leave the window.
  EXPECT_FALSE(check_abort(s, D(1950ms), a));
  // An answer not in yet is not judged: at 600ms only the first one has come back.
  EXPECT_FALSE(check_abort(s, D(600ms), a));
}

// The window is over answers: failures of a probe whose timeout (2s) is longer than the window
// (1s) still brake the run, one timeout after the requests began failing.
TEST(CheckAbort, ATimeoutLongerThanTheWindowStillBrakes) {
  AbortWhen a;
  a.error_rate = 0.5;
  a.window = D(1s);
  a.min_samples = 5;
  std::vector<ProbeSample> s;
  for (int i = 0; i < 50; ++i) {  // every 100ms from 0; the target stops answering at 1s
    const auto t = D(std::chrono::milliseconds(100 * i));
    s.push_back(t < D(1s) ? sample(t, true, D(2ms)) : sample(t, false, D(2s)));
  }
  EXPECT_FALSE(check_abort(s, D(2900ms), a)) << "no failure has come back yet";
  auto why = check_abort(s, D(3500ms), a);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "error rate 100.0% (6/6) over the last 1s, at or above 50.0%");
}

TEST_F(RunnerTimeline, SampleStartedWhileApplyRunsCountsAsDuring) {
  // apply() takes 40ms of (fake) time: the classifier may be dropping from its first
  // microsecond, so a request that starts and fails meanwhile belongs to the fault window, not
  // to the baseline the hypothesis is checked in.
  script_.on_apply = [&](const std::string&) -> Result<void> {
    clock_.advance(40ms);
    return {};
  };
  for (int i = 0; i < 10; ++i) probe_.samples.push_back(sample(D(std::chrono::milliseconds(100 * i)), true));
  probe_.samples.push_back(sample(D(1010ms), false, 300ms));  // started during apply
  for (int i = 0; i < 10; ++i) probe_.samples.push_back(sample(D(std::chrono::milliseconds(3100 + 100 * i)), true));
  auto run = make_run(experiment(5s, {fault("a", 1s, 2s)}, {probe(0.0)}));
  auto rep = execute(*run);
  EXPECT_EQ(rep["outcome"], "held") << rep["probes"][0]["hypothesis"].dump();
  EXPECT_EQ(rep["probes"][0]["phases"]["during"]["errors"], 1);
  EXPECT_DOUBLE_EQ(rep["phases"]["during"]["from"].get<double>(), 1.0);
}

TEST_F(RunnerTimeline, PlanRefusesARunLongerThanTheAgentAllows) {
  config_.max_run_duration = 3s;
  auto run = make_run(experiment(5s, {fault("a", 1s, 2s)}));
  auto plan = run->plan();
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().text().find("maxRunDuration"), std::string::npos) << plan.error().text();
  EXPECT_TRUE(script_.calls.empty());
}

TEST_F(RunnerTimeline, ExecuteWithoutPlanTouchesNothing) {
  auto run = make_run(experiment(5s, {fault("a", 1s, 2s)}));
  auto rep = run->execute({});
  EXPECT_EQ(run->state(), RunState::failed);
  EXPECT_EQ(rep["outcome"], "failed");
  EXPECT_TRUE(script_.calls.empty());
}

TEST(PhaseStats, CountsErrorsAndNearestRankPercentilesInTheHalfOpenRange) {
  std::vector<ProbeSample> ss;
  for (int i = 1; i <= 100; ++i) ss.push_back(sample(D(std::chrono::milliseconds(10 * i)), true, D(std::chrono::milliseconds(i))));
  ss.push_back(sample(D(500ms), false, 300ms));
  ss.push_back(sample(D(2s), false));  // outside [0, 1s)
  auto st = phase_stats(ss, Duration{0}, D(1s));
  // Samples at 10..990ms (99 of them) plus the failure at 500ms; the one at 1000ms is excluded.
  EXPECT_EQ(st.requests, 100u);
  EXPECT_EQ(st.errors, 1u);
  EXPECT_DOUBLE_EQ(st.error_rate, 0.01);
  // Latencies 1..99ms of the successes only: nearest rank.
  EXPECT_EQ(st.p50, D(50ms));
  EXPECT_EQ(st.p90, D(90ms));
  EXPECT_EQ(st.p99, D(99ms));
  EXPECT_EQ(st.max, D(99ms));
  auto empty = phase_stats(ss, D(5s), D(6s));
  EXPECT_EQ(empty.requests, 0u);
  EXPECT_DOUBLE_EQ(empty.error_rate, 0.0);
}

// A request in flight when the fault began belongs to the fault, not to the baseline.
TEST(PhaseOf, ARequestCutByTheFaultIsDuringNotBefore) {
  const Duration db = D(5s), de = D(10s);
  EXPECT_EQ(phase_of(sample(D(4900ms), true, 20ms), db, de), Phase::before);
  EXPECT_EQ(phase_of(sample(D(4990ms), false, 1s), db, de), Phase::during);  // timed out after 5s
  EXPECT_EQ(phase_of(sample(D(4990ms), true, 10ms), db, de), Phase::during);  // ended at 5.000s
  EXPECT_EQ(phase_of(sample(D(9990ms), false, 1s), db, de), Phase::during);
  EXPECT_EQ(phase_of(sample(D(10s), true, 1ms), db, de), Phase::after);
  std::vector<ProbeSample> ss{sample(D(4s), true, 1ms), sample(D(4990ms), false, 1s), sample(D(6s), false),
                              sample(D(11s), true, 1ms)};
  auto before = phase_stats(ss, Phase::before, db, de);
  EXPECT_EQ(before.requests, 1u);
  EXPECT_EQ(before.errors, 0u);
  auto during = phase_stats(ss, Phase::during, db, de);
  EXPECT_EQ(during.requests, 2u);
  EXPECT_EQ(during.errors, 2u);
  EXPECT_EQ(phase_stats(ss, Phase::after, db, de).requests, 1u);
}

TEST(CheckTolerance, ReportsEachViolationAndNoSamplesIsAViolation) {
  PhaseStats s;
  s.requests = 200;
  s.errors = 3;
  s.error_rate = 0.015;
  s.p50 = D(10ms);
  s.p99 = D(250ms);
  s.max = D(900ms);
  Tolerance t;
  t.max_error_rate = 0.01;
  t.p99 = D(200ms);
  t.p50 = D(10ms);  // equal is within
  auto v = check_tolerance(s, t);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_NE(v[0].find("error rate 1.5% (3/200) above 1.0%"), std::string::npos) << v[0];
  EXPECT_NE(v[1].find("p99"), std::string::npos) << v[1];
  t.max_error_rate = 0.015;  // exactly at the limit holds
  t.p99 = D(250ms);
  EXPECT_TRUE(check_tolerance(s, t).empty());
  t.max = D(800ms);
  ASSERT_EQ(check_tolerance(s, t).size(), 1u);
  PhaseStats none;
  auto nv = check_tolerance(none, Tolerance{});
  ASSERT_EQ(nv.size(), 1u);
  EXPECT_NE(nv[0].find("no samples"), std::string::npos);
}

}  // namespace
}  // namespace chaos
