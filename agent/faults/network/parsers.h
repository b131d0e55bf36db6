// The network family without its runtime: its experiment block, its agent.yaml part (faults/network/config.h) and its Chaos Mesh
// converter (faults/network/chaosmesh.h).
// Nothing here touches the node: family() adds the factory and the undo functions, and the fuzz
// tier links only this (runner/spec_parsers.h).
#pragma once

#include "faults/fault.h"

namespace chaos::network {

// A FaultFamily with name, parse, config and chaos_mesh set (make and register_undo empty).
FaultFamily parsers();

}  // namespace chaos::network
