// The parsers of every built-in fault family and probe kind, without the families themselves:
// what reading an experiment needs and nothing that touches the node (no BPF, no netlink). The
// fuzz targets (fuzz/) build only this and the parsers; builtin_families() stays the one list of
// families, and a unit test checks that both name the same kinds.
#pragma once

#include "core/spec_registry.h"

namespace chaos {

SpecRegistry builtin_spec_registry();

}  // namespace chaos
