#include "observe/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <regex>
#include <utility>

namespace chaos {

using namespace std::chrono;

namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// Waits until `fd` is ready for `events` or the deadline passes (ETIMEDOUT, named by `step`).
// The fd is always polled once more after the deadline, with timeout 0: a thread starved past its
// deadline must not report a timeout for a connection or an answer the kernel already has.
Result<void> wait_for(int fd, short events, steady_clock::time_point deadline, const char* step) {
  while (true) {
    auto left = ceil<milliseconds>(deadline - steady_clock::now()).count();
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, left > 0 ? static_cast<int>(left) : 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail_errno(std::string(step) + ": poll");
    if (r > 0) return {};
    if (left <= 0) return fail(step, ETIMEDOUT);
  }
}

// "HTTP/1.x NNN ..." -> NNN; 0 when the line is not a status line.
int status_of(std::string_view line) {
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12 || line[8] != ' ' || (line.size() > 12 && line[12] != ' '))
    return 0;
  int status = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc{} || p != line.data() + 12 || status < 100) return 0;
  return status;
}

}  // namespace

std::optional<SockAddr> make_sockaddr(std::string ip, std::uint16_t port) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (ip == "localhost") ip = "127.0.0.1";
  SockAddr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(sockaddr_in6);
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

Result<HttpUrl> parse_http_url(const std::string& url) {
  static const std::regex re(R"(^http://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(:([0-9]{1,5}))?(/[^\s]*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, re)) return fail("expected a URL like http://198.18.0.20:8080/ (http only)", EINVAL);
  HttpUrl u;
  u.host = m[1].str();
  if (u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  if (m[3].matched) {
    int p = std::stoi(m[3].str());
    if (p < 1 || p > 65535) return fail("port out of range, expected 1..65535", EINVAL);
    u.port = static_cast<std::uint16_t>(p);
    u.port_given = true;
  }
  u.path = m[4].matched ? m[4].str() : "/";
  if (!make_sockaddr(u.host, u.port))
    return fail("expected an address literal or localhost as the host (namespaces have no resolver)", EINVAL);
  return u;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Result<HttpResponse> parse_http_response(std::string_view raw) {
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return fail("HTTP: incomplete response head", EPROTO);
  std::string_view head = raw.substr(0, head_end);
  std::string_view body = raw.substr(head_end + 4);
  HttpResponse r;
  r.status = status_of(head.substr(0, head.find("\r\n")));
  if (r.status == 0) return fail("HTTP: bad status line", EPROTO);
  r.head = std::string(head);
  bool chunked = false;
  std::optional<std::size_t> length;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string_view line = head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name = lower(line.substr(0, colon));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) chunked = true;
      if (name == "content-length") {
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        std::size_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc{} || p != value.data() + value.size()) return fail("HTTP: bad Content-Length", EPROTO);
        if (length && *length != n) return fail("HTTP: two different Content-Lengths", EPROTO);
        length = n;
      }
    }
    pos = next;
  }
  if (chunked) {
    std::string out;
    std::string_view b = body;
    while (true) {
      auto eol = b.find("\r\n");
      if (eol == std::string_view::npos) return fail("HTTP: truncated chunk size", EPROTO);
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(b.data(), b.data() + eol, n, 16);
      if (ec != std::errc{}) return fail("HTTP: bad chunk size", EPROTO);
      b.remove_prefix(eol + 2);
      if (n == 0) break;  // trailers (grpc-gateway sends some after errors) are of no interest
      if (n > b.size() || b.size() - n < 2) return fail("HTTP: truncated chunk", EPROTO);
      if (b.substr(n, 2) != "\r\n") return fail("HTTP: a chunk longer than its size", EPROTO);
      out.append(b.substr(0, n));
      b.remove_prefix(n + 2);
    }
    r.body = std::move(out);
  } else if (length) {
    if (body.size() < *length) return fail("HTTP: body shorter than Content-Length", EPROTO);
    r.body = std::string(body.substr(0, *length));
  } else {
    r.body = std::string(body);
  }
  return r;
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Socket> tcp_connect(const std::string& host, std::uint16_t port, steady_clock::time_point deadline) {
  auto sa = make_sockaddr(host, port);
  if (!sa) return fail("bad address \"" + host + "\" (expected an IPv4 or IPv6 literal)", EINVAL);
  Socket sock(::socket(sa->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0) return fail_errno("socket");
  int one = 1;
  ::setsockopt(sock.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  linger lg{1, 0};
  ::setsockopt(sock.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  if (::connect(sock.fd(), reinterpret_cast<sockaddr*>(&sa->ss), sa->len) != 0) {
    if (errno != EINPROGRESS) return fail_errno("connect");
    if (auto w = wait_for(sock.fd(), POLLOUT, deadline, "connect"); !w) return std::unexpected(w.error());
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(sock.fd(), SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) return fail("connect", err);
  }
  return sock;
}

Result<HttpResponse> http_exchange(const HttpRequest& req, nanoseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  auto conn = tcp_connect(req.host, req.port, deadline);
  if (!conn) return std::unexpected(conn.error());
  const int fd = conn->fd();
  const bool v6 = req.host.find(':') != std::string::npos;

  std::string host = req.host_header;
  if (host.empty())
    host = (v6 && req.host.front() != '[' ? "[" + req.host + "]" : req.host) + ":" +
           std::to_string(req.port);
  std::string msg = req.method + " " + req.path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + req.user_agent;
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    if (!req.content_type.empty()) msg += "\r\nContent-Type: " + req.content_type;
    msg += "\r\nContent-Length: " + std::to_string(req.body.size());
  }
  msg += "\r\nConnection: close\r\n\r\n";
  msg += req.body;
  std::size_t sent = 0;
  while (sent < msg.size()) {
    ssize_t n = ::send(fd, msg.data() + sent, msg.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return fail_errno("send");
    if (auto w = wait_for(fd, POLLOUT, deadline, "send"); !w) return std::unexpected(w.error());
  }

  // Connection: close: the answer ends where the stream does (or, status_only, at its first line).
  std::string raw;
  char buf[16384];
  while (true) {
    if (req.status_only) {
      auto eol = raw.find("\r\n");
      if (eol != std::string::npos) {
        HttpResponse r;
        r.head = raw.substr(0, eol);
        r.status = status_of(r.head);
        if (r.status == 0) return fail("HTTP: bad status line", EPROTO);
        return r;
      }
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<std::size_t>(n));
      if (raw.size() > req.max_response) return fail("response larger than " + std::to_string(req.max_response) + " bytes", EMSGSIZE);
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return fail_errno("recv");
    if (auto w = wait_for(fd, POLLIN, deadline, "waiting for the answer"); !w) return std::unexpected(w.error());
  }
  if (req.status_only) return fail("HTTP: the connection closed before a status line", EPROTO);
  return parse_http_response(raw);
}

}  // namespace chaos
