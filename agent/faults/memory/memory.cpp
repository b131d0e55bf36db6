#include "faults/memory/memory.h"

#include <set>

#include "faults/fanout.h"
#include "faults/memory/memory_fault.h"
#include "faults/memory/parsers.h"
#include "faults/memory/spec.h"
#include "kernel/workload.h"

namespace chaos::memory {

FaultFamily family() {
  FaultFamily f = parsers();
  f.make = [](const FaultEntry& entry, const FaultContext& ctx) -> Result<std::unique_ptr<Fault>> {
    auto spec = std::dynamic_pointer_cast<const MemorySpec>(entry.spec);
    if (!spec) return fail("fault " + entry.name + ": not a memory block", EINVAL);
    if (!spec->target.is_workload()) return std::make_unique<MemoryFault>(spec, ctx, entry.name);
    // A cgroup glob, a unit or processes: resolved now, on every run; one hog per chosen cgroup.
    auto h = cgroup::find_hierarchy("memory");
    if (!h) return wrap(h.error(), "memory " + spec->target.str() + ": find the memory controller");
    auto set = resolve_workloads(spec->target, *h);
    if (!set) return wrap(set.error(), "memory " + spec->target.str());
    std::vector<FanOutFault::Part> parts;
    std::set<std::string> cgroups;
    const auto chosen = set->chosen();
    for (const Workload* w : chosen) {
      if (!cgroups.insert(w->cgroup.relative).second) continue;  // two chosen processes, one cgroup
      auto pinned = std::make_shared<MemorySpec>(*spec);
      pinned->target = Target{};
      pinned->target.kind = Target::Kind::cgroup;
      pinned->target.path = w->cgroup.relative;
      pinned->target.loc = spec->target.loc;
      std::string name = chosen.size() > 1 ? entry.name + "[" + w->cgroup.relative + "]" : entry.name;
      parts.push_back({w->label, std::make_unique<MemoryFault>(pinned, ctx, name)});
    }
    return std::unique_ptr<Fault>(new FanOutFault(std::move(parts), set->plan_lines(), set->to_json(spec->target)));
  };
  f.register_undo = [](UndoRegistry& reg) {
    reg.add(kHogJournalKind, undo_memory_hog);
    reg.add(kOomScoreJournalKind, undo_oom_score_adj);
  };
  return f;
}

}  // namespace chaos::memory
