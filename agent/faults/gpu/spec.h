// The gpu family's block:
//   gpu:
//     devices: [0, 1] | all            CUDA ordinals (required)
//     memory: {bytes: 64GiB | fraction: 0.9 | leave: 2GiB}
//     sm: {count: 66 | fraction: 0.5}  how many SMs to keep busy (default: all, when loading SMs)
//     utilization: 80%                 duty cycle of the busy SMs (default 100%)
//     tensor: true | false             tensor-core (mma) load instead of FMA (default false)
//     period: 100ms                    duty-cycle period (default 100ms, 10ms..10s)
// At least one of memory, sm, utilization, tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/experiment.h"
#include "core/fields.h"
#include "core/units.h"

namespace chaos::gpu {

struct MemoryRequest {
  enum class Mode { bytes, fraction, leave } mode = Mode::bytes;
  std::uint64_t bytes = 0;  // bytes: what to hold; leave: what to keep free
  double fraction = 0;      // fraction: of total memory, (0, 1]
  nlohmann::json to_json() const;
  static std::optional<MemoryRequest> from_json(const nlohmann::json& j);
};

struct SmRequest {
  enum class Mode { count, fraction } mode = Mode::count;
  int count = 0;
  double fraction = 0;  // of the GPU's SMs, (0, 1]
  nlohmann::json to_json() const;
  static std::optional<SmRequest> from_json(const nlohmann::json& j);
};

struct GpuSpec : FaultSpec {
  bool all_devices = false;
  std::vector<int> devices;  // when !all_devices; distinct
  std::optional<MemoryRequest> memory;
  std::optional<SmRequest> sm;         // absent with utilization/tensor: every SM
  std::optional<Percent> utilization;  // absent: 100% when SMs are loaded
  bool tensor = false;
  Duration period{std::chrono::milliseconds(100)};

  bool loads_sms() const { return sm.has_value() || utilization.has_value() || tensor; }
  double duty() const { return utilization ? utilization->fraction() : 1.0; }
  nlohmann::json to_json() const override;
};

// Reads the `gpu:` block strictly (registered as the family's FaultSpecParser).
std::shared_ptr<const FaultSpec> parse_gpu_spec(MapReader& r);

}  // namespace chaos::gpu
