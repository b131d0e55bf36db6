// The agent's API: newline-delimited JSON over a unix socket (mode 0660). One request per
// connection; a run streams its progress events on the same connection.
//
//   {"op":"run","file":"exp.yaml","yaml":"...","dryRun":false}   -> events..., {"event":"done",...}
//   {"op":"validate","file":"exp.yaml","yaml":"..."}             -> {"ok":true,"errors":[]}
//   {"op":"status"} | {"op":"halt","run":"ID"|""} | {"op":"recover"} | {"op":"report","run":"ID"}
//   {"op":"schedule.add|list|show|remove|pause|resume|trigger",...}  -> server/scheduler.h
#pragma once

#include <atomic>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "server/service.h"

namespace chaos {

class Scheduler;

class ApiServer {
 public:
  ApiServer(AgentService& service, std::string socket_path);
  ~ApiServer();

  // Binds and listens (removing a stale socket file first).
  Result<void> listen();
  // Accept loop; returns after stop().
  void serve();
  // Stops accepting; open connections finish on their own.
  void stop();
  // Joins every connection thread (after the service's runs have halted).
  void join_connections();
  // Serves the schedule.* ops (without one they are refused).
  void set_scheduler(Scheduler* scheduler) { scheduler_ = scheduler; }

 private:
  void handle(int fd);

  AgentService& service_;
  Scheduler* scheduler_ = nullptr;
  std::string path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  // One thread per connection; finished ones are joined and dropped at the next accept, so a
  // long-lived agent does not keep a thread object per past `chaosctl status`.
  struct Conn {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::list<Conn> conns_;
};

}  // namespace chaos
