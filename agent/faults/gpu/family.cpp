#include "faults/gpu/family.h"

#include "faults/gpu/parsers.h"
#include "faults/gpu/spec.h"

namespace chaos::gpu {

FaultFamily family(GpuFaultOptions opts) {
  FaultFamily f = parsers();
  f.make = [opts](const FaultEntry& entry, const FaultContext& ctx) -> Result<std::unique_ptr<Fault>> {
    auto spec = std::dynamic_pointer_cast<const GpuSpec>(entry.spec);
    if (!spec) return fail("gpu: fault " + entry.name + " has no gpu block", EINVAL);
    return std::unique_ptr<Fault>(std::make_unique<GpuFault>(entry.name, spec, ctx, opts));
  };
  f.register_undo = [](UndoRegistry& reg) { reg.add(kWorkerJournalKind, undo_gpu_worker); };
  return f;
}

FaultFamily family() { return family(GpuFaultOptions::defaults()); }

}  // namespace chaos::gpu
