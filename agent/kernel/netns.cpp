#include "kernel/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/log.h"

namespace chaos {

namespace {

// The kernel's fixed inode number for init_net (PROC_NET_INIT_INO, Linux 6.x); older kernels
// number it dynamically.
constexpr std::uint64_t kInitNetIno = 0xEFFFFFF9u;

// This process's namespace as it started: opened during static initialisation, before main()
// and so before any thread could have entered another namespace.
int startup_netns_fd() {
  static const int fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  return fd;
}
[[maybe_unused]] const int g_open_startup_netns_early = startup_netns_fd();

// open() for namespace paths. Where /proc/1/ns/net is closed to us (a sandboxed pid 1 that we
// may not ptrace-read: EACCES even as root), the root namespace is taken to be the one this
// process started in, which is where the agent runs.
int open_netns(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 || (errno != EACCES && errno != EPERM) || path != kRootNetnsPath) return fd;
  int saved = errno;
  int start = startup_netns_fd();
  if (start < 0) {
    errno = saved;
    return -1;
  }
  static std::once_flag once;
  std::call_once(once, [&] {
    struct stat st{};
    bool certain = fstat(start, &st) == 0 && st.st_ino == kInitNetIno;
    auto msg = fmt::format("cannot open {} ({}); using this process's start-up namespace as the root one{}",
                           kRootNetnsPath, std::strerror(saved), certain ? " (it is init_net)" : "");
    if (certain)
      logger("netns")->debug("{}", msg);
    else
      logger("netns")->warn("{}", msg);
  });
  return fcntl(start, F_DUPFD_CLOEXEC, 0);
}

Result<NetnsId> id_of_fd(int fd, const std::string& path) {
  struct statfs sfs{};
  if (fstatfs(fd, &sfs) != 0) return fail_errno("statfs " + path);
  if (static_cast<unsigned long>(sfs.f_type) != NSFS_MAGIC)
    return fail(path + " is not a namespace (no nsfs mount; a stale netns file?)", EINVAL);
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) return fail_errno("NS_GET_NSTYPE on " + path);
  if (type != CLONE_NEWNET) return fail(path + " is not a network namespace", EINVAL);
  struct stat st{};
  if (fstat(fd, &st) != 0) return fail_errno("stat " + path);
  return NetnsId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

Result<NetnsRef> resolve_path(const std::string& path, std::string describe) {
  auto id = netns_id(path);
  if (!id) return wrap(id.error(), describe);
  return NetnsRef{path, *id, std::move(describe)};
}

// ip netns makes /run/netns a shared mount point so that namespaces mounted there later are
// visible in mount namespaces that were cloned earlier (and vice versa).
Result<void> prepare_run_dir() {
  if (mkdir(kNetnsRunDir, 0755) != 0 && errno != EEXIST)
    return fail_errno(std::string("mkdir ") + kNetnsRunDir);
  bool bound = false;
  while (mount("", kNetnsRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || bound) return fail_errno(std::string("make ") + kNetnsRunDir + " shared");
    // EINVAL: not a mount point yet. Bind it onto itself, then retry.
    if (mount(kNetnsRunDir, kNetnsRunDir, "none", MS_BIND | MS_REC, nullptr) != 0)
      return fail_errno(std::string("bind-mount ") + kNetnsRunDir + " onto itself");
    bound = true;
  }
  return {};
}

}  // namespace

std::string NetnsId::str() const { return std::to_string(dev) + ":" + std::to_string(ino); }

Result<NetnsId> netns_id(const std::string& path) {
  int fd = open_netns(path);
  if (fd < 0) return fail_errno("open " + path);
  auto id = id_of_fd(fd, path);
  ::close(fd);
  return id;
}

Result<NetnsId> current_netns_id() { return netns_id("/proc/thread-self/ns/net"); }

Result<void> verify_netns(const NetnsRef& ref) {
  auto id = netns_id(ref.path);
  if (!id) return wrap(id.error(), ref.describe);
  if (*id != ref.id)
    return fail(ref.describe + ": " + ref.path + " now names another namespace (" + id->str() +
                    ", was " + ref.id.str() + ")",
                ESTALE);
  return {};
}

Result<bool> is_root_netns(const std::string& path) {
  auto root = netns_id(kRootNetnsPath);
  if (!root) return wrap(root.error(), "root namespace");
  auto id = netns_id(path);
  if (!id) return std::unexpected(id.error());
  return *id == *root;
}

Result<std::string> named_netns_path(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.size() > 255)
    return fail("invalid netns name \"" + name + "\"", EINVAL);
  return std::string(kNetnsRunDir) + "/" + name;
}

Result<NetnsRef> resolve_named_netns(const std::string& name) {
  auto path = named_netns_path(name);
  if (!path) return std::unexpected(path.error());
  return resolve_path(*path, "netns " + name);
}

Result<NetnsRef> resolve_pid_netns(pid_t pid) {
  if (pid <= 0) return fail("invalid pid " + std::to_string(pid), EINVAL);
  return resolve_path("/proc/" + std::to_string(pid) + "/ns/net", "pid " + std::to_string(pid));
}

Result<NetnsRef> resolve_host_netns() { return resolve_path(kRootNetnsPath, "host"); }

Result<NetnsRef> resolve_netns(const NetnsTarget& t) {
  switch (t.kind) {
    case NetnsTarget::Kind::host: return resolve_host_netns();
    case NetnsTarget::Kind::named: return resolve_named_netns(t.name);
    case NetnsTarget::Kind::pid: return resolve_pid_netns(t.pid);
  }
  return fail("unknown netns target kind", EINVAL);
}

Result<std::vector<std::string>> list_named_netns() {
  std::vector<std::string> names;
  DIR* d = opendir(kNetnsRunDir);
  if (!d) {
    if (errno == ENOENT) return names;
    return fail_errno(std::string("opendir ") + kNetnsRunDir);
  }
  while (auto* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    names.push_back(std::move(n));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool named_netns_exists(const std::string& name) {
  auto path = named_netns_path(name);
  return path && access(path->c_str(), F_OK) == 0;
}

Result<NetnsRef> create_named_netns(const std::string& name) {
  auto path = named_netns_path(name);
  if (!path) return std::unexpected(path.error());
  if (auto r = prepare_run_dir(); !r) return wrap(r.error(), "create netns " + name);

  // The mount point. O_EXCL: an existing name is the caller's error, never silently reused.
  int fd = ::open(path->c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return fail_errno("create netns " + name + ": create " + *path);
  ::close(fd);

  // unshare() in a thread of its own: only that thread moves to the new namespace, and the
  // bind mount of its /proc/<pid>/task/<tid>/ns/net keeps the namespace alive after it exits.
  Error err;
  bool ok = false;
  std::thread worker([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      err = Error{errno, "unshare(CLONE_NEWNET)"};
      return;
    }
    std::string self = "/proc/" + std::to_string(getpid()) + "/task/" + std::to_string(gettid()) +
                       "/ns/net";
    if (mount(self.c_str(), path->c_str(), "none", MS_BIND, nullptr) != 0) {
      err = Error{errno, "bind-mount " + self + " onto " + *path};
      return;
    }
    ok = true;
  });
  worker.join();
  if (!ok) {
    ::unlink(path->c_str());
    return wrap(err, "create netns " + name);
  }
  auto ref = resolve_path(*path, "netns " + name);
  if (!ref) {
    umount2(path->c_str(), MNT_DETACH);
    ::unlink(path->c_str());
    return ref;
  }
  logger("netns")->debug("created netns {} ({})", name, ref->id.str());
  return ref;
}

Result<void> delete_named_netns(const std::string& name) {
  auto path = named_netns_path(name);
  if (!path) return std::unexpected(path.error());
  // EINVAL: not a mount point (a half-made entry); ENOENT: already gone. Both are fine.
  if (umount2(path->c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return fail_errno("delete netns " + name + ": umount " + *path);
  if (::unlink(path->c_str()) != 0 && errno != ENOENT)
    return fail_errno("delete netns " + name + ": unlink " + *path);
  logger("netns")->debug("deleted netns {}", name);
  return {};
}

Result<NetnsFd> NetnsFd::open(const std::string& path) {
  int fd = open_netns(path);
  if (fd < 0) return fail_errno("open " + path);
  if (auto id = id_of_fd(fd, path); !id) {
    ::close(fd);
    return std::unexpected(id.error());
  }
  return NetnsFd(fd);
}

NetnsFd::~NetnsFd() {
  if (fd_ >= 0) ::close(fd_);
}

NetnsFd& NetnsFd::operator=(NetnsFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Result<NetnsGuard> NetnsGuard::enter(const std::string& path) {
  int saved = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved < 0) return fail_errno("open this thread's netns");
  auto target = NetnsFd::open(path);
  if (!target) {
    ::close(saved);
    return std::unexpected(target.error());
  }
  if (setns(target->get(), CLONE_NEWNET) != 0) {
    auto e = fail_errno("setns into " + path);
    ::close(saved);
    return e;
  }
  return NetnsGuard(saved);
}

NetnsGuard::~NetnsGuard() {
  if (saved_ < 0) return;
  if (setns(saved_, CLONE_NEWNET) != 0) {
    logger("netns")->critical("cannot return to the original network namespace: {}",
                              Error{errno, "setns"}.text());
    std::abort();
  }
  ::close(saved_);
}

}  // namespace chaos
