// The experiment parser, against a registry of test-only families so core is tested alone:
// valid files, every kind of bad input, and the exact `FILE:LINE:COL: error: FIELD: ...` lines.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/parser.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kTestdata = std::string(CHAOS_SOURCE_DIR) + "/tests/unit/testdata/";

// fake: {value: DURATION}
struct FakeSpec : FaultSpec {
  Duration value{0};
  nlohmann::json to_json() const override { return {{"value", format_duration(value)}}; }
};
// other: {level: PERCENT}
struct OtherSpec : FaultSpec {
  double level = 0;
  nlohmann::json to_json() const override { return {{"level", level}}; }
};
// fakeprobe: {target: STRING}
struct FakeProbeSpec : ProbeSpec {
  std::string target;
  nlohmann::json to_json() const override { return {{"target", target}}; }
};

SpecRegistry test_registry() {
  SpecRegistry reg;
  reg.add_fault_family("fake", [](MapReader& r) -> std::shared_ptr<const FaultSpec> {
    auto v = r.duration("value", true);
    r.finish();
    if (!v) return nullptr;
    auto s = std::make_shared<FakeSpec>();
    s->value = *v;
    return s;
  });
  reg.add_fault_family("other", [](MapReader& r) -> std::shared_ptr<const FaultSpec> {
    auto v = r.percent("level", true);
    r.finish();
    if (!v) return nullptr;
    auto s = std::make_shared<OtherSpec>();
    s->level = v->value;
    return s;
  });
  reg.add_probe_kind("fakeprobe", [](MapReader& r) -> std::shared_ptr<const ProbeSpec> {
    auto t = r.str("target", true);
    r.finish();
    if (!t) return nullptr;
    auto s = std::make_shared<FakeProbeSpec>();
    s->target = *t;
    return s;
  });
  return reg;
}

ParseOutcome parse(const std::string& text) { return parse_experiment(text, "t.yaml", test_registry()); }

std::vector<std::string> errors(const std::string& text) {
  auto out = parse(text);
  EXPECT_FALSE(out.experiment.has_value()) << "an experiment came back together with errors";
  std::vector<std::string> lines;
  for (const auto& d : out.diags.items()) lines.push_back(d.str());
  return lines;
}

// The lines above spec:, shared by most inputs below (4 lines, so spec: is line 5).
constexpr const char* kHead =
    "apiVersion: chaos-agent/v1\n"
    "kind: Experiment\n"
    "metadata:\n"
    "  name: t\n";

// ---------------------------------------------------------------------------------------------
// Registry

TEST(SpecRegistry, LooksUpWhatWasAdded) {
  auto reg = test_registry();
  EXPECT_THAT(reg.fault_families(), ElementsAre("fake", "other"));
  EXPECT_THAT(reg.probe_kinds(), ElementsAre("fakeprobe"));
  EXPECT_NE(reg.fault_parser("fake"), nullptr);
  EXPECT_EQ(reg.fault_parser("network"), nullptr);
  EXPECT_NE(reg.probe_parser("fakeprobe"), nullptr);
  EXPECT_EQ(reg.probe_parser("fake"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Valid experiments

TEST(Parser, ValidFileReadsEveryField) {
  auto out = parse_experiment_file(kTestdata + "valid.yaml", test_registry());
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  ASSERT_TRUE(out.experiment.has_value());
  const Experiment& e = *out.experiment;
  EXPECT_EQ(e.file, kTestdata + "valid.yaml");
  EXPECT_EQ(e.api_version, "chaos-agent/v1");
  EXPECT_EQ(e.name, "lab-partition");
  EXPECT_EQ(e.labels, (std::map<std::string, std::string>{{"team", "infra"}, {"tier", "1"}}));
  EXPECT_EQ(e.duration, 90s);

  ASSERT_EQ(e.faults.size(), 2u);
  EXPECT_EQ(e.faults[0].name, "cut");
  EXPECT_EQ(e.faults[0].family, "fake");
  EXPECT_EQ(e.faults[0].start, 10s);
  EXPECT_EQ(e.faults[0].duration, 20s);
  EXPECT_EQ(e.faults[0].end(), 30s);
  EXPECT_EQ(e.faults[0].loc.line, 13);
  EXPECT_EQ(e.faults[0].loc.col, 7);
  auto fake = std::dynamic_pointer_cast<const FakeSpec>(e.faults[0].spec);
  ASSERT_TRUE(fake);
  EXPECT_EQ(fake->value, 10ms);
  EXPECT_EQ(e.faults[1].name, "second.one");
  EXPECT_EQ(e.faults[1].family, "other");
  EXPECT_EQ(e.faults[1].start, 0s) << "start defaults to the beginning of the run";
  auto other = std::dynamic_pointer_cast<const OtherSpec>(e.faults[1].spec);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->level, 50.0);
  EXPECT_EQ(e.faults_begin(), 0s);
  EXPECT_EQ(e.faults_end(), 30s);

  ASSERT_EQ(e.probes.size(), 2u);
  const ProbeEntry& p = e.probes[0];
  EXPECT_EQ(p.name, "web");
  EXPECT_EQ(p.kind, "fakeprobe");
  EXPECT_EQ(p.interval, 200ms);
  EXPECT_EQ(p.timeout, 2s);
  EXPECT_THAT(p.check_in, ElementsAre(Phase::before, Phase::during, Phase::after));
  ASSERT_TRUE(p.tolerance.max_error_rate);
  EXPECT_DOUBLE_EQ(*p.tolerance.max_error_rate, 0.01);
  EXPECT_EQ(p.tolerance.p50, 10ms);
  EXPECT_EQ(p.tolerance.p90, 20ms);
  EXPECT_EQ(p.tolerance.p99, 50ms);
  EXPECT_EQ(p.tolerance.max, 1s);
  auto fp = std::dynamic_pointer_cast<const FakeProbeSpec>(p.spec);
  ASSERT_TRUE(fp);
  EXPECT_EQ(fp->target, "http://198.18.0.2/");

  // Defaults of a probe that gives only its block.
  const ProbeEntry& d = e.probes[1];
  EXPECT_EQ(d.interval, 100ms);
  EXPECT_EQ(d.timeout, 1s);
  EXPECT_THAT(d.check_in, ElementsAre(Phase::before, Phase::after));
  EXPECT_FALSE(d.tolerance.max_error_rate);
  EXPECT_FALSE(d.tolerance.p50);
  EXPECT_FALSE(d.tolerance.p99);
  EXPECT_FALSE(d.tolerance.max);
}

TEST(Parser, ValidFileToJson) {
  auto out = parse_experiment_file(kTestdata + "valid.yaml", test_registry());
  ASSERT_TRUE(out.experiment) << out.diags.str();
  auto j = out.experiment->to_json();
  EXPECT_EQ(j["apiVersion"], "chaos-agent/v1");
  EXPECT_EQ(j["name"], "lab-partition");
  EXPECT_EQ(j["duration"], "90s");
  EXPECT_EQ(j["labels"]["team"], "infra");
  ASSERT_EQ(j["faults"].size(), 2u);
  EXPECT_EQ(j["faults"][0]["name"], "cut");
  EXPECT_EQ(j["faults"][0]["family"], "fake");
  EXPECT_EQ(j["faults"][0]["start"], "10s");
  EXPECT_EQ(j["faults"][0]["duration"], "20s");
  EXPECT_EQ(j["faults"][0]["fake"]["value"], "10ms");
  EXPECT_EQ(j["faults"][1]["other"]["level"], 50.0);
  ASSERT_EQ(j["steadyState"].size(), 2u);
  EXPECT_EQ(j["steadyState"][0]["checkIn"], nlohmann::json({"before", "during", "after"}));
  EXPECT_EQ(j["steadyState"][0]["tolerance"]["maxErrorRate"], 0.01);
  EXPECT_EQ(j["steadyState"][0]["tolerance"]["p99"], "50ms");
  EXPECT_EQ(j["steadyState"][0]["fakeprobe"]["target"], "http://198.18.0.2/");
  EXPECT_EQ(j["steadyState"][1]["tolerance"], nlohmann::json::object());
}

TEST(Parser, MinimalExperimentWithNoFaultsOrProbes) {
  auto out = parse(std::string(kHead) + "spec:\n  duration: 10s\n");
  ASSERT_TRUE(out.experiment) << out.diags.str();
  EXPECT_TRUE(out.experiment->faults.empty());
  EXPECT_TRUE(out.experiment->probes.empty());
  EXPECT_TRUE(out.experiment->labels.empty());
  // With no faults, the whole run is "before": the fault window starts and ends at the end.
  EXPECT_EQ(out.experiment->faults_begin(), 10s);
  EXPECT_EQ(out.experiment->faults_end(), 10s);
}

TEST(Parser, FaultEndingExactlyAtSpecDurationIsFine) {
  auto out = parse(std::string(kHead) +
                   "spec:\n  duration: 30s\n  faults:\n"
                   "    - {name: a, start: 10s, duration: 20s, fake: {value: 1ms}}\n");
  ASSERT_TRUE(out.experiment) << out.diags.str();
  EXPECT_EQ(out.experiment->faults[0].end(), 30s);
}

TEST(Parser, FaultWindow) {
  auto out = parse(std::string(kHead) +
                   "spec:\n  duration: 60s\n  faults:\n"
                   "    - {name: late, start: 30s, duration: 20s, fake: {value: 1ms}}\n"
                   "    - {name: early, start: 5s, duration: 10s, fake: {value: 1ms}}\n");
  ASSERT_TRUE(out.experiment) << out.diags.str();
  EXPECT_EQ(out.experiment->faults_begin(), 5s);
  EXPECT_EQ(out.experiment->faults_end(), 50s);
}

// ---------------------------------------------------------------------------------------------
// The head of the file

TEST(Parser, WrongApiVersion) {
  EXPECT_THAT(errors("apiVersion: chaos-agent/v2\nkind: Experiment\nmetadata: {name: t}\nspec: {duration: 1s}\n"),
              ElementsAre("t.yaml:1:13: error: apiVersion: \"chaos-agent/v2\": expected chaos-agent/v1"));
}

TEST(Parser, ChaosMeshManifestGetsAHint) {
  auto out = parse_experiment_file(kTestdata + "chaos-mesh.yaml", test_registry());
  EXPECT_FALSE(out.experiment);
  ASSERT_FALSE(out.diags.ok());
  const std::string path = kTestdata + "chaos-mesh.yaml";
  auto first = out.diags.items().front().str();
  EXPECT_EQ(first, path +
                       ":1:13: error: apiVersion: \"chaos-mesh.org/v1alpha1\": a Chaos Mesh manifest; run it with "
                       "`chaosctl run FILE --target ...` or convert it with `chaosctl import FILE`, expected "
                       "chaos-agent/v1");
  EXPECT_THAT(out.diags.str(), HasSubstr(path + ":2:7: error: kind: \"NetworkChaos\": expected Experiment"));
}

TEST(Parser, WrongKind) {
  EXPECT_THAT(errors("apiVersion: chaos-agent/v1\nkind: Experiments\nmetadata: {name: t}\nspec: {duration: 1s}\n"),
              ElementsAre("t.yaml:2:7: error: kind: \"Experiments\": expected Experiment"));
}

TEST(Parser, MissingTopLevelFields) {
  EXPECT_THAT(errors("metadata: {name: t}\n"),
              ElementsAre("t.yaml:1:1: error: apiVersion: missing required field",
                          "t.yaml:1:1: error: kind: missing required field",
                          "t.yaml:1:1: error: spec: missing required field"));
}

TEST(Parser, MissingMetadataName) {
  EXPECT_THAT(errors("apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata:\n  labels: {a: b}\n"
                     "spec: {duration: 1s}\n"),
              ElementsAre("t.yaml:4:3: error: metadata.name: missing required field"));
}

TEST(Parser, EmptyMetadata) {
  EXPECT_THAT(errors("apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata:\nspec: {duration: 1s}\n"),
              ElementsAre("t.yaml:3:1: error: metadata: missing value: expected a map of fields"));
}

TEST(Parser, BadNames) {
  const std::string expected =
      ": expected a name of lowercase letters, digits, '-' and '.', starting and ending with a letter or digit "
      "(at most 63 characters)";
  for (const std::string& bad : std::vector<std::string>{"Upper", "under_score", "-lead", "trail-", ".dot", "has space", "x/y",
                                std::string(64, 'a')}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(errors("apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata:\n  name: \"" + bad +
                       "\"\nspec: {duration: 1s}\n"),
                ElementsAre("t.yaml:4:9: error: metadata.name: \"" + bad + "\"" + expected));
  }
  for (const std::string& good : std::vector<std::string>{"a", "0", "a-b", "a.b", "lab-partition-2", std::string(63, 'a')}) {
    SCOPED_TRACE(good);
    auto out = parse("apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata:\n  name: \"" + good +
                     "\"\nspec: {duration: 1s}\n");
    EXPECT_TRUE(out.experiment) << out.diags.str();
  }
}

TEST(Parser, MetadataUnknownFieldAndBadLabel) {
  EXPECT_THAT(
      errors("apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata:\n  name: t\n  owner: me\n"
             "  labels:\n    ok: yes\n    nested: {a: b}\n    ok: again\nspec: {duration: 1s}\n"),
      ElementsAre("t.yaml:8:13: error: metadata.labels.nested: found a map: expected a string",
                  "t.yaml:9:5: error: metadata.labels.ok: given twice: expected each field once",
                  "t.yaml:5:3: error: metadata.owner: unknown field, expected one of: description, labels, name"));
}

TEST(Parser, UnknownTopLevelAndSpecFields) {
  EXPECT_THAT(errors(std::string(kHead) + "spec:\n  duration: 1s\n  fault: []\nstatus: {}\n"),
              ElementsAre("t.yaml:7:3: error: spec.fault: unknown field, expected one of: abortWhen, duration, "
                          "faults, steadyState",
                          "t.yaml:8:1: error: status: unknown field, expected one of: apiVersion, kind, metadata, "
                          "spec"));
}

// ---------------------------------------------------------------------------------------------
// spec.duration

TEST(Parser, SpecDurationIsRequired) {
  EXPECT_THAT(errors(std::string(kHead) + "spec:\n  faults: []\n"),
              ElementsAre("t.yaml:6:3: error: spec.duration: missing required field"));
}

TEST(Parser, SpecDurationZero) {
  EXPECT_THAT(errors(std::string(kHead) + "spec:\n  duration: 0s\n"),
              ElementsAre("t.yaml:6:13: error: spec.duration: \"0s\": expected a duration above 0s (every run "
                          "has a hard cap)"));
}

TEST(Parser, SpecDurationNotADuration) {
  EXPECT_THAT(errors(std::string(kHead) + "spec:\n  duration: 30\n"),
              ElementsAre("t.yaml:6:13: error: spec.duration: \"30\": expected a duration like 10ms, 1.5s, 2m "
                          "(units: ns, us, ms, s, m, h)"));
}

// ---------------------------------------------------------------------------------------------
// Faults

std::string with_faults(const std::string& faults, const std::string& duration = "1m") {
  return std::string(kHead) + "spec:\n  duration: " + duration + "\n  faults:\n" + faults;
}

TEST(Parser, FaultZeroDuration) {
  EXPECT_THAT(errors(with_faults("    - name: a\n      duration: 0ms\n      fake: {value: 1ms}\n")),
              ElementsAre("t.yaml:9:17: error: spec.faults[0].duration: \"0ms\": expected a duration above 0s"));
}

TEST(Parser, FaultMissingNameAndDuration) {
  EXPECT_THAT(errors(with_faults("    - start: 1s\n      fake: {value: 1ms}\n")),
              ElementsAre("t.yaml:8:7: error: spec.faults[0].name: missing required field",
                          "t.yaml:8:7: error: spec.faults[0].duration: missing required field"));
}

TEST(Parser, DuplicateFaultNames) {
  EXPECT_THAT(errors(with_faults("    - {name: a, duration: 1s, fake: {value: 1ms}}\n"
                                 "    - {name: b, duration: 1s, fake: {value: 1ms}}\n"
                                 "    - {name: a, duration: 1s, fake: {value: 1ms}}\n")),
              ElementsAre("t.yaml:10:14: error: spec.faults[2].name: \"a\": duplicate fault name, expected a name "
                          "unique in spec.faults"));
}

TEST(Parser, FaultOutlastingSpecDurationNamesBoth) {
  EXPECT_THAT(errors(with_faults("    - name: ok\n      duration: 10s\n      fake: {value: 1ms}\n"
                                 "    - name: long\n      start: 20s\n      duration: 30s\n"
                                 "      fake: {value: 1ms}\n",
                                 "40s")),
              ElementsAre("t.yaml:13:17: error: spec.faults[1].duration: ends at 50s (start 20s + duration 30s), "
                          "after spec.duration 40s: expected every fault to end within spec.duration"));
}

TEST(Parser, FaultStartingAfterTheRunEnds) {
  EXPECT_THAT(errors(with_faults("    - {name: a, start: 2m, duration: 1s, fake: {value: 1ms}}\n")),
              ElementsAre("t.yaml:8:38: error: spec.faults[0].duration: ends at 121s (start 2m + duration 1s), "
                          "after spec.duration 1m: expected every fault to end within spec.duration"));
}

TEST(Parser, MissingFamilyBlock) {
  EXPECT_THAT(errors(with_faults("    - name: a\n      duration: 1s\n")),
              ElementsAre("t.yaml:8:7: error: spec.faults[0]: missing the fault family block: expected exactly "
                          "one of: fake, other"));
}

TEST(Parser, MisspelledFamilyBlockListsTheFamilies) {
  EXPECT_THAT(errors(with_faults("    - name: a\n      duration: 1s\n      fkae: {value: 1ms}\n")),
              ElementsAre("t.yaml:8:7: error: spec.faults[0]: missing the fault family block: expected exactly "
                          "one of: fake, other",
                          "t.yaml:10:7: error: spec.faults[0].fkae: unknown field, expected one of: duration, "
                          "fake, name, other, start"));
}

TEST(Parser, TwoFamilyBlocks) {
  EXPECT_THAT(errors(with_faults("    - name: a\n      duration: 1s\n      fake: {value: 1ms}\n"
                                 "      other: {level: 5%}\n")),
              ElementsAre("t.yaml:8:7: error: spec.faults[0]: more than one fault family block: expected exactly "
                          "one of: fake, other"));
}

TEST(Parser, FamilyBlockErrorsCarryTheFullPath) {
  EXPECT_THAT(errors(with_faults("    - name: a\n      duration: 1s\n      fake:\n        value: soon\n"
                                 "        colour: red\n")),
              ElementsAre("t.yaml:11:16: error: spec.faults[0].fake.value: \"soon\": expected a duration like "
                          "10ms, 1.5s, 2m (units: ns, us, ms, s, m, h)",
                          "t.yaml:12:9: error: spec.faults[0].fake.colour: unknown field, expected one of: value"));
}

TEST(Parser, FamilyBlockNotAMap) {
  EXPECT_THAT(errors(with_faults("    - name: a\n      duration: 1s\n      fake: 10ms\n")),
              ElementsAre("t.yaml:10:13: error: spec.faults[0].fake: expected a map of fields"));
}

TEST(Parser, FaultsNotAList) {
  EXPECT_THAT(errors(std::string(kHead) + "spec:\n  duration: 1s\n  faults: {name: a}\n"),
              ElementsAre("t.yaml:7:11: error: spec.faults: found a map: expected a list"));
}

TEST(Parser, FaultEntryNotAMap) {
  EXPECT_THAT(errors(with_faults("    - just-a-name\n")),
              ElementsAre("t.yaml:8:7: error: spec.faults[0]: expected a map of fields"));
}

// ---------------------------------------------------------------------------------------------
// Steady state

std::string with_probes(const std::string& probes) {
  return std::string(kHead) + "spec:\n  duration: 1m\n  steadyState:\n" + probes;
}

TEST(Parser, CheckInPhases) {
  auto out = parse(with_probes("    - name: p\n      checkIn: [during]\n      fakeprobe: {target: x}\n"));
  ASSERT_TRUE(out.experiment) << out.diags.str();
  EXPECT_THAT(out.experiment->probes[0].check_in, ElementsAre(Phase::during));

  out = parse(with_probes("    - name: p\n      checkIn: [after, before]\n      fakeprobe: {target: x}\n"));
  ASSERT_TRUE(out.experiment) << out.diags.str();
  EXPECT_THAT(out.experiment->probes[0].check_in, ElementsAre(Phase::after, Phase::before));

  EXPECT_THAT(errors(with_probes("    - name: p\n      checkIn: [before, never]\n      fakeprobe: {target: x}\n")),
              ElementsAre("t.yaml:9:25: error: spec.steadyState[0].checkIn[1]: \"never\": expected one of: before, "
                          "during, after"));
  EXPECT_THAT(errors(with_probes("    - name: p\n      checkIn: during\n      fakeprobe: {target: x}\n")),
              ElementsAre("t.yaml:9:16: error: spec.steadyState[0].checkIn: \"during\": expected a list"));
}

TEST(Parser, ToleranceParsing) {
  auto out = parse(with_probes("    - name: p\n      tolerance: {maxErrorRate: 0.5%, p99: 250ms}\n"
                               "      fakeprobe: {target: x}\n"));
  ASSERT_TRUE(out.experiment) << out.diags.str();
  const auto& t = out.experiment->probes[0].tolerance;
  ASSERT_TRUE(t.max_error_rate);
  EXPECT_DOUBLE_EQ(*t.max_error_rate, 0.005);
  EXPECT_EQ(t.p99, 250ms);
  EXPECT_FALSE(t.p50);
  EXPECT_FALSE(t.p90);
  EXPECT_FALSE(t.max);
}

TEST(Parser, AbortWhenParsingAndDefaults) {
  auto out = parse(with_probes("    - name: p\n      abortWhen: {errorRate: 50%, p99: 2s, window: 3s, minSamples: 8}\n"
                               "      fakeprobe: {target: x}\n"
                               "    - name: q\n      abortWhen: {p50: 300ms}\n      fakeprobe: {target: x}\n"
                               "    - name: r\n      fakeprobe: {target: x}\n"));
  ASSERT_TRUE(out.experiment) << out.diags.str();
  const auto& a = out.experiment->probes[0].abort_when;
  ASSERT_TRUE(a);
  EXPECT_DOUBLE_EQ(*a->error_rate, 0.5);
  EXPECT_EQ(a->p99, 2s);
  EXPECT_FALSE(a->p50);
  EXPECT_EQ(a->window, 3s);
  EXPECT_EQ(a->min_samples, 8u);
  const auto& b = out.experiment->probes[1].abort_when;
  ASSERT_TRUE(b);
  EXPECT_EQ(b->p50, 300ms);
  EXPECT_FALSE(b->error_rate);
  EXPECT_EQ(b->window, 2s);  // defaults
  EXPECT_EQ(b->min_samples, 5u);
  EXPECT_FALSE(out.experiment->probes[2].abort_when);
  auto j = out.experiment->to_json();
  EXPECT_EQ(j["steadyState"][0]["abortWhen"]["window"], "3s");
  EXPECT_FALSE(j["steadyState"][2].contains("abortWhen"));
}

TEST(Parser, AbortWhenErrors) {
  EXPECT_THAT(errors(with_probes("    - name: p\n      abortWhen: {window: 1s}\n      fakeprobe: {target: x}\n")),
              ElementsAre("t.yaml:9:18: error: spec.steadyState[0].abortWhen: empty stop condition: expected at "
                          "least one of errorRate, p50, p99"));
  EXPECT_THAT(errors(with_probes("    - name: p\n      abortWhen: {errorRate: 0%, window: 10ms, minSamples: 0, "
                                 "max: 1s}\n      fakeprobe: {target: x}\n")),
              ElementsAre("t.yaml:9:30: error: spec.steadyState[0].abortWhen.errorRate: \"0%\": expected a rate "
                          "above 0%",
                          "t.yaml:9:42: error: spec.steadyState[0].abortWhen.window: \"10ms\": too short, expected "
                          "at least 100ms",
                          "t.yaml:9:60: error: spec.steadyState[0].abortWhen.minSamples: \"0\": out of range, "
                          "expected 1..1000000",
                          "t.yaml:9:63: error: spec.steadyState[0].abortWhen.max: unknown field, expected one of: "
                          "errorRate, minSamples, p50, p99, window"));
}

TEST(Parser, SpecAbortWhenOnFaultTelemetry) {
  auto out = parse(with_faults("    - name: a\n      duration: 1s\n      fake: {value: 1ms}\n"
                               "  abortWhen:\n    - {fault: a, key: gpus.0.temperatureC, above: 85}\n"
                               "    - {fault: a, key: kernel.tcpRetransSegs, above: 10, below: -1}\n"));
  ASSERT_TRUE(out.experiment) << out.diags.str();
  ASSERT_EQ(out.experiment->abort_when.size(), 2u);
  EXPECT_EQ(out.experiment->abort_when[0].key, "gpus.0.temperatureC");
  EXPECT_EQ(out.experiment->abort_when[0].above, 85.0);
  EXPECT_FALSE(out.experiment->abort_when[0].below);
  EXPECT_EQ(out.experiment->to_json()["abortWhen"][1]["below"], -1.0);
}

TEST(Parser, SpecAbortWhenErrors) {
  EXPECT_THAT(errors(with_faults("    - name: a\n      duration: 1s\n      fake: {value: 1ms}\n"
                                 "  abortWhen:\n    - {fault: b, key: x, above: 1}\n"
                                 "    - {fault: a, key: x..y, below: 1}\n"
                                 "    - {fault: a, key: x}\n"
                                 "    - {fault: a, key: x, above: 1, below: 2}\n")),
              ElementsAre("t.yaml:12:15: error: spec.abortWhen[0].fault: \"b\": no such fault, expected one of "
                          "spec.faults: a",
                          "t.yaml:13:23: error: spec.abortWhen[1].key: \"x..y\": expected a telemetry key like "
                          "gpus.0.temperatureC or kernel.tcpRetransSegs (nested keys joined with '.')",
                          "t.yaml:14:7: error: spec.abortWhen[2]: expected above:, below: or both",
                          "t.yaml:15:7: error: spec.abortWhen[3]: below 2 is not under above 1: the "
                          "condition would always hold"));
}

TEST(Parser, ToleranceErrors) {
  EXPECT_THAT(
      errors(with_probes("    - name: p\n      tolerance:\n        maxErrorRate: 1\n        p99: fast\n"
                         "        p95: 10ms\n      fakeprobe: {target: x}\n")),
      ElementsAre("t.yaml:10:23: error: spec.steadyState[0].tolerance.maxErrorRate: \"1\": expected a percentage "
                  "like 10% or 0.5%",
                  "t.yaml:11:14: error: spec.steadyState[0].tolerance.p99: \"fast\": expected a duration like 10ms, "
                  "1.5s, 2m (units: ns, us, ms, s, m, h)",
                  "t.yaml:12:9: error: spec.steadyState[0].tolerance.p95: unknown field, expected one of: max, "
                  "maxErrorRate, p50, p90, p99"));
  EXPECT_THAT(errors(with_probes("    - name: p\n      tolerance: {maxErrorRate: 101%}\n"
                                 "      fakeprobe: {target: x}\n")),
              ElementsAre("t.yaml:9:33: error: spec.steadyState[0].tolerance.maxErrorRate: \"101%\": above 100%: "
                          "expected a percentage from 0% to 100%"));
}

TEST(Parser, ProbeIntervalTimeoutAndNames) {
  EXPECT_THAT(errors(with_probes("    - name: p\n      interval: 5ms\n      timeout: 0s\n"
                                 "      fakeprobe: {target: x}\n"
                                 "    - name: p\n      fakeprobe: {target: y}\n")),
              ElementsAre("t.yaml:9:17: error: spec.steadyState[0].interval: \"5ms\": too short, expected at least "
                          "10ms",
                          "t.yaml:10:16: error: spec.steadyState[0].timeout: \"0s\": expected a duration above 0s",
                          "t.yaml:12:13: error: spec.steadyState[1].name: \"p\": duplicate probe name, expected a "
                          "name unique in spec.steadyState"));
}

TEST(Parser, ProbeBlockMissingOrWrong) {
  EXPECT_THAT(errors(with_probes("    - name: p\n")),
              ElementsAre("t.yaml:8:7: error: spec.steadyState[0]: missing the probe block: expected exactly one "
                          "of: fakeprobe"));
  EXPECT_THAT(errors(with_probes("    - name: p\n      fakeprobe: {}\n")),
              ElementsAre("t.yaml:9:18: error: spec.steadyState[0].fakeprobe.target: missing required field"));
}

// ---------------------------------------------------------------------------------------------
// Whole files

TEST(Parser, OnePassReportsEveryError) {
  const std::string f = kTestdata + "many-errors.yaml";
  auto out = parse_experiment_file(f, test_registry());
  EXPECT_FALSE(out.experiment);
  std::vector<std::string> lines;
  for (const auto& d : out.diags.items()) lines.push_back(d.str());
  EXPECT_THAT(lines,
              ElementsAre(f + ":1:13: error: apiVersion: \"chaos-agent/v2\": expected chaos-agent/v1",
                          f + ":4:9: error: metadata.name: \"Bad_Name\": expected a name of lowercase letters, "
                              "digits, '-' and '.', starting and ending with a letter or digit (at most 63 "
                              "characters)",
                          f + ":9:17: error: spec.faults[0].duration: \"10 s\": expected a duration like 10ms, "
                              "1.5s, 2m (units: ns, us, ms, s, m, h)",
                          f + ":12:13: error: spec.faults[1].name: \"a\": duplicate fault name, expected a name "
                              "unique in spec.faults",
                          f + ":14:17: error: spec.faults[1].duration: ends at 35s (start 25s + duration 10s), "
                              "after spec.duration 30s: expected every fault to end within spec.duration",
                          f + ":16:16: error: spec.faults[1].fake.value: \"fast\": expected a duration like 10ms, "
                              "1.5s, 2m (units: ns, us, ms, s, m, h)",
                          f + ":17:9: error: spec.faults[1].fake.extra: unknown field, expected one of: value",
                          f + ":20:17: error: spec.steadyState[0].interval: \"1ms\": too short, expected at least "
                              "10ms",
                          f + ":21:18: error: spec.steadyState[0].fakeprobe.target: missing required field",
                          f + ":22:3: error: spec.bogus: unknown field, expected one of: abortWhen, duration, "
                              "faults, steadyState"));
}

TEST(Parser, NotYamlReportsThePosition) {
  const std::string f = kTestdata + "not-yaml.yaml";
  auto out = parse_experiment_file(f, test_registry());
  EXPECT_FALSE(out.experiment);
  ASSERT_EQ(out.diags.items().size(), 1u) << out.diags.str();
  const auto& d = out.diags.items()[0];
  EXPECT_EQ(d.loc.file, f);
  EXPECT_GE(d.loc.line, 4) << "the error is where the flow sequence was left open or later";
  EXPECT_GE(d.loc.col, 1);
  EXPECT_THAT(d.str(), ::testing::StartsWith(f + ":" + std::to_string(d.loc.line) + ":"));
  EXPECT_THAT(d.str(), HasSubstr(": error: not valid YAML: "));
}

TEST(Parser, NotYamlInline) {
  EXPECT_THAT(errors("apiVersion: chaos-agent/v1\nkind: Experiment: x\n"),
              ElementsAre("t.yaml:2:17: error: not valid YAML: illegal map value"));
  EXPECT_THAT(errors("a: [1, 2\n"), ElementsAre("t.yaml:2:1: error: not valid YAML: end of sequence flow not found"));
}

TEST(Parser, NotAMapAtTheTop) {
  EXPECT_THAT(errors("- a\n- b\n"), ElementsAre("t.yaml:1:1: error: found a list: expected a map of fields"));
  EXPECT_THAT(errors("hello\n"), ElementsAre("t.yaml:1:1: error: expected a map of fields"));
}

TEST(Parser, EmptyFile) {
  EXPECT_THAT(errors(""), ElementsAre("t.yaml:1:1: error: the file is empty: expected an experiment (apiVersion: "
                                      "chaos-agent/v1, kind: Experiment)"));
  EXPECT_THAT(errors("# nothing but a comment\n"), ElementsAre(HasSubstr("the file is empty")));
}

TEST(Parser, SecondDocumentIsAnError) {
  auto text = std::string(kHead) + "spec: {duration: 1s}\n---\n" + kHead + "spec: {duration: 2s}\n";
  EXPECT_THAT(errors(text), ElementsAre("t.yaml:7:1: error: a second YAML document: expected one experiment per "
                                        "file"));
  // A trailing document marker with nothing after it is harmless.
  auto out = parse(std::string(kHead) + "spec: {duration: 1s}\n---\n");
  EXPECT_TRUE(out.experiment) << out.diags.str();
}

TEST(Parser, DuplicateKeyIsAnError) {
  EXPECT_THAT(errors(std::string(kHead) + "spec:\n  duration: 1s\n  duration: 1h\n"),
              ElementsAre("t.yaml:7:3: error: spec.duration: given twice: expected each field once"));
}

TEST(Parser, UnreadableFile) {
  auto out = parse_experiment_file(kTestdata + "does-not-exist.yaml", test_registry());
  EXPECT_FALSE(out.experiment);
  ASSERT_EQ(out.diags.items().size(), 1u);
  EXPECT_EQ(out.diags.items()[0].str(), kTestdata + "does-not-exist.yaml:1:1: error: cannot read the file: No such file or directory");
}

}  // namespace
}  // namespace chaos
