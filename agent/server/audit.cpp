#include "server/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <fstream>

#include <openssl/evp.h>

#include "core/cron.h"

namespace chaos {

namespace {

using json = nlohmann::json;

Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("write");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xf];
  }
  return out;
}

json audit_to_json(const AuditRecord& r) {
  json j{{"time", format_utc(r.time)}, {"uid", r.uid}};
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  put("user", r.user);
  j["pid"] = r.pid;
  put("exe", r.exe);
  put("op", r.op);
  put("target", r.target);
  put("experiment", r.experiment);
  put("sha256", r.sha256);
  put("run", r.run);
  put("outcome", r.outcome);
  put("reason", r.reason);
  put("via", r.via);
  return j;
}

std::optional<AuditRecord> audit_from_json(const json& j) {
  if (!j.is_object() || !j.contains("time") || !j["time"].is_string() || !j.contains("op") || !j["op"].is_string())
    return std::nullopt;
  auto t = parse_utc(j["time"].get<std::string>());
  if (!t) return std::nullopt;
  AuditRecord r;
  r.time = *t;
  auto num = [&](const char* key) -> long long {
    return j.contains(key) && j[key].is_number_integer() ? j[key].get<long long>() : -1;
  };
  auto str = [&](const char* key) -> std::string {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  r.uid = num("uid");
  r.pid = num("pid");
  r.user = str("user");
  r.exe = str("exe");
  r.op = str("op");
  r.target = str("target");
  r.experiment = str("experiment");
  r.sha256 = str("sha256");
  r.run = str("run");
  r.outcome = str("outcome");
  r.reason = str("reason");
  r.via = str("via");
  return r;
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& state_dir) {
  std::unique_ptr<AuditLog> a(new AuditLog());
  a->path_ = state_dir + "/audit.jsonl";
  a->fd_ = ::open(a->path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (a->fd_ < 0) return fail_errno("open audit log " + a->path_);
  struct stat st {};
  if (::fstat(a->fd_, &st) != 0) return fail_errno("stat audit log " + a->path_);
  if (st.st_size > 0) {
    char last = '\n';
    if (::pread(a->fd_, &last, 1, st.st_size - 1) != 1) return fail_errno("read audit log " + a->path_);
    if (last != '\n') {
      if (auto r = write_all(a->fd_, "\n"); !r) return wrap(r.error(), "audit log " + a->path_);
      if (::fdatasync(a->fd_) != 0) return fail_errno("audit log fdatasync " + a->path_);
    }
  }
  return a;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> AuditLog::append(AuditRecord r) {
  if (r.time == std::chrono::system_clock::time_point{}) r.time = std::chrono::system_clock::now();
  std::string line = audit_to_json(r).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard lk(mu_);
  if (auto w = write_all(fd_, line); !w) return wrap(w.error(), "audit log " + path_);
  if (::fdatasync(fd_) != 0) return fail_errno("audit log fdatasync " + path_);
  return {};
}

Result<std::vector<AuditRecord>> AuditLog::read(std::optional<std::chrono::system_clock::time_point> since,
                                                std::size_t limit) const {
  std::ifstream in(path_);
  if (!in) return fail_errno("open audit log " + path_);
  std::deque<AuditRecord> keep;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    auto r = audit_from_json(j);
    if (!r || (since && r->time < *since)) continue;
    keep.push_back(std::move(*r));
    if (limit && keep.size() > limit) keep.pop_front();
  }
  if (in.bad()) return fail_errno("read audit log " + path_);
  return std::vector<AuditRecord>(std::make_move_iterator(keep.begin()), std::make_move_iterator(keep.end()));
}

}  // namespace chaos
