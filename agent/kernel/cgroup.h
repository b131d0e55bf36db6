// cgroups, v1 and v2: find the hierarchy that carries a controller, name a cgroup the way a user
// does (a path, a systemd unit, a process), and read what the memory controller reports about it.
//
// Reading never mutates. The few writers here (create, set_memory_limit, remove, add_process) are
// what tests, benchmarks and the memory family's hog placement need; no fault ever changes a
// target's limit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace chaos::cgroup {

enum class Version { v1, v2 };
const char* version_name(Version v);  // "v1", "v2"

// Where the hierarchy carrying one controller is mounted.
struct Hierarchy {
  Version version = Version::v2;
  std::string mount;  // "/sys/fs/cgroup/memory" (v1) or "/sys/fs/cgroup" (v2)
};

// Finds the hierarchy carrying `controller` in the text of /proc/self/mounts. A v1 mount carries
// it when the mount options name it; a cgroup2 mount when <root_prefix><mount>/cgroup.controllers
// lists it (so a hybrid host's cgroup2 without memory is skipped). v1 wins when both carry it
// (a controller is only active in one hierarchy at a time).
Result<Hierarchy> find_hierarchy_in(const std::string& controller, const std::string& mounts_text,
                                    const std::string& root_prefix = "");
// The same from /proc/self/mounts.
Result<Hierarchy> find_hierarchy(const std::string& controller);

// The cgroup path (relative to the hierarchy root, starting with '/') of a process, from the
// text of /proc/PID/cgroup: the v1 line whose controller list names `controller`, or the v2 "0::"
// line.
Result<std::string> parse_proc_cgroup(const std::string& text, Version version,
                                      const std::string& controller);
Result<std::string> process_cgroup(pid_t pid, const Hierarchy& h, const std::string& controller);

// A cgroup directory in a hierarchy.
struct CgroupPath {
  std::string dir;       // absolute: /sys/fs/cgroup/memory/chaos-test-1
  std::string relative;  // from the hierarchy root: /chaos-test-1 ("/" for the root)
  bool is_root() const { return relative == "/"; }
};

// Names a cgroup. PATH may be absolute under the mount ("/sys/fs/cgroup/memory/x") or relative to
// the hierarchy root ("/x", "x"); ".." components are refused. The directory must exist.
Result<CgroupPath> resolve_path(const Hierarchy& h, const std::string& path);
// A systemd unit's cgroup: system.slice/NAME first, then any directory called NAME a few levels
// down (user and machine slices). ENOENT with a clear message when systemd runs no such unit.
Result<CgroupPath> resolve_unit(const Hierarchy& h, const std::string& unit);
// The cgroup `pid` lives in, in this hierarchy.
Result<CgroupPath> resolve_pid(const Hierarchy& h, pid_t pid, const std::string& controller);

// Parsers of the controller files, exposed for unit tests.
// "key value" lines (memory.events, memory.stat, memory.oom_control) into a map.
std::map<std::string, std::uint64_t> parse_flat_keyed(const std::string& text);
// A memory limit: v2 "max" or a number; v1 numbers at or above 2^62 mean unlimited
// (PAGE_COUNTER_MAX * PAGE_SIZE). nullopt: unlimited.
Result<std::optional<std::uint64_t>> parse_limit(const std::string& text);

// One line of a PSI file: "some avg10=0.12 avg60=0.05 avg300=0.01 total=12345".
struct PressureLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;  // percent of wall time stalled
  std::uint64_t total_us = 0;               // cumulative stall time
};
struct Pressure {
  PressureLine some, full;
  std::string source;        // the file read
  bool system_wide = false;  // true when it came from /proc/pressure/memory
};
Result<Pressure> parse_pressure(const std::string& text);

// Memory controller counters, the same names on both versions where they mean the same thing.
struct MemoryEvents {
  std::uint64_t max = 0;       // v2: memory.events max (hit the limit); v1: memory.failcnt
  std::uint64_t oom = 0;       // v2: memory.events oom; v1: only from OomEventCounter (below)
  std::uint64_t oom_kill = 0;  // v2: memory.events oom_kill; v1: memory.oom_control oom_kill
  bool under_oom = false;      // v1 only: memory.oom_control under_oom
  bool has_oom = false;        // whether `oom` is a real counter on this cgroup
};

class MemoryCgroup {
 public:
  // Checks the directory is a cgroup of the memory hierarchy (its usage file is readable).
  static Result<MemoryCgroup> open(const Hierarchy& h, const CgroupPath& path);

  Version version() const { return h_.version; }
  const Hierarchy& hierarchy() const { return h_; }
  const std::string& dir() const { return path_.dir; }
  const std::string& relative() const { return path_.relative; }
  const CgroupPath& path() const { return path_; }

  // This cgroup's own hard limit (v1 memory.limit_in_bytes, v2 memory.max); nullopt: unlimited.
  Result<std::optional<std::uint64_t>> limit() const;
  // The limit that binds: the smallest among this cgroup and its ancestors, and whose it is.
  struct EffectiveLimit {
    std::uint64_t bytes = 0;
    std::string relative;  // the cgroup that sets it
  };
  Result<std::optional<EffectiveLimit>> effective_limit() const;
  // v1 memory.usage_in_bytes, v2 memory.current.
  Result<std::uint64_t> usage() const;
  // v1 memory.max_usage_in_bytes, v2 memory.peak (5.19+); nullopt where the kernel lacks it.
  Result<std::optional<std::uint64_t>> peak() const;
  Result<MemoryEvents> events() const;
  // PSI memory: the cgroup's memory.pressure (v2), else the system's /proc/pressure/memory.
  Result<Pressure> pressure() const;
  // Processes in this cgroup; with recursive, in its whole subtree.
  Result<std::vector<pid_t>> procs(bool recursive = false) const;
  // Whether a process is in this cgroup's subtree.
  Result<bool> contains(pid_t pid) const;
  // v2: true when the memory controller is enabled for children (the "no internal processes"
  // rule then forbids adding a process here). Always false on v1.
  Result<bool> delegates_memory() const;

  // Moves a whole process (all its threads) into this cgroup: writes cgroup.procs.
  Result<void> add_process(pid_t pid) const;

  // Tests and benchmarks: a child cgroup named `name`, its hard limit, and removal (rmdir; EBUSY
  // while it still holds processes). The memory fault never calls these.
  static Result<MemoryCgroup> create(const Hierarchy& h, const std::string& name);
  Result<void> set_memory_limit(std::uint64_t bytes) const;
  Result<void> remove() const;

 private:
  MemoryCgroup(Hierarchy h, CgroupPath p) : h_(std::move(h)), path_(std::move(p)) {}
  std::string file(const char* name) const { return path_.dir + "/" + name; }

  Hierarchy h_;
  CgroupPath path_;
};

// cgroup v1 has no OOM counter file; it notifies through cgroup.event_control instead. This
// registers an eventfd for memory.oom_control; each read adds the OOM events since the last one.
// The registration lives as long as the fds (closed by the destructor), so nothing to undo.
class OomEventCounter {
 public:
  static Result<OomEventCounter> open(const std::string& cgroup_dir);
  OomEventCounter(OomEventCounter&& o) noexcept;
  OomEventCounter& operator=(OomEventCounter&& o) noexcept;
  OomEventCounter(const OomEventCounter&) = delete;
  OomEventCounter& operator=(const OomEventCounter&) = delete;
  ~OomEventCounter();
  // Cumulative OOM events since open().
  Result<std::uint64_t> total();

 private:
  OomEventCounter() = default;
  int event_fd_ = -1;
  int control_fd_ = -1;
  std::uint64_t total_ = 0;
};

// The processes of the cgroup directory `dir` (absolute); with recursive, of its whole subtree
// (a child removed while walking is skipped). Ascending, without duplicates.
Result<std::vector<pid_t>> procs_in(const std::string& dir, bool recursive);

// Reads a small file whole. Errors carry the path and errno.
Result<std::string> read_file(const std::string& path);
Result<void> write_file(const std::string& path, const std::string& data);

// A cgroup v2 directory's id: its inode number on cgroup2fs, which is what bpf_skb_cgroup_id()
// returns. `path` is absolute under /sys/fs/cgroup, or relative to the cgroup2 mount (looked up
// under /sys/fs/cgroup, then /sys/fs/cgroup/unified for hybrid hosts). ENOENT when neither holds it.
Result<std::uint64_t> v2_id(const std::string& path);

}  // namespace chaos::cgroup
