// The API server in-process over a real unix socket (no root: the caller is this process, whose
// uid is the agent's own): api.maxRequestBytes, api.maxConnections (busy, and the halt reserve),
// api.maxConcurrentRuns, malformed requests answered rather than crashed on, and the audit log
// written before a run acts.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/api_server.h"
#include "server/service.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;

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

// Every line the server sends on fd until it closes (or `timeout` passes on a read).
std::vector<json> read_lines(int fd, std::chrono::seconds timeout = 8s) {
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string buf;
  char chunk[65536];
  for (;;) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  std::vector<json> out;
  std::istringstream in(buf);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line, nullptr, false));
  return out;
}

bool send_all(int fd, const std::string& data) {
  for (std::size_t off = 0; off < data.size();) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// One request line (sent as is), every answer line.
std::vector<json> ask(const std::string& socket, const std::string& line) {
  int fd = connect_to(socket);
  if (fd < 0) return {};
  send_all(fd, line);
  auto out = read_lines(fd);
  ::close(fd);
  return out;
}

json last(const std::vector<json>& lines) { return lines.empty() ? json() : lines.back(); }

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return pred();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string experiment(const std::string& name, const std::string& duration, bool with_fault = false) {
  std::string y = "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: " + name + "}\nspec:\n  duration: " +
                  duration + "\n";
  if (with_fault) y += "  faults:\n    - {name: f, start: 0ms, duration: 50ms, quick: {}}\n";
  return y;
}

class ApiServerLimits : public ::testing::Test {
 protected:
  void start(AgentConfig cfg) {
    dir_ = std::filesystem::temp_directory_path() /
           ("chaos-api-limits-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    fams_.faults.push_back(fake::fault_family(script_, "quick"));
    svc_ = std::make_unique<AgentService>(cfg, dir_.string(), fams_);
    ASSERT_TRUE(svc_->start());
    socket_ = (dir_ / "agent.sock").string();
    api_ = std::make_unique<ApiServer>(*svc_, socket_);
    ASSERT_TRUE(api_->listen());
    serve_ = std::thread([this] { api_->serve(); });
  }
  void TearDown() override {
    for (int fd : held_) ::close(fd);
    if (api_) api_->stop();
    if (serve_.joinable()) serve_.join();
    if (svc_) svc_->shutdown("test over");
    if (api_) api_->join_connections();
    api_.reset();
    svc_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A connection that sends nothing: it holds its slot until the server's request timeout.
  int hold() {
    int fd = connect_to(socket_);
    held_.push_back(fd);
    return fd;
  }
  json audit() { return last(ask(socket_, R"({"op":"audit","limit":0})" "\n")).value("records", json::array()); }

  std::filesystem::path dir_;
  fake::FaultScript script_;
  Families fams_;
  std::unique_ptr<AgentService> svc_;
  std::unique_ptr<ApiServer> api_;
  std::string socket_;
  std::thread serve_;
  std::vector<int> held_;
};

TEST_F(ApiServerLimits, ARequestLineOverTheCapIsRefusedAndTheServerGoesOn) {
  AgentConfig cfg;
  cfg.api.max_request_bytes = 4096;
  start(cfg);
  // Exactly at the cap: served. One byte more: refused.
  auto padded = [](std::size_t size) {
    std::string head = R"({"op":"ping","pad":")", tail = R"("})";
    return head + std::string(size - head.size() - tail.size(), 'x') + tail + "\n";
  };
  auto at_cap = last(ask(socket_, padded(4096)));
  EXPECT_TRUE(at_cap.value("ok", false)) << at_cap.dump();
  auto over = last(ask(socket_, padded(4097)));
  EXPECT_EQ(over.value("code", ""), "too-large") << over.dump();
  EXPECT_EQ(over.value("error", ""),
            "request too large: the request line is longer than 4KiB (api.maxRequestBytes in agent.yaml)");
  // A large line (64 MiB), with and without its newline: the whole write completes (the server
  // drains it) and the answer is the same.
  for (bool newline : {true, false}) {
    int fd = connect_to(socket_);
    ASSERT_GE(fd, 0);
    std::string big(64u << 20, 'y');
    if (newline) big += "\n";
    EXPECT_TRUE(send_all(fd, big)) << "the server should read (and drop) what the client sends";
    ::shutdown(fd, SHUT_WR);
    auto lines = read_lines(fd);
    ::close(fd);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].value("code", ""), "too-large");
  }
  EXPECT_TRUE(last(ask(socket_, R"({"op":"status"})" "\n")).value("ok", false));
}

TEST_F(ApiServerLimits, PastMaxConnectionsABusyLineComesAtOnceAndHaltStillGetsThrough) {
  AgentConfig cfg;
  cfg.api.max_connections = 2;
  start(cfg);
  hold();
  hold();
  ASSERT_TRUE(wait_until([&] { return api_->active_connections() == 2; }));
  // The held connections keep their slots for the server's 10s request timeout; the answer must
  // come before that (read_lines gives up after 8s), not when a slot frees.
  auto busy = ask(socket_, R"({"op":"status"})" "\n");
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].value("code", ""), "busy") << busy[0].dump();
  EXPECT_THAT(busy[0].value("error", ""), HasSubstr("the agent is serving 2 connections, its limit (api.maxConnections)"));
  // The kill switch is served past the limit.
  auto halt = last(ask(socket_, R"({"op":"halt","run":""})" "\n"));
  EXPECT_TRUE(halt.value("ok", false)) << halt.dump();
  // With the halt reserve full too, the busy line comes from the accept loop without the request
  // being read. The busy and halt clients above used the reserve: their server threads give their
  // slots back just after the answer, so the test waits for that before filling the reserve (a
  // slot still held then would refuse the last hold() and the reserve would never be full). A
  // reserve client the server gives up on (2 s without a request, a stalled machine) is replaced
  // by filling the reserve again.
  ASSERT_TRUE(wait_until([&] { return api_->reserve_connections() == 0; }));
  bool filled = false;
  for (int attempt = 0; attempt < 5 && !filled; ++attempt) {
    std::vector<int> mine;
    for (int i = 0; i < ApiServer::kHaltReserve; ++i) mine.push_back(hold());
    filled = wait_until([&] { return api_->reserve_connections() == ApiServer::kHaltReserve; });
    if (!filled) {
      for (int fd : mine) {
        ::close(fd);
        held_.erase(std::find(held_.begin(), held_.end(), fd));
      }
      ASSERT_TRUE(wait_until([&] { return api_->reserve_connections() == 0; }));
    }
  }
  ASSERT_TRUE(filled) << "the halt reserve never held " << ApiServer::kHaltReserve << " idle clients at once";
  auto full = ask(socket_, R"({"op":"status"})" "\n");
  ASSERT_EQ(full.size(), 1u);
  EXPECT_EQ(full[0].value("code", ""), "busy") << full[0].dump();
  // Slots free again once the idle clients go.
  for (int h : held_) ::close(h);
  held_.clear();
  ASSERT_TRUE(wait_until([&] { return api_->active_connections() == 0; }));
  EXPECT_TRUE(last(ask(socket_, R"({"op":"status"})" "\n")).value("ok", false));
}

TEST_F(ApiServerLimits, RunsPastMaxConcurrentRunsAreRefusedAndDryRunsAreNot) {
  AgentConfig cfg;
  cfg.api.max_concurrent_runs = 1;
  start(cfg);
  json first_done;
  std::thread first([&] {
    first_done = last(ask(socket_, json{{"op", "run"}, {"file", "long.yaml"}, {"yaml", experiment("long", "30s")}}
                                            .dump() + "\n"));
  });
  // Whatever fails below, the long run is halted and its client joined.
  struct Join {
    AgentService& svc;
    std::thread& t;
    ~Join() {
      svc.halt("", Caller{});
      if (t.joinable()) t.join();
    }
  } join{*svc_, first};
  ASSERT_TRUE(wait_until([&] {
    auto st = svc_->status();
    for (const auto& r : st["runs"])
      if (r.value("state", "") == "running") return true;
    return false;
  }));
  auto second = last(ask(socket_, json{{"op", "run"}, {"file", "b.yaml"}, {"yaml", experiment("second", "1s")}}
                                           .dump() + "\n"));
  EXPECT_EQ(second.value("outcome", ""), "refused") << second.dump();
  EXPECT_THAT(second.value("reason", ""), HasSubstr("too many runs: 1 are active on this agent (long-"));
  EXPECT_THAT(second.value("reason", ""), HasSubstr("api.maxConcurrentRuns is 1; try again when one has ended"));
  auto dry = last(ask(
      socket_, json{{"op", "run"}, {"dryRun", true}, {"yaml", experiment("dry", "1s")}}.dump() + "\n"));
  EXPECT_EQ(dry.value("outcome", ""), "planned") << "a dry run changes nothing and is not counted: " << dry.dump();
  EXPECT_TRUE(last(ask(socket_, R"({"op":"halt","run":""})" "\n")).value("ok", false));
  first.join();
  EXPECT_EQ(first_done.value("outcome", ""), "aborted") << first_done.dump();
  auto third = last(ask(socket_, json{{"op", "run"}, {"yaml", experiment("third", "50ms")}}.dump() + "\n"));
  EXPECT_EQ(third.value("outcome", ""), "held") << "a slot is free again: " << third.dump();
  // The refused run is in the audit log with its reason.
  bool refused = false;
  for (const auto& r : audit())
    refused |= r.value("experiment", "") == "second" && r.value("outcome", "") == "refused" &&
               r.value("reason", "").find("too many runs") != std::string::npos;
  EXPECT_TRUE(refused);
}

TEST_F(ApiServerLimits, MalformedRequestsGetAnAnswerAndNeverTheAgent) {
  start(AgentConfig{});
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"op":5})", "op is number: expected one of run, validate"},
      {R"([])", "expected a JSON object with an op"},
      {R"("status")", "expected a JSON object with an op"},
      {R"({"op":"status")", "expected a JSON object with an op"},
      {R"({"op":"run","yaml":7})", "run field \"yaml\" is number: expected a string"},
      {R"({"op":"run","dryRun":"yes","yaml":""})", "run field \"dryRun\" is string: expected true or false"},
      {R"({"op":"halt","run":[1]})", "halt field \"run\" is array: expected a string"},
      {R"({"op":"report","run":{}})", "report field \"run\" is object: expected a string"},
      {R"({"op":"validate","file":1,"yaml":""})", "validate field \"file\" is number: expected a string"},
      {R"({"op":"audit","limit":"x"})", "audit field \"limit\" is string: expected an integer"},
      {R"({"op":"audit","limit":-1})", "audit field \"limit\" -1: expected an integer from 0 to 1000000"},
      {R"({"op":"audit","since":"yesterday"})", "since \"yesterday\": expected a UTC time"},
      {R"({"op":"schedule.show","name":5})", "schedule.show field \"name\" is number: expected a string"},
  };
  for (const auto& [line, want] : cases) {
    SCOPED_TRACE(line);
    auto a = last(ask(socket_, line + "\n"));
    EXPECT_FALSE(a.value("ok", true)) << a.dump();
    EXPECT_EQ(a.value("code", ""), "bad-request");
    EXPECT_THAT(a.value("error", ""), HasSubstr(want));
  }
  // Deep nesting and unknown keys are parsed past, not stored (the root tier measures the memory).
  const std::string deep(400000, '['), undeep(400000, ']');
  for (const std::string& line : {R"({"op":"ping","x":)" + deep + undeep + "}", deep + undeep,
                                  R"({"op":"ping","x":)" + std::string(16, '[') + std::string(16, ']') + "}"}) {
    auto a = last(ask(socket_, line + "\n"));
    EXPECT_EQ(a.value("code", ""), "bad-request");
    EXPECT_EQ(a.value("error", ""),
              "bad request: nested deeper than 16 levels (a request is one JSON object of plain fields)");
  }
  // Brackets inside a string are text (an experiment's YAML has them).
  EXPECT_TRUE(last(ask(socket_, R"({"op":"ping","x":")" + deep + R"(\"]"})" "\n")).value("ok", false));
  EXPECT_TRUE(last(ask(socket_, R"({"op":"ping","x":)" + std::string(15, '[') + std::string(15, ']') + "}\n"))
                  .value("ok", false));
  auto nested_run = last(ask(socket_, R"({"op":"halt","run":[[["r"]]]})" "\n"));
  EXPECT_EQ(nested_run.value("error", ""), "bad request: halt field \"run\" is array: expected a string") << "never a halt of everything";
  std::string wide = R"({"op":"ping")";
  for (int i = 0; i < 20000; ++i) wide += ",\"k" + std::to_string(i) + "\":{\"a\":[1,2,3]}";
  EXPECT_TRUE(last(ask(socket_, wide + "}\n")).value("ok", false));
  // Without a newline, closed after the request: still answered.
  int fd = connect_to(socket_);
  ASSERT_GE(fd, 0);
  send_all(fd, R"({"op":"ping"})");
  ::shutdown(fd, SHUT_WR);
  auto lines = read_lines(fd);
  ::close(fd);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].value("ok", false));
  EXPECT_THAT(last(ask(socket_, R"({"op":"nope"})" "\n")).value("error", ""), HasSubstr("unknown op nope"));
}

TEST_F(ApiServerLimits, ARunIsOnTheAuditLogBeforeItTouchesTheNodeAndItsOutcomeAfter) {
  // The fault's apply() reads the audit log: the run's "accepted" line must already be there.
  bool accepted_before_apply = false;
  script_.on_apply = [&](const std::string&) -> Result<void> {
    std::ifstream in(dir_ / "audit.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("op", "") == "run" && j.value("outcome", "") == "accepted") accepted_before_apply = true;
    }
    return {};
  };
  start(AgentConfig{});
  const std::string yaml = experiment("audited", "200ms", true);
  auto done = last(ask(socket_, json{{"op", "run"}, {"file", "a.yaml"}, {"yaml", yaml}}.dump() + "\n"));
  ASSERT_EQ(done.value("outcome", ""), "held") << done.dump();
  EXPECT_TRUE(accepted_before_apply);
  EXPECT_TRUE(last(ask(socket_, R"({"op":"halt","run":""})" "\n")).value("ok", false));
  EXPECT_FALSE(last(ask(socket_, R"({"op":"halt","run":"no-such-run"})" "\n")).value("ok", true));
  // A dry run and a status are not on it.
  last(ask(socket_, json{{"op", "run"}, {"dryRun", true}, {"yaml", yaml}}.dump() + "\n"));
  last(ask(socket_, R"({"op":"status"})" "\n"));

  auto records = audit();
  ASSERT_EQ(records.size(), 6u) << json(records).dump(1);
  const std::string sha = sha256_hex(yaml);
  const std::string run = done.value("run", "");
  auto expect = [&](const json& r, const std::string& op, const std::string& outcome) {
    EXPECT_EQ(r.value("op", ""), op) << r.dump();
    EXPECT_EQ(r.value("outcome", ""), outcome) << r.dump();
    EXPECT_EQ(r.value("uid", -1), static_cast<int>(::getuid()));
    EXPECT_EQ(r.value("pid", -1), static_cast<int>(::getpid()));
    EXPECT_FALSE(r.value("exe", "").empty()) << r.dump();
    EXPECT_FALSE(r.value("time", "").empty());
  };
  expect(records[0], "run", "accepted");
  expect(records[1], "run", "held");
  for (int i : {0, 1}) {
    EXPECT_EQ(records[i].value("run", ""), run);
    EXPECT_EQ(records[i].value("experiment", ""), "audited");
    EXPECT_EQ(records[i].value("sha256", ""), sha);
  }
  expect(records[2], "halt", "accepted");
  EXPECT_EQ(records[2].value("target", ""), "all");
  expect(records[3], "halt", "ok");
  EXPECT_EQ(records[3].value("reason", ""), "nothing to halt");
  expect(records[4], "halt", "accepted");
  expect(records[5], "halt", "failed");
  EXPECT_EQ(records[5].value("reason", ""), "no run no-such-run");
  // since: only what came after.
  auto later = last(ask(socket_, json{{"op", "audit"}, {"since", records[5].value("time", "")}}.dump() + "\n"));
  ASSERT_TRUE(later.value("ok", false)) << later.dump();
  EXPECT_GE(later["records"].size(), 1u);
  EXPECT_LE(later["records"].size(), 4u);
}

TEST_F(ApiServerLimits, AnInvalidExperimentIsAuditedWithItsFirstError) {
  start(AgentConfig{});
  const std::string yaml = "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: bad}\nspec: {}\n";
  auto done = last(ask(socket_, json{{"op", "run"}, {"file", "bad.yaml"}, {"yaml", yaml}}.dump() + "\n"));
  ASSERT_EQ(done.value("outcome", ""), "invalid") << done.dump();
  auto records = audit();
  ASSERT_EQ(records.size(), 1u) << json(records).dump(1);
  EXPECT_EQ(records[0].value("outcome", ""), "invalid");
  EXPECT_THAT(records[0].value("reason", ""), HasSubstr("bad.yaml:"));
  EXPECT_EQ(records[0].value("sha256", ""), sha256_hex(yaml));
}

}  // namespace
}  // namespace chaos
