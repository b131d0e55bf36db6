#include "core/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace chaos {

namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& subsystem) {
  std::lock_guard lk(g_mu);
  if (auto l = spdlog::get(subsystem)) return l;
  auto l = spdlog::stderr_color_mt(subsystem);
  l->set_level(g_level);
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  return l;
}

void set_log_level(const std::string& level) {
  std::lock_guard lk(g_mu);
  g_level = spdlog::level::from_str(level);
  spdlog::set_level(g_level);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
}

}  // namespace chaos
