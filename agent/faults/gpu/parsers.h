// The gpu family without its runtime: its experiment block and its agent.yaml part (faults/gpu/config.h). It converts
// no Chaos Mesh kind.
// Nothing here touches the node: family() adds the factory and the undo functions, and the fuzz
// tier links only this (runner/spec_parsers.h).
#pragma once

#include "faults/fault.h"

namespace chaos::gpu {

// A FaultFamily with name, parse, config and chaos_mesh set (make and register_undo empty).
FaultFamily parsers();

}  // namespace chaos::gpu
