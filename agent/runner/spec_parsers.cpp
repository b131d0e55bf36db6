#include "runner/spec_parsers.h"

#include "faults/etcd/spec.h"
#include "faults/gpu/spec.h"
#include "faults/memory/spec.h"
#include "faults/network/spec.h"
#include "observe/etcd_writer.h"
#include "observe/http_probe.h"
#include "observe/prometheus_probe.h"
#include "observe/tcp_probe.h"

namespace chaos {

SpecRegistry builtin_spec_registry() {
  SpecRegistry reg;
  reg.add_fault_family("network", network::parse_network_spec);
  reg.add_fault_family("etcd", etcd::parse_etcd_spec);
  reg.add_fault_family("memory", memory::parse_memory_spec);
  reg.add_fault_family("gpu", gpu::parse_gpu_spec);
  for (const auto& kind : {http_probe_kind(), tcp_probe_kind(), prometheus_probe_kind(), etcd_writer_probe_kind()})
    reg.add_probe_kind(kind.name, kind.parse);
  return reg;
}

}  // namespace chaos
