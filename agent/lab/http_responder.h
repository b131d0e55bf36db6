// A tiny HTTP/1.1 server for labs: every GET (or HEAD) gets 200 and a short body, with
// Connection: close. One poll() loop, non-blocking sockets, many connections at once, no
// threads. Also a blocking HTTP GET client for tests and probes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "observe/http_client.h"

namespace chaos {

struct HttpResponderOptions {
  // Addresses to listen on; "::" is bound IPV6_V6ONLY so it can sit beside "0.0.0.0".
  std::vector<std::string> listen{"0.0.0.0", "::"};
  std::uint16_t port = 8080;  // 0: the kernel picks one (the same one for every address)
  std::string body = "chaos-lab\n";
  std::chrono::milliseconds idle_timeout{10000};  // a connection silent this long is closed
  std::size_t max_connections = 1024;
  std::size_t max_request_head = 8192;  // bigger request heads get 431
};

class HttpResponder {
 public:
  // Binds and listens on every address (nothing is served until serve()).
  static Result<HttpResponder> bind(const HttpResponderOptions& opts);
  HttpResponder(HttpResponder&&) noexcept;
  HttpResponder& operator=(HttpResponder&&) = delete;
  HttpResponder(const HttpResponder&) = delete;
  HttpResponder& operator=(const HttpResponder&) = delete;
  ~HttpResponder();

  std::uint16_t port() const { return port_; }
  // Serves until `stop_fd` becomes readable (an eventfd, a signalfd, a pipe), then closes every
  // connection and returns. Errors from accept()/poll() that would spin are returned.
  Result<void> serve(int stop_fd);
  // Requests answered so far (readable from any thread while serve() runs).
  std::uint64_t requests_answered() const { return answered_.load(); }

 private:
  HttpResponder() = default;
  HttpResponderOptions opts_;
  std::vector<int> listeners_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> answered_{0};
};

// The request line of a request head ("GET /x HTTP/1.1\r\nHost: ...\r\n\r\n").
struct HttpRequestLine {
  std::string method, target, version;
};
std::optional<HttpRequestLine> parse_request_line(std::string_view head);
// The full response for a request head: 200 for GET/HEAD (HEAD without body), 405 for other
// methods, 400 for a malformed request line.
std::string http_response_for(std::string_view head, std::string_view body);

// Runs the responder as a daemon (kernel/process.h spawn_daemon: double fork, setsid, no
// inherited fds, stdin from /dev/null, stdout/stderr to `log_path` or /dev/null when empty,
// SIGHUP ignored) in the namespace at `netns_path`; it exits on SIGTERM/SIGINT. Returns the
// daemon's pid once it is listening; a bind failure in the child comes back as the error.
Result<pid_t> spawn_http_responder(const std::string& netns_path, const HttpResponderOptions& opts,
                                   const std::string& log_path,
                                   std::chrono::milliseconds ready_timeout = std::chrono::seconds(5));

using HttpReply = HttpResponse;
// A blocking GET with one overall deadline, in the calling thread's network namespace.
// `ip` is an IPv4 or IPv6 literal. Connection refused / unreachable / timeout keep their errno.
Result<HttpReply> http_get(const std::string& ip, std::uint16_t port, const std::string& path = "/",
                           std::chrono::milliseconds timeout = std::chrono::seconds(2));

}  // namespace chaos
