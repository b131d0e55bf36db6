// The one HTTP/1.1 client of the agent: the http probe's requests, the etcd gateway's calls and
// the lab's health checks all go through http_exchange. Each request is a fresh nonblocking TCP
// connection (Connection: close) in the calling thread's network namespace, with one deadline
// over every step (connect, send, each read), so a peer behind a partition costs exactly the
// timeout. Hosts are address literals: network namespaces have no resolver.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.h"

namespace chaos {

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = 0;
};
// An IPv4 or IPv6 literal (brackets allowed) and a port; nullopt for anything else.
std::optional<SockAddr> make_sockaddr(std::string ip, std::uint16_t port);

// An owned socket, closed on destruction.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// A TCP connection to HOST:PORT (an address literal, or "localhost") from the calling thread's
// namespace: nonblocking, TCP_NODELAY, closed with a reset (thousands of probe connections must
// not pile up in TIME_WAIT). The handshake must be done by `deadline`: ETIMEDOUT ("connect")
// when it is not, the kernel's errno (ECONNREFUSED, EHOSTUNREACH, ...) when it fails.
Result<Socket> tcp_connect(const std::string& host, std::uint16_t port,
                           std::chrono::steady_clock::time_point deadline);

struct HttpRequest {
  std::string method = "GET";
  std::string host;  // address literal, or "localhost" (127.0.0.1)
  std::uint16_t port = 80;
  std::string path = "/";
  std::string host_header;  // empty: HOST:PORT
  std::string user_agent = "chaos-agent";
  std::string content_type;  // sent with a body
  std::string body;
  // Stop reading after the status line: the probe's latency is the time to the first line of
  // the answer, and it needs nothing more.
  bool status_only = false;
  std::size_t max_response = 16u << 20;
};

struct HttpResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;  // de-chunked, cut to Content-Length
};

// Transport failures keep their errno (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT for the deadline)
// and name the step that failed: "connect: Connection timed out", "waiting for the answer: ...".
Result<HttpResponse> http_exchange(const HttpRequest& req, std::chrono::nanoseconds timeout);

// http://HOST[:PORT][/PATH] with an address literal (IPv6 in brackets) or localhost as HOST.
struct HttpUrl {
  std::string host;  // without brackets
  std::uint16_t port = 80;
  bool port_given = false;  // false: 80 by default
  std::string path = "/";
};
// The error says what is wrong with the URL, without repeating it (the caller quotes it).
Result<HttpUrl> parse_http_url(const std::string& url);

// Percent-encodes everything but RFC 3986's unreserved characters (for a query parameter).
std::string url_encode(std::string_view s);

// Splits a complete response (head + body) read until EOF: Content-Length, chunked (trailers
// ignored) or close-delimited. EPROTO when it is not one.
Result<HttpResponse> parse_http_response(std::string_view raw);

}  // namespace chaos
