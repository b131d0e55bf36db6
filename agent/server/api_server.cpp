#include "server/api_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <system_error>

#include "core/cron.h"
#include "core/log.h"
#include "core/units.h"
#include "server/api_request.h"
#include "server/scheduler.h"

namespace chaos {

namespace {

using json = nlohmann::json;

// nonblocking: for a run's events, sent from the run's timeline thread, which must never wait
// on a client (a Ctrl-Z'd `chaosctl run`, a pager): a full socket buffer drops that client.
bool send_line(int fd, const json& j, bool nonblocking = false) {
  // Text from a request or an experiment file may hold bytes that are not UTF-8: replaced, never
  // thrown on.
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
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

json refusal(const char* code, const std::string& error) { return {{"ok", false}, {"code", code}, {"error", error}}; }

enum class ReadStatus { line, closed, too_long };

// One request line, never buffering more than max + 1 bytes of it.
ReadStatus read_request(int fd, std::string& out, std::size_t max) {
  char buf[65536];
  std::size_t scanned = 0;
  for (;;) {
    if (auto nl = out.find('\n', scanned); nl != std::string::npos) {
      if (nl > max) return ReadStatus::too_long;
      out.resize(nl);
      return ReadStatus::line;
    }
    scanned = out.size();
    if (out.size() > max) return ReadStatus::too_long;
    std::size_t want = std::min(sizeof buf, max + 1 - out.size());
    ssize_t n = ::recv(fd, buf, want, 0);
    if (n < 0 && errno == EINTR) continue;
    // A client that closes after its request without a newline still gets an answer.
    if (n <= 0) return out.empty() || n < 0 ? ReadStatus::closed : ReadStatus::line;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Reads and drops what the client is still sending (a refused oversized line), so that its write
// completes and it reads the answer: until it closes its end, stops sending for 200ms (it has sent
// everything and waits for the answer), or `limit` has passed; then the caller closes.
void drain(int fd, std::chrono::steady_clock::duration limit) {
  char buf[65536];
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
  }
}

// Busy refusals come in floods (that is when they happen): one log line, then a count every 10s.
void log_busy(int cap) {
  static std::atomic<long long> refused{0};
  static std::atomic<long long> last_log_s{0};
  const long long now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  long long n = ++refused;
  long long last = last_log_s.load();
  if ((last == 0 || now_s - last >= 10) && last_log_s.compare_exchange_strong(last, now_s)) {
    refused = 0;
    logger("api")->warn("busy: {} connection(s) refused at the limit of {} (api.maxConnections)", n, cap);
  }
}

Caller caller_of(const Peer& p) {
  Caller c;
  c.uid = static_cast<int>(p.uid);
  c.pid = static_cast<int>(p.pid);
  c.user = p.user;
  c.exe = p.exe;
  return c;
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
  auto log = logger("api");
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
  // Born 0600: the group is given the socket only once it is the right group.
  mode_t old = ::umask(0177);
  int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return fail_errno("bind " + path_);
  const ApiConfig& api = service_.config().api;
  policy_ = AccessPolicy::resolve(api, ::geteuid());
  if (!policy_.group_gid) {
    log->warn("api.group \"{}\" does not exist on this node: the socket {} is root-only (mode 0600); to let "
              "its members in: groupadd {}, usermod -aG {} USER, and restart the agent",
              api.group, path_, api.group, api.group);
  } else if (::lchown(path_.c_str(), static_cast<uid_t>(-1), *policy_.group_gid) != 0) {
    log->error("cannot give the socket {} to group {}: {}; it stays root-only (mode 0600)", path_, api.group,
               std::strerror(errno));
  } else if (::chmod(path_.c_str(), 0660) != 0) {
    log->error("chmod 0660 {}: {}; it stays root-only (mode 0600)", path_, std::strerror(errno));
  } else {
    log->info("socket {}: mode 0660, group {} (gid {}); operators: group {}{}", path_, api.group,
              *policy_.group_gid, api.operators_group, policy_.operators_gid ? "" : " (does not exist)");
  }
  if (!policy_.operators_gid)
    log->warn("api.operatorsGroup \"{}\" does not exist on this node: only root may run experiments, recover or "
              "change schedules",
              api.operators_group);
  if (::listen(listen_fd_, 128) != 0) return fail_errno("listen " + path_);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) return fail_errno("pipe");
  return {};
}

void ApiServer::serve() {
  auto log = logger("api");
  const int cap = service_.config().api.max_connections;
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      log->error("poll: {}", std::strerror(errno));
      break;
    }
    if (fds[1].revents) break;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the pending connection stays queued and poll() would return at once;
      // give running connections a moment to close some.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log->error("accept: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      continue;
    }
    // The caller's credentials as the kernel recorded them at connect(), and its exe, now.
    auto peer = read_peer(fd);
    std::lock_guard lk(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->done) {
        it->thread.join();
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    bool reserve = false;
    if (active_.load() >= cap) {
      if (reserve_.load() < kHaltReserve) {
        reserve = true;
      } else {
        log_busy(cap);
        send_line(fd,
                  refusal("busy", "busy: the agent is serving " + std::to_string(cap) +
                                      " connections, its limit (api.maxConnections); try again shortly"),
                  true);
        ::close(fd);
        continue;
      }
    }
    if (!peer) {
      log->warn("refusing a connection: cannot identify the caller: {}", peer.error().text());
      send_line(fd, refusal("permission-denied", "permission denied: cannot identify the caller: " + peer.error().text()),
                true);
      ::close(fd);
      continue;
    }
    auto& counter = reserve ? reserve_ : active_;
    ++counter;
    Conn& c = conns_.emplace_back();
    // The list node stays put until this thread is joined, so the reference is safe.
    try {
      c.thread = std::thread([this, fd, &c, &counter, reserve, p = std::move(*peer)]() mutable {
        handle(fd, std::move(p), reserve);
        --counter;
        c.done = true;
      });
    } catch (const std::system_error& e) {
      // Out of threads: refuse this connection, keep serving (and keep every fault revertible).
      log->error("cannot serve a connection: {}", e.what());
      --counter;
      conns_.pop_back();
      send_line(fd, refusal("busy", std::string("busy: the agent cannot start a thread: ") + e.what()), true);
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

void ApiServer::handle(int fd, Peer peer, bool reserve) {
  auto log = logger("api");
  const auto& api = service_.config().api;
  // A client that never sends its request, or never reads its answer, must not hold this thread
  // (and the agent's shutdown, which joins it) forever. One in the halt reserve gets less time.
  timeval rcv{reserve ? 2 : 10, 0}, snd{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
  std::string line;
  switch (read_request(fd, line, api.max_request_bytes)) {
    case ReadStatus::closed:
      ::close(fd);
      return;
    case ReadStatus::too_long: {
      line.clear();
      line.shrink_to_fit();
      log->warn("refused a request line longer than {} (api.maxRequestBytes) from uid {} pid {}",
                format_bytes(api.max_request_bytes), peer.uid, peer.pid);
      send_line(fd, refusal("too-large", "request too large: the request line is longer than " +
                                              format_bytes(api.max_request_bytes) +
                                              " (api.maxRequestBytes in agent.yaml)"));
      drain(fd, std::chrono::seconds(5));
      ::close(fd);
      return;
    }
    case ReadStatus::line:
      break;
  }
  bool client_gone = false;
  json resp;
  // The line is parsed, bounded and type-checked in one pure place (server/api_request.h, the
  // fuzz target's subject): a request is answered, never a crash.
  auto parsed = parse_api_request(line);
  line.clear();
  line.shrink_to_fit();
  if (!parsed) {
    resp = refusal("bad-request", parsed.error().message);
  } else if (reserve && parsed->op != ApiOp::halt) {
    resp = refusal("busy", "busy: the agent is serving " + std::to_string(api.max_connections) +
                               " connections, its limit (api.maxConnections); past it only halt is served; try "
                               "again shortly");
  } else {
    try {
      resp = dispatch(fd, *parsed, peer, client_gone);
    } catch (const std::exception& e) {
      // A request the code did not expect must never take the agent (and every revert) down.
      log->error("request {} from uid {} pid {}: {}", parsed->op_name, peer.uid, peer.pid, e.what());
      resp = refusal("bad-request", std::string("bad request: ") + e.what());
    }
  }
  if (!client_gone) send_line(fd, resp);
  ::close(fd);
}

json ApiServer::dispatch(int fd, const ApiRequest& req, Peer& peer, bool& client_gone) {
  auto log = logger("api");
  const std::string& op = req.op_name;
  const bool dry = req.op == ApiOp::run && req.dry_run;
  const Access tier = access_for(op, dry);

  // What the audit log says about the request, whatever becomes of it.
  AuditRecord rec;
  rec.op = op;
  if (req.op == ApiOp::halt) rec.target = req.run.empty() ? "all" : req.run;
  if (req.op == ApiOp::schedule) {
    auto n = req.body.find("name");
    if (n != req.body.end() && n->is_string()) rec.target = n->get<std::string>();
  }
  if ((op == "run" || op == "schedule.add") && req.body.contains("yaml")) rec.sha256 = sha256_hex(req.yaml);

  const Decision d = authorize(tier, peer, policy_);
  if (!d.allowed) {
    describe(peer);
    const std::string why = refusal_text(op, d, peer);
    rec.outcome = "refused";
    rec.reason = why;
    // On disk before the answer; a refusal stands even when it cannot be recorded.
    if (auto a = service_.audit(caller_of(peer), rec); !a) log->error("audit log: {}", a.error().text());
    log->warn("{}", why);
    return refusal("permission-denied", why);
  }
  if (changes_node(tier)) describe(peer);
  const Caller who = caller_of(peer);

  switch (req.op) {
    case ApiOp::run:
      if (!dry) log->info("run requested by {} ({})", who.str(), req.file);
      return service_.run(req.yaml, req.file, dry, who, [fd, &client_gone, &log, &who](const json& ev) {
        if (client_gone) return;
        if (!send_line(fd, ev, true)) {
          client_gone = true;
          log->warn("{} stopped reading its run's events; the run goes on without it (its report is kept: "
                    "chaosctl report)",
                    who.str());
          ::shutdown(fd, SHUT_RDWR);
        }
      });
    case ApiOp::validate: return service_.validate(req.yaml, req.file);
    case ApiOp::status: {
      json resp = service_.status();
      resp["ok"] = true;
      return resp;
    }
    case ApiOp::report: return service_.report(req.run);
    case ApiOp::ping: return {{"ok", true}, {"pid", ::getpid()}};
    case ApiOp::audit: {
      std::optional<std::chrono::system_clock::time_point> since;
      if (!req.since.empty()) {
        auto t = parse_utc(req.since);
        if (!t) return refusal("bad-request", "bad request: since " + t.error().message);
        since = *t;
      }
      AuditLog* audit = service_.audit_log();
      if (!audit) return {{"ok", false}, {"error", "the audit log is not open (the agent has not started)"}};
      auto records = audit->read(since, static_cast<std::size_t>(req.limit));
      if (!records) return {{"ok", false}, {"error", records.error().text()}};
      json out = json::array();
      for (const auto& r : *records) out.push_back(audit_to_json(r));
      return {{"ok", true}, {"records", out}, {"path", audit->path()}};
    }
    case ApiOp::schedule:
      if (!scheduler_) return {{"ok", false}, {"error", "this agent serves no schedules"}};
      break;
    case ApiOp::halt:
    case ApiOp::recover: break;
  }

  // halt, recover, schedule.*: what changes the node is on disk before it acts.
  if (changes_node(tier)) {
    rec.outcome = "accepted";
    if (auto a = service_.audit(who, rec); !a) {
      log->error("audit log: {} ({} by {})", a.error().text(), op, who.str());
      // halt and recover only ever take faults away: they go ahead unrecorded rather than leave
      // a fault on the node. Anything that could add one does not.
      if (req.op != ApiOp::halt && req.op != ApiOp::recover)
        return {{"ok", false}, {"error", "cannot write the audit log (" + a.error().text() + "); nothing was done"}};
    }
  }
  json resp;
  if (req.op == ApiOp::halt) resp = service_.halt(req.run, who);
  else if (req.op == ApiOp::recover) resp = service_.recover(who);
  else resp = scheduler_->handle(op, req.body, who);
  if (changes_node(tier)) {
    const bool ok = resp.value("ok", false);
    rec.outcome = ok ? "ok" : "failed";
    rec.reason.clear();
    if (!ok && resp.contains("error") && resp["error"].is_string()) rec.reason = resp["error"].get<std::string>();
    if (req.op == ApiOp::halt && ok) {
      std::string halted;
      for (const auto& id : resp.value("halted", json::array()))
        if (id.is_string()) halted += (halted.empty() ? "" : ", ") + id.get<std::string>();
      rec.reason = halted.empty() ? "nothing to halt" : "halted " + halted;
    }
    if (req.op == ApiOp::recover && ok)
      rec.reason = "reverted " + std::to_string(resp.value("reverted", 0)) + ", failed " +
                   std::to_string(resp.value("failed", 0));
    if (op == "schedule.trigger" && resp.contains("run") && resp["run"].is_string())
      rec.run = resp["run"].get<std::string>();
    if (resp.contains("schedule") && resp["schedule"].is_object() && resp["schedule"].contains("experiment") &&
        resp["schedule"]["experiment"].is_string())
      rec.experiment = resp["schedule"]["experiment"].get<std::string>();
    rec.time = {};
    if (auto a = service_.audit(who, rec); !a) log->error("audit log: {} ({} by {})", a.error().text(), op, who.str());
  }
  return resp;
}

}  // namespace chaos
