// chaosctl's side of the agent API: one request per connection, newline-delimited JSON back.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos::cli {

inline constexpr const char* kDefaultSocket = "/run/chaos-agent/agent.sock";

// Sends `request`, calls on_line for every line the agent sends back, and returns the last.
Result<nlohmann::json> call_agent(const std::string& socket_path, const nlohmann::json& request,
                                  const std::function<void(const nlohmann::json&)>& on_line = {});

}  // namespace chaos::cli
