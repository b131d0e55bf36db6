#include "server/systemd.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

#include "core/log.h"

namespace chaos {

SystemdNotifier::~SystemdNotifier() { stop_watchdog(); }

void SystemdNotifier::ready(const std::string& status) {
  sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
}

void SystemdNotifier::status(const std::string& status) { sd_notify(0, ("STATUS=" + status).c_str()); }

void SystemdNotifier::stopping() { sd_notify(0, "STOPPING=1\nSTATUS=reverting every active fault and stopping"); }

std::chrono::microseconds SystemdNotifier::start_watchdog(HealthCheck stalled) {
  // Nobody to ping without a notify socket (WATCHDOG_USEC alone is a leftover environment).
  if (!std::getenv("NOTIFY_SOCKET")) return std::chrono::microseconds(0);
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  const auto every = std::chrono::microseconds(usec / 2);
  thread_ = std::thread([this, every, stalled = std::move(stalled)] {
    auto log = logger("agent");
    bool was_stalled = false;
    std::unique_lock lk(mu_);
    while (!stop_) {
      lk.unlock();
      auto stuck = stalled ? stalled() : std::vector<std::string>{};
      if (stuck.empty()) {
        sd_notify(0, "WATCHDOG=1");
        if (was_stalled) {
          log->info("watchdog: every run is turning again; pinging systemd again");
          sd_notify(0, "STATUS=serving");
        }
        was_stalled = false;
      } else {
        std::string what;
        for (const auto& s : stuck) what += (what.empty() ? "" : "; ") + s;
        if (!was_stalled)
          log->error("watchdog: not pinging systemd, {} (systemd restarts the agent after WatchdogSec; "
                     "ExecStopPost reverts from the journal)",
                     what);
        sd_notify(0, ("STATUS=stalled: " + what).c_str());
        was_stalled = true;
      }
      lk.lock();
      cv_.wait_for(lk, every, [this] { return stop_; });
    }
  });
  return every * 2;
}

void SystemdNotifier::stop_watchdog() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace chaos
