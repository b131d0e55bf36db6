#include "faults/memory/memory.h"

#include "faults/memory/memory_fault.h"
#include "faults/memory/parsers.h"
#include "faults/memory/spec.h"

namespace chaos::memory {

FaultFamily family() {
  FaultFamily f = parsers();
  f.make = [](const FaultEntry& entry, const FaultContext& ctx) -> Result<std::unique_ptr<Fault>> {
    auto spec = std::dynamic_pointer_cast<const MemorySpec>(entry.spec);
    if (!spec) return fail("fault " + entry.name + ": not a memory block", EINVAL);
    return std::make_unique<MemoryFault>(spec, ctx, entry.name);
  };
  f.register_undo = [](UndoRegistry& reg) {
    reg.add(kHogJournalKind, undo_memory_hog);
    reg.add(kOomScoreJournalKind, undo_oom_score_adj);
  };
  return f;
}

}  // namespace chaos::memory
