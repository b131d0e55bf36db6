// The one target block (core/target.h) and what it matches (kernel/workload.h), without root:
//   - every kind parses, and every kind of bad input gives one exact FILE:LINE:COL error;
//   - choose() takes the count each Chaos Mesh mode promises, reproducibly for one seed, and
//     uniformly enough across seeds;
//   - process targets match real processes of this machine (children the test starts with a
//     marker in their command line), by name, cmdline regex and user; no match lists what exists;
//   - cgroup globs over a directory tree laid out like a cgroup hierarchy;
//   - FanOutFault applies in order, reverts newest first, also after a partial apply.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/net_target.h"
#include "core/parser.h"
#include "core/target.h"
#include "faults/fanout.h"
#include "faults/memory/memory.h"
#include "faults/memory/spec.h"
#include "faults/network/parsers.h"
#include "faults/network/spec.h"
#include "kernel/workload.h"

namespace chaos {
namespace {

using ::testing::HasSubstr;
using K = Target::Kind;

// Reads `text` (a YAML map) as a target block of a family that takes `allowed`.
struct Parsed {
  std::optional<Target> target;
  std::string errors;
};
Parsed parse_block(const std::string& text, std::initializer_list<K> allowed = {K::host, K::lab, K::netns, K::pid,
                                                                                  K::cgroup, K::unit, K::process}) {
  Diagnostics d;
  YNode n(YAML::Load(text), "target", "t.yaml", &d);
  Parsed p;
  p.target = read_target_block(n, allowed, "memory acts on a cgroup");
  p.errors = d.str();
  if (!p.errors.empty() && p.errors.back() == '\n') p.errors.pop_back();
  return p;
}

TEST(TargetBlock, EveryKindParses) {
  auto p = parse_block("{host: true}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->kind, K::host);
  p = parse_block("{lab: mylab/client}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->str(), "lab mylab/client");
  p = parse_block("{netns: ns1}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->str(), "netns ns1");
  p = parse_block("{pid: 4242}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->pid, 4242);
  p = parse_block("{cgroup: /kubepods.slice/*/cri-containerd-*.scope, mode: all}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->kind, K::cgroup);
  EXPECT_TRUE(p.target->is_workload());
  EXPECT_EQ(p.target->select.mode, SelectMode::all);
  EXPECT_EQ(p.target->str(), "cgroup /kubepods.slice/*/cri-containerd-*.scope, mode all");
  p = parse_block("{unit: vllm.service}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->unit, "vllm.service");
  EXPECT_EQ(p.target->select.mode, SelectMode::one);
  p = parse_block("{process: {name: python3, cmdline: 'vllm serve', user: svc}, mode: fixed, value: '2', seed: 42}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->process.name, "python3");
  EXPECT_EQ(p.target->process.cmdline, "vllm serve");
  EXPECT_EQ(p.target->process.user, "svc");
  EXPECT_EQ(p.target->select.mode, SelectMode::fixed);
  EXPECT_EQ(p.target->select.value, 2);
  EXPECT_EQ(p.target->select.seed, 42u);
  EXPECT_EQ(p.target->to_json().dump(),
            R"({"mode":"fixed","process":{"cmdline":"vllm serve","name":"python3","user":"svc"},"seed":42,"value":2})");
  // The percent modes take Chaos Mesh's string, a number, or "50%".
  for (const char* v : {"'50'", "50", "'50%'"}) {
    p = parse_block(std::string("{cgroup: /a/*, mode: fixed-percent, value: ") + v + "}");
    ASSERT_TRUE(p.target) << v << ": " << p.errors;
    EXPECT_EQ(p.target->select.value, 50);
  }
  p = parse_block("{process: {user: 0}, mode: random-max-percent, value: 100}");
  ASSERT_TRUE(p.target) << p.errors;
  EXPECT_EQ(p.target->process.user, "0");
}

TEST(TargetBlock, BadInputIsOneErrorAtTheField) {
  auto err = [](const std::string& text, std::initializer_list<K> allowed = {K::host, K::lab, K::netns, K::pid,
                                                                               K::cgroup, K::unit, K::process}) {
    auto p = parse_block(text, allowed);
    EXPECT_FALSE(p.target) << text;
    return p.errors;
  };
  EXPECT_EQ(err("{}"), "t.yaml:1:1: error: target: expected exactly one of: host, lab, netns, pid, cgroup, unit, process");
  EXPECT_EQ(err("{cgroup: /a, pid: 3}"),
            "t.yaml:1:1: error: target: found pid, cgroup: expected exactly one of: host, lab, netns, pid, cgroup, unit, "
            "process");
  EXPECT_EQ(err("{netns: ns1}", {K::cgroup, K::unit, K::pid, K::process}),
            "t.yaml:1:9: error: target.netns: memory acts on a cgroup: netns is not a target here; expected one of: "
            "cgroup, unit, pid, process");
  EXPECT_EQ(err("{host: false}"), "t.yaml:1:8: error: target.host: false names nothing: write host: true, or another target");
  EXPECT_EQ(err("{unit: nginx}"), "t.yaml:1:8: error: target.unit: \"nginx\": expected a systemd unit name like nginx.service");
  EXPECT_EQ(err("{cgroup: ../etc}"), "t.yaml:1:10: error: target.cgroup: \"../etc\": \"..\" is not allowed in a cgroup path");
  EXPECT_EQ(err("{pid: 0}"), "t.yaml:1:7: error: target.pid: \"0\": out of range, expected 1..4194304");
  EXPECT_EQ(err("{process: {}}"), "t.yaml:1:11: error: target.process: expected at least one of name, cmdline and user");
  EXPECT_THAT(err("{process: {cmdline: 'a(b'}}"),
              HasSubstr("t.yaml:1:21: error: target.process.cmdline: \"a(b\": not a POSIX extended regular expression"));
  EXPECT_EQ(err("{process: {name: a/b}}"),
            "t.yaml:1:18: error: target.process.name: \"a/b\": expected a process name like python3 (no '/')");
  EXPECT_EQ(err("{process: {user: 'x y'}}"),
            "t.yaml:1:18: error: target.process.user: \"x y\": expected a user name like svc or a numeric uid");
  EXPECT_EQ(err("{process: {name: x, comm: y}}"),
            "t.yaml:1:21: error: target.process.comm: unknown field, expected one of: cmdline, name, user");
  EXPECT_EQ(err("{cgroup: /a, mode: some}"),
            "t.yaml:1:20: error: target.mode: \"some\": expected one of: one, all, fixed, fixed-percent, random-max-percent");
  EXPECT_EQ(err("{cgroup: /a, mode: fixed}"),
            "t.yaml:1:1: error: target: mode fixed: missing required field value (how many, like \"2\")");
  EXPECT_EQ(err("{cgroup: /a, mode: fixed-percent}"),
            "t.yaml:1:1: error: target: mode fixed-percent: missing required field value (a percentage 1..100, like \"50\")");
  EXPECT_EQ(err("{cgroup: /a, value: 2}"),
            "t.yaml:1:21: error: target.value: mode one takes no value (value is for fixed, fixed-percent and "
            "random-max-percent)");
  EXPECT_EQ(err("{cgroup: /a, mode: fixed-percent, value: 120}"),
            "t.yaml:1:42: error: target.value: \"120\": expected a percentage from 1 to 100, like \"50\"");
  EXPECT_EQ(err("{cgroup: /a, mode: fixed, value: '0'}"),
            "t.yaml:1:34: error: target.value: \"0\": expected how many matches to take, a whole number from 1, like \"2\"");
  EXPECT_EQ(err("{cgroup: /a, mode: fixed, value: [1]}"),
            "t.yaml:1:34: error: target.value: found a list: expected how many matches to take, a whole number from 1, "
            "like \"2\"");
  EXPECT_EQ(err("{pid: 3, mode: all}"),
            "t.yaml:1:16: error: target.mode: mode applies to cgroup, unit and process targets; a pid target names "
            "exactly one thing");
  EXPECT_EQ(err("{cgroup: /a, sead: 1}"),
            "t.yaml:1:14: error: target.sead: unknown field, expected one of: cgroup, host, lab, mode, netns, pid, "
            "process, seed, unit, value");
}

// The family blocks read it: network (a `target:` key, exclusive with its short forms) and memory.
TEST(TargetBlock, NetworkAndMemoryBlocksTakeIt) {
  SpecRegistry reg;
  for (auto fam : {network::parsers(), memory::family()}) reg.add_fault_family(fam.name, fam.parse);
  auto exp = [](const std::string& block) {
    return "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: t}\nspec:\n  duration: 30s\n"
           "  faults:\n    - name: f\n      duration: 10s\n" + block;
  };
  auto o = parse_experiment(exp("      network:\n        action: delay\n        delay: {latency: 10ms}\n"
                                "        target: {process: {name: vllm}, mode: all}\n"),
                            "e.yaml", reg);
  ASSERT_TRUE(o.experiment) << o.diags.str();
  auto ns = std::dynamic_pointer_cast<const network::NetworkSpec>(o.experiment->faults[0].spec);
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->target.kind, K::process);
  EXPECT_EQ(ns->interface, "") << "a process target's interface is found at plan time";
  o = parse_experiment(exp("      network:\n        action: delay\n        delay: {latency: 10ms}\n"
                           "        lab: client\n        target: {pid: 3}\n"),
                       "e.yaml", reg);
  EXPECT_FALSE(o.experiment);
  EXPECT_THAT(o.diags.str(), HasSubstr("e.yaml:10:9: error: spec.faults[0].network: target excludes netns, pid and lab"));
  o = parse_experiment(exp("      network:\n        action: delay\n        delay: {latency: 10ms}\n"),
                       "e.yaml", reg);
  EXPECT_FALSE(o.experiment);
  EXPECT_THAT(o.diags.str(), HasSubstr("missing required field interface (the host's interface is never a default"));
  o = parse_experiment(exp("      memory:\n        target: {cgroup: '/system.slice/*.service', mode: fixed, value: 2}\n"
                           "        size: 64MiB\n"),
                       "e.yaml", reg);
  ASSERT_TRUE(o.experiment) << o.diags.str();
  auto ms = std::dynamic_pointer_cast<const memory::MemorySpec>(o.experiment->faults[0].spec);
  ASSERT_TRUE(ms);
  EXPECT_EQ(ms->target.path, "/system.slice/*.service");
  EXPECT_EQ(ms->target.select.value, 2);
  EXPECT_EQ(ms->to_json()["target"].dump(), R"({"cgroup":"/system.slice/*.service","mode":"fixed","value":2})");
}

// ---- choose()

Selection sel(SelectMode m, std::int64_t value = 0, std::optional<std::uint64_t> seed = 7) {
  Selection s;
  s.mode = m;
  s.value = value;
  s.seed = seed;
  return s;
}

TEST(Choose, EveryModeTakesTheCountItPromises) {
  auto count = [](std::size_t n, Selection s) {
    auto c = choose(n, s);
    EXPECT_TRUE(c) << c.error().text();
    return c ? c->chosen.size() : 0u;
  };
  EXPECT_EQ(count(10, sel(SelectMode::one)), 1u);
  EXPECT_EQ(count(10, sel(SelectMode::all)), 10u);
  EXPECT_EQ(count(10, sel(SelectMode::fixed, 3)), 3u);
  EXPECT_EQ(count(10, sel(SelectMode::fixed, 30)), 10u) << "more than there are: all of them, as Chaos Mesh does";
  EXPECT_EQ(count(10, sel(SelectMode::fixed_percent, 50)), 5u);
  EXPECT_EQ(count(3, sel(SelectMode::fixed_percent, 50)), 1u) << "rounded down";
  EXPECT_EQ(count(3, sel(SelectMode::fixed_percent, 100)), 3u);
  auto none = choose(3, sel(SelectMode::fixed_percent, 10));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "mode fixed-percent 10% of 3 matches is 0 (rounded down, as Chaos Mesh does): raise value or use mode one");
  EXPECT_FALSE(choose(0, sel(SelectMode::all)));
  // random-max-percent: p drawn in [0, value], floor(p% of n) taken; every p in range comes up.
  std::map<std::int64_t, int> drawn;
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    auto c = choose(100, sel(SelectMode::random_max_percent, 10, seed));
    ASSERT_TRUE(c);
    ASSERT_GE(c->percent, 0);
    ASSERT_LE(c->percent, 10);
    EXPECT_EQ(c->chosen.size(), static_cast<std::size_t>(c->percent));
    ++drawn[c->percent];
  }
  EXPECT_EQ(drawn.size(), 11u) << "0..10 all drawn";
}

TEST(Choose, OneSeedOneChoiceAndAllIndexesComeUp) {
  auto a = choose(20, sel(SelectMode::fixed, 5, 42));
  auto b = choose(20, sel(SelectMode::fixed, 5, 42));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->chosen, b->chosen);
  EXPECT_EQ(a->seed, 42u);
  EXPECT_TRUE(std::is_sorted(a->chosen.begin(), a->chosen.end()));
  EXPECT_EQ(std::set<std::size_t>(a->chosen.begin(), a->chosen.end()).size(), 5u) << "distinct";
  // Fixed seeds, so this is a fact about the generator, not a chance: mode one over 4 matches
  // picks each index about a quarter of the time.
  std::vector<int> hits(4);
  for (std::uint64_t seed = 1; seed <= 4000; ++seed) {
    auto c = choose(4, sel(SelectMode::one, 0, seed));
    ASSERT_TRUE(c);
    ++hits[c->chosen.at(0)];
  }
  for (int h : hits) {
    EXPECT_GT(h, 850);
    EXPECT_LT(h, 1150);
  }
  // No seed: one is drawn and reported.
  auto d = choose(5, sel(SelectMode::one, 0, std::nullopt));
  ASSERT_TRUE(d);
  auto again = choose(5, sel(SelectMode::one, 0, d->seed));
  ASSERT_TRUE(again);
  EXPECT_EQ(d->chosen, again->chosen) << "the recorded seed reproduces the choice";
}

// ---- what a target matches

// A child that sleeps with a marker in its command line (sh -c 'exec sleep 300' keeps the
// marker in $0). Killed and reaped by the destructor.
struct Sleeper {
  pid_t pid = -1;
  explicit Sleeper(const std::string& marker) {
    pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::execl("/bin/sh", "sh", "-c", "sleep 300", marker.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Sleeper() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  Sleeper(const Sleeper&) = delete;
  Sleeper& operator=(const Sleeper&) = delete;
};

// Waits until the child has exec'd (its cmdline carries the marker).
bool execd(pid_t pid, const std::string& marker) {
  for (int i = 0; i < 500; ++i) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (s.find(marker) != std::string::npos) return true;
    ::usleep(10000);
  }
  return false;
}

cgroup::Hierarchy any_hierarchy() {
  auto h = cgroup::find_hierarchy("memory");
  if (h) return *h;
  auto p = cgroup::find_hierarchy("pids");
  return p ? *p : cgroup::Hierarchy{cgroup::Version::v2, "/sys/fs/cgroup"};
}

TEST(Workloads, ProcessTargetsMatchRealProcesses) {
  const std::string marker = "chaos-target-test-" + std::to_string(::getpid());
  Sleeper a(marker + "-a"), b(marker + "-b");
  ASSERT_TRUE(execd(a.pid, marker) && execd(b.pid, marker));
  Target t;
  t.kind = K::process;
  t.process.cmdline = marker + "-[ab]$";
  t.select.mode = SelectMode::all;
  auto found = find_workloads(t, any_hierarchy());
  ASSERT_TRUE(found) << found.error().text();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].pids, std::vector<pid_t>{std::min(a.pid, b.pid)}) << "in pid order";
  EXPECT_EQ((*found)[0].label, "pid " + std::to_string(std::min(a.pid, b.pid)) + " (sh)");
  // name and user narrow it; every field must match.
  t.process.name = "sh";
  t.process.user = std::to_string(::getuid());
  found = find_workloads(t, any_hierarchy());
  ASSERT_TRUE(found) << found.error().text();
  EXPECT_EQ(found->size(), 2u);
  t.process.cmdline = marker + "-a";
  auto set = resolve_workloads(t, any_hierarchy());
  ASSERT_TRUE(set) << set.error().text();
  ASSERT_EQ(set->chosen().size(), 1u);
  EXPECT_EQ(set->chosen()[0]->pids.at(0), a.pid);
  auto lines = set->plan_lines();
  EXPECT_THAT(lines.at(0), HasSubstr("1 match, chose 1 of 1 (seed "));
  t.process.name = "python3";
  auto none = find_workloads(t, any_hierarchy());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ENOENT);
  EXPECT_THAT(none.error().message, HasSubstr("no process matches name=python3 cmdline=/" + marker +
                                              "-a/ user=" + std::to_string(::getuid()) + "; processes here: "));
  EXPECT_THAT(none.error().message, HasSubstr("sh ("));
  t.process = {};
  t.process.user = "chaos-no-such-user";
  auto nouser = find_workloads(t, any_hierarchy());
  ASSERT_FALSE(nouser);
  EXPECT_EQ(nouser.error().message, "user chaos-no-such-user: no such user on this node");
}

TEST(Workloads, ProcessMatcherRules) {
  ProcessSelector s;
  s.name = "python3";
  auto m = ProcessMatcher::make(s);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->matches("python3", "python3 -m vllm", "python3", 0));
  EXPECT_TRUE(m->matches("pt_main_thread", "/usr/bin/python3 x", "/usr/bin/python3", 0)) << "argv[0]'s base name";
  EXPECT_FALSE(m->matches("python", "python x", "python", 0));
  s.cmdline = "vllm (serve|run)";
  s.user = "1000";
  auto m2 = ProcessMatcher::make(s);
  ASSERT_TRUE(m2);
  EXPECT_TRUE(m2->matches("python3", "python3 -m vllm serve --port 8000", "python3", 1000));
  EXPECT_FALSE(m2->matches("python3", "python3 -m vllm serve", "python3", 0)) << "another user";
  EXPECT_FALSE(m2->matches("python3", "python3 -m vllm bench", "python3", 1000));
  EXPECT_EQ(cmdline_text(std::string("a\0b c\0\0", 7)), "a b c");
  EXPECT_EQ(resolve_user("root").value_or(-1), 0);
  EXPECT_EQ(resolve_user("123").value_or(-1), 123);
}

// A directory tree laid out like a cgroup hierarchy (a fake mount), so globbing is tested
// without root: cgroup.procs files hold the processes.
class FakeHierarchy : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("chaos-fake-cg-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    for (const char* d : {"system.slice/a.service", "system.slice/b.service", "system.slice/c.scope",
                          "system.slice/b.service/child", "kubepods.slice/pod1/ctr1", "kubepods.slice/pod2/ctr1"}) {
      std::filesystem::create_directories(root_ / d);
    }
    write("system.slice/a.service", "11\n");
    write("system.slice/b.service", "21\n22\n");
    write("system.slice/b.service/child", "23\n");
    h_ = {cgroup::Version::v2, root_.string()};
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void write(const std::string& dir, const std::string& procs) {
    std::ofstream(root_ / dir / "cgroup.procs") << procs;
  }
  Target cg(const std::string& path, SelectMode m = SelectMode::all) {
    Target t;
    t.kind = K::cgroup;
    t.path = path;
    t.select.mode = m;
    return t;
  }
  std::filesystem::path root_;
  cgroup::Hierarchy h_;
};

TEST_F(FakeHierarchy, GlobsMatchPerSegmentInPathOrder) {
  auto found = find_workloads(cg("/system.slice/*.service"), h_);
  ASSERT_TRUE(found) << found.error().text();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].cgroup.relative, "/system.slice/a.service");
  EXPECT_EQ((*found)[1].cgroup.relative, "/system.slice/b.service");
  EXPECT_EQ((*found)[1].pids, (std::vector<pid_t>{21, 22, 23})) << "the whole subtree's processes";
  found = find_workloads(cg("kubepods.slice/*/ctr1"), h_);
  ASSERT_TRUE(found) << found.error().text();
  EXPECT_EQ(found->size(), 2u);
  found = find_workloads(cg(root_.string() + "/system.slice/c.*"), h_);
  ASSERT_TRUE(found) << found.error().text();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].label, "cgroup /system.slice/c.scope");
  // An exact path is resolved as before; a missing one says where it looked.
  found = find_workloads(cg("/system.slice/a.service"), h_);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), 1u);
  auto none = find_workloads(cg("/system.slice/*.timer"), h_);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "no cgroup matches /system.slice/*.timer; cgroups under /system.slice: a.service, b.service, c.scope");
  auto set = resolve_workloads(cg("/system.slice/*", SelectMode::fixed_percent), h_);
  EXPECT_FALSE(set) << "fixed-percent without a value is 0%";
  Target t = cg("/system.slice/*", SelectMode::fixed);
  t.select.value = 2;
  t.select.seed = 3;
  set = resolve_workloads(t, h_);
  ASSERT_TRUE(set) << set.error().text();
  EXPECT_EQ(set->chosen().size(), 2u);
  auto j = set->to_json(t);
  EXPECT_EQ(j["matches"].size(), 3u);
  EXPECT_EQ(j["chosen"].size(), 2u);
  EXPECT_EQ(j["seed"], 3);
  auto lines = set->plan_lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "3 matches, chose 2 of 3 (seed 3)");
}

// ---- FanOutFault

struct Log {
  std::vector<std::string> calls;
};
class FakeFault : public Fault {
 public:
  FakeFault(std::string name, Log* log, bool fail_apply = false) : name_(std::move(name)), log_(log), fail_(fail_apply) {}
  Result<std::vector<std::string>> plan() override { return std::vector<std::string>{"touches " + name_}; }
  Result<void> apply() override {
    log_->calls.push_back("apply " + name_);
    if (fail_) return fail("no");
    return {};
  }
  Result<void> renew(std::uint64_t) override {
    log_->calls.push_back("renew " + name_);
    return {};
  }
  Result<void> revert() override {
    log_->calls.push_back("revert " + name_);
    return {};
  }
  nlohmann::json sample() override { return {{"n", name_}}; }
  nlohmann::json observe() const override { return {{"name", name_}}; }

 private:
  std::string name_;
  Log* log_;
  bool fail_;
};

TEST(FanOut, AppliesInOrderRevertsNewestFirstAlsoAfterAPartialApply) {
  Log log;
  std::vector<FanOutFault::Part> parts;
  parts.push_back({"a", std::make_unique<FakeFault>("a", &log)});
  parts.push_back({"b", std::make_unique<FakeFault>("b", &log, true)});
  parts.push_back({"c", std::make_unique<FakeFault>("c", &log)});
  FanOutFault f(std::move(parts), {"3 matches, chose 3 of 3 (seed 1)"}, {{"seed", 1}});
  auto lines = f.plan();
  ASSERT_TRUE(lines);
  EXPECT_EQ(*lines, (std::vector<std::string>{"3 matches, chose 3 of 3 (seed 1)", "a: touches a", "b: touches b",
                                              "c: touches c"}));
  auto r = f.apply();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "b: no");
  ASSERT_TRUE(f.renew(1));
  ASSERT_TRUE(f.revert());
  EXPECT_EQ(log.calls, (std::vector<std::string>{"apply a", "apply b", "renew a", "revert b", "revert a"}))
      << "c was never applied; b is reverted because its apply may have got half-way";
  auto obs = f.observe();
  EXPECT_EQ(obs["targets"].size(), 3u);
  EXPECT_EQ(obs["selection"]["seed"], 1);
  EXPECT_EQ(f.sample()["targets"][2]["sample"]["n"], "c");
}

TEST(FanOut, OnePartIsTransparentAndNonePlansNothing) {
  Log log;
  std::vector<FanOutFault::Part> parts;
  parts.push_back({"a", std::make_unique<FakeFault>("a", &log)});
  FanOutFault one(std::move(parts), {"1 match"}, {{"seed", 5}});
  EXPECT_EQ(*one.plan(), (std::vector<std::string>{"1 match", "touches a"}));
  EXPECT_EQ(one.sample()["n"], "a");
  EXPECT_EQ(one.observe()["name"], "a");
  EXPECT_EQ(one.observe()["selection"]["seed"], 5);
  FanOutFault none({}, {"10 matches, chose 0 of 10 (drew 0%) (seed 9)"}, {});
  EXPECT_EQ(none.plan()->back(), "nothing chosen: the fault changes nothing");
  EXPECT_TRUE(none.apply());
  EXPECT_TRUE(none.revert());
  EXPECT_TRUE(none.sample().is_null());
}

}  // namespace
}  // namespace chaos
