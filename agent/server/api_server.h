// The agent's API: newline-delimited JSON over a unix socket. One request per connection; a run
// streams its progress events on the same connection.
//
//   {"op":"run","file":"exp.yaml","yaml":"...","dryRun":false}   -> events..., {"event":"done",...}
//   {"op":"validate","file":"exp.yaml","yaml":"..."}             -> {"ok":true,"errors":[]}
//   {"op":"status"} | {"op":"halt","run":"ID"|""} | {"op":"recover"} | {"op":"report","run":"ID"}
//   {"op":"audit","since":"2026-12-02T10:00:00Z","limit":1000}   -> {"ok":true,"records":[...]}
//   {"op":"schedule.add|list|show|remove|pause|resume|trigger",...}  -> server/scheduler.h
//
// Who may do what: server/access.h (the socket is root:api.group 0660; each request is authorized
// by the caller's SO_PEERCRED uid and groups). What changed the node, and every refusal: the audit
// log (server/audit.h). Limits (agent.yaml api:): the request line's size, the connections served
// at once, the runs at once (AgentService). A request the agent will not serve gets one line,
//   {"ok":false,"code":"busy"|"too-large"|"permission-denied"|"bad-request","error":"..."}
// and the connection is closed.
#pragma once

#include <atomic>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "server/access.h"
#include "server/api_request.h"
#include "server/service.h"

namespace chaos {

class Scheduler;

class ApiServer {
 public:
  ApiServer(AgentService& service, std::string socket_path);
  ~ApiServer();

  // Binds and listens (removing a stale socket file first), owned by root:api.group, mode 0660;
  // 0600 when the group does not exist (logged).
  Result<void> listen();
  // Accept loop; returns after stop().
  void serve();
  // Stops accepting; open connections finish on their own.
  void stop();
  // Joins every connection thread (after the service's runs have halted).
  void join_connections();
  // Serves the schedule.* ops (without one they are refused).
  void set_scheduler(Scheduler* scheduler) { scheduler_ = scheduler; }

  // Connections past api.maxConnections still read their request for this long, and are served
  // only when it is a halt: the kill switch works while the agent is swamped.
  static constexpr int kHaltReserve = 4;

  // Connections being served now (for tests).
  int active_connections() const { return active_.load(); }
  int reserve_connections() const { return reserve_.load(); }
  const AccessPolicy& policy() const { return policy_; }

 private:
  void handle(int fd, Peer peer, bool reserve);
  nlohmann::json dispatch(int fd, const ApiRequest& req, Peer& peer, bool& client_gone);

  AgentService& service_;
  Scheduler* scheduler_ = nullptr;
  std::string path_;
  AccessPolicy policy_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};   // normal connections being served
  std::atomic<int> reserve_{0};  // connections in the halt reserve
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
