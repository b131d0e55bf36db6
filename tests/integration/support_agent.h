// Helpers for integration tests that drive the real binaries (build/bin/chaos-agent, chaosctl)
// against a real lab: RAII owners for the lab, the agent process, child commands and side
// listeners, traffic checks from inside a lab namespace, and read-only inspection of the kernel
// objects the agent makes (chaos_cls programs, tcx links, clsact filters and qdiscs).
//
// Everything here cleans up in its destructor, also when a test fails half-way.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/units.h"
#include "lab/lab.h"
#include "kernel/tc_attach.h"
#include "observe/probe.h"

namespace chaos::itest {

// A whole file's text; "" when it cannot be read.
std::string slurp(const std::string& path);

using Ms = std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

// Paths of the binaries under test (CHAOS_BINARY_DIR/bin/...; $CHAOS_AGENT_BINARY and
// $CHAOS_CHAOSCTL_BINARY instead when set, e.g. inside the vm tier's guest).
std::string agent_binary();
std::string chaosctl_binary();

// Runs fn on a fresh thread that has entered the namespace at `netns_path`; joins it. The
// calling thread never changes namespace. Returns false (and records a test failure) when the
// namespace cannot be entered.
bool in_netns(const std::string& netns_path, const std::function<void()>& fn);

// mkdtemp under /tmp; removed (recursively) by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "chaos-itest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `text` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

// A lab named "t<pid>" (plus a suffix when given), brought up by lab_up() and removed by
// lab_down() in the destructor.
class TestLab {
 public:
  explicit TestLab(const std::string& suffix = "");
  ~TestLab();
  TestLab(const TestLab&) = delete;
  TestLab& operator=(const TestLab&) = delete;

  bool up();  // records a failure with the reason when it cannot
  const std::string& name() const { return name_; }
  const LabInfo& info() const { return info_; }
  std::string netns_path(const std::string& host) const;  // /run/netns/<lab>-<host>
  std::string target(const std::string& host) const { return name_ + "/" + host; }  // `lab:` value
  std::string address(const std::string& host) const;      // its IPv4 address, no prefix
  int ifindex(const std::string& host) const;               // eth0 inside the host's namespace

 private:
  std::string name_;
  LabInfo info_;
};

// The experiment most integration tests run: fault "cut" partitions the lab client's egress TCP
// to the server's HTTP port from `start` for `fault_duration`; with `probe`, the steady-state
// probe "client-to-server" (HTTP every 100ms, timeout 300ms, checked before and after, no errors
// allowed) is appended last, so a test can append probe fields after it.
std::string lab_partition_yaml(const TestLab& lab, const std::string& name, const std::string& duration,
                               const std::string& start, const std::string& fault_duration, bool probe);

// A child process whose stdout and stderr go to files; killed (SIGKILL) and reaped by the
// destructor when still running.
class Child {
 public:
  Child() = default;
  ~Child();
  Child(Child&& o) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;

  // fork/exec argv[0] (a path). stdout -> out_path, stderr -> err_path (may be the same file).
  static std::optional<Child> spawn(const std::vector<std::string>& argv, const std::string& out_path,
                                    const std::string& err_path);
  pid_t pid() const { return pid_; }
  bool running();
  // Waits up to `timeout`; the exit code (128+signal when killed), nullopt on timeout.
  std::optional<int> wait(Ms timeout);
  void signal(int sig);
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_, err_path_;
};

struct CmdResult {
  int code = -1;  // exit code; -1: did not finish in time (killed)
  std::string out, err;
  std::string str() const;  // for failure messages
};

// Runs chaosctl with these arguments (no --socket added) and waits for it.
CmdResult chaosctl(const TempDir& dir, const std::vector<std::string>& args, Ms timeout = Ms(30000));
// Starts chaosctl in the background; wait with Child::wait and read Child::out/err.
std::optional<Child> chaosctl_async(const TempDir& dir, const std::vector<std::string>& args);

// build/bin/chaos-agent with its own socket, state dir and config file inside `dir`.
class AgentProcess {
 public:
  AgentProcess(const TempDir& dir, const std::string& config_yaml);
  ~AgentProcess();  // SIGCONT + SIGTERM, then SIGKILL after a grace period; prints the log on failure
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // Starts a new agent process on the same socket, state dir and config (after a kill, this is
  // the restart), and waits until it answers on its socket. Records a failure when it does not.
  bool start();
  bool running();
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  void signal(int sig);
  std::optional<int> wait_exit(Ms timeout);
  // Every log line of every process started so far.
  std::string log() const;
  // The logs of the last `n` processes only (a test that restarts the agent a hundred times).
  std::string log_tail(std::size_t n) const;
  // On failure the destructor prints log_tail(n) instead of log() (0: everything).
  void print_on_failure(std::size_t n) { failure_log_processes_ = n; }

  const std::string& socket() const { return socket_; }
  const std::string& state_dir() const { return state_dir_; }
  // chaosctl --socket S ARGS...
  std::vector<std::string> args(std::vector<std::string> rest) const;

 private:
  const TempDir& dir_;
  std::string socket_, state_dir_, config_path_;
  std::optional<Child> child_;
  std::vector<std::string> logs_;
  std::size_t failure_log_processes_ = 0;
};

// The journal as an agent left it on disk: entries intended and not reverted.
std::vector<nlohmann::json> journal_outstanding(const std::string& state_dir);

// ---- traffic, from inside a lab namespace ----

// One HTTP GET over a fresh connection from `netns_path` (http_request_once in a NetnsGuard on
// a dedicated thread).
ProbeSample http_get(const std::string& netns_path, const std::string& ip, std::uint16_t port, Ms timeout);
// One ICMP echo (raw socket) from `netns_path` to ip; true when the reply came within timeout.
bool ping(const std::string& netns_path, const std::string& ip, Ms timeout);

// Polls HTTP every `every` until a request succeeds; returns the time from `since` to the end of
// that request, or nullopt when none succeeded by `limit` after since.
std::optional<Ms> measure_recovery(const std::string& netns_path, const std::string& ip, std::uint16_t port,
                                   SteadyTime since, Ms limit, Ms every = Ms(50), Ms timeout = Ms(100));

// An HTTP responder on another port inside a namespace (a second listener the partition does
// not match), served from its own thread until destruction.
class SideListener {
 public:
  SideListener(const std::string& netns_path, std::uint16_t port);
  ~SideListener();
  SideListener(const SideListener&) = delete;
  SideListener& operator=(const SideListener&) = delete;
  bool ready() const { return ready_; }

 private:
  std::thread thread_;
  int stop_fd_ = -1;
  bool ready_ = false;
};

// ---- kernel state (read-only) ----

// Ids of every loaded BPF program named chaos_cls.
std::set<std::uint32_t> chaos_prog_ids();
// Is a program with this id still loaded?
bool prog_loaded(std::uint32_t id);
// Ids of BPF programs a process holds through its fds (bpf-prog and bpf-link fds).
std::set<std::uint32_t> prog_ids_held_by(pid_t pid);

struct TcxLink {
  std::uint32_t id = 0;
  std::uint32_t prog_id = 0;
  std::uint32_t ifindex = 0;
  std::uint32_t attach_type = 0;
};
// tcx links whose program is named chaos_cls and whose ifindex is `ifindex` (ifindexes are per
// namespace, so pass prog ids to narrow down when that matters).
std::vector<TcxLink> chaos_tcx_links(int ifindex);

// Filters on both clsact hooks of ifindex in the namespace that are ours: kind bpf, named
// chaos_cls or at our priority.
std::vector<kernel::TcFilterInfo> chaos_filters(const std::string& netns_path, int ifindex);
// The qdisc kind in the clsact slot ("" when none).
std::string clsact_kind(const std::string& netns_path, int ifindex);

// What a fault could have added in some namespaces: per namespace given, every interface's
// clsact slot and filters (through the agent's own netlink code) and `tc qdisc show` (iproute2,
// as a cross-check). Sorted lines, comparable before/after. Programs and tcx links are global
// (other tests on this machine make them too), so they are checked by attribution instead:
// prog_ids_held_by(agent), prog_loaded(id seen during the fault).
struct NodeSnapshot {
  std::vector<std::string> lines;
  std::string str() const;
};
NodeSnapshot snapshot_netns(const std::vector<std::string>& netns_paths);

// A loopback TCP socket bound to an ephemeral port, kept open (listening when asked) until
// close(): the port is in use while it lives; close() hands a free port to another process.
struct LoopbackPort {
  int fd = -1;
  int port = 0;  // 0 when no port could be bound
  explicit LoopbackPort(bool listen);
  ~LoopbackPort() { close(); }
  LoopbackPort(const LoopbackPort&) = delete;
  LoopbackPort& operator=(const LoopbackPort&) = delete;
  void close();
};

// Polls pred every 10ms until it holds or the timeout passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, Ms timeout);

// Milliseconds between two instants.
long long ms_between(SteadyTime a, SteadyTime b);

}  // namespace chaos::itest
