// A Run on a FakeClock with a fake fault family and a fake probe kind, shared by the unit tests
// that drive the runner (timeline, report rendering, /metrics, after-the-run checks, the service).
//
// One FakeFault and one FakeProbe serve every test: what they do is scripted through a
// FaultScript / ProbeScript the test owns (hooks by fault name, scripted samples, the verdicts
// verify() returns), and what the runner asked of them is recorded there, so each test keeps
// exactly what it checks and nothing else.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/experiment.h"
#include "core/journal.h"
#include "runner/clock.h"
#include "runner/families.h"
#include "runner/run.h"

namespace chaos::fake {

inline Duration D(std::chrono::nanoseconds d) { return std::chrono::duration_cast<Duration>(d); }

// The specs of the fake family ("fake": {{"fake", true}}) and probe kind ({{"fakeProbe", true}}).
struct FakeSpec : FaultSpec {
  nlohmann::json to_json() const override { return {{"fake", true}}; }
};
struct FakeProbeSpec : ProbeSpec {
  nlohmann::json to_json() const override { return {{"fakeProbe", true}}; }
};

// One call the runner made on a fake fault (or one the test noted, e.g. a probe's stop).
struct Call {
  std::string fault;
  std::string what;            // apply, renew, revert (or what the test noted)
  Duration at{0};              // time since t0 on the script's clock (0 without one)
  std::uint64_t deadline = 0;  // renew's deadline
  std::uint64_t mono = 0;      // the clock's CLOCK_MONOTONIC at the call (0 without one)
};

// Shared by the test and every fake fault of a run. Every hook is optional.
struct FaultScript {
  Clock* clock = nullptr;  // stamps the calls when set
  Clock::time_point t0{};  // the run's start on that clock
  std::vector<Call> calls;
  // plan()'s lines; default "fake NAME".
  std::function<std::vector<std::string>(const std::string& fault)> on_plan;
  std::function<Result<void>(const std::string& fault)> on_apply;
  // renew_no counts every renewal of the run, from 1.
  std::function<Result<void>(const std::string& fault, int renew_no)> on_renew;
  std::function<Result<void>(const std::string& fault)> on_revert;
  // Telemetry; n counts this fault's samples, from 1. Default: null (nothing to add).
  std::function<nlohmann::json(const std::string& fault, int n)> on_sample;
  // observe(); verified counts this fault's verify() calls. Default: an empty object.
  std::function<nlohmann::json(const std::string& fault, int verified)> on_observe;
  // verify()'s violations. Default: none.
  std::function<std::vector<std::string>(const std::string& fault)> on_verify;
  int renews = 0;
  int destroyed = 0;  // fault objects destroyed (their kernel owners released)

  Duration rel() const;
  // Records a call the test wants in the same order as the faults' (a probe's stop, say).
  void note(const std::string& what, const std::string& who);
  std::vector<Call> of(const std::string& what) const;
  // "apply a", "revert a", ...: every call but the renewals, in order.
  std::vector<std::string> sequence() const;
};

class FakeFault : public Fault {
 public:
  FakeFault(std::string name, FaultScript& s) : name_(std::move(name)), s_(s) {}
  ~FakeFault() override { ++s_.destroyed; }
  Result<std::vector<std::string>> plan() override;
  Result<void> apply() override;
  Result<void> renew(std::uint64_t deadline) override;
  Result<void> revert() override;
  nlohmann::json sample() override;
  nlohmann::json observe() const override;
  std::vector<std::string> verify() override;

 private:
  void record(const char* what, std::uint64_t deadline = 0);
  std::string name_;
  FaultScript& s_;
  int sampled_ = 0;
  int verified_ = 0;
};

// Replays samples (the test may add more during the run, from the event callback).
struct ProbeScript {
  std::vector<std::string> plan{"fake probe"};
  std::vector<ProbeSample> samples;
  nlohmann::json check = nullptr;  // what verify() returns
  bool started = false;
  bool stopped = false;
  std::function<void(std::string_view what)> on_call;  // "start", "stop", "verify"
};

class FakeProbe : public Probe {
 public:
  explicit FakeProbe(ProbeScript& s) : s_(s) {}
  Result<std::vector<std::string>> plan() override { return s_.plan; }
  Result<void> start(RunClock) override;
  void stop() override;
  std::vector<ProbeSample> samples() const override { return s_.samples; }
  nlohmann::json verify() override;

 private:
  ProbeScript& s_;
};

// The family `name` (its block: `name: {}`, read strictly) making FakeFaults on `script`.
FaultFamily fault_family(FaultScript& script, std::string name = "fake");
// The probe kind "fakeprobe"; each probe replays scripts[its name].
ProbeKind probe_kind(std::map<std::string, ProbeScript>& scripts);

// A sample that started at t; a failed one has status 0 and `error`.
ProbeSample sample(Duration t, bool ok, Duration latency = std::chrono::milliseconds(2),
                   const std::string& error = "timeout");

// Entries of the fake family / probe kind, and an experiment of them (file NAME.yaml).
FaultEntry fault(std::string name, Duration start, Duration duration);
ProbeEntry probe(std::string name, double max_error_rate = 0.0);
Experiment experiment(std::string name, Duration duration, std::vector<FaultEntry> faults,
                      std::vector<ProbeEntry> probes = {});

// A journal in a fresh directory per test, config lease 1s and tick 100ms, families with the
// fake family and probe kind on script_ and probes_.
class FakeRunTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::unique_ptr<chaos::Run> make_run(Experiment e, std::string id = "run-1");
  // Plans (expecting success) and executes; t0 is set and every event kept in events_.
  nlohmann::json execute(chaos::Run& run);

  std::filesystem::path dir_;
  std::unique_ptr<Journal> journal_;
  AgentConfig config_;
  FakeClock clock_;
  Families families_;
  FaultScript script_;
  std::map<std::string, ProbeScript> probes_;
  std::vector<nlohmann::json> events_;
};

}  // namespace chaos::fake
