// The whole report of a run on a FakeClock, pinned field by field against a golden file
// (tests/unit/golden/report_NAME.json): every run below is deterministic on the fake clock, so
// its report is the same JSON every time, except the wall-clock fields (startedAt, endedAt and
// the plan_ms/apply_ms/revert_ms a fault's calls took on the steady clock), which are replaced
// by "<wall>" here. A change to the report's shape or values fails one of these; a change meant
// to change the report regenerates the files with CHAOS_UPDATE_GOLDEN=1 and shows in the diff.
//
// The events a run streams are pinned too (their "t" is on the fake clock), in
// golden/events_NAME.json.
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runner/run.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using namespace fake;
using nlohmann::json;

// startedAt/endedAt and the *_ms of fault calls come from the real clocks.
json masked(json r) {
  for (const char* k : {"startedAt", "endedAt"})
    if (r.contains(k)) r[k] = "<wall>";
  if (r.contains("faults"))
    for (auto& f : r["faults"])
      for (const char* k : {"plan_ms", "apply_ms", "revert_ms"})
        if (f.contains(k)) f[k] = "<wall>";
  return r;
}

std::filesystem::path golden_path(const std::string& file) {
  return std::filesystem::path(CHAOS_SOURCE_DIR) / "tests/unit/golden" / file;
}

// Compares `got` with the golden file (or writes it, with CHAOS_UPDATE_GOLDEN=1).
void expect_golden(const std::string& file, const json& got) {
  const auto path = golden_path(file);
  const std::string text = got.dump(1) + "\n";
  if (const char* u = std::getenv("CHAOS_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    GTEST_SKIP() << "wrote " << path << " (CHAOS_UPDATE_GOLDEN=1): nothing was compared";
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << path << " is missing; CHAOS_UPDATE_GOLDEN=1 writes it";
  std::stringstream want;
  want << in.rdbuf();
  auto parsed = json::parse(want.str(), nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << path << " is not JSON";
  // Compared as JSON (numbers as the runner wrote them); on a difference, the diff as a patch.
  EXPECT_TRUE(parsed == got) << file << " differs: " << json::diff(parsed, got).dump(1);
}

class ReportGolden : public FakeRunTest {
 protected:
  void check(chaos::Run& run, const std::string& name) {
    auto rep = execute(run);
    ASSERT_TRUE(rep.is_object());
    expect_golden("report_" + name + ".json", masked(rep));
    expect_golden("events_" + name + ".json", json(events_));
  }

  // Samples every 250ms from 0 to `until`, failing in [bad_from, bad_to).
  static std::vector<ProbeSample> samples(Duration until, Duration bad_from = Duration{-1}, Duration bad_to = Duration{-1},
                                          bool with_values = false) {
    std::vector<ProbeSample> out;
    std::uint64_t seq = 0;
    for (Duration t{0}; t < until; t += D(250ms)) {
      const bool bad = t >= bad_from && t < bad_to;
      auto s = sample(t, !bad, D(2ms) + D(std::chrono::microseconds(137 * (seq % 7))));
      s.seq = ++seq;
      if (with_values) s.value = 10.0 + static_cast<double>(seq % 5);
      out.push_back(s);
    }
    return out;
  }

  std::unique_ptr<chaos::Run> run_;  // for a script that halts the run it drives
};

TEST_F(ReportGolden, Held) {
  script_.on_plan = [](const std::string& f) { return std::vector<std::string>{"fake " + f, "second line"}; };
  script_.on_sample = [](const std::string& f, int n) -> json { return {{"fault", f}, {"n", n}, {"ok", true}}; };
  script_.on_observe = [](const std::string& f, int verified) -> json { return {{"who", f}, {"verified", verified}}; };
  probes_["api"].samples = samples(D(5s), Duration{-1}, Duration{-1}, true);
  probes_["api"].check = json{{"check", "read-back"}, {"violations", json::array()}, {"keys", 3}};
  auto e = experiment("golden-held", 5s, {fault("a", 1s, 2s), fault("b", 1500ms, 1s)}, {probe("api", 0.0)});
  auto run = make_run(std::move(e));
  check(*run, "held");
}

TEST_F(ReportGolden, DeviatedByAToleranceAndAFaultsVerify) {
  script_.on_verify = [](const std::string& f) {
    return f == "a" ? std::vector<std::string>{"key k lost"} : std::vector<std::string>{};
  };
  probes_["api"].samples = samples(D(4s), D(2500ms), D(3500ms));
  auto p = probe("api", 0.0);
  p.check_in = {Phase::before, Phase::during, Phase::after};
  auto run = make_run(experiment("golden-deviated", 4s, {fault("a", 1s, 1s)}, {p}));
  check(*run, "deviated");
}

TEST_F(ReportGolden, AbortedByAProbeStopCondition) {
  probes_["api"].samples = samples(D(6s), D(1500ms), D(6s));
  auto p = probe("api", 0.0);
  AbortWhen aw;
  aw.error_rate = 0.5;
  aw.window = D(1s);
  aw.min_samples = 3;
  p.abort_when = aw;
  auto run = make_run(experiment("golden-stop", 6s, {fault("a", 1s, 4s)}, {p}));
  check(*run, "stop_condition");
}

TEST_F(ReportGolden, AbortedByATelemetryStopCondition) {
  script_.on_sample = [](const std::string&, int n) -> json { return {{"temp", 60 + n}}; };
  auto e = experiment("golden-telemetry", 5s, {fault("a", 1s, 3s)});
  TelemetryAbort ta;
  ta.fault = "a";
  ta.key = "temp";
  ta.above = 64.5;
  e.abort_when.push_back(ta);
  auto run = make_run(std::move(e));
  check(*run, "telemetry_stop");
}

TEST_F(ReportGolden, AbortedByAnApplyFailure) {
  script_.on_apply = [](const std::string& f) -> Result<void> {
    if (f == "b") return fail("no such device", ENODEV);
    return {};
  };
  probes_["api"].samples = samples(D(4s));
  auto run = make_run(experiment("golden-apply", 4s, {fault("a", 1s, 2s), fault("b", 2s, 1s), fault("c", 3s, 500ms)},
                                 {probe("api", 0.0)}));
  check(*run, "apply_failed");
}

TEST_F(ReportGolden, FailedByARevertFailure) {
  script_.on_revert = [](const std::string& f) -> Result<void> {
    if (f == "a") return fail("rule busy", EBUSY);
    return {};
  };
  script_.on_observe = [](const std::string& f, int) -> json { return {{"left", f == "a" ? "a rule" : "nothing"}}; };
  probes_["api"].samples = samples(D(3s));
  auto run = make_run(experiment("golden-revert", 3s, {fault("a", 500ms, 1s), fault("b", 1s, 1s)}, {probe("api", 0.0)}));
  check(*run, "revert_failed");
}

TEST_F(ReportGolden, AbortedByALeaseLapse) {
  script_.on_renew = [&](const std::string&, int n) -> Result<void> {
    if (n == 5) clock_.skew(3s);
    return {};
  };
  probes_["api"].samples = samples(D(6s));
  auto run = make_run(experiment("golden-lapse", 6s, {fault("a", 1s, 3s)}, {probe("api", 0.0)}));
  check(*run, "lease_lapsed");
}

TEST_F(ReportGolden, Halted) {
  script_.on_renew = [&](const std::string&, int n) -> Result<void> {
    if (n == 3) run_->halt("requested by test");
    return {};
  };
  run_ = make_run(experiment("golden-halt", 5s, {fault("a", 1s, 3s)}));
  check(*run_, "halted");
}

}  // namespace
}  // namespace chaos
