// The fault families and probe kinds this agent knows. This is the one place that lists them.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/journal.h"
#include "core/spec_registry.h"
#include "faults/fault.h"
#include "observe/probe.h"

namespace chaos {

struct Families {
  std::vector<FaultFamily> faults;
  std::vector<ProbeKind> probes;

  const FaultFamily* fault(const std::string& name) const;
  const ProbeKind* probe(const std::string& name) const;
  SpecRegistry spec_registry() const;
  // Each family's part of agent.yaml, in the families' order (core/config.h reads the rest).
  ConfigRegistry config_registry() const;
  UndoRegistry undo_registry() const;
};

// Every built-in family and probe kind.
const Families& builtin_families();

}  // namespace chaos
