// The gpu family: hold HBM, occupy SMs, burn duty cycles through the CUDA driver API.
// runner/families.cpp lists chaos::gpu::family() once; nothing else knows the family.
#pragma once

#include "faults/fault.h"
#include "faults/gpu/gpu_fault.h"

namespace chaos::gpu {

// The family with the real driver (libcuda.so.1) and NVML, both dlopen()ed when first needed.
FaultFamily family();
// The same with other options (tests: a fake driver, fake NVML).
FaultFamily family(GpuFaultOptions opts);

}  // namespace chaos::gpu
