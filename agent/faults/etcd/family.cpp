#include "faults/etcd/family.h"

#include "faults/etcd/etcd_fault.h"
#include "faults/etcd/parsers.h"
#include "faults/etcd/spec.h"
#include "kernel/classifier.h"

namespace chaos::etcd {

FaultFamily family() {
  FaultFamily f = parsers();
  f.make = make_etcd_fault;
  // The drops are the network family's classifier, journaled under its kind: registering the
  // same undo again keeps recovery working in a build without the network family.
  f.register_undo = [](UndoRegistry& u) { kernel::register_classifier_undo(u); };
  return f;
}

}  // namespace chaos::etcd
