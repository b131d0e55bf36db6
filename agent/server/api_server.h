// The agent's API: newline-delimited JSON over a unix socket (mode 0660). One request per
// connection; a run streams its progress events on the same connection.
//
//   {"op":"run","file":"exp.yaml","yaml":"...","dryRun":false}   -> events..., {"event":"done",...}
//   {"op":"validate","file":"exp.yaml","yaml":"..."}             -> {"ok":true,"errors":[]}
//   {"op":"status"} | {"op":"halt","run":"ID"|""} | {"op":"recover"} | {"op":"report","run":"ID"}
#pragma once

#include <atomic>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "server/service.h"

namespace chaos {

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

 private:
  void handle(int fd);

  AgentService& service_;
  std::string path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<std::thread> conns_;
};

}  // namespace chaos
