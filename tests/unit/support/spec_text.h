// Experiment text for the spec tests that read a family's block through the real registry
// (builtin_families), exactly as `chaosctl validate` reads it.
#pragma once

#include <memory>
#include <string>

#include "core/parser.h"

namespace chaos::fake {

// A 10s experiment "t" whose one fault "f" (1s) has `block` (indented lines, starting on line 10)
// under the key `family`, followed by `probes` (a "  steadyState:" section, say).
std::string one_fault_experiment(const std::string& family, const std::string& block,
                                 const std::string& probes = "");

// one_fault_experiment with a lab partition as the fault and `probes` (the entries of
// spec.steadyState, "    - name: ..." lines, starting on line 13) as its probes, parsed.
ParseOutcome parse_with_probes(const std::string& probes);

// Parses `text` as the file exp.yaml against every built-in family and probe kind.
ParseOutcome parse_builtin(const std::string& text);

// The first fault's spec, as the family's own type.
template <class Spec>
const Spec& first_fault_spec(const ParseOutcome& o) {
  return *std::static_pointer_cast<const Spec>(o.experiment->faults.at(0).spec);
}

}  // namespace chaos::fake
