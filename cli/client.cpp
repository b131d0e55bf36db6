#include "client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace chaos::cli {

Result<nlohmann::json> call_agent(const std::string& socket_path, const nlohmann::json& request,
                                  const std::function<void(const nlohmann::json&)>& on_line) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return fail("socket path too long: " + socket_path);
  std::strcpy(addr.sun_path, socket_path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    auto e = fail_errno("cannot reach the agent at " + socket_path + " (is chaos-agent running? --socket PATH)");
    ::close(fd);
    return e;
  }
  // replace, not throw: a file that is not UTF-8 was refused by local validation already.
  std::string out = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  for (std::size_t off = 0; off < out.size();) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = fail_errno("send to the agent");
      ::close(fd);
      return e;
    }
    off += static_cast<std::size_t>(n);
  }
  std::string buf;
  nlohmann::json last;
  bool got = false;
  char chunk[65536];
  while (true) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      auto j = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      if (j.is_discarded()) continue;
      last = j;
      got = true;
      if (on_line) on_line(j);
    }
  }
  ::close(fd);
  if (!got) return fail("the agent closed the connection without an answer");
  return last;
}

}  // namespace chaos::cli
