// The gpu family's part of agent.yaml (registered through runner/families like its block parser;
// core/config.h hands it the keys):
//   guardrails:
//     maxGpuMemoryFraction: 0.95   a hold above this fraction of a device's memory is refused
#pragma once

#include <optional>

#include "core/config.h"

namespace chaos::gpu {

inline constexpr const char* kFamilyName = "gpu";

struct GpuConfig : FamilyConfig {
  std::optional<double> max_memory_fraction;  // guardrails.maxGpuMemoryFraction, 0..1
};

// The family's part of `c` (its defaults when `c` has none).
const GpuConfig& config_of(const AgentConfig& c);
// Replaces it (tests, chaos-gpu-run).
void set_config(AgentConfig& c, GpuConfig g);

// What the family registers (FaultFamily::config).
ConfigSection config_section();

}  // namespace chaos::gpu
