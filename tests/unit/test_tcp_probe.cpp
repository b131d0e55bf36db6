// The tcp probe: its block read strictly (FILE:LINE:COL, the field, what would be right), one
// connection attempt against a loopback listener and a closed port, and the open-loop probe run
// for a while against each (no root: the agent's own namespace, loopback only).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "observe/tcp_probe.h"
#include "runner/families.h"
#include "unit/support/spec_text.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(TcpProbeSpec, ParsesAddressesAndRefusesWhatCannotBeDialled) {
  auto good = fake::parse_with_probes("    - name: a\n"
                           "      tcp: {address: \"198.18.0.20:8001\", lab: client}\n"
                           "    - name: b\n"
                           "      tcp: {address: \"[2001:2::20]:8001\", netns: blue}\n");
  ASSERT_TRUE(good.diags.ok()) << good.diags.str();
  auto a = std::static_pointer_cast<const TcpProbeSpec>(good.experiment->probes[0].spec);
  EXPECT_EQ(a->host, "198.18.0.20");
  EXPECT_EQ(a->port, 8001);
  EXPECT_EQ(a->target.str(), "lab client");
  auto b = std::static_pointer_cast<const TcpProbeSpec>(good.experiment->probes[1].spec);
  EXPECT_EQ(b->host, "2001:2::20");
  EXPECT_EQ(b->port, 8001);
  EXPECT_EQ(b->to_json(), nlohmann::json({{"address", "[2001:2::20]:8001"}, {"from", "netns blue"}}));

  auto bad = fake::parse_with_probes("    - name: a\n"
                          "      tcp: {address: \"db.internal:5432\"}\n"
                          "    - name: b\n"
                          "      tcp: {address: \"198.18.0.20\"}\n"
                          "    - name: c\n"
                          "      tcp: {address: \"2001:2::20:8001\"}\n"
                          "    - name: d\n"
                          "      tcp: {address: \"198.18.0.20:70000\"}\n"
                          "    - name: e\n"
                          "      tcp: {address: \"198.18.0.20:80\", port: 80}\n"
                          "    - name: f\n"
                          "      tcp: {lab: client}\n");
  ASSERT_FALSE(bad.diags.ok());
  auto text = bad.diags.str();
  EXPECT_THAT(text, HasSubstr("exp.yaml:14:22: error: spec.steadyState[0].tcp.address: \"db.internal:5432\": "
                              "expected ADDRESS:PORT with an address literal"));
  EXPECT_THAT(text, HasSubstr("spec.steadyState[1].tcp.address: \"198.18.0.20\": expected ADDRESS:PORT"));
  EXPECT_THAT(text, HasSubstr("spec.steadyState[2].tcp.address: \"2001:2::20:8001\": expected ADDRESS:PORT"));
  EXPECT_THAT(text, HasSubstr("spec.steadyState[3].tcp.address: \"198.18.0.20:70000\": expected ADDRESS:PORT"));
  EXPECT_THAT(text, HasSubstr("spec.steadyState[4].tcp.port"));
  EXPECT_THAT(text, HasSubstr("spec.steadyState[5].tcp.address"));
}

// 127.0.0.1:<ephemeral>, listening (the kernel completes handshakes from its backlog) or, after
// refuse(), refusing.
struct Listener {
  int fd = -1;
  std::uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 512) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
  }
  ~Listener() {
    if (fd >= 0) ::close(fd);
  }
  // Stops listening: from now on every connection to the port is refused.
  void refuse() { ::shutdown(fd, SHUT_RDWR); }
};

TcpProbeSpec spec_for(std::uint16_t port) {
  TcpProbeSpec s;
  s.host = "127.0.0.1";
  s.port = port;
  s.address = "127.0.0.1:" + std::to_string(port);
  return s;
}

TEST(TcpProbe, OneAttemptSucceedsOnAListenerAndNamesTheRefusal) {
  Listener l;
  ASSERT_NE(l.port, 0);
  auto ok = tcp_connect_once(spec_for(l.port), 1s);
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.status, 0);
  EXPECT_GT(ok.latency.count(), 0);
  l.refuse();
  auto refused = tcp_connect_once(spec_for(l.port), 1s);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.error, std::string("connect: ") + std::strerror(ECONNREFUSED));
}

TEST(TcpProbe, OpenLoopRunRecordsEveryAttemptInOrder) {
  Listener l;
  ASSERT_NE(l.port, 0);
  ProbeEntry e;
  e.name = "tcp";
  e.interval = std::chrono::duration_cast<Duration>(20ms);
  e.timeout = std::chrono::duration_cast<Duration>(500ms);
  e.spec = std::make_shared<TcpProbeSpec>(spec_for(l.port));
  auto probe = tcp_probe_kind().make(e);
  ASSERT_TRUE(probe) << probe.error().text();
  auto lines = (*probe)->plan();
  ASSERT_TRUE(lines) << lines.error().text();
  EXPECT_THAT(lines->at(0), HasSubstr("TCP connect to 127.0.0.1:" + std::to_string(l.port) + " every 20ms"));
  RunClock clock{std::chrono::steady_clock::now()};
  ASSERT_TRUE((*probe)->start(clock));
  // Polls the probe's own samples until `pred` counts enough of them (30 s at most): the phases
  // last as long as this machine needs, not a fixed time.
  auto count = [&](auto pred) {
    std::size_t n = 0;
    for (const auto& s : (*probe)->samples()) n += pred(s);
    return n;
  };
  auto wait_count = [&](auto pred, std::size_t want) {
    for (auto until = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < until;) {
      if (count(pred) >= want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  auto is_refusal = [](const ProbeSample& s) {
    return !s.ok && s.error.find(std::strerror(ECONNREFUSED)) != std::string::npos;
  };
  ASSERT_TRUE(wait_count([](const ProbeSample& s) { return s.ok; }, 5)) << "connections while the port listened";
  l.refuse();  // from here on: refused
  // Stamped after the shutdown returned: every attempt stamped later dials a closed port.
  const Duration closed_at = clock.now();
  ASSERT_TRUE(wait_count([&](const ProbeSample& s) { return s.t > closed_at && is_refusal(s); }, 5))
      << "refusals after it closed";
  (*probe)->stop();
  auto samples = (*probe)->samples();
  for (std::size_t i = 1; i < samples.size(); ++i)
    EXPECT_LE(samples[i - 1].t, samples[i].t) << "samples in start order";
  // The probe saw the close when it happened: no attempt stamped after it succeeded. (One
  // stamped before it may have dialled after it, on a slow thread: it may fail.)
  for (const auto& s : samples) {
    if (s.t > closed_at) {
      EXPECT_FALSE(s.ok) << "an attempt stamped after the close connected";
      EXPECT_TRUE(is_refusal(s)) << "an attempt after the close failed otherwise: " << s.error;
    }
  }
}

}  // namespace
}  // namespace chaos
