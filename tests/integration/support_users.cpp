#include "integration/support_users.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "integration/support_agent.h"

namespace chaos::itest {

namespace {

std::atomic<int> g_no{0};

}  // namespace

TestAccounts::TestAccounts(const TempDir& dir) : dir_(dir), prefix_("cp" + std::to_string(::getpid())) {}

TestAccounts::~TestAccounts() {
  for (auto it = users_.rbegin(); it != users_.rend(); ++it)
    if (!admin({"/usr/sbin/userdel", *it})) std::cerr << "userdel " << *it << " failed: remove it by hand\n";
  for (auto it = groups_.rbegin(); it != groups_.rend(); ++it)
    if (!admin({"/usr/sbin/groupdel", *it})) std::cerr << "groupdel " << *it << " failed: remove it by hand\n";
}

bool TestAccounts::admin(const std::vector<std::string>& argv) {
  // shadow-utils refuse while another process holds /etc/passwd.lock or /etc/group.lock (another
  // test, an admin): try again a few times.
  for (int attempt = 0; attempt < 10; ++attempt) {
    int n = ++g_no;
    auto c = Child::spawn(argv, dir_.file("admin-" + std::to_string(n) + ".out"),
                          dir_.file("admin-" + std::to_string(n) + ".out"));
    if (!c) return false;
    auto code = c->wait(Ms(30000));
    if (code == 0) return true;
    std::string out = c->out();
    if (out.find("lock") == std::string::npos) {
      std::cerr << argv[0] << " " << (argv.size() > 1 ? argv.back() : "") << ": exit " << code.value_or(-1) << ": "
                << out;
      return false;
    }
    std::this_thread::sleep_for(Ms(200));
  }
  return false;
}

std::optional<gid_t> TestAccounts::add_group(const std::string& name) {
  if (!admin({"/usr/sbin/groupadd", name})) {
    ADD_FAILURE() << "groupadd " << name;
    return std::nullopt;
  }
  groups_.push_back(name);
  group* g = ::getgrnam(name.c_str());
  if (!g) {
    ADD_FAILURE() << "group " << name << " made but not found";
    return std::nullopt;
  }
  return g->gr_gid;
}

std::optional<Account> TestAccounts::add_user(const std::string& name, const std::string& primary,
                                              const std::vector<std::string>& supplementary) {
  std::vector<std::string> argv{"/usr/sbin/useradd", "-M", "-N", "-g", primary, "-s", "/usr/sbin/nologin"};
  if (!supplementary.empty()) {
    std::string list;
    for (const auto& g : supplementary) list += (list.empty() ? "" : ",") + g;
    argv.insert(argv.end(), {"-G", list});
  }
  argv.push_back(name);
  if (!admin(argv)) {
    ADD_FAILURE() << "useradd " << name;
    return std::nullopt;
  }
  users_.push_back(name);
  passwd* pw = ::getpwnam(name.c_str());
  if (!pw) {
    ADD_FAILURE() << "user " << name << " made but not found";
    return std::nullopt;
  }
  Account a;
  a.name = name;
  a.uid = pw->pw_uid;
  a.gid = pw->pw_gid;
  int n = 64;
  a.groups.resize(static_cast<std::size_t>(n));
  if (::getgrouplist(name.c_str(), a.gid, a.groups.data(), &n) < 0) {
    a.groups.resize(static_cast<std::size_t>(n));
    ::getgrouplist(name.c_str(), a.gid, a.groups.data(), &n);
  }
  a.groups.resize(static_cast<std::size_t>(n));
  return a;
}

std::optional<UserProcess> UserProcess::spawn(const Account& who, const std::vector<std::string>& argv,
                                              const TempDir& dir, std::optional<std::vector<gid_t>> groups) {
  UserProcess p;
  int n = ++g_no;
  p.out_path_ = dir.file("as-" + who.name + "-" + std::to_string(n) + ".out");
  p.err_path_ = dir.file("as-" + who.name + "-" + std::to_string(n) + ".err");
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const std::vector<gid_t> gids = groups.value_or(who.groups);
  int out = ::open(p.out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(p.err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0) {
    ADD_FAILURE() << "open " << p.out_path_ << ": " << std::strerror(errno);
    if (out >= 0) ::close(out);
    if (err >= 0) ::close(err);
    return std::nullopt;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(out);
    ::close(err);
    return std::nullopt;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // The order a login uses: groups and gid while still root, the uid last.
    if (::setgroups(gids.size(), gids.data()) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0) ::_exit(126);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  p.pid_ = pid;
  return p;
}

UserProcess::UserProcess(UserProcess&& o) noexcept
    : pid_(o.pid_), status_(o.status_), out_path_(std::move(o.out_path_)), err_path_(std::move(o.err_path_)) {
  o.pid_ = -1;
}

UserProcess::~UserProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

std::optional<int> UserProcess::wait(Ms timeout) {
  if (status_ || pid_ <= 0) return status_;
  wait_until(
      [&] {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
      },
      timeout);
  return status_;
}

CmdResult UserProcess::result(Ms timeout) {
  CmdResult r;
  auto code = wait(timeout);
  if (!code && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = -1;
  }
  r.code = code.value_or(-1);
  r.out = slurp(out_path_);
  r.err = slurp(err_path_);
  return r;
}

CmdResult chaosctl_as(const Account& who, const TempDir& dir, const std::vector<std::string>& args,
                      std::optional<std::vector<gid_t>> groups, Ms timeout) {
  std::vector<std::string> argv{chaosctl_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = UserProcess::spawn(who, argv, dir, std::move(groups));
  if (!p) return {};
  return p->result(timeout);
}

}  // namespace chaos::itest
