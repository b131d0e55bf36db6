// The gpu block's parser (exact FILE:LINE:COL messages) and the fault's arithmetic: memory
// targets in granularity steps, SM-count selection, burst on-times.
#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/parser.h"
#include "faults/gpu/family.h"
#include "faults/gpu/sizing.h"
#include "faults/gpu/spec.h"
#include "observe/http_probe.h"

namespace chaos::gpu {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::uint64_t MiB = 1ull << 20;
constexpr std::uint64_t GiB = 1ull << 30;

struct Parsed {
  std::shared_ptr<const GpuSpec> spec;
  std::vector<std::string> errors;
};

// Parses a gpu block as if it sat at spec.faults[0].gpu of exp.yaml, line 1 being its first key.
Parsed parse(const std::string& yaml) {
  Diagnostics d;
  YNode n(YAML::Load(yaml), "spec.faults[0].gpu", "exp.yaml", &d);
  MapReader r(n);
  auto s = parse_gpu_spec(r);
  Parsed p;
  p.spec = std::dynamic_pointer_cast<const GpuSpec>(s);
  for (const auto& i : d.items()) p.errors.push_back(i.str());
  if (!d.ok()) {
    EXPECT_EQ(p.spec, nullptr) << "a block with errors must not yield a spec";
  }
  return p;
}

TEST(GpuSpec, FullBlock) {
  auto p = parse(
      "devices: [0, 1]\n"
      "memory: {bytes: 64GiB}\n"
      "sm: {count: 66}\n"
      "utilization: 80%\n"
      "tensor: true\n"
      "period: 50ms\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  ASSERT_NE(p.spec, nullptr);
  const GpuSpec& s = *p.spec;
  EXPECT_FALSE(s.all_devices);
  EXPECT_THAT(s.devices, ElementsAre(0, 1));
  ASSERT_TRUE(s.memory);
  EXPECT_EQ(s.memory->mode, MemoryRequest::Mode::bytes);
  EXPECT_EQ(s.memory->bytes, 64 * GiB);
  ASSERT_TRUE(s.sm);
  EXPECT_EQ(s.sm->mode, SmRequest::Mode::count);
  EXPECT_EQ(s.sm->count, 66);
  EXPECT_DOUBLE_EQ(s.duty(), 0.8);
  EXPECT_TRUE(s.tensor);
  EXPECT_EQ(s.period, std::chrono::milliseconds(50));
  EXPECT_TRUE(s.loads_sms());
  EXPECT_EQ(s.to_json().dump(),
            R"({"devices":[0,1],"memory":{"bytes":68719476736},"period":"50ms","sm":{"count":66},"tensor":true,"utilization":80.0})");
}

TEST(GpuSpec, MemoryOnlyAllDevices) {
  auto p = parse("devices: all\nmemory: {fraction: 0.9}\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  EXPECT_TRUE(p.spec->all_devices);
  EXPECT_EQ(p.spec->memory->mode, MemoryRequest::Mode::fraction);
  EXPECT_DOUBLE_EQ(p.spec->memory->fraction, 0.9);
  EXPECT_FALSE(p.spec->loads_sms());
  EXPECT_FALSE(p.spec->sm);
  EXPECT_DOUBLE_EQ(p.spec->duty(), 1.0);
}

TEST(GpuSpec, LeaveAndUtilizationAlone) {
  auto p = parse("devices: [3]\nmemory: {leave: 2GiB}\nutilization: 50%\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  EXPECT_EQ(p.spec->memory->mode, MemoryRequest::Mode::leave);
  EXPECT_EQ(p.spec->memory->bytes, 2 * GiB);
  EXPECT_TRUE(p.spec->loads_sms());  // every SM, at 50%
  EXPECT_FALSE(p.spec->sm);
  EXPECT_EQ(p.spec->period, std::chrono::milliseconds(100));
}

TEST(GpuSpec, DevicesErrors) {
  EXPECT_THAT(parse("memory: {bytes: 1GiB}\n").errors,
              ElementsAre("exp.yaml:1:1: error: spec.faults[0].gpu.devices: missing required field"));
  EXPECT_THAT(parse("devices: some\nmemory: {bytes: 1GiB}\n").errors,
              ElementsAre("exp.yaml:1:10: error: spec.faults[0].gpu.devices: \"some\": expected a list of GPU "
                          "ordinals like [0, 1], or all"));
  EXPECT_THAT(parse("devices: []\nmemory: {bytes: 1GiB}\n").errors,
              ElementsAre("exp.yaml:1:10: error: spec.faults[0].gpu.devices: empty list: expected a list of GPU "
                          "ordinals like [0, 1], or all"));
  EXPECT_THAT(parse("devices: [0, 0]\nmemory: {bytes: 1GiB}\n").errors,
              ElementsAre("exp.yaml:1:14: error: spec.faults[0].gpu.devices[1]: GPU 0 is listed twice"));
  EXPECT_THAT(parse("devices: [-1, x]\nmemory: {bytes: 1GiB}\n").errors,
              ElementsAre("exp.yaml:1:11: error: spec.faults[0].gpu.devices[0]: \"-1\": out of range, expected 0..255",
                          "exp.yaml:1:15: error: spec.faults[0].gpu.devices[1]: \"x\": expected an integer"));
}

TEST(GpuSpec, MemoryErrors) {
  EXPECT_THAT(parse("devices: [0]\nmemory: {bytes: 1GiB, fraction: 0.5}\n").errors,
              ElementsAre("exp.yaml:2:9: error: spec.faults[0].gpu.memory: found bytes, fraction: expected exactly one "
                          "of: bytes, fraction, leave"));
  EXPECT_THAT(parse("devices: [0]\nmemory: {}\n").errors,
              ElementsAre("exp.yaml:2:9: error: spec.faults[0].gpu.memory: expected exactly one of: bytes, fraction, "
                          "leave"));
  EXPECT_THAT(parse("devices: [0]\nmemory: {fraction: 90%}\n").errors,
              ElementsAre("exp.yaml:2:20: error: spec.faults[0].gpu.memory.fraction: \"90%\": expected a fraction of "
                          "the GPU's total memory above 0 and at most 1, like 0.5 (a fraction, not a percentage)"));
  EXPECT_THAT(parse("devices: [0]\nmemory: {fraction: 1.5}\n").errors,
              ElementsAre("exp.yaml:2:20: error: spec.faults[0].gpu.memory.fraction: \"1.5\": expected a fraction of "
                          "the GPU's total memory above 0 and at most 1, like 0.5"));
  EXPECT_THAT(parse("devices: [0]\nmemory: {fraction: 0}\n").errors,
              ElementsAre("exp.yaml:2:20: error: spec.faults[0].gpu.memory.fraction: \"0\": expected a fraction of "
                          "the GPU's total memory above 0 and at most 1, like 0.5"));
  EXPECT_THAT(parse("devices: [0]\nmemory: {bytes: 0}\n").errors,
              ElementsAre("exp.yaml:2:17: error: spec.faults[0].gpu.memory.bytes: \"0\": expected a size above 0, "
                          "like 64GiB"));
  auto bad_size = parse("devices: [0]\nmemory: {bytes: lots}\n").errors;
  ASSERT_EQ(bad_size.size(), 1u);
  EXPECT_THAT(bad_size[0], HasSubstr("exp.yaml:2:17: error: spec.faults[0].gpu.memory.bytes: \"lots\": "));
  EXPECT_THAT(parse("devices: [0]\nmemory: {bytes: 1GiB, keep: 1}\n").errors,
              ElementsAre("exp.yaml:2:23: error: spec.faults[0].gpu.memory.keep: unknown field, expected one of: "
                          "bytes, fraction, leave"));
  EXPECT_THAT(parse("devices: [0]\nmemory: 64GiB\n").errors,
              ElementsAre("exp.yaml:2:9: error: spec.faults[0].gpu.memory: \"64GiB\": expected a map like {bytes: "
                          "64GiB}, {fraction: 0.9} or {leave: 2GiB}"));
  EXPECT_THAT(parse("devices: [0]\nsm: [1, 2]\n").errors,
              ElementsAre("exp.yaml:2:5: error: spec.faults[0].gpu.sm: expected a map like {count: 66} or "
                          "{fraction: 0.5}"));
}

TEST(GpuSpec, SmErrors) {
  EXPECT_THAT(parse("devices: [0]\nsm: {count: 0}\n").errors,
              ElementsAre("exp.yaml:2:13: error: spec.faults[0].gpu.sm.count: \"0\": out of range, expected 1..1024"));
  EXPECT_THAT(parse("devices: [0]\nsm: {count: 2, fraction: 0.5}\n").errors,
              ElementsAre("exp.yaml:2:5: error: spec.faults[0].gpu.sm: found count, fraction: expected exactly one of: "
                          "count, fraction"));
  EXPECT_THAT(parse("devices: [0]\nsm: {fraction: 50%}\n").errors,
              ElementsAre("exp.yaml:2:16: error: spec.faults[0].gpu.sm.fraction: \"50%\": expected a fraction of the "
                          "GPU's SMs above 0 and at most 1, like 0.5 (a fraction, not a percentage)"));
  EXPECT_THAT(parse("devices: [0]\nsm: {count: 1.5}\n").errors,
              ElementsAre("exp.yaml:2:13: error: spec.faults[0].gpu.sm.count: \"1.5\": expected an integer"));
}

TEST(GpuSpec, UtilizationTensorPeriodErrors) {
  EXPECT_THAT(parse("devices: [0]\nutilization: 0%\n").errors,
              ElementsAre("exp.yaml:2:14: error: spec.faults[0].gpu.utilization: \"0%\": expected a duty cycle above "
                          "0%, up to 100%"));
  EXPECT_THAT(parse("devices: [0]\nutilization: 150%\n").errors,
              ElementsAre("exp.yaml:2:14: error: spec.faults[0].gpu.utilization: \"150%\": above 100%: expected a "
                          "percentage from 0% to 100%"));
  EXPECT_THAT(parse("devices: [0]\ntensor: yes\n").errors,
              ElementsAre("exp.yaml:2:9: error: spec.faults[0].gpu.tensor: \"yes\": expected true or false"));
  EXPECT_THAT(parse("devices: [0]\nsm: {count: 1}\nperiod: 5ms\n").errors,
              ElementsAre("exp.yaml:3:9: error: spec.faults[0].gpu.period: \"5ms\": expected a period from 10ms to "
                          "10s"));
  EXPECT_THAT(parse("devices: [0]\nmemory: {bytes: 1GiB}\nperiod: 50ms\n").errors,
              ElementsAre("exp.yaml:3:9: error: spec.faults[0].gpu.period: period shapes the SM duty cycle: expected "
                          "sm, utilization or tensor beside it"));
}

TEST(GpuSpec, NothingToDoAndUnknownField) {
  EXPECT_THAT(parse("devices: [0]\n").errors,
              ElementsAre("exp.yaml:1:1: error: spec.faults[0].gpu: nothing to do: expected at least one of memory, "
                          "sm, utilization, tensor"));
  EXPECT_THAT(parse("devices: [0]\nmemory: {bytes: 1GiB}\nsms: 4\n").errors,
              ElementsAre("exp.yaml:3:1: error: spec.faults[0].gpu.sms: unknown field, expected one of: devices, "
                          "memory, period, sm, tensor, utilization"));
}

TEST(GpuSpec, EveryErrorInOnePass) {
  auto p = parse("devices: [9, 9]\nmemory: {fraction: 2}\nsm: {count: 0}\nutilization: 0%\n");
  EXPECT_EQ(p.errors.size(), 4u);
}

TEST(GpuSpec, ExampleExperimentParses) {
  SpecRegistry reg;
  reg.add_fault_family("gpu", parse_gpu_spec);
  reg.add_probe_kind("http", http_probe_kind().parse);
  auto out = parse_experiment_file(std::string(CHAOS_SOURCE_DIR) + "/experiments/gpu-occupy.yaml", reg);
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  ASSERT_EQ(out.experiment->faults.size(), 2u);
  auto hold = std::dynamic_pointer_cast<const GpuSpec>(out.experiment->faults[0].spec);
  auto busy = std::dynamic_pointer_cast<const GpuSpec>(out.experiment->faults[1].spec);
  ASSERT_TRUE(hold && busy);
  EXPECT_DOUBLE_EQ(hold->memory->fraction, 0.9);
  EXPECT_DOUBLE_EQ(busy->sm->fraction, 0.5);
  EXPECT_DOUBLE_EQ(busy->duty(), 0.8);
}

TEST(GpuSpec, ErrorsCarryTheExperimentFilePosition) {
  SpecRegistry reg;
  reg.add_fault_family("gpu", parse_gpu_spec);
  const std::string text =
      "apiVersion: chaos-agent/v1\n"
      "kind: Experiment\n"
      "metadata: {name: x}\n"
      "spec:\n"
      "  duration: 1m\n"
      "  faults:\n"
      "    - name: g\n"
      "      start: 0s\n"
      "      duration: 10s\n"
      "      gpu:\n"
      "        devices: [0]\n"
      "        sm: {count: 4, fraction: 0.5}\n";
  auto out = parse_experiment(text, "g.yaml", reg);
  EXPECT_THAT(out.diags.str(), HasSubstr("g.yaml:12:13: error: spec.faults[0].gpu.sm: found count, fraction: "
                                         "expected exactly one of: count, fraction"));
}

// ---- arithmetic ----

MemoryRequest bytes(std::uint64_t b) { return {MemoryRequest::Mode::bytes, b, 0}; }
MemoryRequest fraction(double f) { return {MemoryRequest::Mode::fraction, 0, f}; }
MemoryRequest leave(std::uint64_t b) { return {MemoryRequest::Mode::leave, b, 0}; }

TEST(GpuSizing, BytesRoundUpToTheGranularity) {
  EXPECT_EQ(*memory_target(bytes(64 * GiB), 140 * GiB, 139 * GiB, 2 * MiB), 64 * GiB);
  EXPECT_EQ(*memory_target(bytes(1), 140 * GiB, 139 * GiB, 2 * MiB), 2 * MiB);
  EXPECT_EQ(*memory_target(bytes(3 * MiB), 140 * GiB, 139 * GiB, 2 * MiB), 4 * MiB);
  EXPECT_EQ(*memory_target(bytes(1'000'000'000), 140 * GiB, 139 * GiB, 2 * MiB), 477 * 2 * MiB);  // 953.7 MiB up
}

TEST(GpuSizing, FractionRoundsDownOfTotal) {
  // H200: 143771 MiB; 0.9 of it is 129393.9 MiB, down to 129392.
  const std::uint64_t total = 143771 * MiB;
  auto t = memory_target(fraction(0.9), total, 143000 * MiB, 2 * MiB);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, 129392 * MiB);
  EXPECT_EQ(*t % (2 * MiB), 0u);
  EXPECT_LE(*t, total * 0.9);
  EXPECT_GT(*t + 2 * MiB, total * 0.9);
  EXPECT_EQ(*memory_target(fraction(1.0), 8 * GiB, 8 * GiB, 2 * MiB), 8 * GiB);
}

TEST(GpuSizing, LeaveKeepsAtLeastThatMuchFree) {
  auto t = memory_target(leave(2 * GiB), 140 * GiB, 100 * GiB + 3 * MiB, 2 * MiB);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, 98 * GiB + 2 * MiB);  // of the odd 3 MiB, 2 can be held; 1 more stays free
  EXPECT_GE(100 * GiB + 3 * MiB - *t, 2 * GiB);
}

TEST(GpuSizing, Errors) {
  auto too_big = memory_target(bytes(150 * GiB), 140 * GiB, 139 * GiB, 2 * MiB);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().message, "memory.bytes 150GiB: does not fit, the GPU has 139GiB free of 140GiB");
  EXPECT_EQ(too_big.error().code, ENOMEM);

  auto used = memory_target(fraction(0.9), 140 * GiB, 100 * GiB, 2 * MiB);
  ASSERT_FALSE(used);
  EXPECT_EQ(used.error().message,
            "memory.fraction 0.9 (126GiB): does not fit, the GPU has 100GiB free of 140GiB");

  auto tiny = memory_target(fraction(1e-6), 1 * GiB, 1 * GiB, 2 * MiB);
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.error().message, "memory.fraction 0.000001: less than one 2MiB allocation step of 1GiB");

  auto nothing = memory_target(leave(200 * GiB), 140 * GiB, 139 * GiB, 2 * MiB);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().message, "memory.leave 200GiB: nothing to hold, the GPU has only 139GiB free of 140GiB");

  auto sliver = memory_target(leave(1 * GiB), 140 * GiB, 1 * GiB + 1 * MiB, 2 * MiB);
  ASSERT_FALSE(sliver);
  EXPECT_THAT(sliver.error().message, HasSubstr("leaves less than one 2MiB allocation step"));

  auto capped = memory_target(fraction(0.9), 100 * GiB, 100 * GiB, 2 * MiB, 0.8);
  ASSERT_FALSE(capped);
  EXPECT_EQ(capped.error().message,
            "memory: holding 90GiB (90% of 100GiB) is above the agent's max_gpu_memory_fraction 80%");
  EXPECT_EQ(capped.error().code, EPERM);
  EXPECT_TRUE(memory_target(fraction(0.8), 100 * GiB, 100 * GiB, 2 * MiB, 0.8));
}

TEST(GpuSizing, Steps) {
  EXPECT_EQ(step_bytes(2 * MiB), 2 * GiB);
  EXPECT_EQ(step_bytes(2 * MiB, 256 * MiB), 256 * MiB);
  EXPECT_EQ(step_bytes(2 * MiB, 3 * MiB), 2 * MiB);   // rounded down to the granularity
  EXPECT_EQ(step_bytes(2 * MiB, 1 * MiB), 2 * MiB);   // never below one unit
  EXPECT_EQ(step_bytes(3 * MiB, 2 * GiB), 682 * 3 * MiB);
  EXPECT_THAT(memory_steps(5 * GiB, 2 * GiB), ElementsAre(2 * GiB, 2 * GiB, 1 * GiB));
  EXPECT_THAT(memory_steps(4 * GiB, 2 * GiB), ElementsAre(2 * GiB, 2 * GiB));
  EXPECT_THAT(memory_steps(2 * MiB, 2 * GiB), ElementsAre(2 * MiB));
  EXPECT_TRUE(memory_steps(0, 2 * GiB).empty());
  // 90% of an H200 in 2 GiB steps: 63 full steps and the rest.
  auto steps = memory_steps(129392 * MiB, 2 * GiB);
  EXPECT_EQ(steps.size(), 64u);
  std::uint64_t sum = 0;
  for (auto s : steps) {
    sum += s;
    EXPECT_EQ(s % (2 * MiB), 0u);
  }
  EXPECT_EQ(sum, 129392 * MiB);
}

TEST(GpuSizing, SmCounts) {
  EXPECT_EQ(*sm_target(std::nullopt, 132), 132);
  EXPECT_EQ(*sm_target(SmRequest{SmRequest::Mode::count, 66, 0}, 132), 66);
  EXPECT_EQ(*sm_target(SmRequest{SmRequest::Mode::count, 132, 0}, 132), 132);
  auto over = sm_target(SmRequest{SmRequest::Mode::count, 133, 0}, 132);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().message, "sm.count 133: the GPU has only 132 SMs");
  EXPECT_EQ(*sm_target(SmRequest{SmRequest::Mode::fraction, 0, 0.5}, 132), 66);
  EXPECT_EQ(*sm_target(SmRequest{SmRequest::Mode::fraction, 0, 0.3}, 132), 40);     // 39.6
  EXPECT_EQ(*sm_target(SmRequest{SmRequest::Mode::fraction, 0, 0.25}, 10), 3);      // 2.5, halves up
  EXPECT_EQ(*sm_target(SmRequest{SmRequest::Mode::fraction, 0, 0.001}, 132), 1);    // at least one
  EXPECT_EQ(*sm_target(SmRequest{SmRequest::Mode::fraction, 0, 1.0}, 108), 108);
  EXPECT_FALSE(sm_target(std::nullopt, 0));
}

TEST(GpuSizing, Bursts) {
  EXPECT_EQ(burst_on_ns(1.0, 100'000'000), ~0ull);
  EXPECT_EQ(burst_on_ns(0.8, 100'000'000), 80'000'000u);
  EXPECT_EQ(burst_on_ns(0.333, 10'000'000), 3'330'000u);
  EXPECT_EQ(burst_grid(132), 528u);
}

TEST(GpuFamily, Registers) {
  auto f = family();
  EXPECT_EQ(f.name, "gpu");
  UndoRegistry u;
  f.register_undo(u);
  JournalEntry e;
  e.kind = "gpu-worker";
  e.undo = {{"pid", 0}, {"start_time", 0u}};
  EXPECT_TRUE(u.undo(e)) << "a worker that never started needs no undo";
}

}  // namespace
}  // namespace chaos::gpu
