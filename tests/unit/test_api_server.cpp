// The API server in-process, over a real unix socket in a temp dir (no root): a client that
// stops reading its run's events must not stall the run (events are sent without blocking; the
// client is dropped), and a client that never sends a request is timed out.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "server/api_server.h"
#include "server/service.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;

int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class ApiServerInProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("chaos-api-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // Faults that apply and revert at once: every tick and every fault makes events.
    fams_.faults.push_back(fake::fault_family(script_, "quick"));
    svc_ = std::make_unique<AgentService>(AgentConfig{}, dir_.string(), fams_);
    ASSERT_TRUE(svc_->start());
    socket_ = (dir_ / "agent.sock").string();
    api_ = std::make_unique<ApiServer>(*svc_, socket_);
    ASSERT_TRUE(api_->listen());
    serve_ = std::thread([this] { api_->serve(); });
  }
  void TearDown() override {
    if (api_) api_->stop();
    if (serve_.joinable()) serve_.join();
    if (svc_) svc_->shutdown("test over");
    if (api_) api_->join_connections();
    api_.reset();
    svc_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  fake::FaultScript script_;  // before fams_ and the service: they hold references to it
  Families fams_;
  std::unique_ptr<AgentService> svc_;
  std::unique_ptr<ApiServer> api_;
  std::string socket_;
  std::thread serve_;
};

TEST_F(ApiServerInProcess, AClientThatStopsReadingIsDroppedAndTheRunGoesOn) {
  // 400 faults of 10ms, one after another: about 1200 fault events in 4s, far more than a unix
  // socket's buffer holds for a client that never reads.
  std::string yaml = "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: chatty}\nspec:\n"
                     "  duration: 5s\n  faults:\n";
  for (int i = 0; i < 400; ++i)
    yaml += "    - {name: f" + std::to_string(i) + ", start: " + std::to_string(i * 10) +
            "ms, duration: 10ms, quick: {}}\n";
  int fd = connect_to(socket_);
  ASSERT_GE(fd, 0);
  std::string req = nlohmann::json{{"op", "run"}, {"file", "chatty.yaml"}, {"yaml", yaml}}.dump() + "\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  // Never read. The run must still end, and its timeline never wait on the client.
  auto t0 = std::chrono::steady_clock::now();
  std::string run_id;
  while (std::chrono::steady_clock::now() - t0 < 60s && run_id.empty()) {
    std::this_thread::sleep_for(100ms);
    auto st = svc_->status();
    for (const auto& r : st["runs"])
      if (r.value("state", "") == "finished") run_id = r.value("run", "");
  }
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(run_id.empty()) << "the run did not finish while its client was not reading";
  std::printf("run of 400 faults with a client that never read: finished after %.2f s (5 s planned)\n", took);
  // The timeline never waited on the client: a blocking send would have held it for the socket's
  // 5 s send timeout at once, where the buffer filled (near fault 85 of 400). So no gap
  // between consecutive fault stamps comes near 5 s; 2.5 s leaves the rest to a loaded machine.
  auto rep = svc_->report(run_id);
  ASSERT_TRUE(rep.value("ok", false)) << rep.dump();
  const auto& faults = rep["report"]["faults"];
  ASSERT_EQ(faults.size(), 400u);
  double prev = 0, worst = 0;
  for (const auto& f : faults) {
    ASSERT_TRUE(f.contains("appliedAt") && f.contains("revertedAt")) << f.dump();
    for (double at : {f["appliedAt"].get<double>(), f["revertedAt"].get<double>()}) {
      worst = std::max(worst, at - prev);
      prev = at;
    }
  }
  std::printf("the timeline's longest wait between two fault stamps: %.3f s\n", worst);
  EXPECT_LT(worst, 2.5) << "the run's timeline stood still for " << worst << " s";
  // And the client was dropped while the run went on: what it can still read ends at EOF (the
  // server closed it) before the last fault's events.
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(n, 0) << "the server did not close the connection of the client it dropped";
  auto last = got.rfind("\"fault\":\"f");
  std::printf("the client was sent %zu bytes, up to %s\n", got.size(),
              last == std::string::npos ? "no fault" : got.substr(last + 9, got.find('"', last + 9) - last - 9).c_str());
  EXPECT_EQ(got.find("\"fault\":\"f399\""), std::string::npos) << "the client was sent the whole run";
  EXPECT_FALSE(got.empty());
  ::close(fd);
}

TEST_F(ApiServerInProcess, AClientThatNeverSendsItsRequestIsTimedOut) {
  // Before the connect: the server's 10 s start after its accept, so never before this.
  auto t0 = std::chrono::steady_clock::now();
  int fd = connect_to(socket_);
  ASSERT_GE(fd, 0);
  // The server gives up on the request after its receive timeout (10s) and closes the connection.
  // This side waits far longer, so a server thread slow to get to it still closes first.
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  ssize_t n = ::recv(fd, &c, 1, 0);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(n, 0) << "expected the server to close the idle connection";
  EXPECT_GT(took, 9.0);
  EXPECT_LT(took, 60.0);
  ::close(fd);
}

}  // namespace
}  // namespace chaos
