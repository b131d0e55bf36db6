#include "unit/support/one_shot_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace chaos::fake {

OneShotServer::OneShotServer() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return;
  port_ = ntohs(a.sin_port);
}

OneShotServer::~OneShotServer() {
  // A server whose client never came: wake the accept (it fails on a shut-down listener).
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  if (t_.joinable()) t_.join();
  if (fd_ >= 0) ::close(fd_);
}

const std::string& OneShotServer::request() {
  if (t_.joinable()) t_.join();
  return request_;
}

void OneShotServer::serve(std::string answer, std::chrono::milliseconds hold) {
  t_ = std::thread([this, answer = std::move(answer), hold] {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<std::size_t>(n));
    }
    auto body_at = request_.find("\r\n\r\n");
    auto cl = request_.find("Content-Length: ");
    if (body_at != std::string::npos && cl != std::string::npos) {
      std::size_t want = std::stoul(request_.substr(cl + 16));
      while (request_.size() < body_at + 4 + want) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request_.append(buf, static_cast<std::size_t>(n));
      }
    }
    if (!answer.empty()) (void)::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
    // Held open until the client hangs up (its reset wakes the poll) or `hold` passes.
    pollfd p{c, POLLIN, 0};
    (void)::poll(&p, 1, static_cast<int>(hold.count()));
    ::close(c);
  });
}

}  // namespace chaos::fake
