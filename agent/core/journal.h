// The journal: every change to the node is written here (fsync) *before* it is made, with
// everything needed to undo it without any in-memory object. Start-up replays it and reverts
// whatever a dead agent left behind. Revert is idempotent: an undo of something already gone
// succeeds.
//
// On disk: JSON lines in STATE_DIR/journal.jsonl:
//   {"seq":7,"op":"intend","run":"r-...","kind":"tc-bpf-classic","undo":{...},"at":"..."}
//   {"seq":7,"op":"applied","undo":{...}}     (optional: undo data only known after the change)
//   {"seq":7,"op":"reverted"}                 (optional "note": why an undo left something in place)
//   {"seq":7,"op":"owner","run":"r-..."}      (a shared object handed to the run still using it)
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

  // Records the intent to change the node. Returns the entry's sequence number. `durable: false`
  // only when the caller's next durable record is written before the change (its fdatasync
  // covers this one too): two intents, one disk sync.
  Result<std::uint64_t> intend(const std::string& run, const std::string& kind,
                               const nlohmann::json& undo, bool durable = true);
  // Confirms the change; `undo` (when not null) replaces the entry's undo data. `durable`: wait
  // for the disk (fdatasync) before returning. Only records that must survive a crash *before*
  // the next change need it: an intent always does (intend() is always durable); a confirmation
  // that merely adds detail the undo can do without (a link id) does not.
  Result<void> applied(std::uint64_t seq, const nlohmann::json& undo = nullptr, bool durable = true);
  // Marks the change undone. Not synced by default: losing it in a crash only means the undo
  // runs again at replay, and every undo is idempotent. `note` (when not empty) is kept in the
  // record: why the undo deliberately left the object in place (a foreign filter sits on it).
  Result<void> reverted(std::uint64_t seq, bool durable = false, const std::string& note = "");
  // Hands an entry to another run: an object shared by several runs (the clsact qdisc of one
  // interface) belongs to whichever run still uses it, so that the run that made it can finish
  // without its entry looking forgotten. Not synced: after a crash every entry is replayed,
  // whoever owns it.
  Result<void> reassign(std::uint64_t seq, const std::string& run);

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
// The same, for kinds whose undo may settle an entry without removing the object (and says why):
// the returned note ("" when the object is gone) is recorded with the reverted mark.
using NotedUndoFn = std::function<Result<std::string>(const nlohmann::json& undo)>;

// When an entry is undone relative to the others. A container (the clsact qdisc filters hang
// off) can only go once what it contains has gone, and journal order alone does not say so: a
// filter's entry may be older than the clsact it ended up on (tcx refused, classic after). So
// every `contents` entry is undone first (newest first), then every `container` entry.
enum class UndoOrder { contents, container };

class UndoRegistry {
 public:
  void add(const std::string& kind, UndoFn fn, UndoOrder order = UndoOrder::contents);
  void add_noted(const std::string& kind, NotedUndoFn fn, UndoOrder order = UndoOrder::contents);
  // Undoes one entry; an unknown kind is an error (the entry stays outstanding).
  Result<void> undo(const JournalEntry& e) const;
  // The same, with the undo's note ("" when none).
  Result<std::string> undo_noted(const JournalEntry& e) const;
  UndoOrder order(const std::string& kind) const;

 private:
  std::map<std::string, NotedUndoFn> fns_;
  std::map<std::string, UndoOrder> order_;
};

struct RecoveryReport {
  int reverted = 0;
  int failed = 0;
  int deferred = 0;  // containers not tried because an undo of contents failed (still outstanding)
  std::vector<std::string> lines;  // one per entry: what was undone, or why it failed
};

// Undoes every outstanding entry (all runs, or one run), newest first within each UndoOrder
// (contents, then containers), marking each reverted. When an undo of contents fails, the
// containers are left outstanding untried (deferred): what failed may still hang off them.
RecoveryReport recover(Journal& journal, const UndoRegistry& undo, const std::string& run = "");
// The same over the entries `which` selects (e.g. every run but the live ones).
RecoveryReport recover_if(Journal& journal, const UndoRegistry& undo,
                          const std::function<bool(const JournalEntry&)>& which);

}  // namespace chaos
