// Loading YAML text without yaml-cpp 0.7's endless loop. Debian 12's yaml-cpp (0.7.0) loops
// forever in YAML::LoadAll on a stream its parser cannot get past (one that starts with ',', for
// example), adding an empty document, and memory, on every turn: `chaosctl validate` hung and the
// agent's validate op grew without bound (found by fuzz/fuzz_experiment; upstream
// jbeder/yaml-cpp#1040, fixed by #1319 after 0.8.0). Every reader of experiment, config and
// manifest text goes through here instead of YAML::Load / YAML::LoadAll.
#pragma once

#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

namespace chaos {

struct YamlDocuments {
  YAML::Node first;                  // the first document (null when there is none)
  std::optional<YAML::Mark> second;  // where the content of a second document starts, if there is one
};

// Throws YAML::ParserException, with the mark, for text that is not YAML, including a stream the
// parser would not get past.
YamlDocuments load_yaml_documents(const std::string& text);

}  // namespace chaos
