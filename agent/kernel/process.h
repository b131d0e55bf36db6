// Processes as the kernel shows them, and the one way this code starts one:
//
//   /proc/PID/stat  parse_proc_stat(): the one parser (comm may hold spaces and parentheses)
//   identity        ProcessIdentity, pid + start time: a pid alone can be reused, the pair cannot;
//                   process_alive(), kill_if_same() (one pidfd: never a stranger), wait_gone()
//   starting        fork_child_reset(): what every forked child drops of its parent (signal
//                   handlers, the signal mask, every fd but one); on top of it
//                     - Worker (kernel/worker.h): a child that never outlives the agent;
//                     - spawn_daemon(): a process that outlives its caller on purpose (the lab's
//                       HTTP responder and etcd members);
//                     - run_capture(): a short command whose stdout is wanted (etcd --version).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos {

// ---- /proc/PID/stat

// The fields of /proc/PID/stat that this code reads.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;  // between the first '(' and the last ')': spaces and ')' included
  char state = '?';  // field 3: R, S, D, Z, T, t, X, I, ...
  pid_t ppid = 0;    // field 4
  std::uint64_t start_time = 0;  // field 22: clock ticks after boot
};

// Parses the text of /proc/PID/stat ("pid (comm) state ppid ... starttime ..."). EINVAL when it
// is not one.
Result<ProcStat> parse_proc_stat(std::string_view text);
// Reads and parses /proc/PID/stat. ENOENT when the process is gone.
Result<ProcStat> read_proc_stat(pid_t pid);
// Field 22 of /proc/PID/stat. ENOENT when the process is gone.
Result<std::uint64_t> proc_start_time(pid_t pid);
// /proc/PID/comm without the newline.
Result<std::string> process_comm(pid_t pid);

// ---- identity

// A process as the journal (and a lab's state) remembers it.
struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // clock ticks after boot, /proc/PID/stat field 22

  nlohmann::json to_json() const;
  // {"pid":N,"start_time":T}; an error when either is missing or not a number.
  static Result<ProcessIdentity> from_json(const nlohmann::json& j);
};

// pidfd_open(2) and pidfd_send_signal(2) (glibc 2.36's <sys/pidfd.h> lacks extern "C", so
// through syscall(2)): a pidfd pins one process, so its signal never reaches a pid's next owner.
int pidfd_open_pid(pid_t pid);                // -1 and errno on failure
int pidfd_signal(int pidfd, int sig);         // 0, or -1 and errno

// True when a process with this pid and start time is alive (zombies count as gone).
bool process_alive(const ProcessIdentity& id);

// Sends sig to the process only if it is still the same process (pid and start time).
// Returns true when signalled, false when it was already gone or the pid now belongs to another
// process. Race-free: the check and the signal go through one pidfd.
Result<bool> kill_if_same(const ProcessIdentity& id, int sig);

// Waits until the process is gone (for processes that are not our children, e.g. after an agent
// restart). Returns false on timeout.
bool wait_gone(const ProcessIdentity& id, std::chrono::milliseconds timeout);

// ---- starting processes

// For a child right after fork(): every signal handler back to its default, an empty signal
// mask, and every fd closed but stdin, stdout, stderr and keep_fd (when >= 0), which moves to
// fd 3 (without FD_CLOEXEC). 0 when done, -1 (errno set) when keep_fd could not be moved.
// Async-signal-safe.
int fork_child_reset(int keep_fd);

struct DaemonOptions {
  std::string name;        // for messages; also the comm of a function daemon ("chaos-lab-http")
  std::string netns_path;  // the network namespace it runs in ("" = the caller's)
  std::string log_path;    // stdout and stderr, appended ("" = /dev/null); stdin is /dev/null
  std::chrono::milliseconds ready_timeout{5000};
};

// What a function daemon's body tells the caller of spawn_daemon(). Lives in the daemon.
class DaemonReady {
 public:
  DaemonReady(int fd, const char* name) : fd_(fd), name_(name) {}
  // Serving now: spawn_daemon() returns the pid. Once; later calls do nothing.
  void ok();
  // Could not start: "NAME: what: strerror(err)" to the log, `what` and err to the caller, exit 1.
  [[noreturn]] void fail(int err, const std::string& what);

 private:
  int fd_;
  const char* name_;
};

// A process that outlives its caller: fork, enter opts.netns_path, setsid (no controlling
// terminal, no job-control signals from the caller's), fork again (reparented to init: never the
// caller's zombie), stdin from /dev/null, stdout and stderr to the log, every other fd closed,
// signals at their defaults with SIGHUP ignored, umask 022, cwd /. Then one of:
//
//   exec:     argv (argv[0] an absolute path) with exactly env as its environment. Ready once the
//             exec succeeded.
//   function: body runs in the daemon (no exec) and calls ready.ok() once it serves; what it
//             returns is the exit status. It runs in a fork of a possibly threaded caller: no
//             locks another thread may have held (malloc is safe with glibc).
//
// Returns the daemon's pid once ready. A step that failed in the child (netns, log, exec, the
// body's ready.fail()) comes back with its errno; a daemon that exits before it is ready, or is
// not ready within ready_timeout, is an error too, and is killed.
Result<pid_t> spawn_daemon(const DaemonOptions& opts, const std::vector<std::string>& argv,
                           const std::vector<std::string>& env);
using DaemonBody = std::function<int(DaemonReady&)>;
Result<pid_t> spawn_daemon(const DaemonOptions& opts, const DaemonBody& body);

// Runs argv (argv[0] an absolute path, the caller's environment) to its end and returns what it
// wrote to stdout (stderr goes to /dev/null). An error when it cannot be started or does not
// exit 0.
Result<std::string> run_capture(const std::vector<std::string>& argv);

}  // namespace chaos
