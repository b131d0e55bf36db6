#include "lab/http_responder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <list>

#include "kernel/process.h"

namespace chaos {

namespace {

using Clock = std::chrono::steady_clock;

std::string_view reason_for(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default: return "Unknown";
  }
}

std::string build_response(int status, std::string_view body, bool head_only) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_for(status)) +
                  "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n";
  if (status == 405) r += "Allow: GET, HEAD\r\n";
  r += "\r\n";
  if (!head_only) r += body;
  return r;
}

// Where the request head ends (just past the blank line), or npos.
std::size_t head_end(std::string_view buf) {
  auto crlf = buf.find("\r\n\r\n");
  auto lf = buf.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf)) return crlf + 4;
  return lf + 2;
}

struct Conn {
  int fd = -1;
  enum class State { reading, writing, draining } state = State::reading;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  Clock::time_point deadline;
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::optional<HttpRequestLine> parse_request_line(std::string_view head) {
  auto eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return std::nullopt;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return std::nullopt;
  HttpRequestLine r{std::string(line.substr(0, sp1)), std::string(line.substr(sp1 + 1, sp2 - sp1 - 1)),
                    std::string(line.substr(sp2 + 1))};
  if (r.version.rfind("HTTP/", 0) != 0 || r.version.find(' ') != std::string::npos) return std::nullopt;
  if (!std::all_of(r.method.begin(), r.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return std::nullopt;
  return r;
}

std::string http_response_for(std::string_view head, std::string_view body) {
  auto rl = parse_request_line(head);
  if (!rl) return build_response(400, "bad request\n", false);
  if (rl->method == "GET") return build_response(200, body, false);
  if (rl->method == "HEAD") return build_response(200, body, true);
  return build_response(405, "method not allowed\n", false);
}

// ---- server

Result<HttpResponder> HttpResponder::bind(const HttpResponderOptions& opts) {
  HttpResponder r;
  r.opts_ = opts;
  r.port_ = opts.port;
  if (opts.listen.empty()) return fail("http responder: no listen address", EINVAL);
  for (const auto& ip : opts.listen) {
    auto sa = make_sockaddr(ip, r.port_);
    if (!sa) return fail("http responder: bad listen address \"" + ip + "\"", EINVAL);
    int fd = ::socket(sa->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_errno("http responder: socket for " + ip);
    r.listeners_.push_back(fd);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    std::string where = (sa->family == AF_INET6 ? "[" + ip + "]" : ip) + ":" + std::to_string(r.port_);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa->ss), sa->len) != 0)
      return fail_errno("http responder: bind " + where);
    if (::listen(fd, 512) != 0) return fail_errno("http responder: listen on " + where);
    if (r.port_ == 0) {  // the kernel's choice becomes everyone's port
      sockaddr_storage got{};
      socklen_t len = sizeof got;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&got), &len) != 0)
        return fail_errno("http responder: getsockname");
      r.port_ = ntohs(got.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                                               : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
    }
  }
  return r;
}

HttpResponder::HttpResponder(HttpResponder&& o) noexcept
    : opts_(std::move(o.opts_)), listeners_(std::move(o.listeners_)), port_(o.port_),
      answered_(o.answered_.load()) {
  o.listeners_.clear();
}

HttpResponder::~HttpResponder() {
  for (int& fd : listeners_) close_fd(fd);
}

Result<void> HttpResponder::serve(int stop_fd) {
  std::list<Conn> conns;
  std::vector<pollfd> pfds;
  std::vector<Conn*> by_slot;
  Clock::time_point accept_paused_until{};
  const auto linger = std::min(opts_.idle_timeout, std::chrono::milliseconds(2000));

  auto close_all = [&] {
    for (auto& c : conns) close_fd(c.fd);
    conns.clear();
  };

  for (;;) {
    auto now = Clock::now();
    pfds.clear();
    by_slot.clear();
    pfds.push_back({stop_fd, POLLIN, 0});
    bool accepting = now >= accept_paused_until && conns.size() < opts_.max_connections;
    for (int fd : listeners_) pfds.push_back({fd, static_cast<short>(accepting ? POLLIN : 0), 0});
    auto next_deadline = now + std::chrono::seconds(60);
    for (auto& c : conns) {
      short ev = c.state == Conn::State::writing ? POLLOUT : POLLIN;
      pfds.push_back({c.fd, ev, 0});
      by_slot.push_back(&c);
      next_deadline = std::min(next_deadline, c.deadline);
    }
    if (!accepting && now < accept_paused_until) next_deadline = std::min(next_deadline, accept_paused_until);
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now).count();
    int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::max<long long>(wait_ms, 0) + 1));
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = fail_errno("http responder: poll");
      close_all();
      return e;
    }
    if (pfds[0].revents) {
      close_all();
      return {};
    }
    now = Clock::now();

    for (std::size_t i = 0; i < listeners_.size(); ++i) {
      if (!(pfds[1 + i].revents & POLLIN)) continue;
      while (conns.size() < opts_.max_connections) {
        int cfd = ::accept4(listeners_[i], nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            accept_paused_until = now + std::chrono::milliseconds(100);  // let connections drain
          break;  // EAGAIN and the rest: back to poll
        }
        Conn c;
        c.fd = cfd;
        c.deadline = now + opts_.idle_timeout;
        conns.push_back(std::move(c));
      }
    }

    for (std::size_t s = 0; s < by_slot.size(); ++s) {
      Conn& c = *by_slot[s];
      short re = pfds[1 + listeners_.size() + s].revents;
      bool done = false;
      if (re & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        bool eof = false;
        for (;;) {
          ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
          if (got > 0) {
            if (c.state == Conn::State::reading) c.in.append(buf, static_cast<std::size_t>(got));
            if (c.in.size() > opts_.max_request_head + sizeof buf) break;
            continue;
          }
          if (got == 0) eof = true;
          else if (errno != EAGAIN && errno != EINTR) done = true;  // reset
          break;
        }
        // A client that half-closes after its request still gets its answer.
        if (eof && c.state == Conn::State::draining) done = true;
        if (eof && c.state == Conn::State::reading && head_end(c.in) == std::string::npos) done = true;
        if (c.state == Conn::State::reading && !done) {
          auto end = head_end(c.in);
          if (end != std::string::npos && end <= opts_.max_request_head) {
            c.out = http_response_for(std::string_view(c.in).substr(0, end), opts_.body);
            ++answered_;
          } else if (c.in.size() > opts_.max_request_head) {
            c.out = build_response(431, "request head too large\n", false);
          }
          if (!c.out.empty()) {
            c.state = Conn::State::writing;
            c.deadline = now + opts_.idle_timeout;
          }
        }
      }
      if (!done && c.state == Conn::State::writing && (re & (POLLOUT | POLLERR | POLLHUP) || c.sent == 0)) {
        while (c.sent < c.out.size()) {
          ssize_t w = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
          if (w > 0) {
            c.sent += static_cast<std::size_t>(w);
            continue;
          }
          if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
          done = true;
          break;
        }
        if (!done && c.sent == c.out.size()) {
          // Half-close and read until the peer closes: closing with unread input would send
          // an RST that can destroy the response before the client reads it.
          ::shutdown(c.fd, SHUT_WR);
          c.state = Conn::State::draining;
          c.deadline = now + linger;
        }
      }
      if (!done && now >= c.deadline) done = true;
      if (done) close_fd(c.fd);
    }
    conns.remove_if([](const Conn& c) { return c.fd < 0; });
  }
}

// ---- daemon

Result<pid_t> spawn_http_responder(const std::string& netns_path, const HttpResponderOptions& opts,
                                   const std::string& log_path,
                                   std::chrono::milliseconds ready_timeout) {
  DaemonOptions d;
  d.name = "chaos-lab-http";
  d.netns_path = netns_path;
  d.log_path = log_path;
  d.ready_timeout = ready_timeout;
  return spawn_daemon(d, [&](DaemonReady& ready) -> int {
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    ::sigprocmask(SIG_SETMASK, &stop, nullptr);
    int sfd = ::signalfd(-1, &stop, SFD_CLOEXEC);
    if (sfd < 0) ready.fail(errno, "signalfd");
    auto srv = HttpResponder::bind(opts);
    if (!srv) ready.fail(srv.error().code, srv.error().message);
    dprintf(STDERR_FILENO, "chaos-lab-http: pid %d listening on port %u in %s\n", getpid(), srv->port(),
            netns_path.c_str());
    ready.ok();
    auto r = srv->serve(sfd);
    if (!r) {
      dprintf(STDERR_FILENO, "chaos-lab-http: %s\n", r.error().text().c_str());
      return 1;
    }
    dprintf(STDERR_FILENO, "chaos-lab-http: stopped after %llu requests\n",
            static_cast<unsigned long long>(srv->requests_answered()));
    return 0;
  });
}

// ---- client

Result<HttpReply> http_get(const std::string& ip, std::uint16_t port, const std::string& path,
                           std::chrono::milliseconds timeout) {
  HttpRequest req;
  req.host = ip;
  req.port = port;
  req.path = path;
  auto r = http_exchange(req, timeout);
  if (!r) return wrap(r.error(), "http get " + ip + ":" + std::to_string(port));
  return r;
}

}  // namespace chaos
