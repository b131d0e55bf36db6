// The parsers of every built-in fault family and probe kind, without the families themselves:
// what reading an experiment, agent.yaml or a Chaos Mesh manifest needs and nothing that touches
// the node (no BPF, no netlink). The fuzz targets (fuzz/) build only this and the parsers;
// builtin_families() stays the one list of families, and a unit test checks that both name the
// same families with the same parts.
#pragma once

#include <vector>

#include "core/config.h"
#include "core/spec_registry.h"
#include "faults/fault.h"

namespace chaos {

// Each family's parsers() (faults/<family>/parsers.h), in builtin_families()' order: name, parse,
// config and chaos_mesh set; make and register_undo empty.
const std::vector<FaultFamily>& builtin_fault_parsers();

SpecRegistry builtin_spec_registry();
ConfigRegistry builtin_config_registry();

}  // namespace chaos
