// The journal: written before every change, replayed at start-up, the source of every revert.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/journal.h"

namespace chaos {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chaos-journal-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Journal> open() {
    auto j = Journal::open(dir_);
    EXPECT_TRUE(j.has_value()) << (j ? "" : j.error().text());
    return j ? std::move(*j) : nullptr;
  }
  std::string file() const { return dir_ + "/journal.jsonl"; }
  std::string contents() const {
    std::ifstream in(file());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<std::string> file_lines() const {
    std::vector<std::string> out;
    std::istringstream in(contents());
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  void append_raw(const std::string& text) const {
    std::ofstream out(file(), std::ios::app);
    out << text;
  }
  static std::vector<std::uint64_t> seqs(const std::vector<JournalEntry>& es) {
    std::vector<std::uint64_t> out;
    for (const auto& e : es) out.push_back(e.seq);
    return out;
  }

  std::string dir_;
};

TEST_F(JournalTest, OpenCreatesTheStateDirAndAnEmptyJournal) {
  std::string sub = dir_ + "/state";
  auto j = Journal::open(sub);
  ASSERT_TRUE(j) << j.error().text();
  EXPECT_EQ((*j)->path(), sub + "/journal.jsonl");
  EXPECT_TRUE((*j)->outstanding().empty());
  struct stat st {};
  ASSERT_EQ(::stat(sub.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "the state dir holds undo data: owner only";
  ASSERT_EQ(::stat((sub + "/journal.jsonl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(JournalTest, OpenFailsWithErrnoWhenTheStateDirCannotBeMade) {
  std::ofstream(dir_ + "/a-file") << "x";
  auto j = Journal::open(dir_ + "/a-file/state");
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, ENOTDIR);
  EXPECT_THAT(j.error().message, HasSubstr(dir_ + "/a-file/state"));
}

TEST_F(JournalTest, IntendAppliedRevertedRoundTrip) {
  auto j = open();
  ASSERT_TRUE(j);
  auto s1 = j->intend("r1", "tcx-link", {{"ifindex", 3}});
  ASSERT_TRUE(s1) << s1.error().text();
  EXPECT_EQ(*s1, 1u);
  auto s2 = j->intend("r1", "ifb", {{"name", "chaos0"}});
  ASSERT_TRUE(s2);
  EXPECT_EQ(*s2, 2u);

  auto out = j->outstanding();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].seq, 1u);
  EXPECT_EQ(out[1].run, "r1");
  EXPECT_EQ(out[1].kind, "tcx-link");
  EXPECT_EQ(out[1].undo, json({{"ifindex", 3}}));
  EXPECT_FALSE(out[1].applied);
  EXPECT_FALSE(out[1].reverted);

  ASSERT_TRUE(j->applied(1, {{"ifindex", 3}, {"link_id", 42}}));
  ASSERT_TRUE(j->applied(2));  // no new undo data: the intended data stays
  out = j->outstanding();
  EXPECT_TRUE(out[1].applied);
  EXPECT_EQ(out[1].undo, json({{"ifindex", 3}, {"link_id", 42}}));
  EXPECT_TRUE(out[0].applied);
  EXPECT_EQ(out[0].undo, json({{"name", "chaos0"}}));

  ASSERT_TRUE(j->reverted(1));
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(2u));
  ASSERT_TRUE(j->reverted(2));
  EXPECT_TRUE(j->outstanding().empty());
}

TEST_F(JournalTest, EveryRecordIsOnDiskAsAJsonLineWhenTheCallReturns) {
  auto j = open();
  ASSERT_TRUE(j);
  auto s = j->intend("run-a", "tc-bpf-classic", {{"netns", "/run/netns/x"}, {"handle", 1}});
  ASSERT_TRUE(s);
  // Read back while the journal is still open: the record is there before the change is made.
  auto lines = file_lines();
  ASSERT_EQ(lines.size(), 1u);
  auto v = json::parse(lines[0]);
  EXPECT_EQ(v["seq"], 1);
  EXPECT_EQ(v["op"], "intend");
  EXPECT_EQ(v["run"], "run-a");
  EXPECT_EQ(v["kind"], "tc-bpf-classic");
  EXPECT_EQ(v["undo"], json({{"netns", "/run/netns/x"}, {"handle", 1}}));
  EXPECT_TRUE(v["at"].is_string());
  EXPECT_THAT(v["at"].get<std::string>(), ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));

  ASSERT_TRUE(j->applied(*s, {{"netns", "/run/netns/x"}, {"handle", 2}}));
  ASSERT_TRUE(j->reverted(*s));
  lines = file_lines();
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& l : lines) {
    SCOPED_TRACE(l);
    auto r = json::parse(l, nullptr, false);
    ASSERT_FALSE(r.is_discarded());
    EXPECT_TRUE(r.is_object());
    EXPECT_EQ(r["seq"], 1);
  }
  EXPECT_EQ(json::parse(lines[1])["op"], "applied");
  EXPECT_EQ(json::parse(lines[1])["undo"]["handle"], 2);
  EXPECT_EQ(json::parse(lines[2])["op"], "reverted");
  EXPECT_EQ(contents().back(), '\n');
}

TEST_F(JournalTest, ReopenReplaysState) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    j->intend("r1", "a", {{"n", 1}});                 // 1: reverted below
    j->intend("r1", "b", {{"n", 2}});                 // 2: applied with new undo data
    j->intend("r2", "c", {{"n", 3}});                 // 3: intended only
    ASSERT_TRUE(j->applied(2, {{"n", 2}, {"extra", true}}));
    ASSERT_TRUE(j->reverted(1));
  }
  auto j = open();
  ASSERT_TRUE(j);
  auto out = j->outstanding();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, 3u);
  EXPECT_EQ(out[0].run, "r2");
  EXPECT_EQ(out[0].kind, "c");
  EXPECT_FALSE(out[0].applied) << "intended only: it may or may not have been made";
  EXPECT_EQ(out[1].seq, 2u);
  EXPECT_TRUE(out[1].applied);
  EXPECT_EQ(out[1].undo, json({{"n", 2}, {"extra", true}}));
  // Sequence numbers continue after the highest seen, never reuse one.
  auto s = j->intend("r3", "d", json::object());
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 4u);
}

TEST_F(JournalTest, NonDurableRecordsAreStillWrittenAndReplayed) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    j->intend("r", "a", {{"n", 1}});
    j->intend("r", "b", {{"n", 2}});
    // Not waited for on disk, but written before the call returns: a clean exit keeps them.
    ASSERT_TRUE(j->applied(1, {{"n", 1}, {"link", 5}}, /*durable=*/false));
    ASSERT_TRUE(j->reverted(2, /*durable=*/false));
    EXPECT_EQ(file_lines().size(), 4u);
  }
  auto j = open();
  ASSERT_TRUE(j);
  auto out = j->outstanding();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, 1u);
  EXPECT_TRUE(out[0].applied);
  EXPECT_EQ(out[0].undo, json({{"n", 1}, {"link", 5}}));
}

TEST_F(JournalTest, OutstandingIsNewestFirstAndFiltersByRun) {
  auto j = open();
  ASSERT_TRUE(j);
  for (int i = 0; i < 6; ++i) j->intend(i % 2 ? "odd" : "even", "k", {{"i", i}});
  j->reverted(3);
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(6u, 5u, 4u, 2u, 1u));
  EXPECT_THAT(seqs(j->outstanding("even")), ElementsAre(5u, 1u));
  EXPECT_THAT(seqs(j->outstanding("odd")), ElementsAre(6u, 4u, 2u));
  EXPECT_TRUE(j->outstanding("nobody").empty());
}

TEST_F(JournalTest, TornLastLineIsIgnored) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    j->intend("r1", "a", {{"n", 1}});
    j->intend("r1", "b", {{"n", 2}});
  }
  // A crash mid-write of "reverted 2": the tail has no newline and is not JSON.
  append_raw(R"({"seq":2,"op":"rever)");
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(2u, 1u));
}

TEST_F(JournalTest, RecordsAfterATornLineSurviveTheNextReplay) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    j->intend("r1", "a", {{"n", 1}});
  }
  append_raw(R"({"seq":2,"op":"inte)");
  {
    auto j = open();
    ASSERT_TRUE(j);
    auto s = j->intend("r1", "b", {{"n", 2}});
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, 2u);
  }
  // Without ending the torn line first, this record would have been glued onto it and lost.
  auto j = open();
  ASSERT_TRUE(j);
  auto out = j->outstanding();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, 2u);
  EXPECT_EQ(out[0].kind, "b");
  for (const auto& l : file_lines()) {
    if (l.find("\"kind\":\"b\"") != std::string::npos) {
      EXPECT_FALSE(json::parse(l, nullptr, false).is_discarded()) << l;
    }
  }
}

TEST_F(JournalTest, GarbageLinesAndWrongTypesAreSkippedNotFatal) {
  append_raw(R"({"seq":1,"op":"intend","run":"r","kind":"a","undo":{}})" "\n"
             "not json at all\n"
             "42\n"
             R"({"seq":"two","op":"intend"})" "\n"
             R"({"seq":3,"op":7})" "\n"
             R"({"seq":4,"op":"intend","run":5,"kind":"x"})" "\n"
             R"({"op":"intend"})" "\n"
             "\n"
             R"({"seq":9,"op":"reverted"})" "\n"  // for an entry it never saw: nothing to mark
             R"({"seq":5,"op":"intend","run":"r","kind":"b","undo":{"k":1}})" "\n");
  std::unique_ptr<Journal> j;
  ASSERT_NO_THROW(j = open());
  ASSERT_TRUE(j);
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(5u, 1u));
  auto s = j->intend("r", "c", json::object());
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 10u) << "never reuse a sequence number the file has mentioned";
}

TEST_F(JournalTest, CompactKeepsOnlyOutstanding) {
  auto j = open();
  ASSERT_TRUE(j);
  for (int i = 1; i <= 5; ++i) j->intend("r", "k" + std::to_string(i), {{"i", i}});
  j->applied(2, {{"i", 2}, {"id", 77}});
  j->applied(4);
  j->reverted(1);
  j->reverted(4);
  j->reverted(5);
  ASSERT_TRUE(j->compact());
  // 2 (intend + applied) and 3 (intend only): three lines, nothing about 1, 4, 5.
  auto lines = file_lines();
  ASSERT_EQ(lines.size(), 3u) << contents();
  std::set<std::uint64_t> in_file;
  for (const auto& l : lines) in_file.insert(json::parse(l)["seq"].get<std::uint64_t>());
  EXPECT_EQ(in_file, (std::set<std::uint64_t>{2, 3}));
  std::vector<std::string> in_dir;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) in_dir.push_back(e.path().filename());
  EXPECT_THAT(in_dir, ElementsAre("journal.jsonl")) << "no temporary file left behind";
  struct stat st{};
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the compacted journal is as private as the one it replaced";
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(3u, 2u));

  // The journal keeps working after the file was replaced under it.
  auto s = j->intend("r", "k6", json::object());
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 6u);
  j->reverted(3);
  j.reset();

  auto again = open();
  ASSERT_TRUE(again);
  auto out = again->outstanding();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, 6u);
  EXPECT_EQ(out[1].seq, 2u);
  EXPECT_TRUE(out[1].applied);
  EXPECT_EQ(out[1].undo, json({{"i", 2}, {"id", 77}})) << "compaction keeps the latest undo data";
  EXPECT_EQ(out[1].kind, "k2");
}

TEST_F(JournalTest, CompactOfAllRevertedLeavesAnEmptyFile) {
  auto j = open();
  ASSERT_TRUE(j);
  j->intend("r", "k", json::object());
  j->reverted(1);
  ASSERT_TRUE(j->compact());
  EXPECT_EQ(contents(), "");
  EXPECT_TRUE(j->outstanding().empty());
}

TEST_F(JournalTest, ConcurrentIntendsGetDistinctSequenceNumbers) {
  auto j = open();
  ASSERT_TRUE(j);
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint64_t>> got(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) got[t].push_back(j->intend("r" + std::to_string(t), "k", {{"i", i}}).value());
    });
  for (auto& th : threads) th.join();
  std::set<std::uint64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(j->outstanding().size(), 100u);
  EXPECT_EQ(file_lines().size(), 100u);
  for (const auto& l : file_lines()) EXPECT_FALSE(json::parse(l, nullptr, false).is_discarded()) << l;
}

// ---------------------------------------------------------------------------------------------
// Recovery

TEST_F(JournalTest, RecoverUndoesNewestFirstAndMarksReverted) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    j->intend("r1", "qdisc", {{"order", 1}});
    j->intend("r1", "filter", {{"order", 2}});
    j->intend("r2", "qdisc", {{"order", 3}});
    j->applied(1);
    j->applied(2);
    j->reverted(3);  // already undone by the run itself
  }
  // A fresh process: only the file knows what to undo.
  auto j = open();
  ASSERT_TRUE(j);
  std::vector<std::string> calls;
  UndoRegistry undo;
  undo.add("qdisc", [&](const json& u) -> Result<void> {
    calls.push_back("qdisc " + u.dump());
    return {};
  });
  undo.add("filter", [&](const json& u) -> Result<void> {
    calls.push_back("filter " + u.dump());
    return {};
  });
  auto rep = recover(*j, undo);
  EXPECT_EQ(rep.reverted, 2);
  EXPECT_EQ(rep.failed, 0);
  EXPECT_THAT(calls, ElementsAre("filter {\"order\":2}", "qdisc {\"order\":1}"));
  ASSERT_EQ(rep.lines.size(), 2u);
  EXPECT_THAT(rep.lines[0], HasSubstr("reverted #2 filter (run r1)"));
  EXPECT_THAT(rep.lines[1], HasSubstr("reverted #1 qdisc (run r1)"));
  EXPECT_TRUE(j->outstanding().empty());
  j.reset();

  // Marked in the file too: a second start-up has nothing to do.
  auto again = open();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->outstanding().empty());
  calls.clear();
  auto rep2 = recover(*again, undo);
  EXPECT_EQ(rep2.reverted, 0);
  EXPECT_TRUE(calls.empty());
}

TEST_F(JournalTest, FailingUndoStaysOutstanding) {
  auto j = open();
  ASSERT_TRUE(j);
  j->intend("r", "good", {{"n", 1}});
  j->intend("r", "bad", {{"n", 2}});
  j->intend("r", "good", {{"n", 3}});
  UndoRegistry undo;
  std::vector<int> good_calls;
  undo.add("good", [&](const json& u) -> Result<void> {
    good_calls.push_back(u["n"].get<int>());
    return {};
  });
  undo.add("bad", [](const json&) -> Result<void> { return fail("remove qdisc on veth1", EBUSY); });
  auto rep = recover(*j, undo);
  EXPECT_EQ(rep.reverted, 2);
  EXPECT_EQ(rep.failed, 1);
  EXPECT_THAT(good_calls, ElementsAre(3, 1)) << "one failure does not stop the rest";
  ASSERT_EQ(rep.lines.size(), 3u);
  EXPECT_THAT(rep.lines[1], HasSubstr("FAILED #2 bad (run r)"));
  EXPECT_THAT(rep.lines[1], HasSubstr("remove qdisc on veth1"));
  EXPECT_THAT(rep.lines[1], HasSubstr("Device or resource busy"));
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(2u));
  j.reset();
  auto again = open();
  ASSERT_TRUE(again);
  EXPECT_THAT(seqs(again->outstanding()), ElementsAre(2u)) << "still there for the next recovery";
}

TEST_F(JournalTest, UnknownKindFails) {
  auto j = open();
  ASSERT_TRUE(j);
  j->intend("r", "from-a-newer-agent", {{"x", 1}});
  UndoRegistry undo;
  auto direct = undo.undo(j->outstanding().front());
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().message, "no undo function for journal kind \"from-a-newer-agent\"");
  auto rep = recover(*j, undo);
  EXPECT_EQ(rep.reverted, 0);
  EXPECT_EQ(rep.failed, 1);
  ASSERT_EQ(rep.lines.size(), 1u);
  EXPECT_THAT(rep.lines[0], HasSubstr("no undo function for journal kind \"from-a-newer-agent\""));
  EXPECT_EQ(j->outstanding().size(), 1u);
}

TEST_F(JournalTest, RecoverOneRunLeavesTheOthers) {
  auto j = open();
  ASSERT_TRUE(j);
  j->intend("a", "k", {{"n", 1}});
  j->intend("b", "k", {{"n", 2}});
  j->intend("a", "k", {{"n", 3}});
  std::vector<int> calls;
  UndoRegistry undo;
  undo.add("k", [&](const json& u) -> Result<void> {
    calls.push_back(u["n"].get<int>());
    return {};
  });
  auto rep = recover(*j, undo, "a");
  EXPECT_EQ(rep.reverted, 2);
  EXPECT_THAT(calls, ElementsAre(3, 1));
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(2u));
}

TEST_F(JournalTest, UndoSeesTheAppliedUndoData) {
  auto j = open();
  ASSERT_TRUE(j);
  auto s = j->intend("r", "tcx-link", {{"ifindex", 7}});
  j->applied(*s, {{"ifindex", 7}, {"link_id", 99}});
  json seen;
  UndoRegistry undo;
  undo.add("tcx-link", [&](const json& u) -> Result<void> {
    seen = u;
    return {};
  });
  EXPECT_EQ(recover(*j, undo).reverted, 1);
  EXPECT_EQ(seen, json({{"ifindex", 7}, {"link_id", 99}}));
}

// ---------------------------------------------------------------------------------------------
// Shared objects (issue 10): a container undone after its contents, notes, hand-over between runs

TEST_F(JournalTest, ContainersAreUndoneAfterEveryContentsEntryWhateverTheirOrder) {
  auto j = open();
  ASSERT_TRUE(j);
  // A filter intended before the clsact it ended up on (tcx refused, classic after), and one
  // intended after it.
  j->intend("r", "filter", {{"n", 1}});
  j->intend("r", "clsact", {{"n", 2}});
  j->intend("r", "filter", {{"n", 3}});
  std::vector<std::string> calls;
  UndoRegistry undo;
  undo.add("filter", [&](const json& u) -> Result<void> {
    calls.push_back("filter " + u["n"].dump());
    return {};
  });
  undo.add("clsact", [&](const json& u) -> Result<void> {
    calls.push_back("clsact " + u["n"].dump());
    return {};
  }, UndoOrder::container);
  EXPECT_EQ(undo.order("clsact"), UndoOrder::container);
  EXPECT_EQ(undo.order("filter"), UndoOrder::contents);
  EXPECT_EQ(undo.order("unknown"), UndoOrder::contents);
  auto rep = recover(*j, undo);
  EXPECT_EQ(rep.reverted, 3);
  EXPECT_THAT(calls, ElementsAre("filter 3", "filter 1", "clsact 2"));
  EXPECT_TRUE(j->outstanding().empty());
}

TEST_F(JournalTest, AContainerWaitsWhileAnUndoOfContentsFails) {
  auto j = open();
  ASSERT_TRUE(j);
  j->intend("r", "clsact", {{"n", 1}});
  j->intend("r", "filter", {{"n", 2}});
  bool filter_fails = true;
  int clsact_calls = 0;
  UndoRegistry undo;
  undo.add("filter", [&](const json&) -> Result<void> {
    if (filter_fails) return fail("delete filter", EIO);
    return {};
  });
  undo.add("clsact", [&](const json&) -> Result<void> {
    ++clsact_calls;
    return {};
  }, UndoOrder::container);
  auto rep = recover(*j, undo);
  EXPECT_EQ(rep.failed, 1);
  EXPECT_EQ(rep.deferred, 1);
  EXPECT_EQ(rep.reverted, 0);
  EXPECT_EQ(clsact_calls, 0) << "what failed may still hang off the container";
  ASSERT_EQ(rep.lines.size(), 2u);
  EXPECT_THAT(rep.lines[1], HasSubstr("deferred #1 clsact"));
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(2u, 1u));
  filter_fails = false;
  auto again = recover(*j, undo);
  EXPECT_EQ(again.reverted, 2);
  EXPECT_EQ(again.deferred, 0);
  EXPECT_EQ(clsact_calls, 1);
  EXPECT_TRUE(j->outstanding().empty());
}

TEST_F(JournalTest, AFailedContainerDoesNotDeferTheOthers) {
  auto j = open();
  ASSERT_TRUE(j);
  j->intend("r", "clsact", {{"n", 1}});
  j->intend("r", "clsact", {{"n", 2}});
  UndoRegistry undo;
  undo.add("clsact", [&](const json& u) -> Result<void> {
    if (u["n"] == 2) return fail("busy", EBUSY);
    return {};
  }, UndoOrder::container);
  auto rep = recover(*j, undo);
  EXPECT_EQ(rep.failed, 1);
  EXPECT_EQ(rep.deferred, 0);
  EXPECT_EQ(rep.reverted, 1);
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(2u));
}

TEST_F(JournalTest, AnUndoNoteIsKeptWithTheRevertedMark) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    j->intend("r", "clsact", {{"ifindex", 3}});
    UndoRegistry undo;
    undo.add_noted("clsact", [](const json&) -> Result<std::string> {
      return std::string("left in place: foreign filter(s) on it: ingress u32 prio 7");
    }, UndoOrder::container);
    auto rep = recover(*j, undo);
    EXPECT_EQ(rep.reverted, 1);
    ASSERT_EQ(rep.lines.size(), 1u);
    EXPECT_THAT(rep.lines[0], HasSubstr("(left in place: foreign filter(s) on it: ingress u32 prio 7)"));
    ASSERT_TRUE(j->reverted(99, false, ""));  // an unknown entry: nothing to mark, no error
  }
  auto lines = file_lines();
  ASSERT_GE(lines.size(), 2u);
  auto rev = json::parse(lines[1]);
  EXPECT_EQ(rev["op"], "reverted");
  EXPECT_EQ(rev["note"], "left in place: foreign filter(s) on it: ingress u32 prio 7");
  EXPECT_FALSE(json::parse(lines[2]).contains("note")) << "no note, no field";
  auto again = open();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->outstanding().empty());
}

TEST_F(JournalTest, ReassignHandsAnEntryToTheRunStillUsingIt) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    auto s = j->intend("maker", "clsact", {{"ifindex", 3}});
    ASSERT_TRUE(s);
    ASSERT_TRUE(j->reassign(*s, "user"));
    EXPECT_TRUE(j->outstanding("maker").empty()) << "the run that made it can end with nothing left";
    ASSERT_EQ(j->outstanding("user").size(), 1u);
    ASSERT_TRUE(j->reassign(*s, "user")) << "the same owner: nothing to write";
    ASSERT_TRUE(j->reassign(12345, "x")) << "an unknown entry: nothing to do";
  }
  auto lines = file_lines();
  ASSERT_EQ(lines.size(), 2u) << contents();
  EXPECT_EQ(json::parse(lines[1])["op"], "owner");
  auto j = open();
  ASSERT_TRUE(j);
  ASSERT_EQ(j->outstanding("user").size(), 1u) << "the hand-over survives a restart";
  ASSERT_TRUE(j->compact());
  auto k = open();
  ASSERT_TRUE(k);
  ASSERT_EQ(k->outstanding("user").size(), 1u) << "and a compaction";
  auto s = k->outstanding().front().seq;
  ASSERT_TRUE(k->reverted(s));
  ASSERT_TRUE(k->reassign(s, "late")) << "a reverted entry is not handed over";
  EXPECT_TRUE(k->outstanding().empty());
}

TEST_F(JournalTest, RecoverIfSelectsEntriesAcrossRuns) {
  auto j = open();
  ASSERT_TRUE(j);
  j->intend("dead-a", "clsact", {{"n", 1}});
  j->intend("live", "filter", {{"n", 2}});
  j->intend("dead-b", "filter", {{"n", 3}});
  std::vector<int> calls;
  UndoRegistry undo;
  undo.add("filter", [&](const json& u) -> Result<void> {
    calls.push_back(u["n"].get<int>());
    return {};
  });
  undo.add("clsact", [&](const json& u) -> Result<void> {
    calls.push_back(u["n"].get<int>());
    return {};
  }, UndoOrder::container);
  auto rep = recover_if(*j, undo, [](const JournalEntry& e) { return e.run != "live"; });
  EXPECT_EQ(rep.reverted, 2);
  EXPECT_THAT(calls, ElementsAre(3, 1)) << "dead-b's filter before dead-a's clsact, live untouched";
  EXPECT_THAT(seqs(j->outstanding()), ElementsAre(2u));
}

}  // namespace
}  // namespace chaos
