// chaos-bench-api-load: N clients hammering one API op (default status) over the agent's unix
// socket for S seconds, each in a closed loop (a new connection per request, as chaosctl does).
// Prints one JSON object: requests, errors (answered not ok), failures (no answer), busy answers,
// and the latency of a request from connect() to the agent's close, p50/p90/p99/max in ms.
//
//   chaos-bench-api-load --socket PATH [--clients 50] [--seconds 20] [--op status]
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;

struct Tally {
  std::vector<double> ms;
  long errors = 0, failures = 0, busy = 0;
};

// One request; the answer's first line, or "" when there was none.
std::string request(const std::string& path, const std::string& line) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out.substr(0, out.find('\n'));
}

double pct(const std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, op = "status";
  int clients = 50;
  double seconds = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--socket") socket = v;
    else if (k == "--clients") clients = std::stoi(v);
    else if (k == "--seconds") seconds = std::stod(v);
    else if (k == "--op") op = v;
    else {
      std::fprintf(stderr, "chaos-bench-api-load: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (socket.empty() || clients < 1 || seconds <= 0) {
    std::fprintf(stderr, "usage: chaos-bench-api-load --socket PATH [--clients N] [--seconds S] [--op OP]\n");
    return 2;
  }
  const std::string line = nlohmann::json{{"op", op}}.dump() + "\n";
  std::vector<Tally> tallies(static_cast<std::size_t>(clients));
  std::atomic<bool> go{false};
  const auto end_after = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      while (!go) std::this_thread::yield();
      Tally& t = tallies[static_cast<std::size_t>(c)];
      const auto end = Clock::now() + end_after;
      while (Clock::now() < end) {
        auto t0 = Clock::now();
        std::string answer = request(socket, line);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        auto j = nlohmann::json::parse(answer, nullptr, false);
        if (answer.empty() || j.is_discarded() || !j.is_object()) {
          ++t.failures;
          continue;
        }
        if (j.value("code", "") == "busy") ++t.busy;
        else if (!j.value("ok", false)) ++t.errors;
        t.ms.push_back(ms);
      }
    });
  auto t0 = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  long errors = 0, failures = 0, busy = 0;
  for (auto& t : tallies) {
    all.insert(all.end(), t.ms.begin(), t.ms.end());
    errors += t.errors;
    failures += t.failures;
    busy += t.busy;
  }
  std::sort(all.begin(), all.end());
  nlohmann::json out{{"op", op},
                     {"clients", clients},
                     {"seconds", wall},
                     {"requests", all.size()},
                     {"perSecond", static_cast<double>(all.size()) / wall},
                     {"errors", errors},
                     {"failures", failures},
                     {"busy", busy},
                     {"p50_ms", pct(all, 50)},
                     {"p90_ms", pct(all, 90)},
                     {"p99_ms", pct(all, 99)},
                     {"max_ms", all.empty() ? 0.0 : all.back()}};
  std::printf("%s\n", out.dump().c_str());
  return failures == 0 ? 0 : 1;
}
