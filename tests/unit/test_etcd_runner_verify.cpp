// The runner's after-the-run checks that the etcd family relies on (Fault::verify() and
// Probe::verify()), on a fake clock with fake faults and probes: they run once, after every fault
// is reverted and every probe stopped; a violation from either makes the run deviate; the
// fault's observe() is read again afterwards; a fault that never started is not asked.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/journal.h"
#include "runner/clock.h"
#include "runner/families.h"
#include "runner/run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;

struct Log {
  std::vector<std::string> calls;
  std::vector<std::string> fault_violations;
  nlohmann::json probe_check;  // what the probe's verify() returns
};

struct Spec : FaultSpec {
  nlohmann::json to_json() const override { return nlohmann::json::object(); }
};
struct PSpec : ProbeSpec {
  nlohmann::json to_json() const override { return nlohmann::json::object(); }
};

class CheckedFault : public Fault {
 public:
  CheckedFault(std::string name, Log& l) : name_(std::move(name)), log_(l) {}
  Result<std::vector<std::string>> plan() override { return std::vector<std::string>{}; }
  Result<void> apply() override {
    log_.calls.push_back("apply " + name_);
    return {};
  }
  Result<void> renew(std::uint64_t) override { return {}; }
  Result<void> revert() override {
    log_.calls.push_back("revert " + name_);
    return {};
  }
  std::vector<std::string> verify() override {
    log_.calls.push_back("verify " + name_);
    ++verified_;
    return log_.fault_violations;
  }
  nlohmann::json observe() const override { return {{"verified", verified_}}; }

 private:
  std::string name_;
  Log& log_;
  int verified_ = 0;
};

class CheckedProbe : public Probe {
 public:
  explicit CheckedProbe(Log& l) : log_(l) {}
  Result<std::vector<std::string>> plan() override { return std::vector<std::string>{}; }
  Result<void> start(RunClock) override { return {}; }
  void stop() override { log_.calls.push_back("stop probe"); }
  std::vector<ProbeSample> samples() const override {
    std::vector<ProbeSample> v;
    for (auto t : {100ms, 2500ms, 4500ms}) {
      ProbeSample s;
      s.t = t;
      s.ok = true;
      v.push_back(s);
    }
    return v;
  }
  nlohmann::json verify() override {
    log_.calls.push_back("verify probe");
    return log_.probe_check;
  }

 private:
  Log& log_;
};

class RunnerVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("chaos-verify-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    journal_ = std::move(*Journal::open(dir_.string()));
    config_.lease = 1s;
    families_.faults.push_back(FaultFamily{
        "checked", [](MapReader&) -> std::shared_ptr<const FaultSpec> { return std::make_shared<Spec>(); },
        [this](const FaultEntry& e, const FaultContext&) -> Result<std::unique_ptr<Fault>> {
          return std::unique_ptr<Fault>(new CheckedFault(e.name, log_));
        },
        nullptr});
    families_.probes.push_back(ProbeKind{
        "checkedprobe", [](MapReader&) -> std::shared_ptr<const ProbeSpec> { return std::make_shared<PSpec>(); },
        [this](const ProbeEntry&) -> Result<std::unique_ptr<Probe>> {
          return std::unique_ptr<Probe>(new CheckedProbe(log_));
        }});
  }
  void TearDown() override {
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }

  nlohmann::json run(std::vector<std::pair<std::string, Duration>> faults, Duration duration = 5s) {
    Experiment e;
    e.file = "v.yaml";
    e.name = "verify";
    e.duration = duration;
    for (auto& [name, start] : faults) {
      FaultEntry f;
      f.name = name;
      f.start = start;
      f.duration = 1s;
      f.family = "checked";
      f.spec = std::make_shared<Spec>();
      e.faults.push_back(f);
    }
    ProbeEntry p;
    p.name = "writes";
    p.kind = "checkedprobe";
    p.tolerance.max_error_rate = 0;
    p.spec = std::make_shared<PSpec>();
    e.probes.push_back(p);
    chaos::Run r("run-v", std::move(e), config_, *journal_, families_, clock_);
    EXPECT_TRUE(r.plan());
    return r.execute(nullptr);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Journal> journal_;
  AgentConfig config_;
  FakeClock clock_;
  Families families_;
  Log log_;
};

TEST_F(RunnerVerify, ChecksRunOnceAfterEverythingIsRevertedAndStopped) {
  log_.probe_check = {{"check", "consistency"}, {"lost", 0}, {"violations", nlohmann::json::array()}};
  auto rep = run({{"a", 1s}, {"b", 2s}});
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1);
  std::vector<std::string> want{"apply a", "revert a", "apply b", "revert b", "stop probe",
                                "verify a", "verify b", "verify probe"};
  ASSERT_GE(log_.calls.size(), want.size());
  // (Run's destructor stops the probe once more: stop() is idempotent.)
  EXPECT_EQ(std::vector<std::string>(log_.calls.begin(), log_.calls.begin() + want.size()), want);
  EXPECT_EQ(rep["faults"][0]["observed"]["verified"], 1) << "observe() is read again after verify()";
  EXPECT_FALSE(rep["faults"][0].contains("violations"));
  const auto& p = rep["probes"][0];
  EXPECT_EQ(p["verify"]["lost"], 0);
  ASSERT_EQ(p["hypothesis"].size(), 3u);  // before, after, and the check
  EXPECT_EQ(p["hypothesis"][2]["check"], "consistency");
  EXPECT_EQ(p["hypothesis"][2]["held"], true);
}

TEST_F(RunnerVerify, AFaultViolationMakesTheRunDeviate) {
  log_.fault_violations = {"the cluster never became healthy again"};
  auto rep = run({{"a", 1s}});
  EXPECT_EQ(rep["outcome"], "deviated");
  ASSERT_TRUE(rep["faults"][0].contains("violations"));
  EXPECT_EQ(rep["faults"][0]["violations"][0], "the cluster never became healthy again");
}

TEST_F(RunnerVerify, AProbeCheckViolationMakesTheRunDeviate) {
  log_.probe_check = {{"check", "consistency"}, {"lost", 3}, {"violations", {"3 of 10 acknowledged writes lost"}}};
  auto rep = run({{"a", 1s}});
  EXPECT_EQ(rep["outcome"], "deviated");
  const auto& h = rep["probes"][0]["hypothesis"];
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[2]["held"], false);
  EXPECT_EQ(h[2]["violations"][0], "3 of 10 acknowledged writes lost");
}

TEST_F(RunnerVerify, NullCheckAddsNothingAndUnstartedFaultsAreNotAsked) {
  log_.probe_check = nullptr;
  // Fault b would start after the end of the run: a run cut short (duration) never applies it.
  auto rep = run({{"a", 1s}, {"b", 3500ms}}, 3s);
  EXPECT_EQ(rep["outcome"], "held") << rep.dump(1);
  EXPECT_EQ(std::count(log_.calls.begin(), log_.calls.end(), "verify b"), 0);
  EXPECT_EQ(rep["probes"][0]["hypothesis"].size(), 2u);
  EXPECT_FALSE(rep["probes"][0].contains("verify"));
}

}  // namespace
}  // namespace chaos
