// The memory family: pressure and OOM inside a target cgroup. runner/families.cpp lists
// chaos::memory::family() once; nothing else knows the family.
#pragma once

#include "faults/fault.h"

namespace chaos::memory {

FaultFamily family();

}  // namespace chaos::memory
