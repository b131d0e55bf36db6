// Human-readable run reports for the terminal.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace chaos::cli {

// The run summary: outcome, faults, and per probe a table of phases (before, during, after):
// requests, errors, p50/p99 latency, and how long traffic took to recover after the revert.
std::string format_summary(const nlohmann::json& report);

// One progress event as a line ("" for events not worth a line).
std::string format_event(const nlohmann::json& ev);

}  // namespace chaos::cli
