#include "faults/network/family.h"

#include "faults/network/netem.h"
#include "faults/network/partition.h"
#include "faults/network/parsers.h"
#include "faults/network/spec.h"
#include "kernel/classifier.h"

namespace chaos::network {

FaultFamily family() {
  FaultFamily f = parsers();
  f.make = [](const FaultEntry& entry, const FaultContext& ctx) -> Result<std::unique_ptr<Fault>> {
    auto spec = std::static_pointer_cast<const NetworkSpec>(entry.spec);
    if (spec->action == Action::partition) return make_partition(entry, ctx);
    return make_netem(entry, ctx);
  };
  f.register_undo = [](UndoRegistry& u) {
    kernel::register_classifier_undo(u);
    register_netem_undo(u);
  };
  return f;
}

}  // namespace chaos::network
