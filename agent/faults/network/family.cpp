#include "faults/network/family.h"

#include "faults/fanout.h"

#include "faults/network/netem.h"
#include "faults/network/partition.h"
#include "faults/network/parsers.h"
#include "faults/network/spec.h"
#include "kernel/classifier.h"
#include "kernel/target.h"

namespace chaos::network {

FaultFamily family() {
  FaultFamily f = parsers();
  f.make = [](const FaultEntry& entry, const FaultContext& ctx) -> Result<std::unique_ptr<Fault>> {
    auto spec = std::static_pointer_cast<const NetworkSpec>(entry.spec);
    auto one = [&](const FaultEntry& e) {
      return spec->action == Action::partition ? make_partition(e, ctx) : make_netem(e, ctx);
    };
    if (!spec->target.is_workload()) return one(entry);
    // A cgroup, unit or process target: resolved now, on every run, to the namespaces its chosen
    // processes live in; one fault in each.
    auto w = resolve_net_workloads(spec->target);
    if (!w) return wrap(w.error(), "network " + spec->target.str());
    std::vector<FanOutFault::Part> parts;
    for (const auto& ns : w->namespaces) {
      auto pinned = std::make_shared<NetworkSpec>(*spec);
      pinned->target = ns.pinned;
      FaultEntry e = entry;
      e.spec = pinned;
      if (w->namespaces.size() > 1) e.name = entry.name + "[" + ns.label + "]";
      auto f = one(e);
      if (!f) return wrap(f.error(), ns.label);
      parts.push_back({ns.label, std::move(*f)});
    }
    return std::unique_ptr<Fault>(new FanOutFault(std::move(parts), w->set.plan_lines(), w->set.to_json(spec->target)));
  };
  f.register_undo = [](UndoRegistry& u) {
    kernel::register_classifier_undo(u);
    register_netem_undo(u);
  };
  return f;
}

}  // namespace chaos::network
