// Real users and groups for permission tests: made with groupadd/useradd under names unique to the
// test process ("cp<pid><letter>"), removed (userdel, groupdel) by the destructor, also when a test
// fails; and processes run as one of them (fork, setgroups + setgid + setuid in the child, exec).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "integration/support_agent.h"

namespace chaos::itest {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;               // primary group
  std::vector<gid_t> groups;   // every group /etc/group gives it (getgrouplist), the primary included
};

class TestAccounts {
 public:
  explicit TestAccounts(const TempDir& dir);
  ~TestAccounts();
  TestAccounts(const TestAccounts&) = delete;
  TestAccounts& operator=(const TestAccounts&) = delete;

  // "cp<pid>" + suffix.
  std::string name(const std::string& suffix) const { return prefix_ + suffix; }
  // groupadd; the gid, or nullopt (a failure recorded) when it could not be made.
  std::optional<gid_t> add_group(const std::string& name);
  // useradd -M -N -g PRIMARY [-G SUPPLEMENTARY,...] -s /usr/sbin/nologin NAME.
  std::optional<Account> add_user(const std::string& name, const std::string& primary,
                                  const std::vector<std::string>& supplementary = {});

 private:
  bool admin(const std::vector<std::string>& argv);  // groupadd/useradd/..., retried while /etc is locked

  const TempDir& dir_;
  std::string prefix_;
  std::vector<std::string> users_, groups_;
};

// A process running as `who` with exactly `groups` as its supplementary groups (default: the
// account's own, as a login would give), stdout and stderr to files. Killed and reaped by the
// destructor when still running.
class UserProcess {
 public:
  static std::optional<UserProcess> spawn(const Account& who, const std::vector<std::string>& argv, const TempDir& dir,
                                          std::optional<std::vector<gid_t>> groups = std::nullopt);
  UserProcess(UserProcess&& o) noexcept;
  UserProcess& operator=(UserProcess&&) = delete;
  ~UserProcess();
  pid_t pid() const { return pid_; }
  // The exit code (128+signal), or nullopt after `timeout`.
  std::optional<int> wait(Ms timeout);
  CmdResult result(Ms timeout);  // wait, then the output; code -1 (and killed) on timeout

 private:
  UserProcess() = default;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_, err_path_;
};

// chaosctl ARGS as `who`; waits for it.
CmdResult chaosctl_as(const Account& who, const TempDir& dir, const std::vector<std::string>& args,
                      std::optional<std::vector<gid_t>> groups = std::nullopt, Ms timeout = Ms(30000));

}  // namespace chaos::itest
