#include "server/api_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <system_error>

#include "core/log.h"
#include "server/api_request.h"
#include "server/scheduler.h"

namespace chaos {

namespace {

// nonblocking: for a run's events, sent from the run's timeline thread, which must never wait
// on a client (a Ctrl-Z'd `chaosctl run`, a pager): a full socket buffer drops that client.
bool send_line(int fd, const nlohmann::json& j, bool nonblocking = false) {
  // replace: a message quoting bytes that are not UTF-8 (a YAML error about one byte of a
  // multi-byte character) must not throw (json's default), which would end the agent.
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const char* p = s.data();
  std::size_t left = s.size();
  while (left) {
    ssize_t n = ::send(fd, p, left, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;  // the client went away; the run goes on regardless
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_line(int fd, std::string& out) {
  char buf[65536];
  while (out.find('\n') == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !out.empty();
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (16u << 20)) return false;
  }
  out.resize(out.find('\n'));
  return true;
}

}  // namespace

ApiServer::ApiServer(AgentService& service, std::string socket_path)
    : service_(service), path_(std::move(socket_path)) {}

ApiServer::~ApiServer() {
  stop();
  join_connections();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
  for (int fd : wake_pipe_)
    if (fd >= 0) ::close(fd);
}

Result<void> ApiServer::listen() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) return fail("socket path too long: " + path_);
  std::strcpy(addr.sun_path, path_.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail_errno("socket");
  // A stale socket from a killed agent would make bind fail; a live agent still answering would
  // be a second agent on the same journal, which must not happen.
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    if (::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      ::close(probe);
      return fail("another agent is already serving " + path_, EADDRINUSE);
    }
    ::close(probe);
  }
  ::unlink(path_.c_str());
  mode_t old = ::umask(0117);
  int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return fail_errno("bind " + path_);
  ::chmod(path_.c_str(), 0660);
  if (::listen(listen_fd_, 64) != 0) return fail_errno("listen " + path_);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) return fail_errno("pipe");
  return {};
}

void ApiServer::serve() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      logger("api")->error("poll: {}", std::strerror(errno));
      break;
    }
    if (fds[1].revents) break;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lk(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->done) {
        it->thread.join();
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    Conn& c = conns_.emplace_back();
    // The list node stays put until this thread is joined, so the reference is safe.
    try {
      c.thread = std::thread([this, fd, &c] {
        handle(fd);
        c.done = true;
      });
    } catch (const std::system_error& e) {
      // Out of threads: refuse this connection, keep serving (and keep every fault revertible).
      logger("api")->error("cannot serve a connection: {}", e.what());
      conns_.pop_back();
      ::close(fd);
    }
  }
}

void ApiServer::stop() {
  stopping_ = true;
  if (wake_pipe_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_pipe_[1], &c, 1);
  }
}

void ApiServer::join_connections() {
  std::list<Conn> conns;
  {
    std::lock_guard lk(mu_);
    conns.swap(conns_);
  }
  for (auto& c : conns)
    if (c.thread.joinable()) c.thread.join();
}

void ApiServer::handle(int fd) {
  auto log = logger("api");
  Caller who;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    who.uid = static_cast<int>(cred.uid);
    who.pid = static_cast<int>(cred.pid);
  }
  // A client that never sends its request, or never reads its answer, must not hold this thread
  // (and the agent's shutdown, which joins it) forever.
  timeval rcv{10, 0}, snd{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
  std::string line;
  if (!read_line(fd, line)) {
    ::close(fd);
    return;
  }
  bool client_gone = false;
  nlohmann::json resp;
  // Every field this op reads is type-checked here: a request is answered, never a crash.
  auto parsed = parse_api_request(line);
  if (!parsed) {
    resp = {{"ok", false}, {"error", parsed.error().message}};
  } else {
    const ApiRequest& req = *parsed;
    switch (req.op) {
      case ApiOp::run:
        if (!req.dry_run) log->info("run requested by {} ({})", who.str(), req.file);
        resp = service_.run(req.yaml, req.file, req.dry_run, who,
                            [fd, &client_gone, &log, &who](const nlohmann::json& ev) {
                              if (client_gone) return;
                              if (!send_line(fd, ev, true)) {
                                client_gone = true;
                                log->warn("{} stopped reading its run's events; the run goes on without it (its "
                                          "report is kept: chaosctl report)",
                                          who.str());
                                ::shutdown(fd, SHUT_RDWR);
                              }
                            });
        break;
      case ApiOp::validate: resp = service_.validate(req.yaml, req.file); break;
      case ApiOp::status:
        resp = service_.status();
        resp["ok"] = true;
        break;
      case ApiOp::halt: resp = service_.halt(req.run, who); break;
      case ApiOp::recover: resp = service_.recover(who); break;
      case ApiOp::report: resp = service_.report(req.run); break;
      case ApiOp::ping: resp = {{"ok", true}, {"pid", ::getpid()}}; break;
      case ApiOp::schedule:
        resp = scheduler_ ? scheduler_->handle(req.op_name, req.body, who)
                          : nlohmann::json{{"ok", false}, {"error", "this agent serves no schedules"}};
        break;
    }
  }
  if (!client_gone) send_line(fd, resp);
  ::close(fd);
}

}  // namespace chaos
