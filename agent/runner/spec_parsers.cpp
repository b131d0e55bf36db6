#include "runner/spec_parsers.h"

#include "faults/etcd/parsers.h"
#include "faults/gpu/parsers.h"
#include "faults/memory/parsers.h"
#include "faults/network/parsers.h"
#include "observe/etcd_writer.h"
#include "observe/http_probe.h"
#include "observe/prometheus_probe.h"
#include "observe/tcp_probe.h"

namespace chaos {

const std::vector<FaultFamily>& builtin_fault_parsers() {
  static const std::vector<FaultFamily> families{network::parsers(), etcd::parsers(), memory::parsers(),
                                                 gpu::parsers()};
  return families;
}

SpecRegistry builtin_spec_registry() {
  SpecRegistry reg;
  for (const auto& f : builtin_fault_parsers()) reg.add_fault_family(f.name, f.parse);
  for (const auto& kind : {http_probe_kind(), tcp_probe_kind(), prometheus_probe_kind(), etcd_writer_probe_kind()})
    reg.add_probe_kind(kind.name, kind.parse);
  return reg;
}

ConfigRegistry builtin_config_registry() {
  ConfigRegistry reg;
  for (const auto& f : builtin_fault_parsers())
    if (f.config.make) reg.add(f.name, f.config);
  return reg;
}

}  // namespace chaos
