#include "faults/memory/oom_watch.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <utility>

namespace chaos::memory {

namespace {

bool to_int(std::string_view s, long long& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p != s.data();
}

// "key=value" out of a comma-separated list.
std::string field(std::string_view list, std::string_view key) {
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    std::string_view item = list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (item.size() > key.size() && item.substr(0, key.size()) == key && item[key.size()] == '=')
      return std::string(item.substr(key.size() + 1));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return {};
}

}  // namespace

std::optional<KmsgOomRecord> parse_kmsg_oom(const std::string& record) {
  std::string_view r(record);
  KmsgOomRecord out;
  // Header "prio,seq,ts_us,flags;"; the message runs to the first newline (continuation lines
  // after it carry dictionary fields we do not need).
  auto semi = r.find(';');
  std::string_view msg = r;
  if (semi != std::string_view::npos) {
    std::string_view hdr = r.substr(0, semi);
    auto c1 = hdr.find(',');
    auto c2 = c1 == std::string_view::npos ? c1 : hdr.find(',', c1 + 1);
    auto c3 = c2 == std::string_view::npos ? c2 : hdr.find(',', c2 + 1);
    if (c2 != std::string_view::npos) {
      long long ts = 0;
      if (to_int(hdr.substr(c2 + 1, c3 == std::string_view::npos ? std::string_view::npos : c3 - c2 - 1), ts))
        out.ts_us = static_cast<std::uint64_t>(ts);
    }
    msg = r.substr(semi + 1);
  }
  if (auto nl = msg.find('\n'); nl != std::string_view::npos) msg = msg.substr(0, nl);

  static constexpr std::string_view kKilled = "Killed process ";
  if (auto k = msg.find(kKilled); k != std::string_view::npos) {
    std::string_view rest = msg.substr(k + kKilled.size());
    long long pid = 0;
    auto sp = rest.find(' ');
    if (!to_int(rest.substr(0, sp), pid) || sp == std::string_view::npos) return std::nullopt;
    rest = rest.substr(sp + 1);
    // "(NAME) total-vm:..." where NAME may contain spaces or parentheses: up to the last ") "
    // before "total-vm", or the last ')'.
    if (rest.empty() || rest[0] != '(') return std::nullopt;
    auto tv = rest.find(") total-vm");
    auto close = tv != std::string_view::npos ? tv : rest.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    out.kind = KmsgOomRecord::Kind::killed;
    out.pid = static_cast<pid_t>(pid);
    out.name = std::string(rest.substr(1, close - 1));
    out.memcg = msg.substr(0, k).find("Memory cgroup out of memory") != std::string_view::npos;
    return out;
  }
  static constexpr std::string_view kSummary = "oom-kill:";
  if (auto k = msg.find(kSummary); k != std::string_view::npos) {
    std::string_view list = msg.substr(k + kSummary.size());
    long long pid = 0;
    std::string p = field(list, "pid");
    if (!to_int(p, pid)) return std::nullopt;
    out.kind = KmsgOomRecord::Kind::summary;
    out.pid = static_cast<pid_t>(pid);
    out.name = field(list, "task");
    out.oom_memcg = field(list, "oom_memcg");
    out.task_memcg = field(list, "task_memcg");
    out.memcg = field(list, "constraint") == "CONSTRAINT_MEMCG";
    return out;
  }
  return std::nullopt;
}

Result<KmsgReader> KmsgReader::open_at_end(const std::string& path) {
  KmsgReader k;
  k.fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (k.fd_ < 0) return fail_errno("open " + path);
  if (::lseek(k.fd_, 0, SEEK_END) < 0) return fail_errno("seek to the end of " + path);
  return k;
}

KmsgReader::KmsgReader(KmsgReader&& o) noexcept : fd_(std::exchange(o.fd_, -1)), lost_(o.lost_) {}

KmsgReader& KmsgReader::operator=(KmsgReader&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    lost_ = o.lost_;
  }
  return *this;
}

KmsgReader::~KmsgReader() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<std::string> KmsgReader::drain(std::size_t max_records) {
  std::vector<std::string> out;
  if (fd_ < 0) return out;
  char buf[8192];  // one record per read(); records are at most ~1KiB plus dictionary
  while (out.size() < max_records) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n > 0) {
      out.emplace_back(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {  // overwritten before we read them; the next read resumes
      ++lost_;
      continue;
    }
    break;  // EAGAIN: nothing more for now
  }
  return out;
}

nlohmann::json OomVictim::to_json() const {
  return {{"pid", pid}, {"name", name}, {"source", source}, {"at_ms", at_ms}, {"hog", hog}};
}

bool VictimTracker::in_subtree(const std::string& memcg) const {
  if (relative_ == "/") return !memcg.empty();
  return memcg == relative_ || memcg.rfind(relative_ + "/", 0) == 0;
}

std::vector<pid_t> VictimTracker::update_procs(const std::map<pid_t, std::string>& now) {
  std::vector<pid_t> departed;
  for (const auto& [pid, name] : current_)
    if (!now.count(pid)) departed.push_back(pid);
  for (const auto& [pid, name] : now)
    if (!name.empty()) seen_[pid] = name;
  current_ = now;
  return departed;
}

std::optional<std::string> VictimTracker::name_of(pid_t pid) const {
  auto it = seen_.find(pid);
  if (it == seen_.end()) return std::nullopt;
  return it->second;
}

void VictimTracker::add(OomVictim v) {
  if (victim_pids_.count(v.pid)) {
    // A later, better witness (the log) upgrades an inferred entry.
    for (auto& e : victims_)
      if (e.pid == v.pid && e.source == "procs" && v.source == "kmsg") e = v;
    return;
  }
  victim_pids_.insert(v.pid);
  victims_.push_back(std::move(v));
}

bool VictimTracker::add_kmsg(const KmsgOomRecord& rec, std::int64_t at_ms, pid_t hog_pid) {
  bool ours = false;
  if (rec.kind == KmsgOomRecord::Kind::summary) {
    ours = in_subtree(rec.task_memcg);
  } else {
    // The per-kill line does not name the cgroup (and the summary is rate-limited), so it is
    // ours when the pid was seen in the subtree, or is the hog itself.
    ours = rec.memcg && (seen_.count(rec.pid) || rec.pid == hog_pid);
  }
  if (!ours) return false;
  bool is_new = !victim_pids_.count(rec.pid);
  std::string name = rec.name;
  if (auto n = name_of(rec.pid); n && name.empty()) name = *n;
  add(OomVictim{rec.pid, name, "kmsg", at_ms, rec.pid == hog_pid});
  return is_new;
}

void VictimTracker::infer_from_departed(const std::vector<pid_t>& departed, std::uint64_t kills,
                                        std::int64_t at_ms, pid_t hog_pid) {
  if (kills == 0) return;
  for (pid_t pid : departed) {
    if (victim_pids_.count(pid)) continue;
    add(OomVictim{pid, name_of(pid).value_or(""), "procs", at_ms, pid == hog_pid});
  }
}

}  // namespace chaos::memory
