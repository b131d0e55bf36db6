#include "core/spec_registry.h"

namespace chaos {

void SpecRegistry::add_fault_family(std::string name, FaultSpecParser parser) {
  faults_[std::move(name)] = std::move(parser);
}

void SpecRegistry::add_probe_kind(std::string name, ProbeSpecParser parser) {
  probes_[std::move(name)] = std::move(parser);
}

const FaultSpecParser* SpecRegistry::fault_parser(const std::string& name) const {
  auto it = faults_.find(name);
  return it == faults_.end() ? nullptr : &it->second;
}

const ProbeSpecParser* SpecRegistry::probe_parser(const std::string& name) const {
  auto it = probes_.find(name);
  return it == probes_.end() ? nullptr : &it->second;
}

std::vector<std::string> SpecRegistry::fault_families() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : faults_) out.push_back(k);
  return out;
}

std::vector<std::string> SpecRegistry::probe_kinds() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : probes_) out.push_back(k);
  return out;
}

}  // namespace chaos
