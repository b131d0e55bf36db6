// The etcd fault family: isolate a member by role from its peers, or cut clients off etcd.
#pragma once

#include "faults/fault.h"

namespace chaos::etcd {

FaultFamily family();

}  // namespace chaos::etcd
