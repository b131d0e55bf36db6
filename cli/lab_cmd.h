#pragma once

#include <string>
#include <vector>

namespace chaos::cli {
// chaosctl lab up|down|status [--name N]
int cmd_lab(const std::vector<std::string>& args);
}  // namespace chaos::cli
