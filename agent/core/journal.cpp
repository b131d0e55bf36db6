#include "core/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <stdexcept>

#include "core/files.h"
#include "core/log.h"

namespace chaos {

namespace {

std::string now_iso() {
  auto t = std::chrono::system_clock::now();
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<void> write_all(int fd, const std::string& data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("journal write");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& state_dir) {
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail_errno("create state dir " + state_dir);
  std::unique_ptr<Journal> j(new Journal());
  j->path_ = state_dir + "/journal.jsonl";
  // One descriptor for reading what is there and appending after it. A journal that exists but
  // cannot be read is an error: treating it as empty would forget what a dead agent left behind.
  j->fd_ = ::open(j->path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (j->fd_ < 0) return fail_errno("open journal " + j->path_);
  std::string data;
  for (;;) {
    char buf[65536];
    ssize_t n = ::read(j->fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read journal " + j->path_);
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  std::istringstream in(data);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json v = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    try {
      if (v.is_discarded() || !v.is_object() || !v.contains("seq") || !v.contains("op"))
        throw std::invalid_argument("not a journal record");
      auto seq = v["seq"].get<std::uint64_t>();
      auto op = v["op"].get<std::string>();
      if (seq >= j->next_seq_) j->next_seq_ = seq + 1;
      if (op == "intend") {
        JournalEntry e;
        e.seq = seq;
        e.run = v.value("run", "");
        e.kind = v.value("kind", "");
        e.undo = v.value("undo", nlohmann::json::object());
        j->entries_[seq] = e;
      } else if (auto it = j->entries_.find(seq); it != j->entries_.end()) {
        if (op == "applied") {
          it->second.applied = true;
          if (v.contains("undo") && !v["undo"].is_null()) it->second.undo = v["undo"];
        } else if (op == "reverted") {
          it->second.reverted = true;
        } else if (op == "owner") {
          it->second.run = v.at("run").get<std::string>();
        }
      }
    } catch (const std::exception&) {
      // A torn write from a crash: only the tail can be torn; anything else is worth a warning.
      logger("journal")->warn("{}:{}: ignoring an unreadable journal line", j->path_, lineno);
    }
  }
  // A torn last line has no newline: the next record appended would be glued onto it and lost
  // with it at the next replay. End it first.
  if (!data.empty() && data.back() != '\n') {
    if (auto r = write_all(j->fd_, "\n"); !r) return std::unexpected(r.error());
    if (::fdatasync(j->fd_) != 0) return fail_errno("journal fdatasync " + j->path_);
  }
  return j;
}

Result<void> Journal::append(const nlohmann::json& line, bool durable) {
  std::string data = line.dump() + "\n";
  if (auto r = write_all(fd_, data); !r) return r;
  // The change it describes must not happen before the record is durable.
  if (durable && ::fdatasync(fd_) != 0) return fail_errno("journal fdatasync " + path_);
  return {};
}

Result<std::uint64_t> Journal::intend(const std::string& run, const std::string& kind,
                                      const nlohmann::json& undo, bool durable) {
  std::lock_guard lk(mu_);
  std::uint64_t seq = next_seq_++;
  nlohmann::json line{{"seq", seq}, {"op", "intend"}, {"run", run}, {"kind", kind},
                      {"undo", undo}, {"at", now_iso()}};
  if (auto r = append(line, durable); !r) return std::unexpected(r.error());
  entries_[seq] = JournalEntry{seq, run, kind, undo, false, false};
  return seq;
}

Result<void> Journal::applied(std::uint64_t seq, const nlohmann::json& undo, bool durable) {
  std::lock_guard lk(mu_);
  nlohmann::json line{{"seq", seq}, {"op", "applied"}, {"at", now_iso()}};
  if (!undo.is_null()) line["undo"] = undo;
  if (auto r = append(line, durable); !r) return r;
  if (auto it = entries_.find(seq); it != entries_.end()) {
    it->second.applied = true;
    if (!undo.is_null()) it->second.undo = undo;
  }
  return {};
}

Result<void> Journal::reverted(std::uint64_t seq, bool durable, const std::string& note) {
  std::lock_guard lk(mu_);
  nlohmann::json line{{"seq", seq}, {"op", "reverted"}, {"at", now_iso()}};
  if (!note.empty()) line["note"] = note;
  if (auto r = append(line, durable); !r) return r;
  if (auto it = entries_.find(seq); it != entries_.end()) it->second.reverted = true;
  return {};
}

Result<void> Journal::reassign(std::uint64_t seq, const std::string& run) {
  std::lock_guard lk(mu_);
  auto it = entries_.find(seq);
  if (it == entries_.end() || it->second.reverted) return {};
  if (it->second.run == run) return {};
  nlohmann::json line{{"seq", seq}, {"op", "owner"}, {"run", run}, {"at", now_iso()}};
  if (auto r = append(line, false); !r) return r;
  it->second.run = run;
  return {};
}

std::vector<JournalEntry> Journal::outstanding() const { return outstanding(""); }

std::vector<JournalEntry> Journal::outstanding(const std::string& run) const {
  std::lock_guard lk(mu_);
  std::vector<JournalEntry> out;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (!it->second.reverted && (run.empty() || it->second.run == run)) out.push_back(it->second);
  return out;
}

Result<void> Journal::compact() {
  std::lock_guard lk(mu_);
  std::string data;
  for (const auto& [seq, e] : entries_) {
    if (e.reverted) continue;
    data += nlohmann::json{{"seq", seq}, {"op", "intend"}, {"run", e.run}, {"kind", e.kind},
                           {"undo", e.undo}}.dump() + "\n";
    if (e.applied) data += nlohmann::json{{"seq", seq}, {"op", "applied"}}.dump() + "\n";
  }
  // A crash leaves the old journal or the compacted one, never a torn one (core/files.h).
  if (auto w = write_file_atomic(path_, data, 0600); !w) return wrap(w.error(), "compact the journal");
  int nfd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (nfd < 0) return fail_errno("reopen " + path_);
  ::close(fd_);
  fd_ = nfd;
  for (auto it = entries_.begin(); it != entries_.end();)
    it = it->second.reverted ? entries_.erase(it) : std::next(it);
  return {};
}

void UndoRegistry::add(const std::string& kind, UndoFn fn, UndoOrder order) {
  add_noted(
      kind,
      [fn = std::move(fn)](const nlohmann::json& undo) -> Result<std::string> {
        if (auto r = fn(undo); !r) return std::unexpected(r.error());
        return std::string();
      },
      order);
}

void UndoRegistry::add_noted(const std::string& kind, NotedUndoFn fn, UndoOrder order) {
  fns_[kind] = std::move(fn);
  order_[kind] = order;
}

Result<std::string> UndoRegistry::undo_noted(const JournalEntry& e) const {
  auto it = fns_.find(e.kind);
  if (it == fns_.end()) return fail("no undo function for journal kind \"" + e.kind + "\"");
  return it->second(e.undo);
}

Result<void> UndoRegistry::undo(const JournalEntry& e) const {
  auto r = undo_noted(e);
  if (!r) return std::unexpected(r.error());
  return {};
}

UndoOrder UndoRegistry::order(const std::string& kind) const {
  auto it = order_.find(kind);
  return it == order_.end() ? UndoOrder::contents : it->second;
}

RecoveryReport recover_if(Journal& journal, const UndoRegistry& undo,
                          const std::function<bool(const JournalEntry&)>& which) {
  RecoveryReport rep;
  auto log = logger("journal");
  std::vector<JournalEntry> todo;
  for (auto& e : journal.outstanding())
    if (!which || which(e)) todo.push_back(std::move(e));
  // Newest first within each order: contents, then containers.
  std::stable_partition(todo.begin(), todo.end(),
                        [&](const JournalEntry& e) { return undo.order(e.kind) == UndoOrder::contents; });
  int contents_failed = 0;
  for (const auto& e : todo) {
    std::string what = "#" + std::to_string(e.seq) + " " + e.kind + " (run " + e.run + ") " + e.undo.dump();
    const bool container = undo.order(e.kind) == UndoOrder::container;
    if (container && contents_failed > 0) {
      rep.deferred++;
      rep.lines.push_back("deferred " + what + ": an undo above failed, and what it left may still need this");
      log->warn("not reverting {} yet: an undo of what it may contain failed", what);
      continue;
    }
    auto r = undo.undo_noted(e);
    if (r) {
      if (auto m = journal.reverted(e.seq, false, *r); !m) log->error("marking {} reverted: {}", what, m.error().text());
      rep.reverted++;
      rep.lines.push_back("reverted " + what + (r->empty() ? "" : " (" + *r + ")"));
      if (r->empty()) log->info("recovered {}", what);
      else log->warn("recovered {}: {}", what, *r);
    } else {
      rep.failed++;
      if (!container) contents_failed++;
      rep.lines.push_back("FAILED " + what + ": " + r.error().text());
      log->error("could not revert {}: {}", what, r.error().text());
    }
  }
  return rep;
}

RecoveryReport recover(Journal& journal, const UndoRegistry& undo, const std::string& run) {
  if (run.empty()) return recover_if(journal, undo, nullptr);
  return recover_if(journal, undo, [&](const JournalEntry& e) { return e.run == run; });
}

}  // namespace chaos
