// The audit log (server/audit.h): the record format (exact line, round trip, empty fields left
// out), sha256 against published test vectors, appending and reading back with since/limit, a
// torn tail from a crash; and chaosctl audit's --since and table.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "audit_cmd.h"
#include "core/cron.h"
#include "server/audit.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::chrono::system_clock::time_point at(const char* utc) { return *parse_utc(utc); }

class TempState {
 public:
  TempState() {
    dir_ = std::filesystem::temp_directory_path() / ("chaos-audit-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempState() { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

AuditRecord refused_run() {
  AuditRecord r;
  r.time = at("2026-12-02T10:15:02.118Z");
  r.uid = 1001;
  r.user = "alice";
  r.pid = 4242;
  r.exe = "/usr/bin/chaosctl";
  r.op = "run";
  r.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  r.outcome = "refused";
  r.reason = "permission denied: run needs uid 0 or group chaos-operators; caller uid 1001 (alice), pid 4242, "
             "groups chaos";
  return r;
}

TEST(AuditRecordFormat, OneLineWithEveryFieldThatIsSet) {
  EXPECT_EQ(audit_to_json(refused_run()).dump(),
            R"({"exe":"/usr/bin/chaosctl","op":"run","outcome":"refused","pid":4242,"reason":"permission denied: run )"
            R"(needs uid 0 or group chaos-operators; caller uid 1001 (alice), pid 4242, groups chaos",)"
            R"("sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",)"
            R"("time":"2026-12-02T10:15:02.118Z","uid":1001,"user":"alice"})");
  AuditRecord halt;
  halt.time = at("2026-12-02T10:16:00Z");
  halt.uid = 0;
  halt.pid = 77;
  halt.op = "halt";
  halt.target = "all";
  halt.outcome = "accepted";
  EXPECT_EQ(audit_to_json(halt).dump(),
            R"({"op":"halt","outcome":"accepted","pid":77,"target":"all","time":"2026-12-02T10:16:00Z","uid":0})")
      << "empty fields are left out; uid and pid always there";
}

TEST(AuditRecordFormat, RoundTrip) {
  auto r = refused_run();
  r.experiment = "lab-partition";
  r.run = "lab-partition-20261202-101502-ab12";
  r.via = "schedule nightly";
  r.target = "nightly";
  auto back = audit_from_json(audit_to_json(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(audit_to_json(*back), audit_to_json(r));
  EXPECT_EQ(back->time, r.time);
  EXPECT_EQ(back->uid, 1001);
  EXPECT_EQ(back->via, "schedule nightly");
  EXPECT_FALSE(audit_from_json(nlohmann::json::parse(R"({"op":"run"})"))) << "no time";
  EXPECT_FALSE(audit_from_json(nlohmann::json::parse(R"({"time":"yesterday","op":"run"})")));
  EXPECT_FALSE(audit_from_json(nlohmann::json::parse("[1,2]")));
  // Wrong types are dropped, not thrown on.
  auto odd = audit_from_json(nlohmann::json::parse(R"({"time":"2026-12-02T10:16:00Z","op":"halt","uid":"x","run":5})"));
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->uid, -1);
  EXPECT_EQ(odd->run, "");
}

TEST(AuditSha256, PublishedTestVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(AuditLogFile, AppendedLinesReadBackWithSinceAndLimit) {
  TempState st;
  auto log = AuditLog::open(st.path());
  ASSERT_TRUE(log) << log.error().text();
  for (int i = 0; i < 5; ++i) {
    AuditRecord r;
    r.time = at("2026-12-02T10:00:00Z") + std::chrono::minutes(i);
    r.uid = 0;
    r.pid = i;
    r.op = "halt";
    r.outcome = "ok";
    ASSERT_TRUE((*log)->append(r));
  }
  struct stat sb {};
  ASSERT_EQ(::stat((st.path() + "/audit.jsonl").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  auto all = (*log)->read(std::nullopt, 0);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].pid, 0);
  auto since = (*log)->read(at("2026-12-02T10:02:00Z"), 0);
  ASSERT_TRUE(since);
  ASSERT_EQ(since->size(), 3u) << "at or after";
  EXPECT_EQ((*since)[0].pid, 2);
  auto last2 = (*log)->read(std::nullopt, 2);
  ASSERT_TRUE(last2);
  ASSERT_EQ(last2->size(), 2u) << "the last ones";
  EXPECT_EQ((*last2)[0].pid, 3);
  EXPECT_EQ((*last2)[1].pid, 4);
  // An unset time is now.
  auto before = std::chrono::system_clock::now() - 1s;
  AuditRecord now;
  now.op = "recover";
  ASSERT_TRUE((*log)->append(now));
  auto fresh = (*log)->read(before, 0);
  ASSERT_TRUE(fresh);
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ(fresh->front().op, "recover");
}

TEST(AuditLogFile, ATornTailIsEndedAndSkipped) {
  TempState st;
  {
    std::ofstream out(st.path() + "/audit.jsonl");
    out << audit_to_json(refused_run()).dump() << "\n" << R"({"time":"2026-12-02T10:16:00Z","op":"ha)";
  }
  auto log = AuditLog::open(st.path());
  ASSERT_TRUE(log) << log.error().text();
  AuditRecord r;
  r.time = at("2026-12-02T10:17:00Z");
  r.op = "recover";
  ASSERT_TRUE((*log)->append(r));
  auto all = (*log)->read(std::nullopt, 0);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u) << "the torn line is skipped and the next record is on its own line";
  EXPECT_EQ((*all)[0].op, "run");
  EXPECT_EQ((*all)[1].op, "recover");
}

TEST(AuditLogFile, AnUnwritableStateDirIsAnError) {
  auto log = AuditLog::open("/nonexistent-chaos-dir/state");
  ASSERT_FALSE(log);
  EXPECT_THAT(log.error().text(), HasSubstr("open audit log /nonexistent-chaos-dir/state/audit.jsonl"));
}

TEST(AuditCli, SinceTakesATimeADateOrADurationBack) {
  const auto now = at("2026-12-02T12:00:00Z");
  EXPECT_EQ(format_utc(*cli::parse_since("2026-12-02T10:00:00Z", now)), "2026-12-02T10:00:00Z");
  EXPECT_EQ(format_utc(*cli::parse_since("2026-12-02T10:00:00.250Z", now)), "2026-12-02T10:00:00.250Z");
  EXPECT_EQ(format_utc(*cli::parse_since("2026-12-01", now)), "2026-12-01T00:00:00Z");
  EXPECT_EQ(format_utc(*cli::parse_since("90m", now)), "2026-12-02T10:30:00Z");
  EXPECT_EQ(format_utc(*cli::parse_since("24h", now)), "2026-12-01T12:00:00Z");
  for (const char* bad : {"yesterday", "2026-13-01", "", "1 h"}) {
    SCOPED_TRACE(bad);
    auto r = cli::parse_since(bad, now);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("expected a UTC time (2026-12-02T10:00:00Z), a date"));
  }
}

TEST(AuditCli, TableHasOneRowPerRecordAndSaysWhy) {
  auto a = audit_to_json(refused_run());
  AuditRecord ok;
  ok.time = at("2026-12-02T10:20:00Z");
  ok.uid = 1002;
  ok.user = "bob";
  ok.pid = 5151;
  ok.exe = "/usr/bin/chaosctl";
  ok.op = "run";
  ok.experiment = "lab-partition";
  ok.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  ok.run = "lab-partition-20261202-102000-0f3c";
  ok.outcome = "held";
  AuditRecord sched;
  sched.time = at("2026-12-02T10:21:00Z");
  sched.uid = 0;
  sched.pid = 1;
  sched.op = "run";
  sched.experiment = "nightly-exp";
  sched.via = "schedule nightly";
  sched.outcome = "accepted";
  auto table = cli::format_audit_table(nlohmann::json::array({a, audit_to_json(ok), audit_to_json(sched)}));
  // Columns padded to the widest cell, the reason after the outcome, the last column unpadded.
  EXPECT_EQ(table, R"(TIME                      CALLER                EXE                OP   WHAT                               RUN                                 OUTCOME
2026-12-02T10:15:02.118Z  alice(1001) pid 4242  /usr/bin/chaosctl  run  sha256:ba7816bf8f01                -                                   refused: permission denied: run needs uid 0 or group chaos-operators; caller uid 1001 (alice), pid 4242, groups chaos
2026-12-02T10:20:00Z      bob(1002) pid 5151    /usr/bin/chaosctl  run  lab-partition sha256:ba7816bf8f01  lab-partition-20261202-102000-0f3c  held
2026-12-02T10:21:00Z      uid 0 pid 1           -                  run  nightly-exp (schedule nightly)     -                                   accepted
)");
}

}  // namespace
}  // namespace chaos
