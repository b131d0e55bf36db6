// Network namespaces: naming them (/run/netns/NAME, /proc/PID/ns/net, the root namespace),
// knowing them again later (st_dev + st_ino, what the journal stores), entering them on one
// thread, and creating/deleting named ones the way iproute2 does, without shelling out to `ip`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace chaos {

// Where `ip netns` keeps its bind mounts.
inline constexpr const char* kNetnsRunDir = "/run/netns";
// The root ("host") namespace: the one init lives in. Every function here that takes a path
// accepts this one even where /proc/1/ns/net cannot be opened (a sandboxed pid 1 refuses even
// root: EACCES); it then means the namespace this process started in (logged once).
inline constexpr const char* kRootNetnsPath = "/proc/1/ns/net";

// The kernel's identity of a namespace: the nsfs inode. Two paths name the same namespace iff
// their ids are equal; the journal keeps it to refuse undoing into a namespace that was
// deleted and re-created under the same name.
struct NetnsId {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  friend bool operator==(const NetnsId&, const NetnsId&) = default;
  std::string str() const;  // "nsfs:[4026531840]" style: "dev:ino"
};

// A resolved namespace: a path that can be opened again, and the identity it had when resolved.
struct NetnsRef {
  std::string path;  // /run/netns/NAME, /proc/PID/ns/net or /proc/1/ns/net
  NetnsId id;
  std::string describe;  // the user's words: "netns chaoslab-client", "pid 1234", "host"
};

// What a fault or probe names. Lab hosts are resolved by lab/lab.h to a named netns.
struct NetnsTarget {
  enum class Kind { host, named, pid } kind = Kind::host;
  std::string name;  // named
  pid_t pid = 0;     // pid
};

// Resolution never mutates anything. A named netns must exist and really be a namespace (a
// stale /run/netns file whose bind mount is gone is an error, not a namespace).
Result<NetnsRef> resolve_netns(const NetnsTarget& target);
Result<NetnsRef> resolve_named_netns(const std::string& name);
Result<NetnsRef> resolve_pid_netns(pid_t pid);
Result<NetnsRef> resolve_host_netns();

// Identity of the namespace a path names (fails when the path is not a network namespace).
Result<NetnsId> netns_id(const std::string& path);
// The calling thread's current namespace.
Result<NetnsId> current_netns_id();
// Does `ref.path` still name the namespace it named when resolved? ENOENT/ESTALE style errors
// say why not. Used before undoing from the journal.
Result<void> verify_netns(const NetnsRef& ref);
// Is `path` the root namespace? A Result, not a bool: a guardrail must not mistake "could not
// tell" for "not the root namespace".
Result<bool> is_root_netns(const std::string& path);

// /run/netns/NAME for a valid name; names with '/', "." or ".." are refused.
Result<std::string> named_netns_path(const std::string& name);
// Names in /run/netns, sorted. A missing /run/netns is an empty list.
Result<std::vector<std::string>> list_named_netns();
bool named_netns_exists(const std::string& name);

// Creates /run/netns/NAME holding a fresh, empty network namespace (only `lo`, down), like
// `ip netns add`: /run/netns is made a shared mount point, the namespace is unshared in a
// separate thread (so the caller's thread never changes namespace) and bind-mounted. EEXIST
// when the name is taken. On failure nothing is left behind.
Result<NetnsRef> create_named_netns(const std::string& name);
// Detaches and removes /run/netns/NAME, like `ip netns delete`. Idempotent: a missing name is
// success. The namespace itself dies when its last process, fd or mount goes.
Result<void> delete_named_netns(const std::string& name);

// An open namespace fd (O_RDONLY|O_CLOEXEC), e.g. for IFLA_NET_NS_FD. Movable, not copyable.
class NetnsFd {
 public:
  static Result<NetnsFd> open(const std::string& path);
  NetnsFd() = default;
  ~NetnsFd();
  NetnsFd(NetnsFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  NetnsFd& operator=(NetnsFd&& o) noexcept;
  NetnsFd(const NetnsFd&) = delete;
  NetnsFd& operator=(const NetnsFd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  explicit NetnsFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Puts the calling thread into a namespace and brings it back on destruction. Only this thread
// moves (setns on one thread of a multi-threaded process is per thread for CLONE_NEWNET), but
// threads it starts meanwhile are born in the guarded namespace and stay there.
// Failing to go back is fatal (abort): a thread silently left in another namespace would make
// every later change land in the wrong place.
class NetnsGuard {
 public:
  static Result<NetnsGuard> enter(const std::string& path);
  ~NetnsGuard();
  NetnsGuard(NetnsGuard&& o) noexcept : saved_(o.saved_) { o.saved_ = -1; }
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  explicit NetnsGuard(int saved) : saved_(saved) {}
  int saved_ = -1;  // the thread's namespace before enter()
};

}  // namespace chaos
