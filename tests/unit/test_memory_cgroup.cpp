// cgroup helpers against text fixtures and a fake cgroup tree in a temp dir (no root needed):
// finding the memory hierarchy on v1, v2 and hybrid hosts, /proc/PID/cgroup, limits, PSI,
// events, target resolution and the effective limit.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kernel/cgroup.h"

namespace chaos::cgroup {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("chaos-test-cgroup-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void put(const std::string& rel, const std::string& text) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string dir(const std::string& rel = "") const { return (root_ / rel).string(); }
  fs::path root_;
};

const char* kHybridMounts =
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";

TEST_F(FakeTree, FindsV1MemoryOnAHybridHost) {
  put("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  auto h = find_hierarchy_in("memory", kHybridMounts, dir());
  ASSERT_TRUE(h) << h.error().text();
  EXPECT_EQ(h->version, Version::v1);
  EXPECT_EQ(h->mount, "/sys/fs/cgroup/memory");
}

TEST_F(FakeTree, FindsV2OnlyWhenItListsTheController) {
  const char* mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n";
  put("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
  auto h = find_hierarchy_in("memory", mounts, dir());
  ASSERT_TRUE(h) << h.error().text();
  EXPECT_EQ(h->version, Version::v2);
  EXPECT_EQ(h->mount, "/sys/fs/cgroup");

  put("sys/fs/cgroup/cgroup.controllers", "cpu io pids\n");
  auto none = find_hierarchy_in("memory", mounts, dir());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ENOENT);
  EXPECT_THAT(none.error().message, HasSubstr("no cgroup hierarchy carries the memory controller"));
}

TEST(ProcCgroup, PicksTheMemoryLineOrTheV2Line) {
  const char* text =
      "9:name=systemd:/\n"
      "4:memory:/process_api/960beff\n"
      "2:cpu,cpuacct:/x\n"
      "0::/user.slice/a:b\n";
  EXPECT_EQ(*parse_proc_cgroup(text, Version::v1, "memory"), "/process_api/960beff");
  EXPECT_EQ(*parse_proc_cgroup(text, Version::v1, "cpuacct"), "/x");
  EXPECT_EQ(*parse_proc_cgroup(text, Version::v2, "memory"), "/user.slice/a:b");  // ':' inside the path
  EXPECT_FALSE(parse_proc_cgroup("9:name=systemd:/\n", Version::v1, "memory"));
}

TEST(Limits, V1HugeMeansUnlimitedV2MaxMeansUnlimited) {
  EXPECT_FALSE(parse_limit("9223372036854771712\n").value());
  EXPECT_FALSE(parse_limit("max\n").value());
  EXPECT_EQ(*parse_limit("268435456\n").value(), 268435456u);
  EXPECT_FALSE(parse_limit("lots"));
}

TEST(Pressure, ParsesSomeAndFull) {
  auto p = parse_pressure(
      "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
      "full avg10=0.75 avg60=0.10 avg300=0.00 total=6543\n");
  ASSERT_TRUE(p) << p.error().text();
  EXPECT_DOUBLE_EQ(p->some.avg10, 1.5);
  EXPECT_DOUBLE_EQ(p->some.avg60, 0.25);
  EXPECT_EQ(p->some.total_us, 123456u);
  EXPECT_DOUBLE_EQ(p->full.avg10, 0.75);
  EXPECT_EQ(p->full.total_us, 6543u);
  EXPECT_FALSE(parse_pressure("nonsense\n"));
}

TEST(FlatKeyed, ReadsEventsAndOomControl) {
  auto ev = parse_flat_keyed("low 0\nhigh 3\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n");
  EXPECT_EQ(ev["max"], 17u);
  EXPECT_EQ(ev["oom"], 2u);
  EXPECT_EQ(ev["oom_kill"], 1u);
  auto oc = parse_flat_keyed("oom_kill_disable 0\nunder_oom 1\noom_kill 38\n");
  EXPECT_EQ(oc["under_oom"], 1u);
  EXPECT_EQ(oc["oom_kill"], 38u);
}

TEST_F(FakeTree, V2CgroupReadsAndEffectiveLimit) {
  Hierarchy h{Version::v2, dir("cg")};
  put("cg/memory.stat", "anon 0\n");
  put("cg/pod/memory.max", "268435456\n");
  put("cg/pod/memory.current", "1000\n");
  put("cg/pod/app/memory.max", "max\n");
  put("cg/pod/app/memory.current", "4096\n");
  put("cg/pod/app/memory.peak", "8192\n");
  put("cg/pod/app/memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n");
  put("cg/pod/app/memory.pressure", "some avg10=3.00 avg60=0 avg300=0 total=10\nfull avg10=1.00 avg60=0 avg300=0 total=5\n");
  put("cg/pod/app/cgroup.procs", "12\n7\n");
  put("cg/pod/app/cgroup.subtree_control", "\n");
  put("cg/pod/app/sub/cgroup.procs", "99\n");

  auto p = resolve_path(h, "pod/app");
  ASSERT_TRUE(p) << p.error().text();
  EXPECT_EQ(p->relative, "/pod/app");
  EXPECT_EQ(p->dir, dir("cg") + "/pod/app");
  // The mount prefix is accepted too, ".." is not, a missing directory is ENOENT.
  EXPECT_EQ(resolve_path(h, dir("cg") + "/pod/app/")->relative, "/pod/app");
  EXPECT_EQ(resolve_path(h, "/pod/../pod/app").error().code, EINVAL);
  EXPECT_EQ(resolve_path(h, "/nope").error().code, ENOENT);

  auto cg = MemoryCgroup::open(h, *p);
  ASSERT_TRUE(cg) << cg.error().text();
  EXPECT_FALSE(cg->limit().value());
  auto eff = cg->effective_limit();
  ASSERT_TRUE(eff && *eff);
  EXPECT_EQ((*eff)->bytes, 268435456u);
  EXPECT_EQ((*eff)->relative, "/pod");
  EXPECT_EQ(*cg->usage(), 4096u);
  EXPECT_EQ(*cg->peak().value(), 8192u);
  auto ev = cg->events();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->max, 5u);
  EXPECT_EQ(ev->oom, 2u);
  EXPECT_EQ(ev->oom_kill, 1u);
  EXPECT_TRUE(ev->has_oom);
  auto psi = cg->pressure();
  ASSERT_TRUE(psi);
  EXPECT_FALSE(psi->system_wide);
  EXPECT_DOUBLE_EQ(psi->some.avg10, 3.0);
  EXPECT_EQ(*cg->procs(false), (std::vector<pid_t>{7, 12}));
  EXPECT_EQ(*cg->procs(true), (std::vector<pid_t>{7, 12, 99}));
  EXPECT_FALSE(*cg->delegates_memory());
  put("cg/pod/app/cgroup.subtree_control", "cpu memory\n");
  EXPECT_TRUE(*cg->delegates_memory());
}

TEST_F(FakeTree, V1CgroupReadsAndFallsBackToSystemPsi) {
  Hierarchy h{Version::v1, dir("mem")};
  put("mem/memory.limit_in_bytes", "9223372036854771712\n");
  put("mem/memory.usage_in_bytes", "1\n");
  put("mem/t/memory.limit_in_bytes", "536870912\n");
  put("mem/t/memory.usage_in_bytes", "1048576\n");
  put("mem/t/memory.max_usage_in_bytes", "2097152\n");
  put("mem/t/memory.oom_control", "oom_kill_disable 0\nunder_oom 1\noom_kill 3\n");
  put("mem/t/memory.failcnt", "42\n");
  auto cg = MemoryCgroup::open(h, *resolve_path(h, "/t"));
  ASSERT_TRUE(cg) << cg.error().text();
  EXPECT_EQ(*cg->limit().value(), 536870912u);
  EXPECT_EQ((*cg->effective_limit())->relative, "/t");
  auto ev = cg->events();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->oom_kill, 3u);
  EXPECT_EQ(ev->max, 42u);
  EXPECT_TRUE(ev->under_oom);
  EXPECT_FALSE(ev->has_oom);  // v1 has no counter file; OomEventCounter provides it
  EXPECT_EQ(*cg->peak().value(), 2097152u);
  EXPECT_FALSE(*cg->delegates_memory());
  if (::access("/proc/pressure/memory", R_OK) == 0) {
    auto psi = cg->pressure();
    ASSERT_TRUE(psi) << psi.error().text();
    EXPECT_TRUE(psi->system_wide);
    EXPECT_EQ(psi->source, "/proc/pressure/memory");
  }
  // Not a memory cgroup: no usage file.
  fs::create_directories(dir("mem/empty"));
  EXPECT_FALSE(MemoryCgroup::open(h, *resolve_path(h, "/empty")));
}

TEST_F(FakeTree, UnitResolution) {
  Hierarchy h{Version::v1, dir("mem")};
  fs::create_directories(dir("mem/system.slice/etcd.service"));
  fs::create_directories(dir("mem/user.slice/user-1000.slice/user@1000.service/app.service"));
  EXPECT_EQ(resolve_unit(h, "etcd.service")->relative, "/system.slice/etcd.service");
  EXPECT_EQ(resolve_unit(h, "app.service")->relative, "/user.slice/user-1000.slice/user@1000.service/app.service");
  auto missing = resolve_unit(h, "nginx.service");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_THAT(missing.error().message, HasSubstr("unit nginx.service: no cgroup for it"));
  EXPECT_THAT(missing.error().message, HasSubstr("is systemd running it?"));
  EXPECT_EQ(resolve_unit(h, "../x.service").error().code, EINVAL);
}

// The host's own hierarchy, whatever it is: our process is in some memory cgroup we can read.
TEST(RealHost, ResolvesOwnProcess) {
  auto h = find_hierarchy("memory");
  if (!h) GTEST_SKIP() << "no memory controller mounted here: " << h.error().text();
  auto p = resolve_pid(*h, ::getpid(), "memory");
  ASSERT_TRUE(p) << p.error().text();
  auto cg = MemoryCgroup::open(*h, *p);
  ASSERT_TRUE(cg) << cg.error().text();
  auto in = cg->contains(::getpid());
  ASSERT_TRUE(in);
  EXPECT_TRUE(*in);
  auto procs = cg->procs();
  ASSERT_TRUE(procs) << procs.error().text();
  EXPECT_NE(std::find(procs->begin(), procs->end(), ::getpid()), procs->end());
  EXPECT_EQ(resolve_unit(*h, "chaos-no-such-unit.service").error().code, ENOENT);
  EXPECT_EQ(resolve_pid(*h, 0x3ffffe, "memory").error().code, ESRCH);
}

}  // namespace
}  // namespace chaos::cgroup
