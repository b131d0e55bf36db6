// The etcd family without its runtime: its experiment block. It has no agent.yaml part of its own (it reads the
// network family's: faults/network/config.h) and converts no Chaos Mesh kind.
// Nothing here touches the node: family() adds the factory and the undo functions, and the fuzz
// tier links only this (runner/spec_parsers.h).
#pragma once

#include "faults/fault.h"

namespace chaos::etcd {

// A FaultFamily with name, parse, config and chaos_mesh set (make and register_undo empty).
FaultFamily parsers();

}  // namespace chaos::etcd
