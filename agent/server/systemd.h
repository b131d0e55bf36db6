// The agent under systemd (Type=notify): READY=1 once it serves, STOPPING=1 when it reverts and
// leaves, STATUS= lines, and the watchdog. The watchdog is pinged only while every running
// run's timeline is still turning: a run loop stuck in a syscall stops the pings, systemd kills
// the agent (WatchdogSec), ExecStopPost replays the journal, and the node is clean again even if
// the dead-man lease had not already made the faults harmless.
//
// Without systemd (no NOTIFY_SOCKET) every call is a no-op.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace chaos {

class SystemdNotifier {
 public:
  // stalled(): descriptions of whatever is stuck (empty: healthy).
  using HealthCheck = std::function<std::vector<std::string>()>;

  SystemdNotifier() = default;
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  void ready(const std::string& status);
  void status(const std::string& status);
  void stopping();
  // Starts pinging at half of WATCHDOG_USEC when the service manager asked for a watchdog.
  // Returns the interval, or zero when there is none.
  std::chrono::microseconds start_watchdog(HealthCheck stalled);
  void stop_watchdog();

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace chaos
