#pragma once

#include <string>
#include <vector>

namespace chaos::cli {
// chaosctl schedule add|list|show|rm|pause|resume|trigger ...
int cmd_schedule(const std::string& socket, const std::vector<std::string>& args);
}  // namespace chaos::cli
