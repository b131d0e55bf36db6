// Who did the OOM killer take? Two witnesses:
//   - the kernel log (/dev/kmsg, read non-blocking from the fault's start): "Memory cgroup out of
//     memory: Killed process PID (NAME) ..." for every kill, and the rate-limited summary
//     "oom-kill:constraint=...,oom_memcg=/x,task_memcg=/x/y,task=NAME,pid=PID,uid=U";
//   - the target's process list: which pids left between two samples.
// The log names the victim; the process list tells which of the logged kills were ours when the
// rate-limited summary line is missing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos::memory {

// One OOM-killer line from the kernel log.
struct KmsgOomRecord {
  enum class Kind { killed, summary } kind = Kind::killed;
  pid_t pid = 0;
  std::string name;
  bool memcg = false;       // killed: a memory cgroup OOM (not a global one)
  std::string oom_memcg;    // summary: the cgroup whose limit was hit
  std::string task_memcg;   // summary: the victim's cgroup
  std::uint64_t ts_us = 0;  // kernel timestamp (µs since boot)
};

// Parses one /dev/kmsg record ("prio,seq,ts,flags;message\n continuation..."). nullopt when it is
// not an OOM-killer line.
std::optional<KmsgOomRecord> parse_kmsg_oom(const std::string& record);

// /dev/kmsg opened at its end: only messages logged after open() are read.
class KmsgReader {
 public:
  static Result<KmsgReader> open_at_end(const std::string& path = "/dev/kmsg");
  KmsgReader(KmsgReader&& o) noexcept;
  KmsgReader& operator=(KmsgReader&& o) noexcept;
  KmsgReader(const KmsgReader&) = delete;
  KmsgReader& operator=(const KmsgReader&) = delete;
  ~KmsgReader();
  // Every record logged since the last call (never blocks). Records the ring buffer overwrote
  // before we read them are skipped and counted in lost().
  std::vector<std::string> drain(std::size_t max_records = 10000);
  std::uint64_t lost() const { return lost_; }

 private:
  KmsgReader() = default;
  int fd_ = -1;
  std::uint64_t lost_ = 0;
};

struct OomVictim {
  pid_t pid = 0;
  std::string name;
  std::string source;  // "kmsg" (the kernel log named it) or "procs" (inferred: it left the
                       // cgroup in a sample where oom_kill went up, and the log was unreadable)
  std::int64_t at_ms = 0;  // since the fault started
  bool hog = false;        // the fault's own hog
  nlohmann::json to_json() const;
};

// Keeps the victims of OOM kills inside one cgroup subtree, from both witnesses.
class VictimTracker {
 public:
  // `relative`: the target cgroup's path in its hierarchy, as the kernel logs it ("/chaos-test-1").
  explicit VictimTracker(std::string relative) : relative_(std::move(relative)) {}

  // The processes now in the subtree, with names for the new ones (read by the caller).
  // Returns the pids that left since the previous call.
  std::vector<pid_t> update_procs(const std::map<pid_t, std::string>& now);
  // A kernel-log record. Returns true when it named a new victim of this cgroup.
  bool add_kmsg(const KmsgOomRecord& rec, std::int64_t at_ms, pid_t hog_pid);
  // oom_kill went up by `kills` in a sample in which `departed` left: when the log is not
  // available, they are the best guess at the victims.
  void infer_from_departed(const std::vector<pid_t>& departed, std::uint64_t kills, std::int64_t at_ms,
                           pid_t hog_pid);

  const std::vector<OomVictim>& victims() const { return victims_; }
  // Name of a pid seen in the subtree (also after it left).
  std::optional<std::string> name_of(pid_t pid) const;
  bool in_subtree(const std::string& memcg) const;

 private:
  void add(OomVictim v);

  std::string relative_;
  std::map<pid_t, std::string> current_;  // in the subtree at the last update
  std::map<pid_t, std::string> seen_;     // ever seen in the subtree
  std::vector<OomVictim> victims_;
  std::set<pid_t> victim_pids_;
};

}  // namespace chaos::memory
