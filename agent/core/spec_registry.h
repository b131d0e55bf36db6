// Family and probe parsers register here, so the core parser can read `network:`, `gpu:`, `http:`
// blocks without knowing any family. The runner builds the registry (see runner/families.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/experiment.h"
#include "core/fields.h"

namespace chaos {

// Reads one family block strictly. Report errors through the reader; call r.finish() at the end.
// Return nullptr when the block was unusable (errors were reported).
using FaultSpecParser = std::function<std::shared_ptr<const FaultSpec>(MapReader& r)>;
using ProbeSpecParser = std::function<std::shared_ptr<const ProbeSpec>(MapReader& r)>;

class SpecRegistry {
 public:
  void add_fault_family(std::string name, FaultSpecParser parser);
  void add_probe_kind(std::string name, ProbeSpecParser parser);
  const FaultSpecParser* fault_parser(const std::string& name) const;
  const ProbeSpecParser* probe_parser(const std::string& name) const;
  std::vector<std::string> fault_families() const;
  std::vector<std::string> probe_kinds() const;

 private:
  std::map<std::string, FaultSpecParser> faults_;
  std::map<std::string, ProbeSpecParser> probes_;
};

}  // namespace chaos
