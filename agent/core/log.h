// One named spdlog logger per subsystem, all writing to stderr (journald picks it up).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace chaos {

// Returns (creating on first use) the logger for a subsystem: "agent", "network", "journal"...
std::shared_ptr<spdlog::logger> logger(const std::string& subsystem);

// Applies a level ("trace".."off") to every existing and future logger.
void set_log_level(const std::string& level);

}  // namespace chaos
