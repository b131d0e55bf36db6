// The journal: every change to the node is written here (fsync) *before* it is made, with
// everything needed to undo it without any in-memory object. Start-up replays it and reverts
// whatever a dead agent left behind. Revert is idempotent: an undo of something already gone
// succeeds.
//
// On disk: JSON lines in STATE_DIR/journal.jsonl:
//   {"seq":7,"op":"intend","run":"r-...","kind":"tc-bpf-classic","undo":{...},"at":"..."}
//   {"seq":7,"op":"applied","undo":{...}}     (optional: undo data only known after the change)
//   {"seq":7,"op":"reverted"}
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos {

struct JournalEntry {
  std::uint64_t seq = 0;
  std::string run;
  std::string kind;      // which undo function applies: "tc-bpf-classic", "tcx-link", "ifb", ...
  nlohmann::json undo;   // everything the undo function needs
  bool applied = false;  // the change was confirmed made (it may still have been made if false)
  bool reverted = false;
};

class Journal {
 public:
  // Opens (creating) STATE_DIR/journal.jsonl and loads what it holds. A torn last line
  // (crash mid-write) is ignored.
  static Result<std::unique_ptr<Journal>> open(const std::string& state_dir);

  // Records the intent to change the node. Returns the entry's sequence number.
  Result<std::uint64_t> intend(const std::string& run, const std::string& kind,
                               const nlohmann::json& undo);
  // Confirms the change; `undo` (when not null) replaces the entry's undo data. `durable`: wait
  // for the disk (fdatasync) before returning. Only records that must survive a crash *before*
  // the next change need it: an intent always does (intend() is always durable); a confirmation
  // that merely adds detail the undo can do without (a link id) does not.
  Result<void> applied(std::uint64_t seq, const nlohmann::json& undo = nullptr, bool durable = true);
  // Marks the change undone. Not synced by default: losing it in a crash only means the undo
  // runs again at replay, and every undo is idempotent.
  Result<void> reverted(std::uint64_t seq, bool durable = false);

  // Entries not yet reverted, newest first (the order to undo them in).
  std::vector<JournalEntry> outstanding() const;
  std::vector<JournalEntry> outstanding(const std::string& run) const;

  // Rewrites the file with only the outstanding entries.
  Result<void> compact();
  const std::string& path() const { return path_; }

 private:
  Journal() = default;
  Result<void> append(const nlohmann::json& line, bool durable);

  mutable std::mutex mu_;
  std::string path_;
  int fd_ = -1;
  std::uint64_t next_seq_ = 1;
  std::map<std::uint64_t, JournalEntry> entries_;

 public:
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
};

// Maps a journal kind to the function that undoes it from the undo data alone.
using UndoFn = std::function<Result<void>(const nlohmann::json& undo)>;

class UndoRegistry {
 public:
  void add(const std::string& kind, UndoFn fn);
  // Undoes one entry; an unknown kind is an error (the entry stays outstanding).
  Result<void> undo(const JournalEntry& e) const;

 private:
  std::map<std::string, UndoFn> fns_;
};

struct RecoveryReport {
  int reverted = 0;
  int failed = 0;
  std::vector<std::string> lines;  // one per entry: what was undone, or why it failed
};

// Undoes every outstanding entry (all runs, or one run), newest first, marking each reverted.
RecoveryReport recover(Journal& journal, const UndoRegistry& undo, const std::string& run = "");

}  // namespace chaos
