// chaosctl's argument handling, every subcommand: an unknown option, an extra argument or a value
// outside the allowed ones is an error that says which and what is allowed (exit 2), before
// anything reaches the agent; what is allowed gets as far as the agent (here: none, at a socket
// path that does not exist).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "commands.h"
#include "import_cmd.h"

namespace chaos::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Ran {
  int rc;
  std::string out, err;
};

const std::string kNoAgent = "/nonexistent/chaos-test-" + std::to_string(getpid()) + ".sock";

Ran chaosctl(std::vector<std::string> args) {
  args.insert(args.begin(), {"chaosctl", "--socket", kNoAgent});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  int rc = chaosctl_main(static_cast<int>(argv.size()), argv.data());
  auto out = testing::internal::GetCapturedStdout();
  auto err = testing::internal::GetCapturedStderr();
  return {rc, out, err};
}

class CliArgs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("chaos-cli-args-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    experiment_ = (dir_ / "exp.yaml").string();
    std::ofstream(experiment_) << "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: x}\n"
                                  "spec: {duration: 5s}\n";
    manifest_ = (dir_ / "mem.yaml").string();
    std::ofstream(manifest_) << "apiVersion: chaos-mesh.org/v1alpha1\nkind: StressChaos\nmetadata: {name: m}\n"
                                "spec: {duration: 5s, stressors: {memory: {size: 1GB}}}\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Refused for its arguments: exit 2, `want` said, the agent never called.
  void refused(const std::vector<std::string>& args, const std::string& want) {
    auto r = chaosctl(args);
    std::string what = ::testing::PrintToString(args);
    EXPECT_EQ(r.rc, kExitUnusable) << what << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(want)) << what;
    EXPECT_THAT(r.err, Not(HasSubstr("cannot reach the agent"))) << what;
    EXPECT_THAT(r.err, Not(HasSubstr("terminate called"))) << what;
  }
  // Accepted: it goes as far as calling the agent.
  void accepted(const std::vector<std::string>& args) {
    auto r = chaosctl(args);
    EXPECT_THAT(r.err, HasSubstr("cannot reach the agent")) << ::testing::PrintToString(args) << "\n" << r.err;
  }

  std::filesystem::path dir_;
  std::string experiment_, manifest_;
};

TEST_F(CliArgs, Validate) {
  refused({"validate"}, "expected one or more FILE arguments");
  refused({"validate", "--bogus", experiment_}, "unknown option --bogus");
  auto ok = chaosctl({"validate", experiment_});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  auto missing = chaosctl({"validate", (dir_ / "none.yaml").string()});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_THAT(missing.err, HasSubstr((dir_ / "none.yaml").string() + ":1:1: error: cannot read the file"));
}

TEST_F(CliArgs, RunOutputFormatsAndArguments) {
  refused({"run", experiment_, "-o", "yaml"}, "-o \"yaml\": expected text or json");
  refused({"run", experiment_, "--output=html"}, "-o \"html\": expected text or json");
  refused({"run", experiment_, "extra"}, "too many positional options");
  refused({"run", experiment_, "--bogus"}, "unrecognised option '--bogus'");
  refused({"run"}, "expected FILE");
  refused({"run", (dir_ / "none.yaml").string()}, "none.yaml:1:1: error: cannot read the file");
  accepted({"run", experiment_, "-o", "json", "--dry-run"});
}

TEST_F(CliArgs, RunAndImportOfAManifest) {
  // A pid past int's range used to end chaosctl (std::stoi threw out_of_range).
  refused({"import", manifest_, "--target", "pid:99999999999"},
          "chaosctl import: --target \"pid:99999999999\": expected pid:N with N a process id from 1 to 2147483647");
  refused({"run", manifest_, "--target", "pid:99999999999"}, "chaosctl run: --target \"pid:99999999999\"");
  refused({"import", manifest_, "--target", "cgroup:"}, "--target \"cgroup:\": expected host, netns:NAME");
  refused({"import", manifest_, "--interface", "a/b"}, "--interface \"a/b\": expected an interface name");
  refused({"import", manifest_, "extra"}, "chaosctl import: unexpected argument extra");
  refused({"import", manifest_, "--bogus"}, "chaosctl import: unknown option --bogus");
  refused({"import"}, "chaosctl import: expected FILE");
  refused({"run", manifest_, "--target", "cgroup:/x", "-o", "yaml"}, "-o \"yaml\": expected text or json");
  refused({"run", manifest_, "--target", "cgroup:/x", "extra"}, "too many positional options");
  auto ok = chaosctl({"import", manifest_, "--target", "pid:4242"});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("pid: 4242"));
  // The API form says so too, without a location (the flag is wrong, not the file).
  ImportFlags flags;
  flags.target = "pid:99999999999";
  auto m = import_manifest("apiVersion: chaos-mesh.org/v1alpha1\nkind: StressChaos\n", flags, "m.yaml");
  EXPECT_EQ(m.outcome, ManifestImport::Outcome::invalid);
  EXPECT_TRUE(m.where.file.empty());
  EXPECT_THAT(m.line(), HasSubstr("pid:99999999999"));
}

TEST_F(CliArgs, StatusHaltRecoverReport) {
  refused({"status", "extra"}, "chaosctl status: unexpected argument extra");
  refused({"status", "--bogus"}, "chaosctl status: unknown option --bogus");
  refused({"status", "-o", "yaml"}, "chaosctl status: -o \"yaml\": expected text or json");
  refused({"status", "-o"}, "chaosctl status: -o needs a value");
  accepted({"status"});
  accepted({"status", "-o", "json"});
  refused({"halt"}, "chaosctl halt: expected RUN or --all");
  refused({"halt", "a", "b"}, "chaosctl halt: unexpected argument b");
  refused({"halt", "--bogus"}, "chaosctl halt: unknown option --bogus");
  accepted({"halt", "--all"});
  accepted({"halt", "run-1"});
  refused({"recover", "now"}, "chaosctl recover: unexpected argument now");
  refused({"recover", "--force"}, "chaosctl recover: unknown option --force");
  accepted({"recover"});
  refused({"report"}, "chaosctl report: expected RUN");
  refused({"report", "r", "extra"}, "chaosctl report: unexpected argument extra");
  refused({"report", "r", "--bogus"}, "chaosctl report: unknown option --bogus");
  refused({"report", "r", "-o", "yaml"}, "chaosctl report: -o \"yaml\": expected text, json, html or junit");
  refused({"report", "r", "-o"}, "chaosctl report: -o needs a value");
  accepted({"report", "r", "-o", "junit"});
}

TEST_F(CliArgs, Schedule) {
  refused({"schedule", "add", "n", "--at", "@daily", experiment_, "extra"}, "too many positional options");
  refused({"schedule", "add", "n", "--at", "@daily", experiment_, "--bogus"}, "unrecognised option '--bogus'");
  refused({"schedule", "add", "n", "--at", "@daily", experiment_, "-o", "yaml"}, "-o \"yaml\": expected text or json");
  refused({"schedule", "add", "n", "--at", "@daily", experiment_, "--policy", "maybe"},
          "--policy \"maybe\": expected forbid or allow");
  refused({"schedule", "add", "n", "--at", "61 * * * *", experiment_}, "minute \"61\"");
  refused({"schedule", "add", "n", "--at", "@daily"}, "expected NAME, --at EXPR and FILE");
  accepted({"schedule", "add", "n", "--at", "@daily", experiment_});
  refused({"schedule", "list", "extra"}, "unexpected argument extra");
  refused({"schedule", "list", "-o", "yaml"}, "-o \"yaml\": expected text or json");
  accepted({"schedule", "list", "-o", "json"});
  for (const char* sub : {"show", "rm", "pause", "resume", "trigger"}) {
    refused({"schedule", sub}, std::string("chaosctl schedule ") + sub + ": expected NAME");
    refused({"schedule", sub, "a", "b"}, "unexpected argument b");
    refused({"schedule", sub, "a", "--bogus"}, "unknown option --bogus");
    refused({"schedule", sub, "a", "-o"}, "-o needs a value");
    refused({"schedule", sub, "a", "-o", "yaml"}, "-o \"yaml\": expected text or json");
    accepted({"schedule", sub, "a"});
  }
  refused({"schedule", "bogus", "a"}, "chaosctl schedule: unknown command bogus");
}

TEST_F(CliArgs, LabAndUnknownCommands) {
  refused({"lab", "up", "extra"}, "too many positional options");
  refused({"lab", "up", "--bogus"}, "unrecognised option '--bogus'");
  refused({"lab", "sideways"}, "chaosctl lab: expected up, down or status");
  refused({"lab", "up", "--etcd", "lots"}, "--etcd");
  refused({"teleport"}, "chaosctl: unknown command teleport");
  refused({"--socket"}, "chaosctl: --socket needs a PATH");
}

}  // namespace
}  // namespace chaos::cli
