// The audit log, STATE/audit.jsonl: one JSON line per event, appended and fdatasync'ed before the
// request it records acts (or, for a refusal, before the answer goes out). What is recorded:
//   - every request that can change the node (run, halt, recover, schedule add/remove/pause/
//     resume/trigger): "accepted" before it acts, then its outcome (a run's held / deviated /
//     aborted / failed; "ok" or "failed" for the others); a run the agent refuses or finds
//     invalid gets one line with that outcome;
//   - every refusal (permission denied), whatever the op;
//   - runs the scheduler starts by itself ("via": "schedule NAME", the caller being the agent).
//
//   {"time":"2026-12-02T10:15:02.118Z","uid":1001,"user":"alice","pid":4242,"exe":"/usr/bin/chaosctl",
//    "op":"run","experiment":"lab-partition","sha256":"3f2a...","outcome":"refused",
//    "reason":"permission denied: run needs uid 0 or group chaos-operators; ..."}
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos {

struct AuditRecord {
  std::chrono::system_clock::time_point time{};
  long long uid = -1;
  std::string user;
  long long pid = -1;
  std::string exe;
  std::string op;
  std::string target;      // halt: the run id or "all"; schedule.*: the schedule's name
  std::string experiment;  // metadata.name, when the request carried an experiment
  std::string sha256;      // of the experiment's YAML text as sent
  std::string run;         // the run id, once there is one
  std::string outcome;     // accepted, refused, invalid, held, deviated, aborted, failed, ok
  std::string reason;
  std::string via;         // "schedule NAME" for runs the scheduler started
};

// One line's JSON (empty fields left out) and back. from_json: nullopt when it is not a record.
nlohmann::json audit_to_json(const AuditRecord& r);
std::optional<AuditRecord> audit_from_json(const nlohmann::json& j);

// Lower-case hex SHA-256 (OpenSSL's libcrypto).
std::string sha256_hex(std::string_view data);

class AuditLog {
 public:
  // Opens (creating, 0600) STATE_DIR/audit.jsonl for appending. A torn last line (a crash mid-write)
  // is ended with a newline so that the next record starts on a line of its own.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& state_dir);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one line and waits for the disk (fdatasync). The time is set when it is unset.
  Result<void> append(AuditRecord r);

  // Records at or after `since` (all when unset), oldest first, at most the last `limit` of them.
  // Lines that are not records (a torn tail) are skipped.
  Result<std::vector<AuditRecord>> read(std::optional<std::chrono::system_clock::time_point> since,
                                        std::size_t limit) const;
  const std::string& path() const { return path_; }

 private:
  AuditLog() = default;
  mutable std::mutex mu_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace chaos
