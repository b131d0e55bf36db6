// The agent under systemd's notify protocol, without systemd: the test plays the service
// manager. It binds the NOTIFY_SOCKET datagram socket, sets WATCHDOG_USEC, starts the real
// chaos-agent, and reads what the agent tells it: READY=1 only once the agent serves (its socket
// answers), WATCHDOG=1 at half the interval, STOPPING=1 on SIGTERM.
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/support_agent.h"

namespace chaos::itest {
namespace {

using namespace std::chrono;

struct Message {
  steady_clock::time_point at;
  std::string text;
};

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // Every datagram that arrives within `for_`.
  std::vector<Message> read_for(Ms for_) {
    std::vector<Message> out;
    auto end = steady_clock::now() + for_;
    while (steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      int left = static_cast<int>(duration_cast<milliseconds>(end - steady_clock::now()).count());
      if (::poll(&p, 1, std::max(left, 0)) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) out.push_back({steady_clock::now(), std::string(buf, static_cast<std::size_t>(n))});
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

// Sets an environment variable for the agent processes this test starts; restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_.empty()) ::unsetenv(name_);
    else ::setenv(name_, old_.c_str(), 1);
  }

 private:
  const char* name_;
  std::string old_;
};

std::size_t count(const std::vector<Message>& ms, const std::string& what) {
  std::size_t n = 0;
  for (const auto& m : ms) n += m.text.find(what) != std::string::npos;
  return n;
}

TEST(SystemdNotify, ReadyWatchdogAndStopping) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the agent opens its journal and BPF";
  TempDir dir;
  NotifySocket notify(dir.file("notify.sock"));
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  ScopedEnv s1("NOTIFY_SOCKET", dir.file("notify.sock"));
  ScopedEnv s2("WATCHDOG_USEC", "400000");  // 400ms: pings every 200ms
  AgentProcess agent(dir, "lease: 1s\n");
  ASSERT_TRUE(agent.start());  // returns once the API socket answers
  auto msgs = notify.read_for(Ms(1500));
  ASSERT_FALSE(msgs.empty()) << "the agent sent nothing to NOTIFY_SOCKET\n" << agent.log();
  EXPECT_NE(msgs.front().text.find("READY=1"), std::string::npos) << "first message: " << msgs.front().text;
  EXPECT_NE(msgs.front().text.find("STATUS=serving"), std::string::npos) << msgs.front().text;
  // 1.5s at one ping per 200ms: about 7; demand at least 4, and no gap close to the interval.
  std::vector<steady_clock::time_point> pings;
  for (const auto& m : msgs)
    if (m.text == "WATCHDOG=1") pings.push_back(m.at);
  EXPECT_GE(pings.size(), 4u) << "watchdog pings in 1.5s";
  for (std::size_t i = 1; i < pings.size(); ++i)
    EXPECT_LT(ms_between(pings[i - 1], pings[i]), 380) << "a gap between pings near WATCHDOG_USEC";
  std::printf("watchdog: %zu pings in 1.5s (WATCHDOG_USEC 400ms)\n", pings.size());

  agent.signal(SIGTERM);
  auto code = agent.wait_exit(Ms(10000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  auto after = notify.read_for(Ms(200));
  msgs.insert(msgs.end(), after.begin(), after.end());
  EXPECT_EQ(count(msgs, "STOPPING=1"), 1u) << "no STOPPING=1 on SIGTERM";
}

TEST(SystemdNotify, NoNotifySocketNoWatchdogNothingBreaks) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the agent opens its journal and BPF";
  ::unsetenv("NOTIFY_SOCKET");
  TempDir dir;
  ScopedEnv s2("WATCHDOG_USEC", "400000");  // without a socket there is nobody to ping
  AgentProcess agent(dir, "lease: 1s\n");
  ASSERT_TRUE(agent.start());
  EXPECT_EQ(agent.log().find("systemd watchdog"), std::string::npos) << agent.log();
  agent.signal(SIGTERM);
  auto code = agent.wait_exit(Ms(10000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace chaos::itest
