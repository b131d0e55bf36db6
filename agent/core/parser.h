// Experiment files, version 1 (apiVersion: chaos-agent/v1, kind: Experiment).
#pragma once

#include <optional>
#include <string>

#include "core/diag.h"
#include "core/experiment.h"
#include "core/spec_registry.h"

namespace chaos {

struct ParseOutcome {
  std::optional<Experiment> experiment;  // set only when diags is empty
  Diagnostics diags;
};

// Parses and validates a whole experiment; one pass reports every error.
ParseOutcome parse_experiment(const std::string& text, const std::string& file,
                              const SpecRegistry& registry);
// A name metadata.name, a fault's or a probe's name may have: lowercase letters, digits, '-'
// and '.', starting and ending with a letter or digit, at most 63 characters.
bool valid_experiment_name(const std::string& s);

ParseOutcome parse_experiment_file(const std::string& path, const SpecRegistry& registry);

}  // namespace chaos
