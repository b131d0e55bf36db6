// The network fault family: partitions (eBPF drop) and netem faults on matching flows.
#pragma once

#include "faults/fault.h"

namespace chaos::network {

FaultFamily family();

}  // namespace chaos::network
