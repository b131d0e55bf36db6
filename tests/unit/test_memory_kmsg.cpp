// OOM-killer lines from /dev/kmsg (records captured on this host's 6.18 kernel) and the victim
// bookkeeping that combines them with cgroup.procs changes.
#include <string>

#include <gtest/gtest.h>

#include "faults/memory/oom_watch.h"

namespace chaos::memory {
namespace {

const std::string kKilled =
    "3,2213,455619862,-;Memory cgroup out of memory: Killed process 7784 (stress-ng-vm) total-vm:208384kB, "
    "anon-rss:61820kB, file-rss:384kB, shmem-rss:0kB, UID:0 pgtables:184kB oom_score_adj:1000\n"
    " SUBSYSTEM=memcg\n";
const std::string kSummary =
    "6,2212,454222073,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
    "oom_memcg=/chaos-test-probe5030,task_memcg=/chaos-test-probe5030/sub,task=stress-ng-vm,pid=7748,uid=0\n";

TEST(KmsgOom, ParsesTheKillLine) {
  auto r = parse_kmsg_oom(kKilled);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, KmsgOomRecord::Kind::killed);
  EXPECT_EQ(r->pid, 7784);
  EXPECT_EQ(r->name, "stress-ng-vm");
  EXPECT_TRUE(r->memcg);
  EXPECT_EQ(r->ts_us, 455619862u);
}

TEST(KmsgOom, ParsesTheSummaryLine) {
  auto r = parse_kmsg_oom(kSummary);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, KmsgOomRecord::Kind::summary);
  EXPECT_EQ(r->pid, 7748);
  EXPECT_EQ(r->name, "stress-ng-vm");
  EXPECT_EQ(r->oom_memcg, "/chaos-test-probe5030");
  EXPECT_EQ(r->task_memcg, "/chaos-test-probe5030/sub");
  EXPECT_TRUE(r->memcg);
}

TEST(KmsgOom, GlobalOomAndNamesWithSpacesAndOtherLines) {
  auto g = parse_kmsg_oom("3,1,2,-;Out of memory: Killed process 42 (my (odd) app) total-vm:1kB, anon-rss:1kB\n");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->pid, 42);
  EXPECT_EQ(g->name, "my (odd) app");
  EXPECT_FALSE(g->memcg);
  EXPECT_FALSE(parse_kmsg_oom("6,3,4,-;eth0: link up\n"));
  EXPECT_FALSE(parse_kmsg_oom("6,3,4,-;Killed process abc (x)\n"));
  EXPECT_FALSE(parse_kmsg_oom("6,3,4,-;oom-kill:constraint=CONSTRAINT_NONE\n"));
}

TEST(Victims, KillLineCountsOnlyForPidsSeenInTheSubtree) {
  VictimTracker t("/chaos-test-probe5030");
  t.update_procs({{7784, "stress-ng-vm"}, {10, "sh"}});
  KmsgOomRecord other{KmsgOomRecord::Kind::killed, 5555, "elsewhere", true, "", "", 0};
  EXPECT_FALSE(t.add_kmsg(other, 10, 0));
  EXPECT_TRUE(t.add_kmsg(*parse_kmsg_oom(kKilled), 120, 0));
  EXPECT_FALSE(t.add_kmsg(*parse_kmsg_oom(kKilled), 130, 0));  // the same victim once
  ASSERT_EQ(t.victims().size(), 1u);
  EXPECT_EQ(t.victims()[0].pid, 7784);
  EXPECT_EQ(t.victims()[0].name, "stress-ng-vm");
  EXPECT_EQ(t.victims()[0].source, "kmsg");
  EXPECT_EQ(t.victims()[0].at_ms, 120);
  // A global OOM kill of a process of ours is not a memcg victim of this fault.
  KmsgOomRecord global{KmsgOomRecord::Kind::killed, 10, "sh", false, "", "", 0};
  EXPECT_FALSE(t.add_kmsg(global, 140, 0));
}

TEST(Victims, SummaryLineNamesVictimsInSubcgroups) {
  VictimTracker t("/chaos-test-probe5030");
  EXPECT_TRUE(t.add_kmsg(*parse_kmsg_oom(kSummary), 5, 0));
  VictimTracker other("/chaos-test-probe50");  // a prefix of the name is not the subtree
  EXPECT_FALSE(other.add_kmsg(*parse_kmsg_oom(kSummary), 5, 0));
}

TEST(Victims, HogIsMarked) {
  VictimTracker t("/x");
  KmsgOomRecord hog{KmsgOomRecord::Kind::killed, 77, "chaos-mem-hog", true, "", "", 0};
  EXPECT_TRUE(t.add_kmsg(hog, 1, 77));  // the hog counts even before a procs sample saw it
  EXPECT_TRUE(t.victims()[0].hog);
}

TEST(Victims, ProcsDiffInfersWhenTheLogIsMissingAndTheLogUpgradesIt) {
  VictimTracker t("/x");
  t.update_procs({{1, "a"}, {2, "b"}, {3, "c"}});
  auto gone = t.update_procs({{1, "a"}});
  EXPECT_EQ(gone, (std::vector<pid_t>{2, 3}));
  t.infer_from_departed(gone, 0, 5, 0);  // no kill counted: they just exited
  EXPECT_TRUE(t.victims().empty());
  t.infer_from_departed(gone, 1, 6, 0);
  ASSERT_EQ(t.victims().size(), 2u);
  EXPECT_EQ(t.victims()[0].source, "procs");
  EXPECT_EQ(t.victims()[0].name, "b");
  KmsgOomRecord k{KmsgOomRecord::Kind::killed, 2, "b", true, "", "", 0};
  t.add_kmsg(k, 7, 0);
  EXPECT_EQ(t.victims()[0].source, "kmsg");
}

TEST(KmsgReader, OpensAtTheEndAndDrainsWithoutBlocking) {
  auto k = KmsgReader::open_at_end();
  if (!k) GTEST_SKIP() << "cannot read /dev/kmsg here: " << k.error().text();
  // Whatever was logged before open is not returned; the call never blocks.
  auto recs = k->drain();
  for (const auto& r : recs) EXPECT_NE(r.find(';'), std::string::npos);
}

}  // namespace
}  // namespace chaos::memory
