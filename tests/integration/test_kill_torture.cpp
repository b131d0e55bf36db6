// Kill torture (issue 10, "Hardening"): the real agent (build/bin/chaos-agent) SIGKILLed at
// random moments of plan, apply, hold and revert, then restarted on the same state dir, over and
// over, for the three kinds of fault that change the node:
//   - partitions in a lab "k<pid>": tcx and classic attach, direction egress and both;
//   - memory: a hog in a test cgroup (chaos-torture-<pid>) that holds a workload process;
//   - etcd: isolating a member (mostly a follower, sometimes the leader) of a real 3-member
//     cluster in a lab "q<pid>" (`chaosctl lab up --etcd 3`), tcx and classic.
//
// One kill:
//   1. The test sends the run over the agent's socket itself and stamps every event as it
//      arrives. A target phase is drawn (plan, apply, hold, revert) and a moment in it: a random
//      offset after the request, or after the "applying", "applied" or "reverting" event, plus
//      random jitter scaled by how long that phase took in earlier cycles.
//   2. At that moment the agent is frozen (SIGSTOP), the BPF programs it holds are read from
//      /proc/PID/fdinfo, and it is SIGKILLed. The kill lands where the freeze did, and every
//      program the dead agent had is known by id, so nothing on this machine (other tests make
//      chaos_cls programs too) is mistaken for a leftover.
//   3. The phase it really landed in is read back from the events the agent had sent and the
//      journal it left on disk: plan (nothing journaled), apply, hold, revert, end (reverted).
//   4. With no agent running, the fault's effect is probed until it is gone: HTTP through the
//      partition, the hog leaving the cgroup, TCP to the isolated member's peer port. The time
//      from the SIGKILL is how long that fault outlived its agent (tcx links die with it, a hog
//      with it (PDEATHSIG); classic filters are stopped by the lease).
//   5. The agent restarts on the same state dir; once it answers, its journal replay is done and
//      nothing may be left: no journal entry outstanding, the lab's namespaces exactly as before
//      the first kill (every interface's clsact slot and filters, and `tc qdisc show`), none of
//      the dead agent's programs loaded (hence no tcx link), the new agent holding none, nothing
//      but the workload in the target cgroup, traffic flowing (etcd: the cluster healthy again).
//
// Every wait polls against a deadline; nothing depends on a sleep being long enough. The seed is
// printed: CHAOS_TORTURE_SEED=N replays the same draws (the moments they hit still depend on the
// machine). CHAOS_TORTURE_SCALE=F multiplies the kill counts. docs/testing.md, docs/benchmarks.md.
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client.h"
#include "faults/network/netem.h"
#include "integration/support_agent.h"
#include "kernel/bpf_util.h"
#include "kernel/cgroup.h"
#include "lab/etcd_lab.h"
#include "observe/http_client.h"
#include "lab/lab.h"
#include "kernel/netns.h"
#include "observe/etcd_client.h"

namespace chaos::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using nlohmann::json;

constexpr Ms kLease{1000};
constexpr std::uint64_t MiB = 1ull << 20;

std::uint64_t torture_seed() {
  static const std::uint64_t seed = []() -> std::uint64_t {
    if (const char* s = std::getenv("CHAOS_TORTURE_SEED"); s && *s) return std::strtoull(s, nullptr, 10);
    return (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  }();
  return seed;
}

int scaled(int n) {
  double f = 1.0;
  if (const char* s = std::getenv("CHAOS_TORTURE_SCALE"); s && *s) f = std::strtod(s, nullptr);
  return std::max(1, static_cast<int>(std::lround(n * f)));
}

// ---- the run, as the agent streams it

struct Event {
  SteadyTime at;
  std::string tag;  // "planned", "started", "fault:applying", "fault:applied", "fault:reverting", ...
  json body;
};

// One run request on its own thread; every line the agent sends is stamped on arrival. The
// stream ends when the run is done or the agent dies.
class RunStream {
 public:
  RunStream(const std::string& socket, const std::string& file, const std::string& yaml) {
    sent_ = steady_clock::now();
    thread_ = std::thread([this, socket, file, yaml] {
      (void)cli::call_agent(socket, {{"op", "run"}, {"file", file}, {"yaml", yaml}, {"dryRun", false}},
                            [this](const json& ev) {
                              std::string tag = ev.value("event", std::string("?"));
                              if (tag == "fault") tag += ":" + ev.value("state", std::string("?"));
                              std::lock_guard lk(mu_);
                              events_.push_back({steady_clock::now(), tag, ev});
                              cv_.notify_all();
                            });
      std::lock_guard lk(mu_);
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~RunStream() {
    if (thread_.joinable()) thread_.join();
  }
  RunStream(const RunStream&) = delete;
  RunStream& operator=(const RunStream&) = delete;

  SteadyTime sent() const { return sent_; }
  // When `tag` arrived; waits up to `timeout`, nullopt when it did not come (the stream ended).
  std::optional<SteadyTime> wait_for(const std::string& tag, Ms timeout) {
    std::unique_lock lk(mu_);
    std::optional<SteadyTime> at;
    cv_.wait_for(lk, timeout, [&] {
      for (const auto& e : events_)
        if (e.tag == tag) at = e.at;
      return at.has_value() || ended_;
    });
    return at;
  }
  bool wait_end(Ms timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return ended_; });
  }
  std::vector<Event> events() {
    std::lock_guard lk(mu_);
    return events_;
  }

 private:
  SteadyTime sent_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  bool ended_ = false;
};

bool has_tag(const std::vector<Event>& evs, const std::string& tag) {
  return std::any_of(evs.begin(), evs.end(), [&](const Event& e) { return e.tag == tag; });
}
std::optional<SteadyTime> tag_at(const std::vector<Event>& evs, const std::string& tag) {
  for (const auto& e : evs)
    if (e.tag == tag) return e.at;
  return std::nullopt;
}

// ---- the journal the dead agent left

struct JournalState {
  int intents = 0;
  int reverted = 0;
  std::vector<json> entries;  // intents (with the latest undo data)
  std::string text;           // the file, for failure messages
};

JournalState read_journal(const std::string& state_dir, const std::string& run) {
  JournalState st;
  st.text = slurp(state_dir + "/journal.jsonl");
  std::map<std::uint64_t, json> intents;
  std::set<std::uint64_t> reverted;
  std::istringstream in(st.text);
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    auto seq = j.value("seq", std::uint64_t{0});
    auto op = j.value("op", std::string());
    if (op == "intend" && (run.empty() || j.value("run", std::string()) == run)) intents[seq] = j;
    else if (op == "applied" && intents.count(seq) && j.contains("undo") && !j["undo"].is_null())
      intents[seq]["undo"] = j["undo"];
    else if (op == "reverted" && intents.count(seq)) reverted.insert(seq);
  }
  st.intents = static_cast<int>(intents.size());
  st.reverted = static_cast<int>(reverted.size());
  for (auto& [seq, j] : intents) st.entries.push_back(j);
  return st;
}

// ---- phases

const std::vector<std::string> kPhases = {"plan", "apply", "hold", "revert", "end"};

std::string landed_phase(const std::vector<Event>& evs, const JournalState& j) {
  if (has_tag(evs, "fault:reverted") || has_tag(evs, "done") || (j.intents > 0 && j.reverted == j.intents &&
                                                                 has_tag(evs, "fault:reverting")))
    return "end";
  if (has_tag(evs, "fault:reverting") || j.reverted > 0) return "revert";
  if (has_tag(evs, "fault:applied")) return "hold";
  if (has_tag(evs, "fault:applying") || j.intents > 0) return "apply";
  return "plan";
}

// How long each phase took in earlier cycles (arrival to arrival of its events), per family:
// the range the jitter is drawn from. Starts from a guess, then follows the machine.
struct PhaseClock {
  double plan_ms = 60, apply_ms = 4, revert_ms = 4;
  static void learn(double& v, std::optional<SteadyTime> a, std::optional<SteadyTime> b) {
    if (!a || !b || *b < *a) return;
    double ms = duration<double, std::milli>(*b - *a).count();
    v = 0.7 * v + 0.3 * std::max(ms, 0.2);
  }
  void learn(const RunStream& rs, const std::vector<Event>& evs) {
    learn(plan_ms, rs.sent(), tag_at(evs, "started"));
    learn(apply_ms, tag_at(evs, "fault:applying"), tag_at(evs, "fault:applied"));
    learn(revert_ms, tag_at(evs, "fault:reverting"), tag_at(evs, "fault:reverted"));
  }
};

// ---- one kill's record

struct KillRecord {
  std::string family, variant, target, phase;
  long long outlived_ms = 0;  // SIGKILL -> the fault's effect gone (no agent running)
  long long restart_ms = 0;   // agent start -> answering (journal replayed)
  int journal_intents = 0, journal_reverted = 0;
  bool clean = true;
};

struct Totals {
  std::vector<KillRecord> kills;
  // Some kill caught the fault in the node (applying, holding or reverting): the run proved more
  // than killing an agent with nothing to undo. A family's kills all missing it would take every
  // one of them drawing "plan" (1 in 4 each), so this never fails by chance.
  bool caught_a_fault() const {
    return std::any_of(kills.begin(), kills.end(), [](const KillRecord& k) {
      return k.phase == "apply" || k.phase == "hold" || k.phase == "revert";
    });
  }
  void print(const std::string& title) const {
    std::map<std::string, int> by_phase;
    std::map<std::string, long long> worst_by_phase;
    long long worst = 0, restart_worst = 0;
    int leftovers = 0;
    std::vector<long long> restarts;
    for (const auto& k : kills) {
      by_phase[k.phase]++;
      worst_by_phase[k.phase] = std::max(worst_by_phase[k.phase], k.outlived_ms);
      worst = std::max(worst, k.outlived_ms);
      restart_worst = std::max(restart_worst, k.restart_ms);
      restarts.push_back(k.restart_ms);
      if (!k.clean) ++leftovers;
    }
    std::sort(restarts.begin(), restarts.end());
    std::printf("[torture] %s: %zu kills, %d with leftovers; by phase:", title.c_str(), kills.size(), leftovers);
    for (const auto& p : kPhases)
      if (by_phase.count(p)) std::printf(" %s %d (outlived max %lld ms)", p.c_str(), by_phase.at(p), worst_by_phase.at(p));
    std::printf("; longest a fault outlived its agent: %lld ms (lease %lld ms); restart (replay) median %lld ms, max %lld ms; seed %llu\n",
                worst, static_cast<long long>(kLease.count()), restarts.empty() ? 0 : restarts[restarts.size() / 2],
                restart_worst, static_cast<unsigned long long>(torture_seed()));
    std::fflush(stdout);
  }
};

// Every kill of every family, summed at the end of the binary (the figure in docs/benchmarks.md).
Totals& all_kills() {
  static Totals t;
  return t;
}

// ---- the harness: one agent killed and restarted over and over on one state dir

class Torturer {
 public:
  Torturer(const std::string& family, std::uint64_t salt) : family_(family), rng_(torture_seed() ^ salt) {
    agent_ = std::make_unique<AgentProcess>(dir_, config("auto"));
    agent_->print_on_failure(2);  // the killed one and its successor, not a hundred logs
  }
  ~Torturer() {
    agent_.reset();  // SIGTERM: reverts whatever the last cycle left (nothing, if the test passed)
  }

  std::mt19937_64& rng() { return rng_; }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  AgentProcess& agent() { return *agent_; }
  const TempDir& dir() const { return dir_; }
  Totals& totals() { return totals_; }

  static std::string config(const std::string& attach) {
    return "lease: " + std::to_string(kLease.count()) + "ms\nnetwork:\n  attach: " + attach + "\n";
  }
  // The next start of the agent reads this config (the attach mode of the next cycle).
  void set_attach(const std::string& attach) { dir_.write("agent.yaml", config(attach)); }

  bool start() {
    auto t0 = steady_clock::now();
    bool ok = agent_->start();
    last_restart_ms_ = ms_between(t0, steady_clock::now());
    return ok;
  }

  struct Killed {
    std::string target, phase;
    std::set<std::uint32_t> progs;  // chaos_cls programs the agent held when it died
    std::vector<Event> events;
    JournalState journal;
    SteadyTime at;
    std::string run;
  };

  // Runs `yaml` and kills the agent at a moment drawn in a random target phase.
  Killed run_and_kill(const std::string& name, const std::string& yaml, Ms hold) {
    static const std::vector<std::string> targets = {"plan", "apply", "hold", "revert"};
    Killed k;
    k.target = targets[static_cast<std::size_t>(pick(4))];
    // One draw per cycle whatever happens, so that a seed replays the same sequence of draws.
    const double u = uniform(0, 1);
    const std::string file = dir_.write(name + ".yaml", yaml);
    RunStream rs(agent_->socket(), file, yaml);
    const Ms wait_limit{20000};
    auto jitter = [&](double max_ms) {
      return duration_cast<steady_clock::duration>(duration<double, std::milli>(u * std::max(max_ms, 0.1)));
    };
    SteadyTime when = rs.sent() + jitter(clock_.plan_ms * 1.5);
    if (k.target == "apply") {
      if (auto t = rs.wait_for("fault:applying", wait_limit)) when = *t + jitter(clock_.apply_ms * 1.5);
    } else if (k.target == "hold") {
      if (auto t = rs.wait_for("fault:applied", wait_limit)) when = *t + jitter(static_cast<double>(hold.count()) * 0.9);
    } else if (k.target == "revert") {
      if (auto t = rs.wait_for("fault:reverting", wait_limit)) when = *t + jitter(clock_.revert_ms * 1.5);
    }
    std::this_thread::sleep_until(when);
    freeze_and_kill(k);
    // The socket closed with the agent: every event it had sent is in.
    EXPECT_TRUE(rs.wait_end(Ms(10000))) << "the run's stream did not end after the agent died";
    k.events = rs.events();
    for (const auto& e : k.events)
      if (e.tag == "planned") k.run = e.body.value("run", std::string());
    clock_.learn(rs, k.events);
    k.journal = read_journal(agent_->state_dir(), k.run);
    if (k.run.empty()) k.journal = read_journal(agent_->state_dir(), "");  // nothing planned: nothing of a run's
    k.phase = landed_phase(k.events, k.journal);
    return k;
  }

  // Restarts and checks what every family checks; the family checks its own part before/after.
  // Returns false when something was left (the failure is recorded).
  bool restart_and_check(const Killed& k, const std::vector<std::string>& spaces, const NodeSnapshot& baseline,
                         const std::string& where) {
    SCOPED_TRACE(where);
    bool ok = true;
    if (!start()) return false;
    std::string log = last_log();
    if (log.find("could not revert") != std::string::npos || log.find("refusing") != std::string::npos) {
      ADD_FAILURE() << "the restarted agent's replay failed:\n" << log;
      ok = false;
    }
    auto left = journal_outstanding(agent_->state_dir());
    if (!left.empty()) {
      ADD_FAILURE() << "journal entries outstanding after the replay: " << json(left).dump();
      ok = false;
    }
    auto now = snapshot_netns(spaces);
    if (now.lines != baseline.lines) {
      ADD_FAILURE() << "the lab's namespaces differ from before the first kill.\nbefore:\n"
                    << baseline.str() << "now:\n" << now.str();
      ok = false;
    }
    // Programs are freed once their last reference goes (RCU): a moment, then none may be left.
    bool gone = wait_until(
        [&] {
          for (auto id : k.progs)
            if (prog_loaded(id)) return false;
          return true;
        },
        Ms(5000));
    if (!gone) {
      std::string ids;
      for (auto id : k.progs)
        if (prog_loaded(id)) ids += std::to_string(id) + " ";
      std::string links;
      for (const auto& l : chaos_tcx_links(0))
        if (k.progs.count(l.prog_id)) links += std::to_string(l.id) + " ";
      ADD_FAILURE() << "programs of the dead agent still loaded: " << ids << "(tcx links running them: "
                    << (links.empty() ? "none" : links) << ")";
      ok = false;
    }
    auto loaded = chaos_prog_ids();
    for (auto id : prog_ids_held_by(agent_->pid()))
      if (loaded.count(id)) {
        ADD_FAILURE() << "the restarted agent holds chaos_cls program " << id << " with no run";
        ok = false;
      }
    return ok;
  }

  void record(const Killed& k, const std::string& variant, long long outlived_ms, bool clean) {
    KillRecord r{family_, variant, k.target, k.phase, outlived_ms, last_restart_ms_, k.journal.intents,
                 k.journal.reverted, clean};
    totals_.kills.push_back(r);
    all_kills().kills.push_back(r);
    std::printf("[torture] %s #%zu %s: aimed at %s, landed in %s (journal %d intended, %d reverted): outlived %lld ms, "
                "restart %lld ms%s\n",
                family_.c_str(), totals_.kills.size(), variant.c_str(), k.target.c_str(), k.phase.c_str(),
                k.journal.intents, k.journal.reverted, outlived_ms, last_restart_ms_, clean ? "" : ", LEFTOVERS");
    std::fflush(stdout);
  }

  std::string describe(const Killed& k, int i, const std::string& variant) const {
    std::string evs;
    for (const auto& e : k.events) evs += e.tag + " ";
    return family_ + " kill #" + std::to_string(i) + " (" + variant + ", aimed at " + k.target + ", landed in " +
           k.phase + ", seed " + std::to_string(torture_seed()) + "); events before the kill: " + evs +
           "\njournal at the kill:\n" + k.journal.text;
  }

  // The log of the agent process running now.
  std::string last_log() const { return agent_->log_tail(1); }

 private:
  void freeze_and_kill(Killed& k) {
    const pid_t pid = agent_->pid();
    agent_->signal(SIGSTOP);
    // Group stop: every thread is off the CPU before the fds are read.
    wait_until(
        [&] {
          std::string st = slurp("/proc/" + std::to_string(pid) + "/stat");
          auto close = st.rfind(')');
          return close == std::string::npos || close + 2 >= st.size() || st[close + 2] == 'T' || st[close + 2] == 't';
        },
        Ms(2000));
    auto loaded = chaos_prog_ids();
    for (auto id : prog_ids_held_by(pid))
      if (loaded.count(id)) k.progs.insert(id);
    agent_->signal(SIGKILL);
    k.at = steady_clock::now();
    agent_->signal(SIGCONT);
    auto code = agent_->wait_exit(Ms(10000));
    EXPECT_EQ(code, std::optional<int>(128 + SIGKILL)) << "the agent did not die of SIGKILL";
  }

  std::string family_;
  std::mt19937_64 rng_;
  TempDir dir_{"chaos-torture"};
  std::unique_ptr<AgentProcess> agent_;
  PhaseClock clock_;
  Totals totals_;
  long long last_restart_ms_ = 0;
};

void print_banner(const std::string& what, int kills) {
  std::printf("[torture] %s: %d kills, seed %llu (CHAOS_TORTURE_SEED=%llu to replay the draws)\n", what.c_str(), kills,
              static_cast<unsigned long long>(torture_seed()), static_cast<unsigned long long>(torture_seed()));
  std::fflush(stdout);
}

bool skip_reason(std::string& why) {
  if (::geteuid() != 0) why = "needs root: namespaces, BPF, tc, cgroups";
  else if (!fs::exists(agent_binary()) || !fs::exists(chaosctl_binary())) why = "build chaos-agent and chaosctl first";
  return !why.empty();
}

// ---- partitions

TEST(KillTorture, PartitionsTcxAndClassicEgressAndBoth) {
  std::string why;
  if (skip_reason(why)) GTEST_SKIP() << why;
  const bool tcx = kernel::tcx_supported();
  const int kills = scaled(52);
  print_banner(std::string("partitions (") + (tcx ? "tcx and classic" : "classic only: no tcx here") + ")", kills);
  TestLab lab("k");
  ASSERT_TRUE(lab.up());
  const std::string client = lab.netns_path("client"), server_ip = lab.address("server");
  const std::vector<std::string> spaces = {client, lab.netns_path("server"), lab.netns_path("switch")};
  const NodeSnapshot baseline = snapshot_netns(spaces);
  ASSERT_TRUE(http_get(client, server_ip, kLabResponderPort, Ms(2000)).ok) << "the lab serves HTTP before any fault";

  Torturer t("partition", 0x9a27);
  // The attach mode is agent config: each cycle's is written before the (re)start that runs it.
  std::vector<std::string> modes;
  for (int i = 0; i < kills; ++i) modes.push_back(tcx && t.pick(2) == 0 ? "tcx" : "classic");
  t.set_attach(modes[0]);
  ASSERT_TRUE(t.start());
  const Ms hold{600};
  for (int i = 0; i < kills && !::testing::Test::HasFatalFailure(); ++i) {
    static const char* dirs[] = {"egress", "ingress", "both"};
    const std::string direction = dirs[t.pick(3)];
    // One cycle in four, a second run on the same interface (ingress, another port) that applies
    // 200 ms after this one and holds for long: the two share the clsact (classic), the first
    // run's revert hands it over, the kill catches both.
    const bool beside = t.pick(4) == 0;
    const std::string variant = modes[static_cast<std::size_t>(i)] + " " + direction + (beside ? " beside a second run" : "");
    auto with = [](std::string y, const std::string& from, const std::string& to) {
      y.replace(y.find(from), from.size(), to);
      return y;
    };
    std::string y = with(lab_partition_yaml(lab, "p" + std::to_string(i), "1500ms", "100ms",
                                            std::to_string(hold.count()) + "ms", false),
                         "direction: egress", "direction: " + direction);
    std::unique_ptr<RunStream> side;
    if (beside) {
      std::string sy = with(with(lab_partition_yaml(lab, "s" + std::to_string(i), "30s", "300ms", "20s", false),
                                 "direction: egress", "direction: ingress"),
                            "ports: [" + std::to_string(kLabResponderPort) + "]", "ports: [8081]");
      side = std::make_unique<RunStream>(t.agent().socket(), t.dir().write("s" + std::to_string(i) + ".yaml", sy), sy);
    }
    auto k = t.run_and_kill("p" + std::to_string(i), y, hold);
    side.reset();  // its stream ended with the agent
    // No agent now: how long does the partition last by itself?
    auto back = measure_recovery(client, server_ip, kLabResponderPort, k.at, kLease + Ms(5000), Ms(20), Ms(100));
    const std::string where = t.describe(k, i, variant);
    EXPECT_TRUE(back) << "traffic did not come back within the lease + 5 s after the kill: " << where;
    if (i + 1 < kills) t.set_attach(modes[static_cast<std::size_t>(i) + 1]);
    bool clean = t.restart_and_check(k, spaces, baseline, where);
    if (clean && !http_get(client, server_ip, kLabResponderPort, Ms(2000)).ok) {
      ADD_FAILURE() << "no HTTP through the lab after the replay: " << where;
      clean = false;
    }
    t.record(k, variant, back ? back->count() : -1, clean && back.has_value());
    if (!clean) break;  // the node is no longer as before: later kills would only repeat this
  }
  t.totals().print("partitions");
  EXPECT_TRUE(t.totals().caught_a_fault()) << "no kill landed while the fault was in the node";
}

// ---- memory

// A process that joins `dir`, touches `bytes`, says so, then waits (killed with the test).
pid_t start_workload(const std::string& dir, std::uint64_t bytes) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NAME, "chaos-workload", 0, 0, 0);
    if (!cgroup::write_file(dir + "/cgroup.procs", std::to_string(::getpid()))) ::_exit(2);
    auto* mem = static_cast<volatile char*>(::malloc(bytes));
    for (std::uint64_t i = 0; i < bytes; i += 4096) mem[i] = 1;
    char ok = 1;
    (void)!::write(p[1], &ok, 1);
    for (;;) ::pause();
  }
  ::close(p[1]);
  char ok = 0;
  ssize_t n = ::read(p[0], &ok, 1);
  ::close(p[0]);
  return n == 1 ? pid : -1;
}

// The test cgroup, emptied and removed on the way out (also after a failure).
struct TortureCgroup {
  std::optional<cgroup::MemoryCgroup> cg;
  pid_t workload = -1;
  ~TortureCgroup() {
    if (!cg) return;
    for (int i = 0; i < 500; ++i) {
      auto procs = cg->procs(true);
      if (!procs || procs->empty()) break;
      for (pid_t p : *procs) ::kill(p, SIGKILL);
      std::this_thread::sleep_for(Ms(10));
    }
    if (workload > 0) ::waitpid(workload, nullptr, 0);
    bool removed = false;
    for (int i = 0; i < 250 && !removed; ++i) {
      removed = static_cast<bool>(cg->remove());
      if (!removed) std::this_thread::sleep_for(Ms(20));
    }
    EXPECT_TRUE(removed) << "test cgroup " << cg->dir() << " left behind";
  }
  std::set<pid_t> procs() const {
    auto p = cg->procs(true);
    return p ? std::set<pid_t>(p->begin(), p->end()) : std::set<pid_t>{-1};
  }
};

TEST(KillTorture, MemoryHogInATargetCgroup) {
  std::string why;
  if (skip_reason(why)) GTEST_SKIP() << why;
  auto h = cgroup::find_hierarchy("memory");
  if (!h) GTEST_SKIP() << "no memory controller mounted: " << h.error().text();
  if (h->version == cgroup::Version::v2) {
    auto sc = cgroup::read_file(h->mount + "/cgroup.subtree_control");
    if (sc && sc->find("memory") == std::string::npos)
      if (auto r = cgroup::write_file(h->mount + "/cgroup.subtree_control", "+memory"); !r)
        GTEST_SKIP() << "cannot enable the v2 memory controller: " << r.error().text();
  }
  const int kills = scaled(26);
  print_banner("memory hog", kills);
  const std::string name = "chaos-torture-" + std::to_string(::getpid());
  TortureCgroup tc;
  {
    auto cg = cgroup::MemoryCgroup::create(*h, name);
    ASSERT_TRUE(cg) << cg.error().text();
    tc.cg = *cg;
  }
  ASSERT_TRUE(tc.cg->set_memory_limit(256 * MiB));
  tc.workload = start_workload(tc.cg->dir(), 8 * MiB);
  ASSERT_GT(tc.workload, 0);
  const std::set<pid_t> only_workload{tc.workload};
  ASSERT_EQ(tc.procs(), only_workload);

  Torturer t("memory", 0x3e11);
  ASSERT_TRUE(t.start());
  const Ms hold{600};
  for (int i = 0; i < kills && !::testing::Test::HasFatalFailure(); ++i) {
    const std::string size = std::to_string(16 * (1 + t.pick(4))) + "MiB";
    const std::string y = "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: m" + std::to_string(i) +
                          "}\nspec:\n  duration: 1500ms\n  faults:\n    - name: hog\n      start: 100ms\n"
                          "      duration: " + std::to_string(hold.count()) + "ms\n      memory:\n"
                          "        target: {cgroup: /" + name + "}\n        size: " + size +
                          "\n        mode: pressure\n        victim: hog\n";
    auto k = t.run_and_kill("m" + std::to_string(i), y, hold);
    // No agent now: the hog (PDEATHSIG) must leave the cgroup by itself.
    std::set<pid_t> now;
    bool gone = wait_until([&] { return (now = tc.procs()) == only_workload; }, kLease + Ms(5000));
    long long outlived = ms_between(k.at, steady_clock::now());
    const std::string where = t.describe(k, i, "pressure " + size);
    std::string left;
    for (pid_t p : now) left += std::to_string(p) + " ";
    EXPECT_TRUE(gone) << "processes other than the workload still in " << tc.cg->dir() << ": " << left << "\n" << where;
    bool clean = t.restart_and_check(k, {}, NodeSnapshot{}, where);
    if (tc.procs() != only_workload) {
      ADD_FAILURE() << "the target cgroup holds more than the workload after the replay: " << where;
      clean = false;
    }
    if (::kill(tc.workload, 0) != 0) {
      ADD_FAILURE() << "the workload died: " << where;
      clean = false;
    }
    t.record(k, "pressure " + size, gone ? outlived : -1, clean && gone);
    if (!clean || !gone) break;
  }
  t.totals().print("memory");
  EXPECT_TRUE(t.totals().caught_a_fault()) << "no kill landed while the fault was in the node";
}

// ---- etcd

struct EtcdView {
  std::map<int, etcd::EtcdStatus> status;  // member 1..3 that answered
  bool healthy() const {
    if (status.size() != 3) return false;
    std::uint64_t l = status.begin()->second.leader;
    if (l == 0) return false;
    for (const auto& [k, s] : status)
      if (s.leader != l) return false;
    return true;
  }
  std::string str() const {
    std::string out;
    for (const auto& [k, s] : status)
      out += "etcd" + std::to_string(k) + ": leader " + etcd::member_id_hex(s.leader) + " term " +
             std::to_string(s.raft_term) + "; ";
    return out + "(" + std::to_string(status.size()) + "/3 answering)";
  }
};

class TortureEtcdLab {
 public:
  TortureEtcdLab() : name_("q" + std::to_string(::getpid())) {}
  ~TortureEtcdLab() {
    if (auto r = lab_down(name_); !r) std::fprintf(stderr, "lab down %s: %s\n", name_.c_str(), r.error().text().c_str());
  }
  const std::string& name() const { return name_; }
  std::string netns(const std::string& host) const { return std::string(kNetnsRunDir) + "/" + name_ + "-" + host; }
  static std::string ip(int k) { return "198.18.0." + std::to_string(30 + k); }
  EtcdView view() const {
    EtcdView v;
    for (int k = 1; k <= 3; ++k) {
      auto u = *etcd::parse_etcd_url("http://" + ip(k) + ":2379");
      in_netns(netns("etcd" + std::to_string(k)), [&] {
        if (auto s = etcd::status(u, Ms(500))) v.status[k] = *s;
      });
    }
    return v;
  }
  std::vector<std::string> spaces() const {
    std::vector<std::string> out;
    if (auto names = list_named_netns())
      for (const auto& n : *names)
        if (n.rfind(name_ + "-", 0) == 0) out.push_back(std::string(kNetnsRunDir) + "/" + n);
    return out;
  }

 private:
  std::string name_;
};

TEST(KillTorture, EtcdMemberIsolation) {
  std::string why;
  if (skip_reason(why)) GTEST_SKIP() << why;
  if (::access(kEtcdBinary, X_OK) != 0) GTEST_SKIP() << kEtcdBinary << " missing: run scripts/install-deps.sh (etcd-server)";
  const bool tcx = kernel::tcx_supported();
  const int kills = scaled(24);
  print_banner("etcd member isolation", kills);
  TortureEtcdLab lab;
  TempDir labdir("chaos-torture-etcd");
  auto up = chaosctl(labdir, {"lab", "up", "--name", lab.name(), "--etcd", "3"}, Ms(90000));
  ASSERT_EQ(up.code, 0) << "chaosctl lab up --etcd 3: " << up.str();
  EtcdView v;
  ASSERT_TRUE(wait_until([&] { return (v = lab.view()).healthy(); }, Ms(30000))) << v.str();
  const auto spaces = lab.spaces();
  ASSERT_GE(spaces.size(), 4u) << "the etcd lab's namespaces";
  const NodeSnapshot baseline = snapshot_netns(spaces);

  Torturer t("etcd", 0x7cd3);
  std::vector<std::string> modes;
  for (int i = 0; i < kills; ++i) modes.push_back(tcx && t.pick(2) == 0 ? "tcx" : "classic");
  t.set_attach(modes[0]);
  ASSERT_TRUE(t.start());
  const Ms hold{800};
  std::string endpoints;
  for (int k = 1; k <= 3; ++k)
    endpoints += "          - {url: \"http://" + TortureEtcdLab::ip(k) + ":2379\", lab: " + lab.name() + "/etcd" +
                 std::to_string(k) + "}\n";
  for (int i = 0; i < kills && !::testing::Test::HasFatalFailure(); ++i) {
    const std::string member = t.pick(4) == 0 ? "leader" : "follower";
    const std::string variant = modes[static_cast<std::size_t>(i)] + " " + member;
    const std::string y = "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: e" + std::to_string(i) +
                          "}\nspec:\n  duration: 2s\n  faults:\n    - name: isolate\n      start: 100ms\n"
                          "      duration: " + std::to_string(hold.count()) + "ms\n      etcd:\n"
                          "        action: isolate-member\n        member: " + member + "\n        endpoints:\n" +
                          endpoints;
    auto k = t.run_and_kill("e" + std::to_string(i), y, hold);
    // Which member was cut (the journal names its namespace), and when its peer port answers
    // again from another member, with no agent running.
    int cut = 0;
    for (const auto& e : k.journal.entries) {
      std::string ns = e.value("undo", json::object()).value("netns", std::string());
      for (int m = 1; m <= 3; ++m)
        if (ns == lab.netns("etcd" + std::to_string(m))) cut = m;
    }
    std::optional<long long> outlived;
    if (cut == 0) {
      outlived = ms_between(k.at, steady_clock::now());  // nothing was attached
    } else {
      const int from = cut % 3 + 1;
      bool back = wait_until(
          [&] {
            bool ok = false;
            in_netns(lab.netns("etcd" + std::to_string(from)), [&] {
              ok = static_cast<bool>(tcp_connect(TortureEtcdLab::ip(cut), 2380, steady_clock::now() + Ms(100)));
            });
            return ok;
          },
          kLease + Ms(5000));
      if (back) outlived = ms_between(k.at, steady_clock::now());
    }
    const std::string where = t.describe(k, i, variant);
    EXPECT_TRUE(outlived) << "etcd" << cut << "'s peer port did not answer within the lease + 5 s after the kill: "
                          << where;
    if (i + 1 < kills) t.set_attach(modes[static_cast<std::size_t>(i) + 1]);
    bool clean = t.restart_and_check(k, spaces, baseline, where);
    // The next cycle needs a cluster that agrees on a leader (an isolated leader was replaced).
    if (!wait_until([&] { return (v = lab.view()).healthy(); }, Ms(30000))) {
      ADD_FAILURE() << "the cluster did not become healthy again: " << v.str() << "\n" << where;
      clean = false;
    }
    t.record(k, variant, outlived.value_or(-1), clean && outlived.has_value());
    if (!clean || !outlived) break;
  }
  t.totals().print("etcd");
  EXPECT_TRUE(t.totals().caught_a_fault()) << "no kill landed while the fault was in the node";
}

// ---- netem (the vm tier: the host kernel has no sch_netem)

// Delay on the lab client's TCP 8080 (egress, ingress through the agent's ifb, or both), half of
// the kills with a foreign root qdisc (a tbf) the agent moves under its htb and must put back.
TEST(KillTorture, NetemDelayInTheVmGuest) {
  std::string why;
  if (skip_reason(why)) GTEST_SKIP() << why;
  if (auto p = network::probe_netem_support(); !p)
    GTEST_SKIP() << p.error().text() << ": the vm tier runs this one (ctest -L vm -R netem-torture)";
  const bool tcx = kernel::tcx_supported();
  const int kills = scaled(24);
  print_banner(std::string("netem delay (") + (tcx ? "tcx and classic" : "classic: no tcx here") + ")", kills);
  TestLab lab("n");
  ASSERT_TRUE(lab.up());
  const std::string client = lab.netns_path("client"), server_ip = lab.address("server");
  const std::vector<std::string> spaces = {client, lab.netns_path("server"), lab.netns_path("switch")};
  NodeSnapshot baseline = snapshot_netns(spaces);
  ASSERT_TRUE(http_get(client, server_ip, kLabResponderPort, Ms(3000)).ok) << "the lab serves HTTP before any fault";
  // Fast: what an undelayed request takes here, with room for an emulated CPU's hiccups. The
  // fault adds 300 ms each way it covers.
  const Ms fast{150};

  Torturer t("netem", 0x4e7e);
  std::vector<std::string> modes;
  for (int i = 0; i < kills; ++i) modes.push_back(tcx && t.pick(2) == 0 ? "tcx" : "classic");
  t.set_attach(modes[0]);
  ASSERT_TRUE(t.start());
  const Ms hold{800};
  bool foreign_root = false;
  for (int i = 0; i < kills && !::testing::Test::HasFatalFailure(); ++i) {
    if (!foreign_root && i >= kills / 2) {
      const std::string add = "tc -n " + lab_netns_name(lab.name(), "client") +
                              " qdisc add dev eth0 root handle 1: tbf rate 2gbit burst 256kb latency 50ms";
      ASSERT_EQ(std::system((add + " >/dev/null 2>&1").c_str()), 0) << add;
      baseline = snapshot_netns(spaces);
      foreign_root = true;
    }
    static const char* dirs[] = {"egress", "ingress", "both"};
    const std::string direction = dirs[t.pick(3)];
    const std::string variant =
        modes[static_cast<std::size_t>(i)] + " " + direction + (foreign_root ? " over a tbf root" : "");
    const std::string y = "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: d" + std::to_string(i) +
                          "}\nspec:\n  duration: 2s\n  faults:\n    - name: delay\n      start: 100ms\n"
                          "      duration: " + std::to_string(hold.count()) + "ms\n      network:\n"
                          "        action: delay\n        lab: " + lab.target("client") + "\n        direction: " +
                          direction + "\n        match: {protocol: tcp, ports: [" + std::to_string(kLabResponderPort) +
                          "]}\n        delay: {latency: 300ms}\n";
    auto k = t.run_and_kill("d" + std::to_string(i), y, hold);
    // No agent now: until when are requests delayed?
    std::optional<long long> outlived;
    wait_until(
        [&] {
          auto s = http_get(client, server_ip, kLabResponderPort, Ms(3000));
          if (s.ok && s.latency < fast) outlived = ms_between(k.at, steady_clock::now());
          return outlived.has_value();
        },
        kLease + Ms(8000));
    const std::string where = t.describe(k, i, variant);
    EXPECT_TRUE(outlived) << "requests still delayed (or failing) the lease + 8 s after the kill: " << where;
    if (i + 1 < kills) t.set_attach(modes[static_cast<std::size_t>(i) + 1]);
    bool clean = t.restart_and_check(k, spaces, baseline, where);
    if (clean && !http_get(client, server_ip, kLabResponderPort, Ms(3000)).ok) {
      ADD_FAILURE() << "no HTTP through the lab after the replay: " << where;
      clean = false;
    }
    t.record(k, variant, outlived.value_or(-1), clean && outlived.has_value());
    if (!clean || !outlived) break;
  }
  t.totals().print("netem");
  EXPECT_TRUE(t.totals().caught_a_fault()) << "no kill landed while the fault was in the node";
}

// The figure for docs/benchmarks.md: every kill of this binary's run, all families together.
class TortureSummary : public ::testing::Environment {
 public:
  void TearDown() override {
    if (all_kills().kills.empty()) return;
    all_kills().print("all families");
  }
};
const auto* const kSummary = ::testing::AddGlobalTestEnvironment(new TortureSummary);

}  // namespace
}  // namespace chaos::itest
