#include "faults/gpu/config.h"

#include <memory>

namespace chaos::gpu {

const GpuConfig& config_of(const AgentConfig& c) { return family_config<GpuConfig>(c, kFamilyName); }

void set_config(AgentConfig& c, GpuConfig g) {
  c.families[kFamilyName] = std::make_shared<const GpuConfig>(std::move(g));
}

ConfigSection config_section() {
  return chaos::config_section<GpuConfig>([](MapReader& gr, GpuConfig& g) {
    if (auto v = gr.number("maxGpuMemoryFraction", 0.0, 1.0)) g.max_memory_fraction = *v;
  });
}

}  // namespace chaos::gpu
