// The memory family without its runtime: its experiment block and its Chaos Mesh converter (faults/memory/chaosmesh.h).
// Its guardrails, the protected cgroups and units, are the node's (core/config.h).
// Nothing here touches the node: family() adds the factory and the undo functions, and the fuzz
// tier links only this (runner/spec_parsers.h).
#pragma once

#include "faults/fault.h"

namespace chaos::memory {

// A FaultFamily with name, parse, config and chaos_mesh set (make and register_undo empty).
FaultFamily parsers();

}  // namespace chaos::memory
