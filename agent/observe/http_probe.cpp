#include "observe/http_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <regex>
#include <thread>

#include "core/log.h"
#include "kernel/target.h"
#include "observe/open_loop.h"

namespace chaos {

using namespace std::chrono;

nlohmann::json HttpProbeSpec::to_json() const {
  return {{"url", url}, {"method", method}, {"from", target.str()}, {"expectStatus", expect_status}};
}

std::shared_ptr<const ProbeSpec> parse_http_probe(MapReader& r) {
  auto spec = std::make_shared<HttpProbeSpec>();
  bool ok = true;
  if (auto u = r.str("url", true)) {
    static const std::regex re(R"(^http://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(:([0-9]{1,5}))?(/[^\s]*)?$)");
    std::smatch m;
    if (!std::regex_match(*u, m, re)) {
      r.child("url")->error("\"" + *u + "\": expected a URL like http://198.18.0.20:8080/ (http only)");
      ok = false;
    } else {
      spec->url = *u;
      spec->host = m[1].str();
      if (spec->host.front() == '[') spec->host = spec->host.substr(1, spec->host.size() - 2);
      if (m[3].matched) {
        int p = std::stoi(m[3].str());
        if (p < 1 || p > 65535) {
          r.child("url")->error("\"" + *u + "\": port out of range, expected 1..65535");
          ok = false;
        }
        spec->port = static_cast<std::uint16_t>(p);
      }
      spec->path = m[4].matched ? m[4].str() : "/";
      in6_addr a6{};
      in_addr a4{};
      if (spec->host != "localhost" && inet_pton(AF_INET, spec->host.c_str(), &a4) != 1 &&
          inet_pton(AF_INET6, spec->host.c_str(), &a6) != 1) {
        r.child("url")->error("\"" + *u + "\": expected an address literal or localhost as the host "
                              "(namespaces have no resolver)");
        ok = false;
      }
    }
  }
  if (auto m = r.one_of("method", {"GET", "HEAD"})) spec->method = *m;
  if (auto t = read_net_target(r)) spec->target = *t; else ok = false;
  if (auto c = r.child("expectStatus")) {
    auto items = c->is_scalar() ? std::vector<YNode>{*c} : c->elements();
    for (const auto& e : items)
      if (auto v = e.as_int(100, 599)) spec->expect_status.push_back(static_cast<int>(*v));
  }
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errstr(int e) { return std::strerror(e); }

}  // namespace

ProbeSample http_request_once(const HttpProbeSpec& spec, Duration timeout) {
  ProbeSample s;
  auto t_start = steady_clock::now();
  auto deadline = t_start + timeout;
  auto finish = [&](bool ok, std::string err) {
    s.ok = ok;
    s.error = std::move(err);
    s.latency = steady_clock::now() - t_start;
    return s;
  };
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string host = spec.host == "localhost" ? "127.0.0.1" : spec.host;
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(spec.port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(spec.port);
    len = sizeof(sockaddr_in6);
  } else {
    return finish(false, "bad address " + host);
  }
  Fd sock;
  sock.fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sock.fd < 0) return finish(false, "socket: " + errstr(errno));
  int one = 1;
  ::setsockopt(sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // No lingering TIME_WAIT pile-up from thousands of probe connections.
  linger lg{1, 0};
  ::setsockopt(sock.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);

  auto wait_for = [&](short events) -> int {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{sock.fd, events, 0};
    int r;
    do r = ::poll(&p, 1, static_cast<int>(left));
    while (r < 0 && errno == EINTR);
    return r;
  };

  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return finish(false, "connect: " + errstr(errno));
    int r = wait_for(POLLOUT);
    if (r == 0) return finish(false, "timeout (connect)");
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) return finish(false, "connect: " + errstr(err));
  }
  std::string req = spec.method + " " + spec.path + " HTTP/1.1\r\nHost: " + spec.host +
                    "\r\nUser-Agent: chaos-agent-probe\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(sock.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return finish(false, "send: " + errstr(errno));
    if (wait_for(POLLOUT) == 0) return finish(false, "timeout (send)");
  }
  std::string resp;
  char buf[2048];
  while (resp.find("\r\n") == std::string::npos) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n > 0) {
      resp.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno != EAGAIN && errno != EINTR) return finish(false, "recv: " + errstr(errno));
    if (wait_for(POLLIN) == 0) return finish(false, "timeout (response)");
  }
  // "HTTP/1.1 200 OK"
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12) return finish(false, "bad response");
  s.status = std::atoi(resp.c_str() + 9);
  bool good = spec.expect_status.empty()
                  ? (s.status >= 200 && s.status < 300)
                  : std::find(spec.expect_status.begin(), spec.expect_status.end(), s.status) !=
                        spec.expect_status.end();
  return finish(good, good ? "" : "HTTP " + std::to_string(s.status));
}

namespace {

class HttpProbe : public OpenLoopProbe {
 public:
  explicit HttpProbe(const ProbeEntry& e)
      : OpenLoopProbe(e.interval, "requests"), entry_(e), spec_(*std::static_pointer_cast<const HttpProbeSpec>(e.spec)) {}
  ~HttpProbe() override { stop(); }

  Result<std::vector<std::string>> plan() override {
    auto ns = resolve_net_target(spec_.target);
    if (!ns) return std::unexpected(ns.error());
    set_netns(ns->netns.path);
    return std::vector<std::string>{spec_.method + " " + spec_.url + " every " + format_duration(entry_.interval) +
                                    " (timeout " + format_duration(entry_.timeout) + ") from " + ns->netns.describe};
  }

 private:
  // Open loop (OpenLoopProbe): a request starts every interval whether or not earlier ones have
  // answered, on a short-lived thread inside the target namespace.
  void fire(Duration t) override {
    ProbeSample s = http_request_once(spec_, entry_.timeout);
    s.t = t;
    record(s);
  }

  ProbeEntry entry_;
  HttpProbeSpec spec_;
};

}  // namespace

ProbeKind http_probe_kind() {
  return ProbeKind{"http", parse_http_probe, [](const ProbeEntry& e) -> Result<std::unique_ptr<Probe>> {
                     return std::unique_ptr<Probe>(new HttpProbe(e));
                   }};
}

}  // namespace chaos
