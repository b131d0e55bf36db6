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

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/support_agent.h"

namespace chaos::itest {
namespace {

using namespace std::chrono;

struct Message {
  // When the agent's datagram was queued on our socket (SO_TIMESTAMPNS, CLOCK_REALTIME): the
  // kernel's stamp, so when this test's thread got round to reading it does not count.
  nanoseconds at{0};
  std::string text;
};

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    int one = 1;
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // Datagrams as they arrive, until done(all read so far) holds or the timeout passes.
  std::vector<Message> read_until(const std::function<bool(const std::vector<Message>&)>& done, Ms timeout) {
    std::vector<Message> out;
    auto end = steady_clock::now() + timeout;
    while (!done(out) && steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      int left = static_cast<int>(duration_cast<milliseconds>(end - steady_clock::now()).count());
      if (::poll(&p, 1, std::max(left, 0)) <= 0) continue;
      char buf[4096];
      alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(timespec))];
      iovec iov{buf, sizeof buf};
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = ctl;
      mh.msg_controllen = sizeof ctl;
      ssize_t n = ::recvmsg(fd_, &mh, 0);
      if (n <= 0) continue;
      Message m{nanoseconds(0), std::string(buf, static_cast<std::size_t>(n))};
      for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          m.at = seconds(ts.tv_sec) + nanoseconds(ts.tv_nsec);
        }
      out.push_back(std::move(m));
    }
    return out;
  }
  // Every datagram already queued or arriving within `for_`.
  std::vector<Message> read_for(Ms for_) {
    return read_until([](const std::vector<Message>&) { return false; }, for_);
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
  // 2s: pings every second. The claim is "at half the interval, never near the interval"; with
  // a 2s interval a gap must stay under 1.9s, which leaves 900ms for a loaded machine to wake
  // the agent's watchdog thread late.
  ScopedEnv s2("WATCHDOG_USEC", "2000000");
  AgentProcess agent(dir, "lease: 1s\n");
  ASSERT_TRUE(agent.start());  // returns once the API socket answers
  auto pings_in = [](const std::vector<Message>& ms) { return count(ms, "WATCHDOG=1"); };
  // Until five pings (four gaps) have come; the deadline is only for an agent that stopped.
  auto msgs = notify.read_until([&](const std::vector<Message>& ms) { return pings_in(ms) >= 5; }, Ms(30000));
  ASSERT_FALSE(msgs.empty()) << "the agent sent nothing to NOTIFY_SOCKET\n" << agent.log();
  EXPECT_NE(msgs.front().text.find("READY=1"), std::string::npos) << "first message: " << msgs.front().text;
  EXPECT_NE(msgs.front().text.find("STATUS=serving"), std::string::npos) << msgs.front().text;
  std::vector<nanoseconds> pings;
  for (const auto& m : msgs)
    if (m.text == "WATCHDOG=1") {
      EXPECT_GT(m.at.count(), 0) << "no kernel timestamp on the datagram";
      pings.push_back(m.at);
    }
  ASSERT_GE(pings.size(), 5u) << "watchdog pings within 30s\n" << agent.log();
  long long widest = 0;
  for (std::size_t i = 1; i < pings.size(); ++i) {
    long long gap = duration_cast<milliseconds>(pings[i] - pings[i - 1]).count();
    widest = std::max(widest, gap);
    // Lower bound: one ping per half interval, not a burst (the thread waits between pings).
    EXPECT_GE(gap, 900) << "pings closer than half of WATCHDOG_USEC";
    EXPECT_LT(gap, 1900) << "a gap between pings near WATCHDOG_USEC";
  }
  std::printf("watchdog: %zu pings, widest gap %lld ms (WATCHDOG_USEC 2s)\n", pings.size(), widest);

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
