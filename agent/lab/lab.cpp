#include "lab/lab.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/log.h"
#include "lab/http_responder.h"
#include "kernel/netns.h"
#include "kernel/process.h"

namespace chaos {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kMaxEtcdHosts = 9;

std::shared_ptr<spdlog::logger> lab_log() { return logger("lab"); }

InterfaceAddress must_parse(const char* text) {
  auto a = parse_interface_address(text);
  return a ? *a : InterfaceAddress{};
}

Result<void> save(const LabInfo& info) {
  return write_file_atomic(info.state_dir + "/lab.json", lab_to_json(info));
}

Result<LabInfo> load(const std::string& name) {
  if (auto v = validate_lab_name(name); !v) return std::unexpected(v.error());
  std::string path = lab_state_dir(name) + "/lab.json";
  auto text = read_file(path);
  if (!text && text.error().code == ENOENT)
    return fail("no lab \"" + name + "\" (" + path + " not found; run chaosctl lab up)", ENOENT);
  if (!text) return std::unexpected(text.error());
  auto info = lab_from_json(*text);
  if (!info) return wrap(info.error(), path);
  if (info->name != name) return fail(path + " describes lab \"" + info->name + "\"", EINVAL);
  info->state_dir = lab_state_dir(name);
  return info;
}

std::string netns_path_of(const std::string& netns) { return std::string(kNetnsRunDir) + "/" + netns; }

std::string switch_port_for(const std::string& host) { return "v-" + host; }

// The step counter behind LabOptions::crash_after_steps.
struct Steps {
  int crash_after = 0;
  int done = 0;
  void operator()(const char* what) {
    ++done;
    lab_log()->debug("step {}: {}", done, what);
    if (crash_after > 0 && done == crash_after) {
      lab_log()->warn("crash_after_steps={}: killing this process after \"{}\"", crash_after, what);
      raise(SIGKILL);
    }
  }
};

Result<LabHost> add_host(LabInfo& info, const LabHostSpec& spec, Steps& step) {
  std::string what = "lab " + info.name + ": add host " + spec.name;
  if (auto v = validate_lab_host_name(spec.name); !v) return wrap(v.error(), what);
  if (spec.ipv4.family != AF_INET || spec.ipv6.family != AF_INET6)
    return fail(what + ": needs one IPv4 and one IPv6 address", EINVAL);
  for (const auto& h : info.hosts) {
    if (h.name == spec.name) return fail(what + ": already there", EEXIST);
    if (h.ipv4.addr == spec.ipv4.addr || h.ipv6.addr == spec.ipv6.addr)
      return fail(what + ": host " + h.name + " already has one of its addresses", EEXIST);
  }
  LabHost host;
  host.name = spec.name;
  host.netns = lab_netns_name(info.name, spec.name);
  host.interface = kLabInterface;
  host.switch_port = switch_port_for(spec.name);
  host.ipv4 = spec.ipv4;
  host.ipv6 = spec.ipv6;

  // Recorded before it exists: a crash between here and the end leaves nothing unknown.
  if (std::find(info.netns.begin(), info.netns.end(), host.netns) == info.netns.end()) {
    info.netns.push_back(host.netns);
    if (auto r = save(info); !r) return wrap(r.error(), what);
  }
  auto ns = create_named_netns(host.netns);
  if (!ns) return wrap(ns.error(), what);
  step("host netns created");

  auto hsk = NetlinkSocket::open_in(ns->path);
  if (!hsk) return wrap(hsk.error(), what);
  if (auto r = set_link_up(*hsk, "lo"); !r) return wrap(r.error(), what);
  step("host lo up");

  auto sw_fd = NetnsFd::open(netns_path_of(info.switch_netns));
  if (!sw_fd) return wrap(sw_fd.error(), what);
  // The peer is born in the switch namespace: no interface ever appears in the caller's.
  if (auto r = create_veth(*hsk, host.interface, host.switch_port, sw_fd->get()); !r)
    return wrap(r.error(), what);
  step("host veth created");

  auto ssk = NetlinkSocket::open_in(netns_path_of(info.switch_netns));
  if (!ssk) return wrap(ssk.error(), what);
  if (auto r = set_master(*ssk, host.switch_port, info.bridge); !r) return wrap(r.error(), what);
  if (auto r = set_link_up(*ssk, host.switch_port); !r) return wrap(r.error(), what);
  step("switch port enslaved and up");

  if (auto r = add_address(*hsk, host.interface, host.ipv4); !r) return wrap(r.error(), what);
  if (auto r = add_address(*hsk, host.interface, host.ipv6); !r) return wrap(r.error(), what);
  if (auto r = set_link_up(*hsk, host.interface); !r) return wrap(r.error(), what);
  step("host addresses set, eth0 up");

  info.hosts.push_back(host);
  if (auto r = save(info); !r) return wrap(r.error(), what);
  lab_log()->info("lab {}: host {} in netns {} ({}, {})", info.name, host.name, host.netns,
              host.ipv4.str(), host.ipv6.str());
  return host;
}

struct Victim {
  pid_t pid;
  int pidfd;
  std::string why;
};

// Waits until every victim has exited (pidfd readable) or the time is up; returns those left.
std::vector<Victim> wait_exit(std::vector<Victim> vs, std::chrono::milliseconds budget) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  while (!vs.empty()) {
    std::vector<pollfd> pfds;
    for (auto& v : vs) pfds.push_back({v.pidfd, POLLIN, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(left));
    if (n < 0 && errno != EINTR) break;
    std::vector<Victim> still;
    for (std::size_t i = 0; i < vs.size(); ++i) {
      if (pfds[i].revents) {
        ::close(vs[i].pidfd);
      } else {
        still.push_back(vs[i]);
      }
    }
    vs = std::move(still);
  }
  return vs;
}

// SIGTERM, then SIGKILL for whoever is still there after a grace period; returns the pids that
// did not exit even then.
std::string stop_together(std::vector<Victim> vs, const std::string& lab,
                          std::chrono::milliseconds grace = std::chrono::seconds(3)) {
  for (auto& v : vs) {
    lab_log()->info("lab {}: stopping pid {} ({})", lab, v.pid, v.why);
    pidfd_signal(v.pidfd, SIGCONT);  // a stopped process would sit out the whole grace period
    pidfd_signal(v.pidfd, SIGTERM);
  }
  auto left = wait_exit(std::move(vs), grace);
  for (auto& v : left) {
    lab_log()->warn("lab {}: pid {} ignored SIGTERM, sending SIGKILL", lab, v.pid);
    pidfd_signal(v.pidfd, SIGKILL);
  }
  left = wait_exit(std::move(left), std::chrono::seconds(3));
  std::string stuck;
  for (auto& v : left) {
    stuck += " " + std::to_string(v.pid);
    ::close(v.pidfd);
  }
  return stuck;
}

// The lab's etcd members stop one after another: a leader that gets SIGTERM first hands its
// leadership to a live peer, which takes milliseconds while the peer is up and etcd's whole
// transfer timeout when every peer is dying at the same moment (that used to cost 3 s and a
// SIGKILL per etcd lab teardown). Everything else stops together.
Result<void> terminate(std::vector<Victim> vs, const std::string& lab) {
  std::vector<Victim> together;
  std::string stuck;
  for (auto& v : vs) {
    if (v.why.rfind("etcd", 0) == 0) stuck += stop_together({v}, lab, std::chrono::seconds(2));
    else together.push_back(v);
  }
  stuck += stop_together(std::move(together), lab);
  if (!stuck.empty()) return fail("lab " + lab + ": processes did not exit:" + stuck, EBUSY);
  return {};
}

// Every namespace name a lab may own: the recorded ones plus the lab's fixed roles, so that a
// lab whose state file is lost or torn is still removed. Host names carry no '-', so "LAB-ROLE"
// names belong to exactly one lab.
std::vector<std::string> owned_netns(const std::string& name, const LabInfo* info) {
  std::set<std::string> names;
  if (info)
    for (auto& n : info->netns) names.insert(n);
  for (const char* role : {"switch", "client", "server"}) names.insert(lab_netns_name(name, role));
  for (int k = 1; k <= kMaxEtcdHosts; ++k) names.insert(lab_netns_name(name, "etcd" + std::to_string(k)));
  std::vector<std::string> out(names.begin(), names.end());
  // Hosts first, the switch last (cosmetic: ports vanish with their hosts' veths).
  std::stable_partition(out.begin(), out.end(), [&](auto& n) { return n != lab_netns_name(name, "switch"); });
  return out;
}

}  // namespace

// ---- names and plan

std::vector<LabHostSpec> lab_default_hosts() {
  return {{"client", must_parse("198.18.0.10/24"), must_parse("2001:2::10/64")},
          {"server", must_parse("198.18.0.20/24"), must_parse("2001:2::20/64")}};
}

LabHostSpec lab_etcd_host(int k) {
  std::string n = std::to_string(30 + k);
  return {"etcd" + std::to_string(k), must_parse(("198.18.0." + n + "/24").c_str()),
          must_parse(("2001:2::" + n + "/64").c_str())};
}

Result<void> validate_lab_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 32 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!ok)
    return fail("lab name \"" + name + "\": expected 1..32 of A-Z a-z 0-9 - _, starting with a letter or digit",
                EINVAL);
  return {};
}

Result<void> validate_lab_host_name(const std::string& name) {
  // Short enough that "v-" + name fits IFNAMSIZ; no '-' so "LAB-HOST" names one lab only.
  bool ok = !name.empty() && name.size() <= 12 && std::islower(static_cast<unsigned char>(name[0]));
  for (char c : name) ok = ok && (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)));
  if (!ok) return fail("lab host name \"" + name + "\": expected 1..12 of a-z 0-9, starting with a letter", EINVAL);
  return {};
}

std::string lab_state_dir(const std::string& name) { return std::string(kLabStateRoot) + "/" + name; }

// ---- LabInfo

const LabHost* LabInfo::host(const std::string& n) const {
  for (auto& h : hosts)
    if (h.name == n) return &h;
  return nullptr;
}

const LabProcess* LabInfo::process(const std::string& role) const {
  for (auto& p : processes)
    if (p.role == role) return &p;
  return nullptr;
}

bool LabInfo::healthy() const {
  if (state != "ready") return false;
  for (auto& h : hosts)
    if (!h.present) return false;
  for (auto& p : processes)
    if (!p.alive) return false;
  return true;
}

std::string lab_to_json(const LabInfo& info) {
  json j;
  j["name"] = info.name;
  j["state"] = info.state;
  j["switch_netns"] = info.switch_netns;
  j["bridge"] = info.bridge;
  j["netns"] = info.netns;
  j["responder_port"] = info.responder_port;
  j["hosts"] = json::array();
  for (auto& h : info.hosts)
    j["hosts"].push_back({{"name", h.name},
                          {"netns", h.netns},
                          {"interface", h.interface},
                          {"switch_port", h.switch_port},
                          {"ipv4", h.ipv4.str()},
                          {"ipv6", h.ipv6.str()}});
  j["processes"] = json::array();
  for (auto& p : info.processes)
    j["processes"].push_back({{"role", p.role}, {"host", p.host}, {"pid", p.pid}, {"start_time", p.start_time}});
  return j.dump(2) + "\n";
}

Result<LabInfo> lab_from_json(const std::string& text) {
  try {
    json j = json::parse(text);
    LabInfo info;
    info.name = j.at("name").get<std::string>();
    info.state = j.at("state").get<std::string>();
    info.switch_netns = j.at("switch_netns").get<std::string>();
    info.bridge = j.at("bridge").get<std::string>();
    info.netns = j.at("netns").get<std::vector<std::string>>();
    info.responder_port = j.value("responder_port", std::uint16_t{0});
    for (auto& h : j.at("hosts")) {
      LabHost host;
      host.name = h.at("name").get<std::string>();
      host.netns = h.at("netns").get<std::string>();
      host.interface = h.at("interface").get<std::string>();
      host.switch_port = h.at("switch_port").get<std::string>();
      auto v4 = parse_interface_address(h.at("ipv4").get<std::string>());
      auto v6 = parse_interface_address(h.at("ipv6").get<std::string>());
      if (!v4) return wrap(v4.error(), "host " + host.name);
      if (!v6) return wrap(v6.error(), "host " + host.name);
      host.ipv4 = *v4;
      host.ipv6 = *v6;
      info.hosts.push_back(std::move(host));
    }
    for (auto& p : j.at("processes")) {
      LabProcess proc;
      proc.role = p.at("role").get<std::string>();
      proc.host = p.at("host").get<std::string>();
      proc.pid = p.at("pid").get<pid_t>();
      proc.start_time = p.at("start_time").get<std::uint64_t>();
      info.processes.push_back(std::move(proc));
    }
    return info;
  } catch (const json::exception& e) {
    return fail(std::string("bad lab state: ") + e.what(), EINVAL);
  }
}

// ---- the cross-process lock

// Every change to a lab (up, down, a host or process added) holds an exclusive flock on the
// state root, so two chaosctl commands, or a test and a person, never interleave their
// read-modify-write of lab.json or tear down a lab that is being built. The kernel drops the lock
// when its holder dies, so a killed `lab up` never leaves the next command stuck.
namespace {

class LabLock {
 public:
  static Result<LabLock> take() {
    if (mkdir(kLabStateRoot, 0755) != 0 && errno != EEXIST) return fail_errno(std::string("mkdir ") + kLabStateRoot);
    int fd = ::open(kLabStateRoot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail_errno(std::string("open ") + kLabStateRoot);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      auto e = fail_errno(std::string("lock ") + kLabStateRoot);
      ::close(fd);
      return e;
    }
    return LabLock(fd);
  }
  LabLock(LabLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LabLock& operator=(LabLock&&) = delete;
  ~LabLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit LabLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace

// ---- up / down / status

namespace {
Result<void> lab_down_locked(const std::string& name);
}  // namespace

namespace {

Result<LabInfo> lab_up_locked(const LabOptions& opts) {
  if (auto v = validate_lab_name(opts.name); !v) return std::unexpected(v.error());
  if (opts.etcd_hosts < 0 || opts.etcd_hosts > kMaxEtcdHosts)
    return fail("lab up: --etcd must be 0.." + std::to_string(kMaxEtcdHosts), EINVAL);
  const std::string& name = opts.name;
  std::string dir = lab_state_dir(name);

  std::error_code ec;
  if (fs::exists(dir, ec))
    return fail("lab " + name + " already exists (" + dir + "); run chaosctl lab down --name " + name, EEXIST);
  for (auto& n : owned_netns(name, nullptr))
    if (named_netns_exists(n))
      return fail("lab " + name + ": netns " + n + " already exists; run chaosctl lab down --name " + name, EEXIST);

  if (mkdir(kLabStateRoot, 0755) != 0 && errno != EEXIST) return fail_errno(std::string("mkdir ") + kLabStateRoot);
  if (mkdir(dir.c_str(), 0755) != 0) return fail_errno("mkdir " + dir);

  Steps step{opts.crash_after_steps};
  LabInfo info;
  info.name = name;
  info.state = "building";
  info.state_dir = dir;
  info.switch_netns = lab_netns_name(name, "switch");
  info.bridge = kLabBridge;
  info.netns = {info.switch_netns};

  auto build = [&]() -> Result<void> {
    if (auto r = save(info); !r) return r;
    step("state recorded");

    auto sw = create_named_netns(info.switch_netns);
    if (!sw) return std::unexpected(sw.error());
    step("switch netns created");
    {
      auto sk = NetlinkSocket::open_in(sw->path);
      if (!sk) return std::unexpected(sk.error());
      if (auto r = set_link_up(*sk, "lo"); !r) return r;
      if (auto r = create_bridge(*sk, info.bridge); !r) return r;
      if (auto r = set_link_up(*sk, info.bridge); !r) return r;
    }
    step("bridge up");

    std::vector<LabHostSpec> specs = lab_default_hosts();
    for (int k = 1; k <= opts.etcd_hosts; ++k) specs.push_back(lab_etcd_host(k));
    for (auto& spec : specs)
      if (auto h = add_host(info, spec, step); !h) return std::unexpected(h.error());

    if (opts.responder) {
      const LabHost* server = info.host("server");
      HttpResponderOptions ro;
      ro.port = opts.responder_port;
      ro.body = "chaos-lab " + name + " server\n";
      auto pid = spawn_http_responder(netns_path_of(server->netns), ro, dir + "/responder.log");
      if (!pid) return wrap(pid.error(), "lab " + name + ": start HTTP responder");
      step("responder started");
      auto st = proc_start_time(*pid);
      if (!st) return wrap(st.error(), "lab " + name + ": responder");
      info.processes.push_back({"responder", "server", *pid, *st, true});
      info.responder_port = opts.responder_port;
      if (auto r = write_file_atomic(dir + "/responder.pid", std::to_string(*pid) + "\n"); !r) return r;
      if (auto r = save(info); !r) return r;
      step("responder recorded");
    }
    info.state = "ready";
    if (auto r = save(info); !r) return r;
    step("ready");
    return {};
  };

  if (auto r = build(); !r) {
    lab_log()->error("lab {}: {}; removing the partial lab", name, r.error().text());
    if (auto d = lab_down_locked(name); !d) lab_log()->error("lab {}: cleanup: {}", name, d.error().text());
    return wrap(r.error(), "lab up " + name);
  }
  lab_log()->info("lab {} is up ({} hosts)", name, info.hosts.size());
  return lab_status(name);
}

}  // namespace

namespace {

Result<void> lab_down_locked(const std::string& name) {
  if (auto v = validate_lab_name(name); !v) return std::unexpected(v.error());
  std::string dir = lab_state_dir(name);
  auto loaded = load(name);
  std::optional<LabInfo> info;
  if (loaded) {
    info = *loaded;
  } else if (loaded.error().code != ENOENT) {
    lab_log()->warn("lab {}: {}; removing what its names say", name, loaded.error().text());
  }

  // Processes first: the recorded ones (pid + start time, so a recycled pid is left alone),
  // then anything else whose network namespace is one of the lab's (a daemon recorded too
  // late, a shell someone left in `ip netns exec`).
  auto names = owned_netns(name, info ? &*info : nullptr);
  std::vector<NetnsId> ids;
  for (auto& n : names)
    if (auto id = netns_id(netns_path_of(n))) ids.push_back(*id);

  std::vector<Victim> victims;
  // Never ourselves, nor our ancestors: a shell that ran `ip netns exec LAB-client bash` and
  // then `chaosctl lab down` keeps its (now nameless) namespace until it exits.
  std::set<pid_t> seen{getpid()};
  for (pid_t p = getppid(); p > 1 && seen.insert(p).second;) {
    auto st = read_proc_stat(p);
    if (!st) break;
    p = st->ppid;
  }
  auto add_victim = [&](pid_t pid, std::string why) {
    if (!seen.insert(pid).second) return;
    int fd = pidfd_open_pid(pid);
    if (fd < 0) return;  // gone already
    victims.push_back({pid, fd, std::move(why)});
  };
  if (info)
    for (auto& p : info->processes)
      if (process_alive({p.pid, p.start_time})) add_victim(p.pid, p.role);
  if (!ids.empty()) {
    if (DIR* d = opendir("/proc")) {
      while (auto* e = readdir(d)) {
        if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
        pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        struct stat st{};
        if (stat(("/proc/" + std::string(e->d_name) + "/ns/net").c_str(), &st) != 0) continue;
        NetnsId id{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) add_victim(pid, "lives in the lab's netns");
      }
      closedir(d);
    }
  }
  Error first_error;
  if (auto r = terminate(std::move(victims), name); !r) first_error = r.error();

  int removed = 0;
  for (auto& n : names) {
    if (!named_netns_exists(n)) continue;
    if (auto r = delete_named_netns(n); !r) {
      lab_log()->error("lab {}: {}", name, r.error().text());
      if (first_error.message.empty()) first_error = r.error();
    } else {
      ++removed;
    }
  }

  // Mounts under the lab's state (the etcd members' tmpfs), deepest first, before the files go.
  {
    std::vector<std::string> mounts;
    std::ifstream mi("/proc/self/mountinfo");
    for (std::string line; std::getline(mi, line);) {
      std::istringstream f(line);
      std::string id, parent, devno, root, point;
      f >> id >> parent >> devno >> root >> point;
      if (point.rfind(dir + "/", 0) == 0) mounts.push_back(point);
    }
    std::sort(mounts.begin(), mounts.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& m : mounts)
      if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        Error e{errno, "unmount " + m};
        lab_log()->error("lab {}: {}", name, e.text());
        if (first_error.message.empty()) first_error = e;
      }
  }
  std::error_code ec;
  bool had_dir = fs::exists(dir, ec);
  fs::remove_all(dir, ec);
  if (ec && first_error.message.empty()) first_error = Error{ec.value(), "remove " + dir};
  if (!first_error.message.empty()) return wrap(first_error, "lab down " + name);
  if (removed || had_dir)
    lab_log()->info("lab {} is down ({} namespaces removed)", name, removed);
  else
    lab_log()->info("lab {}: nothing to remove", name);
  return {};
}

}  // namespace

Result<LabInfo> lab_status(const std::string& name) {
  auto info = load(name);
  if (!info) return info;
  for (auto& h : info->hosts) {
    h.present = false;
    if (!named_netns_exists(h.netns)) continue;
    auto sk = NetlinkSocket::open_in(netns_path_of(h.netns));
    if (!sk) continue;
    auto up = link_is_up(*sk, h.interface);
    h.present = up && *up;
  }
  for (auto& p : info->processes) p.alive = process_alive({p.pid, p.start_time});
  return info;
}

void print_lab_status(const LabInfo& info, std::ostream& out) {
  out << "lab " << info.name << ": " << info.state << (info.healthy() ? "" : " (degraded)") << "\n";
  out << "  state   " << info.state_dir << "\n";
  out << "  switch  netns " << info.switch_netns << ", bridge " << info.bridge << "\n";
  for (auto& h : info.hosts) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-8s netns %-24s %s %-4s %-16s %s\n", h.name.c_str(), h.netns.c_str(),
                  h.interface.c_str(), h.present ? "up" : "DOWN", h.ipv4.str().c_str(), h.ipv6.str().c_str());
    out << line;
  }
  for (auto& p : info.processes) {
    out << "  " << p.role << " pid " << p.pid << " on " << p.host;
    if (p.role == "responder" && info.responder_port) out << " port " << info.responder_port;
    out << (p.alive ? " alive" : " NOT RUNNING") << "\n";
  }
}

Result<LabHost> lab_host(const std::string& lab, const std::string& host) {
  auto info = load(lab);
  if (!info) return std::unexpected(info.error());
  const LabHost* h = info->host(host);
  if (!h) {
    std::string known;
    for (auto& x : info->hosts) known += (known.empty() ? "" : ", ") + x.name;
    return fail("lab " + lab + " has no host \"" + host + "\" (hosts: " + known + ")", ENOENT);
  }
  if (!named_netns_exists(h->netns))
    return fail("lab " + lab + ": netns " + h->netns + " of host " + host + " is gone (lab down?)", ENOENT);
  LabHost out = *h;
  out.present = true;
  return out;
}

namespace {

Result<LabHost> lab_add_host_locked(const std::string& lab, const LabHostSpec& spec) {
  auto info = load(lab);
  if (!info) return std::unexpected(info.error());
  if (info->state != "ready") return fail("lab " + lab + " is not ready (state " + info->state + ")", EBUSY);
  Steps step;
  return add_host(*info, spec, step);
}

Result<void> lab_record_process_locked(const std::string& lab, const std::string& role, const std::string& host,
                                       pid_t pid) {
  auto info = load(lab);
  if (!info) return std::unexpected(info.error());
  if (!info->host(host)) return fail("lab " + lab + " has no host \"" + host + "\"", ENOENT);
  auto st = proc_start_time(pid);
  if (!st) return wrap(st.error(), "lab " + lab + ": record " + role);
  info->processes.push_back({role, host, pid, *st, true});
  return save(*info);
}

}  // namespace

Result<LabInfo> lab_up(const LabOptions& opts) {
  auto lock = LabLock::take();
  if (!lock) return std::unexpected(lock.error());
  return lab_up_locked(opts);
}

Result<void> lab_down(const std::string& name) {
  auto lock = LabLock::take();
  if (!lock) return std::unexpected(lock.error());
  return lab_down_locked(name);
}

Result<LabHost> lab_add_host(const std::string& lab, const LabHostSpec& spec) {
  auto lock = LabLock::take();
  if (!lock) return std::unexpected(lock.error());
  return lab_add_host_locked(lab, spec);
}

Result<void> lab_record_process(const std::string& lab, const std::string& role, const std::string& host,
                                pid_t pid) {
  auto lock = LabLock::take();
  if (!lock) return std::unexpected(lock.error());
  return lab_record_process_locked(lab, role, host, pid);
}

}  // namespace chaos
