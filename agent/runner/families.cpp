#include "runner/families.h"

#include "faults/etcd/family.h"
#include "faults/gpu/family.h"
#include "faults/memory/memory.h"
#include "faults/network/family.h"
#include "observe/etcd_writer.h"
#include "observe/http_probe.h"
#include "observe/prometheus_probe.h"
#include "observe/tcp_probe.h"

namespace chaos {

const FaultFamily* Families::fault(const std::string& name) const {
  for (const auto& f : faults)
    if (f.name == name) return &f;
  return nullptr;
}

const ProbeKind* Families::probe(const std::string& name) const {
  for (const auto& p : probes)
    if (p.name == name) return &p;
  return nullptr;
}

SpecRegistry Families::spec_registry() const {
  SpecRegistry reg;
  for (const auto& f : faults) reg.add_fault_family(f.name, f.parse);
  for (const auto& p : probes) reg.add_probe_kind(p.name, p.parse);
  return reg;
}

ConfigRegistry Families::config_registry() const {
  ConfigRegistry reg;
  for (const auto& f : faults)
    if (f.config.make) reg.add(f.name, f.config);
  return reg;
}

UndoRegistry Families::undo_registry() const {
  UndoRegistry u;
  for (const auto& f : faults)
    if (f.register_undo) f.register_undo(u);
  return u;
}

const Families& builtin_families() {
  static const Families families = [] {
    Families f;
    f.faults.push_back(network::family());
    f.faults.push_back(etcd::family());
    f.faults.push_back(memory::family());
    f.faults.push_back(gpu::family());
    f.probes.push_back(http_probe_kind());
    f.probes.push_back(tcp_probe_kind());
    f.probes.push_back(prometheus_probe_kind());
    f.probes.push_back(etcd_writer_probe_kind());
    return f;
  }();
  return families;
}

}  // namespace chaos
