// The runner's after-the-run checks that the etcd family relies on (Fault::verify() and
// Probe::verify()), on a fake clock with fake faults and probes: they run once, after every fault
// is reverted and every probe stopped; a violation from either makes the run deviate; the
// fault's observe() is read again afterwards; a fault that never started is not asked.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runner/run.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using namespace fake;

// Faults note their verify() calls (and report how many in observe()); the probe "writes" notes
// its stop and verify among the faults' calls, and has three fine samples.
class RunnerVerify : public FakeRunTest {
 protected:
  void SetUp() override {
    FakeRunTest::SetUp();
    script_.on_verify = [this](const std::string& f) {
      script_.note("verify", f);
      return fault_violations_;
    };
    script_.on_observe = [](const std::string&, int verified) -> nlohmann::json { return {{"verified", verified}}; };
    probe_.on_call = [this](std::string_view what) {
      if (what != "start") script_.note(std::string(what), "probe");
    };
    for (auto t : {100ms, 2500ms, 4500ms}) probe_.samples.push_back(sample(t, true, Duration{0}));
  }

  // Each fault lasts 1s from its start.
  nlohmann::json run(std::vector<std::pair<std::string, Duration>> faults, Duration duration = 5s) {
    std::vector<FaultEntry> entries;
    for (auto& [name, start] : faults) entries.push_back(fault(name, start, 1s));
    auto r = make_run(experiment("verify", duration, std::move(entries), {probe("writes")}), "run-v");
    return execute(*r);
  }

  std::vector<std::string> fault_violations_;
  ProbeScript& probe_ = probes_["writes"];
};

TEST_F(RunnerVerify, ChecksRunOnceAfterEverythingIsRevertedAndStopped) {
  probe_.check = {{"check", "consistency"}, {"lost", 0}, {"violations", nlohmann::json::array()}};
  auto rep = run({{"a", 1s}, {"b", 2s}});
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1);
  std::vector<std::string> want{"apply a", "revert a", "apply b", "revert b", "stop probe",
                                "verify a", "verify b", "verify probe"};
  auto calls = script_.sequence();
  ASSERT_GE(calls.size(), want.size());
  // (Run's destructor stops the probe once more: stop() is idempotent.)
  EXPECT_EQ(std::vector<std::string>(calls.begin(), calls.begin() + want.size()), want);
  EXPECT_EQ(rep["faults"][0]["observed"]["verified"], 1) << "observe() is read again after verify()";
  EXPECT_FALSE(rep["faults"][0].contains("violations"));
  const auto& p = rep["probes"][0];
  EXPECT_EQ(p["verify"]["lost"], 0);
  ASSERT_EQ(p["hypothesis"].size(), 3u);  // before, after, and the check
  EXPECT_EQ(p["hypothesis"][2]["check"], "consistency");
  EXPECT_EQ(p["hypothesis"][2]["held"], true);
}

TEST_F(RunnerVerify, AFaultViolationMakesTheRunDeviate) {
  fault_violations_ = {"the cluster never became healthy again"};
  auto rep = run({{"a", 1s}});
  EXPECT_EQ(rep["outcome"], "deviated");
  ASSERT_TRUE(rep["faults"][0].contains("violations"));
  EXPECT_EQ(rep["faults"][0]["violations"][0], "the cluster never became healthy again");
}

TEST_F(RunnerVerify, AProbeCheckViolationMakesTheRunDeviate) {
  probe_.check = {{"check", "consistency"}, {"lost", 3}, {"violations", {"3 of 10 acknowledged writes lost"}}};
  auto rep = run({{"a", 1s}});
  EXPECT_EQ(rep["outcome"], "deviated");
  const auto& h = rep["probes"][0]["hypothesis"];
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[2]["held"], false);
  EXPECT_EQ(h[2]["violations"][0], "3 of 10 acknowledged writes lost");
}

TEST_F(RunnerVerify, NullCheckAddsNothingAndUnstartedFaultsAreNotAsked) {
  probe_.check = nullptr;
  // Fault b would start after the end of the run: a run cut short (duration) never applies it.
  auto rep = run({{"a", 1s}, {"b", 3500ms}}, 3s);
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1);
  auto calls = script_.sequence();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "verify b"), 0);
  EXPECT_EQ(rep["probes"][0]["hypothesis"].size(), 2u);
  EXPECT_FALSE(rep["probes"][0].contains("verify"));
}

}  // namespace
}  // namespace chaos
