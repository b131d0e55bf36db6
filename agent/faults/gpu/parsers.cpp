#include "faults/gpu/parsers.h"

#include "faults/gpu/config.h"
#include "faults/gpu/spec.h"

namespace chaos::gpu {

FaultFamily parsers() {
  FaultFamily f;
  f.name = kFamilyName;
  f.parse = parse_gpu_spec;
  f.config = config_section();
  return f;
}

}  // namespace chaos::gpu
