#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos::cli {
// chaosctl audit [--since T] [--limit N] [-o text|json]: the agent's audit log (who changed the
// node, who was refused), served by the agent so that reading it needs the same right as status.
int cmd_audit(const std::string& socket, const std::vector<std::string>& args);

// --since: "2026-12-02T10:00:00Z" (or with .mmm), "2026-12-02" (midnight UTC), or a duration
// back from `now` ("90m", "1h", "2d" is not a duration: use 48h). Returns the UTC instant.
Result<std::chrono::system_clock::time_point> parse_since(const std::string& text,
                                                          std::chrono::system_clock::time_point now);

// The text table: one row per record, oldest first.
std::string format_audit_table(const nlohmann::json& records);
}  // namespace chaos::cli
