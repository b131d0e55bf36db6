#include "unit/support/spec_text.h"

#include "runner/families.h"

namespace chaos::fake {

std::string one_fault_experiment(const std::string& family, const std::string& block, const std::string& probes) {
  return "apiVersion: chaos-agent/v1\n"
         "kind: Experiment\n"
         "metadata: {name: t}\n"
         "spec:\n"
         "  duration: 10s\n"
         "  faults:\n"
         "    - name: f\n"
         "      duration: 1s\n"
         "      " + family + ":\n" +
         block + probes;
}

ParseOutcome parse_builtin(const std::string& text) {
  return parse_experiment(text, "exp.yaml", builtin_families().spec_registry());
}

ParseOutcome parse_with_probes(const std::string& probes) {
  return parse_builtin(one_fault_experiment("network", "        action: partition\n        lab: client\n",
                                            "  steadyState:\n" + probes));
}

}  // namespace chaos::fake
