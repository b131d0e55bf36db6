#include "faults/memory/parsers.h"

#include "faults/memory/chaosmesh.h"
#include "faults/memory/spec.h"

namespace chaos::memory {

FaultFamily parsers() {
  FaultFamily f;
  f.name = "memory";
  f.parse = parse_memory_spec;
  f.chaos_mesh = chaos_mesh_converter();
  return f;
}

}  // namespace chaos::memory
