#include "kernel/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/files.h"

namespace chaos {

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

// ---- /proc/PID/stat

Result<ProcStat> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm is whatever the process named itself, spaces and ')'
  // included, so it ends at the last ')'.
  auto open = text.find(" (");
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2)
    return fail("/proc/PID/stat: no (comm) field", EINVAL);
  ProcStat st;
  if (!parse_number(text.substr(0, open), st.pid) || st.pid <= 0)
    return fail("/proc/PID/stat: pid \"" + std::string(text.substr(0, open)) + "\" is not a number", EINVAL);
  st.comm = std::string(text.substr(open + 2, close - open - 2));
  // Fields after comm, numbered as in proc(5): 3 state, 4 ppid, ... 22 starttime.
  std::string_view rest = text.substr(close + 1);
  int field = 2;
  while (field < 22) {
    auto b = rest.find_first_not_of(" \n");
    if (b == std::string_view::npos) break;
    rest.remove_prefix(b);
    auto e = rest.find_first_of(" \n");
    std::string_view f = rest.substr(0, e);
    rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
    ++field;
    bool ok = true;
    if (field == 3) {
      ok = f.size() == 1;
      st.state = f.empty() ? '?' : f[0];
    } else if (field == 4) {
      ok = parse_number(f, st.ppid);
    } else if (field == 22) {
      ok = parse_number(f, st.start_time);
    }
    if (!ok)
      return fail("/proc/PID/stat: field " + std::to_string(field) + " \"" + std::string(f) + "\" is not valid",
                  EINVAL);
  }
  if (field < 22) return fail("/proc/PID/stat: too few fields", EINVAL);
  return st;
}

Result<ProcStat> read_proc_stat(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return fail("process " + std::to_string(pid), text.error().code);
  auto st = parse_proc_stat(*text);
  if (!st) return wrap(st.error(), "process " + std::to_string(pid));
  return st;
}

Result<std::uint64_t> proc_start_time(pid_t pid) {
  auto st = read_proc_stat(pid);
  if (!st) return std::unexpected(st.error());
  return st->start_time;
}

Result<std::string> process_comm(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/comm");
  if (!text) return std::unexpected(text.error());
  if (!text->empty() && text->back() == '\n') text->pop_back();
  return *text;
}

// ---- identity

nlohmann::json ProcessIdentity::to_json() const { return {{"pid", pid}, {"start_time", start_time}}; }

Result<ProcessIdentity> ProcessIdentity::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer() ||
      !j.contains("start_time") || !j["start_time"].is_number_unsigned())
    return fail("process identity: expected {\"pid\": N, \"start_time\": T}, got " + j.dump(), EINVAL);
  ProcessIdentity id;
  id.pid = j["pid"].get<pid_t>();
  id.start_time = j["start_time"].get<std::uint64_t>();
  return id;
}

int pidfd_open_pid(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

bool process_alive(const ProcessIdentity& id) {
  if (id.pid <= 0) return false;
  auto s = read_proc_stat(id.pid);
  return s && s->start_time == id.start_time && s->state != 'Z' && s->state != 'X';
}

Result<bool> kill_if_same(const ProcessIdentity& id, int sig) {
  if (id.pid <= 0) return false;
  int fd = pidfd_open_pid(id.pid);
  if (fd < 0) {
    if (errno == ESRCH) return false;
    return fail_errno("pidfd_open " + std::to_string(id.pid));
  }
  // The pidfd pins the process: if the stat below matches, the signal reaches exactly it.
  auto s = read_proc_stat(id.pid);
  if (!s || s->start_time != id.start_time) {
    ::close(fd);
    return false;
  }
  int rc = pidfd_signal(fd, sig);
  int e = errno;
  ::close(fd);
  if (rc != 0) {
    if (e == ESRCH) return false;
    return fail("signal " + std::to_string(sig) + " to pid " + std::to_string(id.pid), e);
  }
  return true;
}

bool wait_gone(const ProcessIdentity& id, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (process_alive(id)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// ---- starting processes

int fork_child_reset(int keep_fd) {
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s)
    if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  unsigned first_closed = 3;
  if (keep_fd >= 0) {
    if (keep_fd != 3 && ::dup2(keep_fd, 3) < 0) return -1;  // dup2 clears FD_CLOEXEC
    if (keep_fd == 3 && ::fcntl(3, F_SETFD, 0) != 0) return -1;
    first_closed = 4;
  }
  ::syscall(SYS_close_range, first_closed, ~0u, 0u);
  return 0;
}

namespace {

// What a daemon tells spawn_daemon() over its pipe. One write each, well under PIPE_BUF: atomic.
struct DaemonMsg {
  std::int32_t kind;   // kMsgPid, kMsgReady, kMsgFailed
  std::int32_t value;  // the daemon's pid, or the errno of the failed step
  char what[240];      // the failed step
};
enum : std::int32_t { kMsgPid = 1, kMsgReady = 2, kMsgFailed = 3 };

void send_msg(int fd, std::int32_t kind, std::int32_t value, const char* what) {
  DaemonMsg m{};
  m.kind = kind;
  m.value = value;
  if (what) {
    std::size_t n = std::strlen(what);
    if (n >= sizeof m.what) n = sizeof m.what - 1;
    std::memcpy(m.what, what, n);
  }
  [[maybe_unused]] auto w = ::write(fd, &m, sizeof m);
}

// Everything the child needs, made before fork(): between fork and exec only async-signal-safe
// calls.
struct Launch {
  const char* name;
  const char* netns;  // nullptr: stay
  const char* log;    // nullptr: /dev/null
  char* const* argv;  // exec; nullptr: run body
  char* const* envp;
  const char* exec_step;
  const DaemonBody* body;
};

[[noreturn]] void die(int fd, const char* step) {
  send_msg(fd, kMsgFailed, errno ? errno : EIO, step);
  ::_exit(1);
}

[[noreturn]] void daemon_main(int fd, const Launch& l) {
  send_msg(fd, kMsgPid, ::getpid(), nullptr);
  // Nothing of the caller's survives: no fds (sockets, the journal, netlink), no handlers.
  if (fork_child_reset(fd) != 0) die(fd, "move the status pipe");
  fd = 3;
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) die(fd, "open /dev/null");
  int log = null;
  if (l.log && (log = ::open(l.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) die(fd, "open the log");
  if (::dup2(null, STDIN_FILENO) < 0 || ::dup2(log, STDOUT_FILENO) < 0 || ::dup2(log, STDERR_FILENO) < 0)
    die(fd, "redirect stdio");
  if (null > STDERR_FILENO) ::close(null);
  if (log > STDERR_FILENO && log != null) ::close(log);
  ::umask(022);
  if (::chdir("/") != 0) die(fd, "chdir /");
  ::signal(SIGHUP, SIG_IGN);
  if (l.argv) {
    // Close-on-exec: the caller's EOF says the exec worked.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::execve(l.argv[0], l.argv, l.envp);
    die(fd, l.exec_step);
  }
  if (l.name && *l.name) ::prctl(PR_SET_NAME, l.name, 0, 0, 0);
  DaemonReady ready(fd, l.name);
  int rc = 125;
  try {
    rc = (*l.body)(ready);
  } catch (...) {
    rc = 125;
  }
  ::_exit(rc);
}

// The first child: the namespace, a session of its own, and the second fork.
[[noreturn]] void launcher(int fd, const Launch& l) {
  if (l.netns) {
    int ns = ::open(l.netns, O_RDONLY | O_CLOEXEC);
    if (ns < 0) die(fd, "open the netns");
    if (::setns(ns, CLONE_NEWNET) != 0) die(fd, "setns");
    ::close(ns);
  }
  ::setsid();
  pid_t d = ::fork();
  if (d < 0) die(fd, "fork");
  if (d == 0) daemon_main(fd, l);
  ::_exit(0);
}

Result<pid_t> launch(const DaemonOptions& opts, const Launch& l) {
  using Clock = std::chrono::steady_clock;
  std::string what = opts.name + (opts.netns_path.empty() ? std::string() : " in " + opts.netns_path);
  std::string see = opts.log_path.empty() ? std::string() : " (see " + opts.log_path + ")";
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail_errno(what + ": pipe");
  pid_t mid = ::fork();
  if (mid < 0) {
    auto e = fail_errno(what + ": fork");
    ::close(p[0]);
    ::close(p[1]);
    return e;
  }
  if (mid == 0) {
    ::close(p[0]);
    launcher(p[1], l);
  }
  ::close(p[1]);
  int st = 0;
  while (::waitpid(mid, &st, 0) < 0 && errno == EINTR) {
  }

  pid_t daemon = -1;
  bool ready = false, eof = false, timed_out = false;
  int err = 0;
  std::string failed;
  auto deadline = Clock::now() + opts.ready_timeout;
  while (!ready && !eof && err == 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{p[0], POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      timed_out = true;
      break;
    }
    DaemonMsg m{};
    ssize_t got = n < 0 ? -1 : ::read(p[0], &m, sizeof m);
    if (got < 0 && errno == EINTR) continue;
    if (got != static_cast<ssize_t>(sizeof m)) {
      eof = true;  // exec'd (close-on-exec), or died
      break;
    }
    if (m.kind == kMsgPid) daemon = m.value;
    if (m.kind == kMsgReady) ready = true;
    if (m.kind == kMsgFailed) {
      err = m.value;
      failed.assign(m.what, strnlen(m.what, sizeof m.what));
    }
  }
  ::close(p[0]);
  if (l.argv && eof && err == 0) ready = true;
  if (ready && daemon > 0) return daemon;
  // Not ours to leave running: it never became what the caller asked for.
  if (daemon > 0) ::kill(daemon, SIGKILL);
  if (err != 0) return fail(what + ": " + failed + see, err);
  if (timed_out)
    return fail(what + ": not ready within " + std::to_string(opts.ready_timeout.count()) + "ms" + see, ETIMEDOUT);
  return fail(what + ": exited before it was ready" + see, ECHILD);
}

}  // namespace

void DaemonReady::ok() {
  if (fd_ < 0) return;
  send_msg(fd_, kMsgReady, 0, nullptr);
  ::close(fd_);
  fd_ = -1;
}

void DaemonReady::fail(int err, const std::string& what) {
  ::dprintf(STDERR_FILENO, "%s: %s: %s\n", name_, what.c_str(), std::strerror(err));
  if (fd_ >= 0) send_msg(fd_, kMsgFailed, err ? err : EIO, what.c_str());
  ::_exit(1);
}

Result<pid_t> spawn_daemon(const DaemonOptions& opts, const std::vector<std::string>& argv,
                           const std::vector<std::string>& env) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
    return fail(opts.name + ": spawn needs an absolute program path", EINVAL);
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  const std::string exec_step = "exec " + argv[0];
  Launch l{opts.name.c_str(),
           opts.netns_path.empty() ? nullptr : opts.netns_path.c_str(),
           opts.log_path.empty() ? nullptr : opts.log_path.c_str(),
           av.data(),
           ev.data(),
           exec_step.c_str(),
           nullptr};
  return launch(opts, l);
}

Result<pid_t> spawn_daemon(const DaemonOptions& opts, const DaemonBody& body) {
  if (!body) return fail(opts.name + ": spawn needs a body", EINVAL);
  Launch l{opts.name.c_str(),
           opts.netns_path.empty() ? nullptr : opts.netns_path.c_str(),
           opts.log_path.empty() ? nullptr : opts.log_path.c_str(),
           nullptr,
           nullptr,
           nullptr,
           &body};
  return launch(opts, l);
}

Result<std::string> run_capture(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
    return fail("run: needs an absolute program path", EINVAL);
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail_errno("run " + argv[0] + ": pipe");
  pid_t pid = ::fork();
  if (pid < 0) {
    auto e = fail_errno("run " + argv[0] + ": fork");
    ::close(p[0]);
    ::close(p[1]);
    return e;
  }
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (::dup2(p[1], STDOUT_FILENO) < 0) ::_exit(126);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
    fork_child_reset(-1);
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  ::close(p[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return fail("run " + argv[0] + ": " +
                    (WIFEXITED(st) ? "exit status " + std::to_string(WEXITSTATUS(st))
                                   : "killed by signal " + std::to_string(WTERMSIG(st))),
                ECHILD);
  return out;
}

}  // namespace chaos
