#include "kernel/workload.h"

#include <dirent.h>
#include <glob.h>
#include <pwd.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <sstream>

#include "kernel/process.h"

namespace fs = std::filesystem;

namespace chaos {

namespace {

constexpr std::size_t kListAtMost = 12;

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

Workload cgroup_workload(const cgroup::CgroupPath& p, const std::string& label) {
  Workload w;
  w.label = label;
  w.cgroup = p;
  // A cgroup removed since it was found has no processes.
  w.pids = cgroup::procs_in(p.dir, true).value_or(std::vector<pid_t>{});
  return w;
}

// "a, b, c and 4 more".
std::string listing(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kListAtMost; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > kListAtMost) out += " and " + std::to_string(items.size() - kListAtMost) + " more";
  return out.empty() ? "none" : out;
}

Result<std::vector<Workload>> find_cgroups(const Target& t, const cgroup::Hierarchy& h) {
  if (!has_glob(t.path)) {
    auto p = cgroup::resolve_path(h, t.path);
    if (!p) return std::unexpected(p.error());
    return std::vector<Workload>{cgroup_workload(*p, "cgroup " + p->relative)};
  }
  std::string rel = t.path;
  if (rel.rfind(h.mount + "/", 0) == 0) rel = rel.substr(h.mount.size());
  while (!rel.empty() && rel.front() == '/') rel.erase(rel.begin());
  std::string pattern = h.mount + "/" + rel;
  glob_t g{};
  int rc = glob(pattern.c_str(), GLOB_ONLYDIR, nullptr, &g);
  std::vector<Workload> out;
  if (rc == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) {
      std::string path = g.gl_pathv[i];
      struct stat st {};
      if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      auto p = cgroup::resolve_path(h, path);
      if (!p) continue;  // gone since the glob, or outside the hierarchy
      out.push_back(cgroup_workload(*p, "cgroup " + p->relative));
    }
  }
  globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) return fail("cgroup " + t.path + ": reading the cgroup tree failed", EIO);
  if (out.empty()) {
    // What exists: the directories at the deepest level the pattern names without a wildcard.
    std::string fixed = rel.substr(0, std::min(rel.size(), rel.find_first_of("*?[")));
    fixed = fixed.substr(0, fixed.rfind('/') == std::string::npos ? 0 : fixed.rfind('/'));
    std::string dir = h.mount + (fixed.empty() ? "" : "/" + fixed);
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code ec2;
      if (it->is_directory(ec2)) names.push_back(it->path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return fail("no cgroup matches " + t.path + "; cgroups under /" + fixed + ": " + listing(names), ENOENT);
  }
  std::sort(out.begin(), out.end(), [](const Workload& a, const Workload& b) {
    return a.cgroup.relative < b.cgroup.relative;
  });
  return out;
}

Result<long> real_uid_of(pid_t pid) {
  auto text = cgroup::read_file("/proc/" + std::to_string(pid) + "/status");
  if (!text) return std::unexpected(text.error());
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream f(line.substr(4));
    long uid = -1;
    if (f >> uid) return uid;
  }
  return fail("/proc/" + std::to_string(pid) + "/status: no Uid line", EINVAL);
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const char* n = e->d_name;
    if (*n < '1' || *n > '9') continue;
    char* end = nullptr;
    long p = std::strtol(n, &end, 10);
    if (end && *end == '\0' && p > 0) out.push_back(static_cast<pid_t>(p));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<Workload>> find_processes(const Target& t, const cgroup::Hierarchy& h) {
  auto m = ProcessMatcher::make(t.process);
  if (!m) return std::unexpected(m.error());
  const pid_t self = getpid();
  std::vector<Workload> out;
  std::map<std::string, int> seen;  // comm -> count, for the message when nothing matches
  for (pid_t pid : all_pids()) {
    if (pid == self) continue;
    auto raw = cgroup::read_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (!raw || raw->empty()) continue;  // gone, or a kernel thread
    auto comm = process_comm(pid);
    auto uid = real_uid_of(pid);
    if (!comm || !uid) continue;
    ++seen[*comm];
    std::string argv0 = raw->substr(0, raw->find('\0'));
    if (!m->matches(*comm, cmdline_text(*raw), argv0, *uid)) continue;
    auto cg = cgroup::resolve_pid(h, pid, "memory");
    if (!cg) continue;  // exited since
    Workload w;
    w.label = "pid " + std::to_string(pid) + " (" + *comm + ")";
    w.cgroup = *cg;
    w.pids = {pid};
    out.push_back(std::move(w));
  }
  if (out.empty()) {
    std::vector<std::pair<std::string, int>> by_count(seen.begin(), seen.end());
    std::stable_sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::string> names;
    for (const auto& [c, n] : by_count) names.push_back(c + " (" + std::to_string(n) + ")");
    return fail("no process matches " + t.process.str() + "; processes here: " + listing(names), ENOENT);
  }
  return out;
}

}  // namespace

nlohmann::json Workload::to_json() const {
  return {{"label", label}, {"cgroup", cgroup.relative}, {"pids", pids}};
}

std::vector<const Workload*> WorkloadSet::chosen() const {
  std::vector<const Workload*> out;
  for (auto i : choice.chosen)
    if (i < matches.size()) out.push_back(&matches[i]);
  return out;
}

std::vector<std::string> WorkloadSet::plan_lines() const {
  std::vector<std::string> out;
  out.push_back(std::to_string(matches.size()) + (matches.size() == 1 ? " match" : " matches") + ", chose " +
                choice.str(matches.size()));
  for (std::size_t i = 0; i < matches.size(); ++i) {
    bool taken = std::find(choice.chosen.begin(), choice.chosen.end(), i) != choice.chosen.end();
    out.push_back(std::string(taken ? "  chosen: " : "  passed over: ") + matches[i].label);
  }
  return out;
}

nlohmann::json WorkloadSet::to_json(const Target& t) const {
  nlohmann::json m = nlohmann::json::array(), c = nlohmann::json::array();
  for (const auto& w : matches) m.push_back(w.label);
  for (const auto* w : chosen()) c.push_back(w->to_json());
  nlohmann::json j{{"target", t.to_json()}, {"matches", m}, {"chosen", c}, {"seed", choice.seed}};
  if (choice.percent >= 0) j["percentDrawn"] = choice.percent;
  return j;
}

std::string cmdline_text(const std::string& raw) {
  std::string out = raw;
  while (!out.empty() && out.back() == '\0') out.pop_back();
  std::replace(out.begin(), out.end(), '\0', ' ');
  return out;
}

Result<long> resolve_user(const std::string& user) {
  if (!user.empty() && std::all_of(user.begin(), user.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (user.size() > 10) return fail("user " + user + ": not a uid", EINVAL);
    return std::stol(user);
  }
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return fail("user " + user + ": reading the user database failed", rc);
  if (!found) return fail("user " + user + ": no such user on this node", ENOENT);
  return static_cast<long>(pw.pw_uid);
}

Result<ProcessMatcher> ProcessMatcher::make(const ProcessSelector& sel) {
  ProcessMatcher m;
  m.sel_ = sel;
  if (!sel.user.empty()) {
    auto uid = resolve_user(sel.user);
    if (!uid) return std::unexpected(uid.error());
    m.uid_ = *uid;
  }
  if (!sel.cmdline.empty()) {
    auto* rx = new regex_t;
    int rc = regcomp(rx, sel.cmdline.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char buf[256];
      regerror(rc, rx, buf, sizeof buf);
      delete rx;
      return fail("cmdline \"" + sel.cmdline + "\": " + buf, EINVAL);
    }
    m.regex_ = rx;
  }
  return m;
}

ProcessMatcher::ProcessMatcher(ProcessMatcher&& o) noexcept
    : sel_(std::move(o.sel_)), uid_(o.uid_), regex_(o.regex_) {
  o.regex_ = nullptr;
}

ProcessMatcher::~ProcessMatcher() {
  if (regex_) {
    regfree(static_cast<regex_t*>(regex_));
    delete static_cast<regex_t*>(regex_);
  }
}

bool ProcessMatcher::matches(const std::string& comm, const std::string& cmdline, const std::string& argv0,
                             long uid) const {
  if (!sel_.name.empty()) {
    std::string base = argv0.substr(argv0.rfind('/') == std::string::npos ? 0 : argv0.rfind('/') + 1);
    if (comm != sel_.name && base != sel_.name) return false;
  }
  if (uid_ >= 0 && uid != uid_) return false;
  if (regex_ && regexec(static_cast<const regex_t*>(regex_), cmdline.c_str(), 0, nullptr, 0) != 0) return false;
  return true;
}

Result<std::vector<Workload>> find_workloads(const Target& t, const cgroup::Hierarchy& h) {
  switch (t.kind) {
    case Target::Kind::cgroup: return find_cgroups(t, h);
    case Target::Kind::unit: {
      auto p = cgroup::resolve_unit(h, t.unit);
      if (!p) return std::unexpected(p.error());
      return std::vector<Workload>{cgroup_workload(*p, "unit " + t.unit + " (cgroup " + p->relative + ")")};
    }
    case Target::Kind::pid: {
      auto comm = process_comm(t.pid);
      if (!comm) return fail("pid " + std::to_string(t.pid) + ": no such process", ENOENT);
      auto p = cgroup::resolve_pid(h, t.pid, "memory");
      if (!p) return std::unexpected(p.error());
      Workload w;
      w.label = "pid " + std::to_string(t.pid) + " (" + *comm + ")";
      w.cgroup = *p;
      w.pids = {t.pid};
      return std::vector<Workload>{std::move(w)};
    }
    case Target::Kind::process: return find_processes(t, h);
    case Target::Kind::host:
    case Target::Kind::netns:
    case Target::Kind::lab: break;
  }
  return fail("target " + t.str() + " names a namespace, not processes or cgroups", EINVAL);
}

Result<WorkloadSet> resolve_workloads(const Target& t, const cgroup::Hierarchy& h) {
  WorkloadSet out;
  auto m = find_workloads(t, h);
  if (!m) return std::unexpected(m.error());
  out.matches = std::move(*m);
  auto c = choose(out.matches.size(), t.select);
  if (!c) return wrap(c.error(), "target " + t.str());
  out.choice = std::move(*c);
  return out;
}

}  // namespace chaos
