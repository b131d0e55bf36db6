#include "unit/support/fake_run.h"

#include <unistd.h>

#include "core/fields.h"

namespace chaos::fake {

Duration FaultScript::rel() const { return clock ? D(clock->now() - t0) : Duration{0}; }

void FaultScript::note(const std::string& what, const std::string& who) {
  calls.push_back({who, what, rel(), 0, clock ? clock->mono_ns() : 0});
}

std::vector<Call> FaultScript::of(const std::string& what) const {
  std::vector<Call> v;
  for (const auto& c : calls)
    if (c.what == what) v.push_back(c);
  return v;
}

std::vector<std::string> FaultScript::sequence() const {
  std::vector<std::string> v;
  for (const auto& c : calls)
    if (c.what != "renew") v.push_back(c.what + " " + c.fault);
  return v;
}

void FakeFault::record(const char* what, std::uint64_t deadline) {
  s_.calls.push_back({name_, what, s_.rel(), deadline, s_.clock ? s_.clock->mono_ns() : 0});
}

Result<std::vector<std::string>> FakeFault::plan() {
  if (s_.on_plan) return s_.on_plan(name_);
  return std::vector<std::string>{"fake " + name_};
}

Result<void> FakeFault::apply() {
  record("apply");
  if (s_.on_apply) return s_.on_apply(name_);
  return {};
}

Result<void> FakeFault::renew(std::uint64_t deadline) {
  record("renew", deadline);
  ++s_.renews;
  if (s_.on_renew) return s_.on_renew(name_, s_.renews);
  return {};
}

Result<void> FakeFault::revert() {
  record("revert");
  if (s_.on_revert) return s_.on_revert(name_);
  return {};
}

nlohmann::json FakeFault::sample() {
  ++sampled_;
  return s_.on_sample ? s_.on_sample(name_, sampled_) : nullptr;
}

nlohmann::json FakeFault::observe() const {
  return s_.on_observe ? s_.on_observe(name_, verified_) : nlohmann::json::object();
}

std::vector<std::string> FakeFault::verify() {
  ++verified_;
  return s_.on_verify ? s_.on_verify(name_) : std::vector<std::string>{};
}

Result<void> FakeProbe::start(RunClock) {
  s_.started = true;
  if (s_.on_call) s_.on_call("start");
  return {};
}

void FakeProbe::stop() {
  s_.stopped = true;
  if (s_.on_call) s_.on_call("stop");
}

nlohmann::json FakeProbe::verify() {
  if (s_.on_call) s_.on_call("verify");
  return s_.check;
}

FaultFamily fault_family(FaultScript& script, std::string name) {
  return FaultFamily{std::move(name),
                     [](MapReader& r) -> std::shared_ptr<const FaultSpec> {
                       r.finish();
                       return std::make_shared<FakeSpec>();
                     },
                     [&script](const FaultEntry& e, const FaultContext&) -> Result<std::unique_ptr<Fault>> {
                       return std::unique_ptr<Fault>(new FakeFault(e.name, script));
                     },
                     nullptr};
}

ProbeKind probe_kind(std::map<std::string, ProbeScript>& scripts) {
  return ProbeKind{"fakeprobe",
                   [](MapReader& r) -> std::shared_ptr<const ProbeSpec> {
                     r.finish();
                     return std::make_shared<FakeProbeSpec>();
                   },
                   [&scripts](const ProbeEntry& e) -> Result<std::unique_ptr<Probe>> {
                     return std::unique_ptr<Probe>(new FakeProbe(scripts[e.name]));
                   }};
}

ProbeSample sample(Duration t, bool ok, Duration latency, const std::string& error) {
  ProbeSample s;
  s.t = t;
  s.ok = ok;
  s.latency = latency;
  s.status = ok ? 200 : 0;
  s.error = ok ? "" : error;
  return s;
}

FaultEntry fault(std::string name, Duration start, Duration duration) {
  FaultEntry f;
  f.name = std::move(name);
  f.start = start;
  f.duration = duration;
  f.family = "fake";
  f.spec = std::make_shared<FakeSpec>();
  return f;
}

ProbeEntry probe(std::string name, double max_error_rate) {
  ProbeEntry p;
  p.name = std::move(name);
  p.kind = "fakeprobe";
  p.check_in = {Phase::before, Phase::after};
  p.tolerance.max_error_rate = max_error_rate;
  p.spec = std::make_shared<FakeProbeSpec>();
  return p;
}

Experiment experiment(std::string name, Duration duration, std::vector<FaultEntry> faults,
                      std::vector<ProbeEntry> probes) {
  Experiment e;
  e.file = name + ".yaml";
  e.api_version = "chaos-agent/v1";
  e.name = std::move(name);
  e.duration = duration;
  e.faults = std::move(faults);
  e.probes = std::move(probes);
  return e;
}

void FakeRunTest::SetUp() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  dir_ = std::filesystem::temp_directory_path() / ("chaos-fake-run-" + std::to_string(::getpid()) + "-" +
                                                   test->test_suite_name() + "-" + test->name());
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  auto j = Journal::open(dir_.string());
  ASSERT_TRUE(j) << j.error().text();
  journal_ = std::move(*j);
  config_.lease = std::chrono::seconds(1);
  config_.tick = std::chrono::milliseconds(100);
  script_.clock = &clock_;
  families_.faults.push_back(fault_family(script_));
  families_.probes.push_back(probe_kind(probes_));
}

void FakeRunTest::TearDown() {
  journal_.reset();
  std::filesystem::remove_all(dir_);
}

std::unique_ptr<chaos::Run> FakeRunTest::make_run(Experiment e, std::string id) {
  return std::make_unique<chaos::Run>(std::move(id), std::move(e), config_, *journal_, families_, clock_);
}

nlohmann::json FakeRunTest::execute(chaos::Run& run) {
  auto plan = run.plan();
  EXPECT_TRUE(plan) << plan.error().text();
  if (!plan) return nullptr;
  script_.t0 = clock_.now();  // execute() takes t0 from the same fake clock, which has not moved
  return run.execute([this](const nlohmann::json& ev) { events_.push_back(ev); });
}

}  // namespace chaos::fake
