// The memory block through the real experiment parser: valid blocks become typed specs, every kind
// of bad input gives one exact `FILE:LINE:COL: error: FIELD: ...` line.
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/parser.h"
#include "faults/memory/memory.h"
#include "faults/memory/spec.h"

namespace chaos::memory {
namespace {

using ::testing::HasSubstr;

SpecRegistry registry() {
  SpecRegistry reg;
  auto fam = family();
  reg.add_fault_family(fam.name, fam.parse);
  return reg;
}

// An experiment whose one fault has `block` (indented under "memory:") as its memory block.
// The block starts on line 10, column 9.
std::string experiment(const std::string& block) {
  return "apiVersion: chaos-agent/v1\n"
         "kind: Experiment\n"
         "metadata: {name: mem}\n"
         "spec:\n"
         "  duration: 30s\n"
         "  faults:\n"
         "    - name: hog\n"
         "      duration: 10s\n"
         "      memory:\n" +
         block;
}

ParseOutcome parse(const std::string& block) { return parse_experiment(experiment(block), "exp.yaml", registry()); }

std::shared_ptr<const MemorySpec> spec_of(const ParseOutcome& o) {
  if (!o.experiment || o.experiment->faults.empty()) return nullptr;
  return std::dynamic_pointer_cast<const MemorySpec>(o.experiment->faults[0].spec);
}

TEST(MemorySpec, PressureWithSizeAndRate) {
  auto o = parse("        target: {cgroup: /chaos-test-1}\n"
                 "        size: 512MiB\n"
                 "        rate: 256MiB/s\n");
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  auto s = spec_of(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->target.kind, MemoryTarget::Kind::cgroup);
  EXPECT_EQ(s->target.path, "/chaos-test-1");
  EXPECT_EQ(*s->size, 512ull << 20);
  EXPECT_FALSE(s->fraction);
  EXPECT_EQ(*s->rate, 256ull << 20);
  EXPECT_EQ(s->mode, Mode::pressure);
  EXPECT_EQ(s->victim, Victim::hog);  // pressure: the workload should only feel it
  EXPECT_EQ(s->to_json()["size"], 512ull << 20);
}

TEST(MemorySpec, OomDefaultsToWorkloadVictimAndNeedsNoSize) {
  auto o = parse("        target: {pid: 1234}\n"
                 "        mode: oom\n");
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  auto s = spec_of(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->target.kind, MemoryTarget::Kind::pid);
  EXPECT_EQ(s->target.pid, 1234);
  EXPECT_EQ(s->mode, Mode::oom);
  EXPECT_EQ(s->victim, Victim::workload);
  EXPECT_EQ(victim_oom_score_adj(s->victim), -1000);
  EXPECT_FALSE(s->size);
  EXPECT_FALSE(s->rate);
}

TEST(MemorySpec, FractionAndUnitAndExplicitVictim) {
  auto o = parse("        target: {unit: etcd.service}\n"
                 "        fraction: 0.9\n"
                 "        mode: oom\n"
                 "        victim: hog\n");
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  auto s = spec_of(o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->target.unit, "etcd.service");
  EXPECT_DOUBLE_EQ(*s->fraction, 0.9);
  EXPECT_EQ(s->victim, Victim::hog);
  EXPECT_EQ(victim_oom_score_adj(s->victim), 1000);
}

// One error, exactly as a user sees it.
std::string only_error(const std::string& block) {
  auto o = parse(block);
  EXPECT_EQ(o.diags.items().size(), 1u) << o.diags.str();
  return o.diags.items().empty() ? "" : o.diags.items()[0].str();
}

TEST(MemorySpec, ErrorsCarryFileLineColumnAndField) {
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        size: 512 MiBs\n"),
            "exp.yaml:11:15: error: spec.faults[0].memory.size: \"512 MiBs\": " +
                parse_bytes("512 MiBs").error().message);
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        size: 1GiB\n"
                       "        mode: panic\n"),
            "exp.yaml:12:15: error: spec.faults[0].memory.mode: \"panic\": expected one of: pressure, oom");
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        fraction: 1.5\n"),
            "exp.yaml:11:19: error: spec.faults[0].memory.fraction: \"1.5\": expected a fraction above 0 and at "
            "most 1, like 0.9");
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        fraction: 0\n"),
            "exp.yaml:11:19: error: spec.faults[0].memory.fraction: \"0\": expected a fraction above 0 and at "
            "most 1, like 0.9");
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        size: 1GiB\n"
                       "        victim: nobody\n"),
            "exp.yaml:12:17: error: spec.faults[0].memory.victim: \"nobody\": expected one of: workload, hog");
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        size: 100\n"),
            "exp.yaml:11:15: error: spec.faults[0].memory.size: \"100\": too small, expected at least one page (4KiB)");
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        size: 1GiB\n"
                       "        rate: fast\n"),
            "exp.yaml:12:15: error: spec.faults[0].memory.rate: \"fast\": " + parse_rate("fast").error().message);
}

TEST(MemorySpec, AmountRules) {
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"),
            "exp.yaml:10:9: error: spec.faults[0].memory: mode pressure: expected one of size (like 512MiB) or "
            "fraction (like 0.9 of the target's limit)");
  EXPECT_EQ(only_error("        target: {cgroup: /x}\n"
                       "        size: 1GiB\n"
                       "        fraction: 0.5\n"),
            "exp.yaml:10:9: error: spec.faults[0].memory: found size, fraction: expected exactly one of: size, fraction");
}

TEST(MemorySpec, TargetRules) {
  EXPECT_EQ(only_error("        target: {}\n"
                       "        size: 1GiB\n"),
            "exp.yaml:10:17: error: spec.faults[0].memory.target: expected exactly one of: cgroup, unit, pid, process");
  EXPECT_EQ(only_error("        target: {cgroup: /x, pid: 3}\n"
                       "        size: 1GiB\n"),
            "exp.yaml:10:17: error: spec.faults[0].memory.target: found cgroup, pid: expected exactly one of: cgroup, "
            "unit, pid, process");
  EXPECT_EQ(only_error("        target: {unit: nginx}\n"
                       "        size: 1GiB\n"),
            "exp.yaml:10:24: error: spec.faults[0].memory.target.unit: \"nginx\": expected a systemd unit name like "
            "nginx.service");
  EXPECT_EQ(only_error("        target: {pid: 0}\n"
                       "        size: 1GiB\n"),
            "exp.yaml:10:23: error: spec.faults[0].memory.target.pid: \"0\": out of range, expected 1..4194304");
  EXPECT_EQ(only_error("        target: {cgroup: ../../etc}\n"
                       "        size: 1GiB\n"),
            "exp.yaml:10:26: error: spec.faults[0].memory.target.cgroup: \"../../etc\": \"..\" is not allowed in a "
            "cgroup path");
  EXPECT_EQ(only_error("        size: 1GiB\n"),
            "exp.yaml:10:9: error: spec.faults[0].memory.target: missing required field");
  EXPECT_EQ(only_error("        target: {cgroup: /x, path: /y}\n"
                       "        size: 1GiB\n"),
            "exp.yaml:10:30: error: spec.faults[0].memory.target.path: unknown field, expected one of: cgroup, mode, "
            "pid, process, seed, unit, value");
}

TEST(MemorySpec, UnknownFieldAndAllErrorsInOnePass) {
  auto o = parse("        target: {cgroup: /x}\n"
                 "        size: 1GiB\n"
                 "        rate: slow\n"
                 "        workers: 4\n");
  ASSERT_EQ(o.diags.items().size(), 2u) << o.diags.str();
  EXPECT_THAT(o.diags.str(), HasSubstr("exp.yaml:12:15: error: spec.faults[0].memory.rate: \"slow\""));
  EXPECT_THAT(o.diags.str(), HasSubstr("exp.yaml:13:9: error: spec.faults[0].memory.workers: unknown field, "
                                       "expected one of: fraction, mode, rate, size, target, victim"));
}

TEST(MemorySpec, ExamplesInExperimentsParse) {
  for (const char* name : {"memory-pressure.yaml", "memory-oom.yaml"}) {
    auto o = parse_experiment_file(std::string(CHAOS_SOURCE_DIR) + "/experiments/" + name, registry());
    ASSERT_TRUE(o.diags.ok()) << name << ":\n" << o.diags.str();
    ASSERT_EQ(o.experiment->faults.size(), 1u);
    auto s = std::dynamic_pointer_cast<const MemorySpec>(o.experiment->faults[0].spec);
    ASSERT_TRUE(s) << name;
    EXPECT_EQ(s->target.path, "/chaos-demo");
  }
}

}  // namespace
}  // namespace chaos::memory
