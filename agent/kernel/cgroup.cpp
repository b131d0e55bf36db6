#include "kernel/cgroup.h"

#include <linux/magic.h>

#include <sys/vfs.h>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>
#include <utility>

namespace chaos::cgroup {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

bool parse_u64(const std::string& s, std::uint64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool is_dir(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// "/a//b/" -> "/a/b"; "" -> "/". Refuses "..": a target must not escape the hierarchy.
Result<std::string> normalise_relative(const std::string& rel) {
  std::string out;
  for (const auto& part : split(rel, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return fail("cgroup path " + rel + ": \"..\" is not allowed", EINVAL);
    out += "/" + part;
  }
  return out.empty() ? std::string("/") : out;
}

CgroupPath make_path(const Hierarchy& h, const std::string& relative) {
  return CgroupPath{relative == "/" ? h.mount : h.mount + relative, relative};
}

}  // namespace

const char* version_name(Version v) { return v == Version::v1 ? "v1" : "v2"; }

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("open " + path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return fail("read " + path, e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<void> write_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("open " + path + " for writing");
  // cgroup files take one value per write(): never split it.
  ssize_t n;
  do {
    n = ::write(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  int e = errno;
  ::close(fd);
  if (n < 0) return fail("write \"" + trim(data) + "\" to " + path, e);
  if (static_cast<std::size_t>(n) != data.size()) return fail("short write to " + path, EIO);
  return {};
}

Result<Hierarchy> find_hierarchy_in(const std::string& controller, const std::string& mounts_text,
                                    const std::string& root_prefix) {
  std::optional<Hierarchy> v2;
  std::istringstream in(mounts_text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string dev, mnt, type, opts;
    if (!(ls >> dev >> mnt >> type >> opts)) continue;
    if (type == "cgroup") {
      for (const auto& o : split(opts, ','))
        if (o == controller) return Hierarchy{Version::v1, mnt};
    } else if (type == "cgroup2" && !v2) {
      auto ctl = read_file(root_prefix + mnt + "/cgroup.controllers");
      if (!ctl) continue;
      std::istringstream cs(*ctl);
      std::string c;
      while (cs >> c)
        if (c == controller) v2 = Hierarchy{Version::v2, mnt};
    }
  }
  if (v2) return *v2;
  return fail("no cgroup hierarchy carries the " + controller +
                  " controller (no cgroup v1 mount with it, and no cgroup2 mount listing it in "
                  "cgroup.controllers)",
              ENOENT);
}

Result<Hierarchy> find_hierarchy(const std::string& controller) {
  auto text = read_file("/proc/self/mounts");
  if (!text) return std::unexpected(text.error());
  return find_hierarchy_in(controller, *text);
}

Result<std::string> parse_proc_cgroup(const std::string& text, Version version,
                                      const std::string& controller) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // hierarchy-ID:controller-list:path (the path may itself contain ':')
    auto c1 = line.find(':');
    if (c1 == std::string::npos) continue;
    auto c2 = line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    std::string id = line.substr(0, c1);
    std::string ctls = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (version == Version::v2) {
      if (id == "0" && ctls.empty()) return path;
    } else {
      for (const auto& c : split(ctls, ','))
        if (c == controller) return path;
    }
  }
  return fail(std::string("no ") + (version == Version::v1 ? controller + " (v1)" : "cgroup2") +
                  " line in /proc/PID/cgroup",
              ENOENT);
}

Result<std::string> process_cgroup(pid_t pid, const Hierarchy& h, const std::string& controller) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) {
    if (text.error().code == ENOENT) return fail("pid " + std::to_string(pid) + ": no such process", ESRCH);
    return std::unexpected(text.error());
  }
  auto rel = parse_proc_cgroup(*text, h.version, controller);
  if (!rel) return wrap(rel.error(), "pid " + std::to_string(pid));
  return *rel;
}

Result<CgroupPath> resolve_path(const Hierarchy& h, const std::string& path) {
  std::string rel = path;
  if (path.rfind(h.mount + "/", 0) == 0 || path == h.mount) rel = path.substr(h.mount.size());
  else if (path.rfind("/sys/fs/cgroup", 0) == 0)
    return fail("cgroup " + path + " is not in the memory hierarchy (mounted at " + h.mount + ")",
                EINVAL);
  auto norm = normalise_relative(rel);
  if (!norm) return std::unexpected(norm.error());
  CgroupPath p = make_path(h, *norm);
  if (!is_dir(p.dir))
    return fail("cgroup " + path + ": " + p.dir + " does not exist", ENOENT);
  return p;
}

Result<CgroupPath> resolve_unit(const Hierarchy& h, const std::string& unit) {
  if (unit.empty() || unit.find('/') != std::string::npos || unit == "." || unit == "..")
    return fail("unit " + unit + ": not a unit name", EINVAL);
  CgroupPath direct = make_path(h, "/system.slice/" + unit);
  if (is_dir(direct.dir)) return direct;
  // Units outside system.slice: user-1000.slice/user@1000.service/..., machine.slice/...
  // Walk a few levels only: the hierarchy can be large and a unit sits near the top.
  std::error_code ec;
  fs::recursive_directory_iterator it(h.mount, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_directory(ec2)) continue;
    if (it.depth() >= 3) it.disable_recursion_pending();
    if (it->path().filename() == unit) {
      std::string rel = it->path().string().substr(h.mount.size());
      return make_path(h, rel);
    }
  }
  return fail("unit " + unit + ": no cgroup for it (looked for " + direct.dir +
                  " and under " + h.mount + "); is systemd running it?",
              ENOENT);
}

Result<CgroupPath> resolve_pid(const Hierarchy& h, pid_t pid, const std::string& controller) {
  auto rel = process_cgroup(pid, h, controller);
  if (!rel) return std::unexpected(rel.error());
  auto norm = normalise_relative(*rel);
  if (!norm) return std::unexpected(norm.error());
  CgroupPath p = make_path(h, *norm);
  if (!is_dir(p.dir))
    return fail("pid " + std::to_string(pid) + ": its cgroup " + p.dir +
                    " is not visible here (another cgroup namespace?)",
                ENOENT);
  return p;
}

std::map<std::string, std::uint64_t> parse_flat_keyed(const std::string& text) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(text);
  std::string key, value;
  while (in >> key >> value) {
    std::uint64_t v = 0;
    if (parse_u64(value, v)) out[key] = v;
  }
  return out;
}

Result<std::optional<std::uint64_t>> parse_limit(const std::string& text) {
  std::string t = trim(text);
  if (t == "max") return std::optional<std::uint64_t>();
  std::uint64_t v = 0;
  if (!parse_u64(t, v)) return fail("memory limit \"" + t + "\": not a number or \"max\"", EINVAL);
  if (v >= (std::uint64_t{1} << 62)) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(v);
}

Result<Pressure> parse_pressure(const std::string& text) {
  Pressure p;
  bool some = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind, field;
    ls >> kind;
    PressureLine* dst = kind == "some" ? &p.some : kind == "full" ? &p.full : nullptr;
    if (!dst) continue;
    if (kind == "some") some = true;
    while (ls >> field) {
      auto eq = field.find('=');
      if (eq == std::string::npos) continue;
      std::string k = field.substr(0, eq), v = field.substr(eq + 1);
      if (k == "total") parse_u64(v, dst->total_us);
      else {
        double d = 0;
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
        if (ec != std::errc()) continue;
        if (k == "avg10") dst->avg10 = d;
        else if (k == "avg60") dst->avg60 = d;
        else if (k == "avg300") dst->avg300 = d;
      }
    }
  }
  if (!some) return fail("PSI text without a \"some\" line", EINVAL);
  return p;
}

Result<MemoryCgroup> MemoryCgroup::open(const Hierarchy& h, const CgroupPath& path) {
  MemoryCgroup cg(h, path);
  const char* probe = h.version == Version::v1 ? "memory.usage_in_bytes" : "memory.current";
  if (path.is_root() && h.version == Version::v2) probe = "memory.stat";  // the v2 root has no memory.current
  if (::access(cg.file(probe).c_str(), R_OK) != 0)
    return fail_errno("cgroup " + path.dir + ": no " + probe + " (not a memory cgroup?)");
  return cg;
}

Result<std::optional<std::uint64_t>> MemoryCgroup::limit() const {
  if (path_.is_root()) return std::optional<std::uint64_t>();
  auto text = read_file(file(h_.version == Version::v1 ? "memory.limit_in_bytes" : "memory.max"));
  if (!text) return std::unexpected(text.error());
  return parse_limit(*text);
}

Result<std::optional<MemoryCgroup::EffectiveLimit>> MemoryCgroup::effective_limit() const {
  std::optional<EffectiveLimit> best;
  std::string rel = path_.relative;
  for (;;) {
    MemoryCgroup cg(h_, make_path(h_, rel));
    auto l = cg.limit();
    if (!l) return std::unexpected(l.error());
    if (*l && (!best || **l < best->bytes)) best = EffectiveLimit{**l, rel};
    if (rel == "/") break;
    auto slash = rel.rfind('/');
    rel = slash == 0 ? "/" : rel.substr(0, slash);
  }
  return best;
}

Result<std::uint64_t> MemoryCgroup::usage() const {
  auto text = read_file(file(h_.version == Version::v1 ? "memory.usage_in_bytes" : "memory.current"));
  if (!text) return std::unexpected(text.error());
  std::uint64_t v = 0;
  if (!parse_u64(trim(*text), v)) return fail("usage of " + path_.dir + ": not a number", EINVAL);
  return v;
}

Result<std::optional<std::uint64_t>> MemoryCgroup::peak() const {
  auto text = read_file(file(h_.version == Version::v1 ? "memory.max_usage_in_bytes" : "memory.peak"));
  if (!text) {
    if (text.error().code == ENOENT) return std::optional<std::uint64_t>();
    return std::unexpected(text.error());
  }
  std::uint64_t v = 0;
  if (!parse_u64(trim(*text), v)) return fail("peak of " + path_.dir + ": not a number", EINVAL);
  return std::optional<std::uint64_t>(v);
}

Result<MemoryEvents> MemoryCgroup::events() const {
  MemoryEvents ev;
  if (h_.version == Version::v2) {
    auto text = read_file(file("memory.events"));
    if (!text) return std::unexpected(text.error());
    auto kv = parse_flat_keyed(*text);
    ev.max = kv["max"];
    ev.oom = kv["oom"];
    ev.oom_kill = kv["oom_kill"];
    ev.has_oom = true;
    return ev;
  }
  auto oc = read_file(file("memory.oom_control"));
  if (!oc) return std::unexpected(oc.error());
  auto kv = parse_flat_keyed(*oc);
  ev.oom_kill = kv["oom_kill"];
  ev.under_oom = kv["under_oom"] != 0;
  auto fc = read_file(file("memory.failcnt"));
  if (!fc) return std::unexpected(fc.error());
  parse_u64(trim(*fc), ev.max);
  return ev;
}

Result<Pressure> MemoryCgroup::pressure() const {
  std::string own = file("memory.pressure");
  bool system_wide = ::access(own.c_str(), R_OK) != 0;
  std::string src = system_wide ? std::string("/proc/pressure/memory") : own;
  auto text = read_file(src);
  if (!text) return std::unexpected(text.error());
  auto p = parse_pressure(*text);
  if (!p) return wrap(p.error(), src);
  p->source = src;
  p->system_wide = system_wide;
  return p;
}

Result<std::vector<pid_t>> procs_in(const std::string& dir, bool recursive) {
  std::vector<pid_t> out;
  auto read_one = [&](const std::string& d) -> Result<void> {
    auto text = read_file(d + "/cgroup.procs");
    if (!text) {
      // A child cgroup removed while walking is not an error.
      if (d != dir && text.error().code == ENOENT) return {};
      return std::unexpected(text.error());
    }
    std::istringstream in(*text);
    long p;
    while (in >> p) out.push_back(static_cast<pid_t>(p));
    return {};
  };
  if (auto r = read_one(dir); !r) return std::unexpected(r.error());
  if (recursive) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code ec2;
      if (!it->is_directory(ec2)) continue;
      if (auto r = read_one(it->path().string()); !r) return std::unexpected(r.error());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<pid_t>> MemoryCgroup::procs(bool recursive) const { return procs_in(path_.dir, recursive); }

Result<bool> MemoryCgroup::contains(pid_t pid) const {
  auto rel = process_cgroup(pid, h_, "memory");
  if (!rel) return std::unexpected(rel.error());
  if (path_.is_root()) return true;
  return *rel == path_.relative || rel->rfind(path_.relative + "/", 0) == 0;
}

Result<bool> MemoryCgroup::delegates_memory() const {
  if (h_.version == Version::v1) return false;
  auto text = read_file(file("cgroup.subtree_control"));
  if (!text) return std::unexpected(text.error());
  std::istringstream in(*text);
  std::string c;
  while (in >> c)
    if (c == "memory") return true;
  return false;
}

Result<void> MemoryCgroup::add_process(pid_t pid) const {
  auto r = write_file(file("cgroup.procs"), std::to_string(pid));
  if (!r) return wrap(r.error(), "move pid " + std::to_string(pid) + " into cgroup " + path_.dir);
  return {};
}

Result<MemoryCgroup> MemoryCgroup::create(const Hierarchy& h, const std::string& name) {
  auto norm = normalise_relative(name);
  if (!norm) return std::unexpected(norm.error());
  CgroupPath p = make_path(h, *norm);
  if (::mkdir(p.dir.c_str(), 0755) != 0) return fail_errno("create cgroup " + p.dir);
  return MemoryCgroup(h, p);
}

Result<void> MemoryCgroup::set_memory_limit(std::uint64_t bytes) const {
  return write_file(file(h_.version == Version::v1 ? "memory.limit_in_bytes" : "memory.max"),
                    std::to_string(bytes));
}

Result<void> MemoryCgroup::remove() const {
  if (::rmdir(path_.dir.c_str()) != 0 && errno != ENOENT) return fail_errno("remove cgroup " + path_.dir);
  return {};
}

Result<OomEventCounter> OomEventCounter::open(const std::string& cgroup_dir) {
  OomEventCounter c;
  c.event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c.event_fd_ < 0) return fail_errno("eventfd for OOM notifications");
  std::string oc = cgroup_dir + "/memory.oom_control";
  c.control_fd_ = ::open(oc.c_str(), O_RDONLY | O_CLOEXEC);
  if (c.control_fd_ < 0) return fail_errno("open " + oc);
  std::string line = std::to_string(c.event_fd_) + " " + std::to_string(c.control_fd_);
  auto r = write_file(cgroup_dir + "/cgroup.event_control", line);
  if (!r) return wrap(r.error(), "register OOM notification");
  return c;
}

OomEventCounter::OomEventCounter(OomEventCounter&& o) noexcept
    : event_fd_(std::exchange(o.event_fd_, -1)),
      control_fd_(std::exchange(o.control_fd_, -1)),
      total_(o.total_) {}

OomEventCounter& OomEventCounter::operator=(OomEventCounter&& o) noexcept {
  if (this != &o) {
    this->~OomEventCounter();
    event_fd_ = std::exchange(o.event_fd_, -1);
    control_fd_ = std::exchange(o.control_fd_, -1);
    total_ = o.total_;
  }
  return *this;
}

OomEventCounter::~OomEventCounter() {
  if (event_fd_ >= 0) ::close(event_fd_);
  if (control_fd_ >= 0) ::close(control_fd_);
  event_fd_ = control_fd_ = -1;
}

Result<std::uint64_t> OomEventCounter::total() {
  std::uint64_t n = 0;
  ssize_t r = ::read(event_fd_, &n, sizeof n);
  if (r == sizeof n) total_ += n;
  else if (r < 0 && errno != EAGAIN) return fail_errno("read OOM eventfd");
  return total_;
}

Result<std::uint64_t> v2_id(const std::string& path) {
  std::vector<std::string> candidates;
  if (path.rfind("/sys/fs/cgroup", 0) == 0) {
    candidates.push_back(path);
  } else {
    std::string rel = path.empty() || path[0] == '/' ? path : "/" + path;
    candidates.push_back("/sys/fs/cgroup" + rel);
    candidates.push_back("/sys/fs/cgroup/unified" + rel);
  }
  for (const auto& cand : candidates) {
    struct statfs sfs {};
    if (::statfs(cand.c_str(), &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) continue;
    struct stat st {};
    if (::stat(cand.c_str(), &st) != 0) continue;
    return static_cast<std::uint64_t>(st.st_ino);
  }
  return fail(path + ": not a cgroup v2 directory (looked in /sys/fs/cgroup and /sys/fs/cgroup/unified)", ENOENT);
}

}  // namespace chaos::cgroup
