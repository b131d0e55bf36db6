#include "faults/network/parsers.h"

#include "faults/network/chaosmesh.h"
#include "faults/network/config.h"
#include "faults/network/spec.h"

namespace chaos::network {

FaultFamily parsers() {
  FaultFamily f;
  f.name = kFamilyName;
  f.parse = parse_network_spec;
  f.config = config_section();
  f.chaos_mesh = chaos_mesh_converter();
  return f;
}

}  // namespace chaos::network
