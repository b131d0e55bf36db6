// Chaos Mesh StressChaos manifests to native experiments: the shared conformance examples, and
// each field of the memory stressor. Every converted experiment must pass the native parser.
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/parser.h"
#include "faults/memory/chaosmesh.h"
#include "faults/memory/memory.h"

namespace chaos::memory {
namespace {

using ::testing::HasSubstr;

const std::string kConformance = std::string(CHAOS_SHARED_DIR) + "/conformance/chaos-mesh/";

MemoryTarget cgroup_target(const std::string& path) {
  MemoryTarget t;
  t.kind = MemoryTarget::Kind::cgroup;
  t.path = path;
  return t;
}

// Parses converted text with the real parser; returns the memory spec.
std::shared_ptr<const MemorySpec> reparse(const std::string& yaml, Experiment* exp_out = nullptr) {
  SpecRegistry reg;
  auto fam = family();
  reg.add_fault_family(fam.name, fam.parse);
  auto o = parse_experiment(yaml, "converted.yaml", reg);
  EXPECT_TRUE(o.diags.ok()) << o.diags.str() << "\n" << yaml;
  if (!o.experiment) return nullptr;
  if (exp_out) *exp_out = *o.experiment;
  return std::dynamic_pointer_cast<const MemorySpec>(o.experiment->faults.at(0).spec);
}

// The manifest as chaosctl import reads it: a YNode over the document, in file m.yaml.
YNode manifest(const std::string& text) {
  static Diagnostics unused;  // the converter returns its first problem; nothing is collected
  return YNode(YAML::Load(text), "", "m.yaml", &unused);
}

YNode load(const std::string& name) {
  std::ifstream in(kConformance + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return manifest(ss.str());
}

TEST(StressChaos, CausePodOomConvertsToOomModeWithWorkloadVictim) {
  std::ifstream probe(kConformance + "cause-pod-oom.yaml");
  if (!probe) GTEST_SKIP() << "conformance examples not found at " << kConformance;
  auto out = convert_stresschaos_memory(load("cause-pod-oom.yaml"), cgroup_target("/kubepods/pod-tikv"));
  ASSERT_TRUE(out) << out.error().str();
  Experiment exp;
  auto s = reparse(*out, &exp);
  ASSERT_TRUE(s);
  EXPECT_EQ(exp.name, "pod-oom");
  EXPECT_EQ(exp.faults[0].duration, std::chrono::seconds(30));
  EXPECT_GE(exp.duration, exp.faults[0].end());
  EXPECT_EQ(s->target.path, "/kubepods/pod-tikv");
  EXPECT_EQ(*s->size, 10'000'000'000ull);  // "10GB" is decimal, as go-humanize reads it
  EXPECT_EQ(s->mode, Mode::oom);             // oomScoreAdj -1000: the stressor is protected
  EXPECT_EQ(s->victim, Victim::workload);
  EXPECT_FALSE(s->rate);
}

TEST(StressChaos, BurnCpuIsRefusedWithTheReason) {
  std::ifstream probe(kConformance + "burn-cpu.yaml");
  if (!probe) GTEST_SKIP() << "conformance examples not found at " << kConformance;
  auto out = convert_stresschaos_memory(load("burn-cpu.yaml"), cgroup_target("/x"));
  ASSERT_FALSE(out);
  EXPECT_TRUE(out.error().refused);
  EXPECT_THAT(out.error().str(), HasSubstr("m.yaml:")) << "located in the file";
  EXPECT_THAT(out.error().str(), HasSubstr("refused: spec.stressors.cpu: CPU stressors are not supported"));
}

const char* kBase = R"(apiVersion: chaos-mesh.org/v1alpha1
kind: StressChaos
metadata: {name: mem-stress}
spec:
  mode: one
  selector: {labelSelectors: {app: web}}
  duration: 1m
  stressors:
    memory:
)";

TEST(StressChaos, PercentSizeWorkersAndTimeAndDefaultAdj) {
  auto pct = convert_stresschaos_memory(manifest(std::string(kBase) + "      workers: 4\n      size: 25%\n"),
                                        cgroup_target("/web"));
  ASSERT_TRUE(pct) << pct.error().str();
  EXPECT_THAT(*pct, HasSubstr("4 workers folded into one hog"));
  auto s = reparse(*pct);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(*s->fraction, 0.25);
  EXPECT_EQ(s->mode, Mode::pressure);  // oomScoreAdj absent (0): the stressor may be the victim
  EXPECT_EQ(s->victim, Victim::hog);

  auto timed = convert_stresschaos_memory(
      manifest(std::string(kBase) + "      size: 256MiB\n      time: 2s\n      oomScoreAdj: 500\n"),
      cgroup_target("/web"));
  ASSERT_TRUE(timed) << timed.error().str();
  auto t = reparse(*timed);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t->size, 256ull << 20);
  EXPECT_EQ(*t->rate, 128ull << 20);  // 256MiB over 2s
  EXPECT_EQ(t->victim, Victim::hog);

  auto lower = convert_stresschaos_memory(manifest(std::string(kBase) + "      size: 512mb\n"), cgroup_target("/web"));
  ASSERT_TRUE(lower) << lower.error().str();
  EXPECT_EQ(*reparse(*lower)->size, 512'000'000ull);
}

TEST(StressChaos, RefusalsNameTheField) {
  auto err = [](const std::string& extra, const std::string& stressors_tail = "") {
    auto r = convert_stresschaos_memory(manifest(std::string(kBase) + extra + stressors_tail), cgroup_target("/x"));
    EXPECT_FALSE(r);
    return r ? std::string() : r.error().str();
  };
  EXPECT_THAT(err("      size: 10%\n      time: 5s\n"), HasSubstr("a rate needs an absolute size"));
  EXPECT_THAT(err("      size: lots\n"), HasSubstr("spec.stressors.memory.size: \"lots\""));
  EXPECT_THAT(err("      workers: 0\n      size: 1GB\n"), HasSubstr("workers: \"0\": out of range, expected 1..8192"));
  EXPECT_THAT(err("      size: 1GB\n      oomScoreAdj: -2000\n"), HasSubstr("oomScoreAdj: \"-2000\": out of range, expected -1000..1000"));
  EXPECT_THAT(err("      size: 1GB\n      options: ['--vm-hang 0']\n"), HasSubstr("raw stress-ng flags"));
  EXPECT_THAT(err("      workers: 1\n"), HasSubstr("spec.stressors.memory.size: missing"));
  EXPECT_THAT(err("      size: 1GB\n", "    cpu: {workers: 1, load: 10}\n"), HasSubstr("CPU stressors are not supported"));

  auto no_duration = manifest("apiVersion: chaos-mesh.org/v1alpha1\nkind: StressChaos\nmetadata: {name: a}\n"
                                "spec: {stressors: {memory: {size: 1GB}}}\n");
  auto nd = convert_stresschaos_memory(no_duration, cgroup_target("/x"));
  ASSERT_FALSE(nd);
  EXPECT_THAT(nd.error().str(), HasSubstr("spec.duration: missing"));
  auto with_default = convert_stresschaos_memory(no_duration, cgroup_target("/x"), std::chrono::seconds(20));
  ASSERT_TRUE(with_default) << with_default.error().str();
  EXPECT_EQ(reparse(*with_default) != nullptr, true);

  auto net = manifest("apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nspec: {}\n");
  EXPECT_THAT(convert_stresschaos_memory(net, cgroup_target("/x")).error().str(),
              HasSubstr("only StressChaos converts"));
}

TEST(StressChaos, UnitAndPidTargets) {
  MemoryTarget unit;
  unit.kind = MemoryTarget::Kind::unit;
  unit.unit = "etcd.service";
  auto u = convert_stresschaos_memory(manifest(std::string(kBase) + "      size: 1GB\n"), unit);
  ASSERT_TRUE(u);
  EXPECT_EQ(reparse(*u)->target.unit, "etcd.service");
  MemoryTarget pid;
  pid.kind = MemoryTarget::Kind::pid;
  pid.pid = 4242;
  auto p = convert_stresschaos_memory(manifest(std::string(kBase) + "      size: 1GB\n"), pid);
  ASSERT_TRUE(p);
  EXPECT_EQ(reparse(*p)->target.pid, 4242);
}

}  // namespace
}  // namespace chaos::memory
