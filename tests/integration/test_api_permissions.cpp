// Who may do what on the API, with real users and groups the test makes (groupadd/useradd, removed
// in teardown also on failure), each running build/bin/chaosctl as itself (fork, setgroups +
// setgid + setuid, exec) against a real agent whose agent.yaml names the test's groups.
//
// What is proven:
//   - the socket is root:api.group 0660, and a user in neither group cannot even connect;
//   - a member of api.group reads (status, dry run, schedule list, audit) and halts (also another
//     user's run: the kill switch), and is refused run, recover and schedule add with a message
//     naming the op, the caller (uid, name, pid, groups) and the group needed;
//   - a member of api.operatorsGroup runs, recovers and adds schedules;
//   - the groups are the connecting process's (SO_PEERGROUPS), not /etc/group's list: an operator
//     that dropped the group is refused, a process given the group by setgroups is let in;
//   - with the socket opened to everyone, the agent still refuses a non-member by itself;
//   - every change and every refusal is in STATE/audit.jsonl with time, uid, pid, exe, op,
//     experiment, sha256 of the YAML (checked against sha256sum), run id and outcome; chaosctl audit
//     shows it to a reader;
//   - when api.group does not exist the socket is root-only (0600) and the log says so.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client.h"
#include "integration/support_agent.h"
#include "integration/support_users.h"

namespace chaos::itest {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;

std::string experiment(const std::string& name, const std::string& duration) {
  return "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata:\n  name: " + name + "\nspec:\n  duration: " +
         duration + "\n";
}

std::vector<json> audit_file(const std::string& state_dir) {
  std::vector<json> out;
  std::ifstream in(state_dir + "/audit.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

std::string sha256sum(const TempDir& dir, const std::string& path) {
  auto c = Child::spawn({"/usr/bin/sha256sum", path}, dir.file("sha.out"), dir.file("sha.err"));
  if (!c || c->wait(Ms(10000)) != 0) return "";
  std::string out = c->out();
  return out.substr(0, out.find(' '));
}

class ApiPermissions : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: makes users and groups";
    if (!fs::exists("/usr/sbin/useradd")) GTEST_SKIP() << "no useradd (Debian package passwd)";
    if (!fs::exists(agent_binary()) || !fs::exists(chaosctl_binary()))
      FAIL() << "build chaos-agent and chaosctl first (" << agent_binary() << ")";
    // The users must reach the socket and read the experiment files in here.
    fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec |
                                     fs::perms::group_read | fs::perms::others_read);
    readers_ = accounts_.name("r");
    operators_ = accounts_.name("o");
    other_ = accounts_.name("x");
    ASSERT_TRUE(readers_gid_ = accounts_.add_group(readers_));
    ASSERT_TRUE(operators_gid_ = accounts_.add_group(operators_));
    ASSERT_TRUE(accounts_.add_group(other_));
    auto a = accounts_.add_user(accounts_.name("a"), readers_);
    auto b = accounts_.add_user(accounts_.name("b"), readers_, {operators_});
    auto c = accounts_.add_user(accounts_.name("c"), other_);
    ASSERT_TRUE(a && b && c);
    reader_ = *a;
    operator_ = *b;
    nobody_ = *c;
    agent_ = std::make_unique<AgentProcess>(dir_, "api:\n  group: " + readers_ + "\n  operatorsGroup: " + operators_ +
                                                      "\n");
    ASSERT_TRUE(agent_->start());
    short_ = dir_.write("short.yaml", experiment("perm-short", "300ms"));
    long_ = dir_.write("long.yaml", experiment("perm-long", "60s"));
  }
  void TearDown() override {
    if (agent_ && agent_->running()) cli::call_agent(agent_->socket(), {{"op", "halt"}, {"run", ""}});
    agent_.reset();  // before the accounts go
  }

  CmdResult as(const Account& who, std::vector<std::string> args,
               std::optional<std::vector<gid_t>> groups = std::nullopt) {
    return chaosctl_as(who, dir_, agent_->args(std::move(args)), std::move(groups));
  }
  std::string denied(const std::string& op, const std::string& needs, const Account& who, pid_t pid,
                     const std::string& groups) {
    return "permission denied: " + op + " needs " + needs + "; caller uid " + std::to_string(who.uid) + " (" +
           who.name + "), pid " + std::to_string(pid) + ", groups " + groups;
  }
  std::vector<json> audit_of(uid_t uid) {
    std::vector<json> out;
    for (auto& r : audit_file(agent_->state_dir()))
      if (r.value("uid", -1) == static_cast<int>(uid)) out.push_back(r);
    return out;
  }

  TempDir dir_{"chaos-perm"};
  TestAccounts accounts_{dir_};
  std::string readers_, operators_, other_;
  std::optional<gid_t> readers_gid_, operators_gid_;
  Account reader_, operator_, nobody_;
  std::unique_ptr<AgentProcess> agent_;
  std::string short_, long_;
};

TEST_F(ApiPermissions, TheSocketIsRootAndTheGroupsAndOthersCannotConnect) {
  struct stat st {};
  ASSERT_EQ(::stat(agent_->socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, *readers_gid_);
  auto r = as(nobody_, {"status"});
  EXPECT_EQ(r.code, 2) << r.str();
  EXPECT_THAT(r.err, HasSubstr("cannot reach the agent")) << r.str();
  EXPECT_THAT(r.err, HasSubstr("Permission denied")) << "the kernel's own check on the socket file: " << r.str();
}

TEST_F(ApiPermissions, AReaderReadsAndHaltsAndIsRefusedChangesWithTheReason) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"status"}, {"run", short_, "--dry-run"}, {"schedule", "list"}, {"audit"}}) {
    SCOPED_TRACE(args[0]);
    auto r = as(reader_, args);
    EXPECT_EQ(r.code, 0) << r.str();
  }
  const std::string needs = "uid 0 or group " + operators_;
  struct Refused {
    std::vector<std::string> args;
    std::string op, prefix;
  };
  for (const auto& x : std::vector<Refused>{{{"run", short_}, "run", "chaosctl run: "},
                                            {{"recover"}, "recover", "chaosctl recover: "},
                                            {{"schedule", "add", "nightly", "--at", "@daily", short_}, "schedule.add",
                                             "chaosctl schedule add: "}}) {
    SCOPED_TRACE(x.op);
    auto p = UserProcess::spawn(reader_, [&] {
      std::vector<std::string> argv{chaosctl_binary()};
      auto a = agent_->args(x.args);
      argv.insert(argv.end(), a.begin(), a.end());
      return argv;
    }(), dir_);
    ASSERT_TRUE(p);
    pid_t pid = p->pid();
    auto r = p->result(Ms(30000));
    EXPECT_EQ(r.code, 2) << r.str();
    EXPECT_THAT(r.err, HasSubstr(denied(x.op, needs, reader_, pid, readers_))) << r.str();
  }
  // The kill switch: a reader may halt.
  auto h = as(reader_, {"halt", "--all"});
  EXPECT_EQ(h.code, 0) << h.str();
  EXPECT_THAT(h.out, HasSubstr("nothing to halt"));
  EXPECT_EQ(agent_->running(), true);
}

TEST_F(ApiPermissions, AnOperatorRunsAndAReaderHaltsItAndTheAuditLogHasBoth) {
  // The operator's run, stopped by a reader.
  auto run = UserProcess::spawn(operator_, [&] {
    std::vector<std::string> argv{chaosctl_binary()};
    auto a = agent_->args({"run", long_});
    argv.insert(argv.end(), a.begin(), a.end());
    return argv;
  }(), dir_);
  ASSERT_TRUE(run);
  const pid_t run_pid = run->pid();
  std::string run_id;
  ASSERT_TRUE(wait_until(
      [&] {
        auto st = cli::call_agent(agent_->socket(), {{"op", "status"}});
        if (!st) return false;
        for (const auto& r : (*st)["runs"])
          if (r.value("state", "") == "running") run_id = r.value("run", "");
        return !run_id.empty();
      },
      Ms(20000)));
  auto h = as(reader_, {"halt", run_id});
  EXPECT_EQ(h.code, 0) << h.str();
  EXPECT_THAT(h.out, HasSubstr("halted " + run_id));
  auto rr = run->result(Ms(30000));
  EXPECT_EQ(rr.code, 1) << "the run was aborted by the halt: " << rr.str();
  EXPECT_THAT(rr.out, HasSubstr("halted: requested by uid " + std::to_string(reader_.uid) + " (" + reader_.name + ")"));
  // A held run, a recover and a schedule.
  auto ok = as(operator_, {"run", short_});
  EXPECT_EQ(ok.code, 0) << ok.str();
  EXPECT_EQ(as(operator_, {"recover"}).code, 0);
  auto add = as(operator_, {"schedule", "add", "perm-nightly", "--at", "@daily", short_});
  EXPECT_EQ(add.code, 0) << add.str();
  EXPECT_EQ(as(operator_, {"schedule", "rm", "perm-nightly"}).code, 0);

  // The audit log, read as root from the state dir.
  const std::string exe = fs::canonical(chaosctl_binary()).string();
  const std::string long_sha = sha256sum(dir_, long_), short_sha = sha256sum(dir_, short_);
  ASSERT_EQ(long_sha.size(), 64u);
  auto ops = audit_of(operator_.uid);
  ASSERT_GE(ops.size(), 10u) << json(ops).dump(1);
  // The long run: accepted before it acted, then its outcome; same run id, sha256, pid, exe.
  EXPECT_EQ(ops[0].value("op", ""), "run");
  EXPECT_EQ(ops[0].value("outcome", ""), "accepted");
  EXPECT_EQ(ops[1].value("outcome", ""), "aborted");
  for (int i : {0, 1}) {
    SCOPED_TRACE(ops[i].dump());
    EXPECT_EQ(ops[i].value("run", ""), run_id);
    EXPECT_EQ(ops[i].value("experiment", ""), "perm-long");
    EXPECT_EQ(ops[i].value("sha256", ""), long_sha);
    EXPECT_EQ(ops[i].value("pid", -1), run_pid);
    EXPECT_EQ(ops[i].value("exe", ""), exe);
    EXPECT_EQ(ops[i].value("user", ""), operator_.name);
    EXPECT_FALSE(ops[i].value("time", "").empty());
  }
  EXPECT_THAT(ops[1].value("reason", ""), HasSubstr("halted: requested by uid " + std::to_string(reader_.uid)));
  EXPECT_EQ(ops[2].value("outcome", ""), "accepted");
  EXPECT_EQ(ops[3].value("outcome", ""), "held");
  EXPECT_EQ(ops[3].value("sha256", ""), short_sha);
  EXPECT_EQ(ops[4].value("op", ""), "recover");
  EXPECT_EQ(ops[5].value("op", ""), "recover");
  EXPECT_EQ(ops[5].value("outcome", ""), "ok");
  EXPECT_EQ(ops[6].value("op", ""), "schedule.add");
  EXPECT_EQ(ops[6].value("target", ""), "perm-nightly");
  EXPECT_EQ(ops[6].value("sha256", ""), short_sha);
  EXPECT_EQ(ops[7].value("outcome", ""), "ok");
  EXPECT_EQ(ops[7].value("experiment", ""), "perm-short");
  EXPECT_EQ(ops[8].value("op", ""), "schedule.remove");
  auto reads = audit_of(reader_.uid);
  ASSERT_EQ(reads.size(), 2u) << "the reader's halt only (its status is not audited): " << json(reads).dump(1);
  EXPECT_EQ(reads[0].value("op", ""), "halt");
  EXPECT_EQ(reads[0].value("target", ""), run_id);
  EXPECT_EQ(reads[1].value("outcome", ""), "ok");
  EXPECT_EQ(reads[1].value("reason", ""), "halted " + run_id);

  // chaosctl audit, as the reader: a table, and JSON.
  auto t = as(reader_, {"audit"});
  ASSERT_EQ(t.code, 0) << t.str();
  EXPECT_THAT(t.out, HasSubstr("TIME"));
  EXPECT_THAT(t.out, HasSubstr(operator_.name + "(" + std::to_string(operator_.uid) + ") pid " + std::to_string(run_pid)));
  EXPECT_THAT(t.out, HasSubstr("perm-long sha256:" + long_sha.substr(0, 12)));
  EXPECT_THAT(t.out, HasSubstr("aborted: halted: requested by"));
  auto j = as(reader_, {"audit", "-o", "json"});
  ASSERT_EQ(j.code, 0) << j.str();
  auto records = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(records.is_array()) << j.out;
  EXPECT_EQ(records.size(), audit_file(agent_->state_dir()).size());
  auto none = as(reader_, {"audit", "--since", "2099-01-01"});
  EXPECT_EQ(none.code, 0);
  EXPECT_THAT(none.out, HasSubstr("no audit records since 2099-01-01T00:00:00Z"));
}

TEST_F(ApiPermissions, TheGroupsAreTheConnectingProcesssNotTheGroupFiles) {
  // The operator, in a process that dropped the operators' group: a reader now.
  auto dropped = as(operator_, {"run", short_}, std::vector<gid_t>{*readers_gid_});
  EXPECT_EQ(dropped.code, 2) << dropped.str();
  EXPECT_THAT(dropped.err, HasSubstr("permission denied: run needs uid 0 or group " + operators_)) << dropped.str();
  EXPECT_EQ(as(operator_, {"status"}, std::vector<gid_t>{*readers_gid_}).code, 0);
  // A user /etc/group knows nothing of, in a process given the readers' group: let in.
  auto given = as(nobody_, {"status"}, std::vector<gid_t>{nobody_.gid, *readers_gid_});
  EXPECT_EQ(given.code, 0) << given.str();
}

TEST_F(ApiPermissions, WithTheSocketOpenedTheAgentStillRefusesANonMember) {
  ASSERT_EQ(::chmod(agent_->socket().c_str(), 0666), 0);
  auto p = UserProcess::spawn(nobody_, {chaosctl_binary(), "--socket", agent_->socket(), "status"}, dir_);
  ASSERT_TRUE(p);
  pid_t pid = p->pid();
  auto r = p->result(Ms(30000));
  EXPECT_EQ(r.code, 2) << r.str();
  EXPECT_THAT(r.err, HasSubstr(denied("status", "uid 0 or group " + readers_ + " or " + operators_, nobody_, pid,
                                      other_)));
  auto recs = audit_of(nobody_.uid);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].value("op", ""), "status");
  EXPECT_EQ(recs[0].value("outcome", ""), "refused");
  EXPECT_EQ(recs[0].value("pid", -1), pid);
  EXPECT_EQ(recs[0].value("exe", ""), fs::canonical(chaosctl_binary()).string());
}

TEST(ApiPermissionsNoGroup, AGroupThatDoesNotExistLeavesTheSocketRootOnly) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir("chaos-perm-nogroup");
  const std::string missing = "cp" + std::to_string(::getpid()) + "none";
  AgentProcess agent(dir, "api:\n  group: " + missing + "\n");
  ASSERT_TRUE(agent.start());
  struct stat st {};
  ASSERT_EQ(::stat(agent.socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_THAT(agent.log(), HasSubstr("api.group \"" + missing + "\" does not exist on this node: the socket " +
                                     agent.socket() + " is root-only (mode 0600)"));
  EXPECT_THAT(agent.log(), HasSubstr("api.operatorsGroup \"chaos-operators\" does not exist on this node"));
  auto st2 = cli::call_agent(agent.socket(), {{"op", "status"}});
  ASSERT_TRUE(st2) << st2.error().text();
  EXPECT_TRUE(st2->value("ok", false)) << "root is still served";
}

}  // namespace
}  // namespace chaos::itest
