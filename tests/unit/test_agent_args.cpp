// chaos-agent's own command line: a word that is not an option is refused (exit 2) before the
// agent reads its config or touches its state dir. (The agent once dispatched `worker-*` words to
// re-executed workers; workers are forks now, kernel/worker.h, and the word started an agent.)
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chaos {
namespace {

namespace fs = std::filesystem;

struct Ran {
  int rc = -1;
  std::string output;
};

Ran run(const std::string& cmd) {
  Ran r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) r.output += buf;
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(AgentArgs, AStrayWordIsRefusedBeforeAnythingStarts) {
  const fs::path agent = fs::path(CHAOS_BINARY_DIR) / "bin/chaos-agent";
  if (!fs::exists(agent)) GTEST_SKIP() << agent << " is not built";
  const fs::path dir = fs::temp_directory_path() / ("chaos-agent-args-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string base = agent.string() + " --socket " + (dir / "agent.sock").string() + " --state-dir " +
                           (dir / "state").string() + " --config " + (dir / "agent.yaml").string();
  for (const char* word : {"worker-memory-hog", "recover", "--log-level debug extra"}) {
    SCOPED_TRACE(word);
    auto r = run(base + " " + word);
    EXPECT_EQ(r.rc, 2) << r.output;
    EXPECT_THAT(r.output, ::testing::HasSubstr("too many positional options")) << r.output;
    EXPECT_FALSE(fs::exists(dir)) << "the agent started: it made its state dir";
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace chaos
