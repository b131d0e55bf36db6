#include "client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>

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
  std::optional<Error> send_error;
  for (std::size_t off = 0; off < out.size();) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      send_error = Error{errno, "send to the agent"};
      // The agent may have answered before it stopped reading (busy, too large): read that.
      if (errno == EPIPE || errno == ECONNRESET) break;
      ::close(fd);
      return std::unexpected(*send_error);
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
      // A request the agent would not serve (busy, too large, permission denied, bad request):
      // one line, then it closes. An error, not an answer.
      if (!got && j.is_object() && j.contains("code") && j["code"].is_string() && j.contains("error") &&
          j["error"].is_string() && j.contains("ok") && j["ok"].is_boolean() && !j["ok"].get<bool>()) {
        ::close(fd);
        return fail(j["error"].get<std::string>());
      }
      last = j;
      got = true;
      if (on_line) on_line(j);
    }
  }
  ::close(fd);
  if (!got && send_error) return std::unexpected(*send_error);
  if (!got) return fail("the agent closed the connection without an answer");
  return last;
}

}  // namespace chaos::cli
