#include "lab/etcd_lab.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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
using namespace std::chrono;

std::shared_ptr<spdlog::logger> etcd_lab_log() { return logger("lab"); }

// A member is a daemon (kernel/process.h): it outlives chaosctl, is never its zombie, and keeps
// nothing of the caller's. A small, fixed environment: nothing of the caller's leaks into it.
Result<pid_t> spawn_member(const std::string& netns_path, const std::string& log_path,
                           const std::vector<std::string>& args) {
  DaemonOptions d;
  d.name = "etcd";
  d.netns_path = netns_path;
  d.log_path = log_path;
  return spawn_daemon(d, args, {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GOMAXPROCS=2"});
}

json to_json(const LabEtcdCluster& c) {
  json m = json::array();
  for (const auto& x : c.members)
    m.push_back({{"name", x.name}, {"host", x.host}, {"netns", x.netns}, {"clientURL", x.client_url},
                 {"peerURL", x.peer_url}, {"dataDir", x.data_dir}, {"log", x.log}, {"pid", x.pid}});
  return {{"lab", c.lab},
          {"members", m},
          {"heartbeat_ms", c.heartbeat.count()},
          {"electionTimeout_ms", c.election_timeout.count()},
          {"preVote", c.pre_vote},
          {"token", c.token},
          {"version", c.version}};
}

std::string etcd_version(const std::string& binary) {
  // The banner etcd prints for --version.
  auto out = run_capture({binary, "--version"});
  if (!out) return "";
  auto pos = out->find("etcd Version: ");
  if (pos == std::string::npos) return "";
  auto end = out->find('\n', pos);
  return out->substr(pos + 14, end == std::string::npos ? std::string::npos : end - pos - 14);
}

}  // namespace

std::vector<std::string> LabEtcdCluster::client_urls() const {
  std::vector<std::string> out;
  for (const auto& m : members) out.push_back(m.client_url);
  return out;
}

Result<LabEtcdCluster> lab_start_etcd(const LabInfo& lab, const LabEtcdOptions& opts) {
  std::string what = "lab " + lab.name + ": etcd";
  if (::access(opts.binary.c_str(), X_OK) != 0)
    return fail(what + ": " + opts.binary + " not found (scripts/install-deps.sh installs etcd-server)", ENOENT);
  std::vector<const LabHost*> hosts;
  for (const auto& h : lab.hosts)
    if (h.name.rfind("etcd", 0) == 0) hosts.push_back(&h);
  if (hosts.empty()) return fail(what + ": the lab has no etcd hosts (lab up --etcd K)", ENOENT);
  std::string conf = lab.state_dir + "/etcd.json";
  if (::access(conf.c_str(), F_OK) == 0) return fail(what + ": already started (" + conf + ")", EEXIST);

  // The members' data on a tmpfs of the lab's own: the sandbox's etcd stands in for a cluster
  // whose faults are the network's, and a write must not wait for a shared, busy disk's fsync
  // (seconds on a loaded machine) to be the steady state. lab down unmounts it.
  const std::string data_root = lab.state_dir + "/etcd-data";
  if (::mkdir(data_root.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno(what + ": mkdir " + data_root);
  if (::mount("chaos-lab-etcd", data_root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=512m,mode=0700") != 0)
    return fail_errno(what + ": mount a tmpfs on " + data_root);

  LabEtcdCluster c;
  c.lab = lab.name;
  c.heartbeat = opts.heartbeat;
  c.election_timeout = opts.election_timeout;
  c.pre_vote = opts.pre_vote;
  c.token = "chaos-lab-" + lab.name;
  c.version = etcd_version(opts.binary);
  std::string initial;
  for (const auto* h : hosts) {
    LabEtcdMember m;
    m.name = h->name;
    m.host = h->name;
    m.netns = h->netns;
    m.peer_url = "http://" + h->ipv4.ip() + ":" + std::to_string(opts.peer_port);
    m.client_url = "http://" + h->ipv4.ip() + ":" + std::to_string(opts.client_port);
    m.data_dir = data_root + "/" + h->name;
    m.log = lab.state_dir + "/" + h->name + ".log";
    initial += (initial.empty() ? "" : ",") + m.name + "=" + m.peer_url;
    c.members.push_back(m);
  }

  auto stop_started = [&] {
    for (auto& m : c.members)
      if (m.pid > 0) kill(m.pid, SIGKILL);
  };
  for (auto& m : c.members) {
    std::vector<std::string> args{opts.binary,
                                  "--name=" + m.name,
                                  "--data-dir=" + m.data_dir,
                                  "--listen-peer-urls=" + m.peer_url,
                                  "--initial-advertise-peer-urls=" + m.peer_url,
                                  "--listen-client-urls=" + m.client_url + ",http://127.0.0.1:" +
                                      std::to_string(opts.client_port),
                                  "--advertise-client-urls=" + m.client_url,
                                  "--initial-cluster=" + initial,
                                  "--initial-cluster-state=new",
                                  "--initial-cluster-token=" + c.token,
                                  "--heartbeat-interval=" + std::to_string(opts.heartbeat.count()),
                                  "--election-timeout=" + std::to_string(opts.election_timeout.count()),
                                  std::string("--pre-vote=") + (opts.pre_vote ? "true" : "false"),
                                  "--logger=zap",
                                  "--log-outputs=stderr"};
    auto pid = spawn_member(std::string(kNetnsRunDir) + "/" + m.netns, m.log, args);
    if (!pid) {
      stop_started();
      return wrap(pid.error(), what);
    }
    m.pid = *pid;
    // Recorded at once: from here on `lab down` stops it whatever happens to this process.
    if (auto r = lab_record_process(lab.name, m.name, m.host, m.pid); !r) {
      stop_started();
      return wrap(r.error(), what);
    }
  }

  // Ready when every member answers /health (it has a leader and serves reads) from inside its
  // own namespace.
  auto deadline = steady_clock::now() + opts.ready_timeout;
  for (auto& m : c.members) {
    std::string ip = m.client_url.substr(7, m.client_url.rfind(':') - 7);
    std::string last;
    bool ready = false;
    while (!ready && steady_clock::now() < deadline) {
      if (kill(m.pid, 0) != 0) {
        stop_started();
        return fail(what + ": member " + m.name + " exited (see " + m.log + ")", ESRCH);
      }
      std::thread t([&] {
        auto g = NetnsGuard::enter(std::string(kNetnsRunDir) + "/" + m.netns);
        if (!g) {
          last = g.error().text();
          return;
        }
        auto r = http_get(ip, opts.client_port, "/health", milliseconds(1000));
        if (r && r->status == 200 && r->body.find("\"true\"") != std::string::npos) ready = true;
        else last = r ? "HTTP " + std::to_string(r->status) + " " + r->body : r.error().text();
      });
      t.join();
      if (!ready) std::this_thread::sleep_for(milliseconds(100));
    }
    if (!ready) {
      stop_started();
      return fail(what + ": member " + m.name + " not healthy within " + std::to_string(opts.ready_timeout.count()) +
                      "ms (last answer: " + last + "; see " + m.log + ")",
                  ETIMEDOUT);
    }
  }
  if (auto r = write_file_atomic(conf, to_json(c).dump(2) + "\n"); !r) {
    stop_started();
    return wrap(r.error(), what);
  }
  etcd_lab_log()->info("lab {}: etcd cluster of {} members is up (heartbeat {}ms, election timeout {}ms, pre-vote {})",
                  lab.name, c.members.size(), c.heartbeat.count(), c.election_timeout.count(), c.pre_vote);
  return c;
}

Result<LabEtcdCluster> lab_etcd_cluster(const std::string& lab) {
  std::string path = lab_state_dir(lab) + "/etcd.json";
  std::ifstream in(path);
  if (!in) return fail("lab " + lab + " has no etcd cluster (" + path + ")", ENOENT);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(path + ": not JSON", EINVAL);
  LabEtcdCluster c;
  c.lab = j.value("lab", lab);
  c.heartbeat = milliseconds(j.value("heartbeat_ms", 0));
  c.election_timeout = milliseconds(j.value("electionTimeout_ms", 0));
  c.pre_vote = j.value("preVote", false);
  c.token = j.value("token", std::string());
  c.version = j.value("version", std::string());
  for (const auto& m : j.value("members", json::array())) {
    LabEtcdMember x;
    x.name = m.value("name", std::string());
    x.host = m.value("host", std::string());
    x.netns = m.value("netns", std::string());
    x.client_url = m.value("clientURL", std::string());
    x.peer_url = m.value("peerURL", std::string());
    x.data_dir = m.value("dataDir", std::string());
    x.log = m.value("log", std::string());
    x.pid = m.value("pid", 0);
    c.members.push_back(x);
  }
  return c;
}

std::string describe_lab_etcd(const LabEtcdCluster& c) {
  std::string out = "etcd " + (c.version.empty() ? std::string("?") : c.version) + ": " +
                    std::to_string(c.members.size()) + " members, heartbeat " + std::to_string(c.heartbeat.count()) +
                    "ms, election timeout " + std::to_string(c.election_timeout.count()) + "ms, pre-vote " +
                    (c.pre_vote ? "on" : "off") + "\n";
  for (const auto& m : c.members)
    out += "  " + m.name + " pid " + std::to_string(m.pid) + " client " + m.client_url + " peer " + m.peer_url +
           " (netns " + m.netns + ")\n";
  return out;
}

}  // namespace chaos
