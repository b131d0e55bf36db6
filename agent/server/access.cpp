#include "server/access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5
#endif

namespace chaos {

Access access_for(std::string_view op, bool dry_run) {
  if (op == "halt") return Access::halt;
  if (op == "run") return dry_run ? Access::read : Access::operate;
  if (op == "recover" || op == "schedule.add" || op == "schedule.remove" || op == "schedule.pause" ||
      op == "schedule.resume" || op == "schedule.trigger")
    return Access::operate;
  // status, report, validate, ping, audit, schedule.list, schedule.show, and unknown ops.
  return Access::read;
}

namespace {

bool in_group(const Peer& p, gid_t g) {
  return p.gid == g || std::find(p.groups.begin(), p.groups.end(), g) != p.groups.end();
}

std::string user_name(uid_t uid) {
  std::array<char, 4096> buf{};
  passwd pw{}, *res = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res) return pw.pw_name;
  return std::to_string(uid);
}

std::string group_name(gid_t gid) {
  std::array<char, 4096> buf{};
  group gr{}, *res = nullptr;
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &res) == 0 && res) return gr.gr_name;
  return std::to_string(gid);
}

std::optional<gid_t> lookup_gid(const std::string& name) {
  // Large groups (thousands of members) need a large buffer.
  std::vector<char> buf(16384);
  for (;;) {
    group gr{}, *res = nullptr;
    int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res);
    if (rc == ERANGE && buf.size() < (1u << 24)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc == 0 && res) return gr.gr_gid;
    return std::nullopt;
  }
}

}  // namespace

Result<Peer> read_peer(int fd) {
  Peer p;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return fail_errno("SO_PEERCRED");
  p.uid = cred.uid;
  p.gid = cred.gid;
  p.pid = cred.pid;
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      break;
    }
    // ERANGE: glen now says how much is needed (NGROUPS_MAX is 65536).
    if (errno == ERANGE && glen / sizeof(gid_t) > groups.size() && glen / sizeof(gid_t) <= 65536) {
      groups.resize(glen / sizeof(gid_t));
      continue;
    }
    // Without the supplementary groups only root and primary-group members could be authorized;
    // refuse instead of guessing.
    return fail_errno("SO_PEERGROUPS");
  }
  p.groups = std::move(groups);
  if (p.pid > 0) {
    int pidfd = -1;
    socklen_t plen = sizeof pidfd;
    bool have_pidfd = ::getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &plen) == 0 && pidfd >= 0;
    std::array<char, 4096> buf{};
    std::string link = "/proc/" + std::to_string(p.pid) + "/exe";
    ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
    if (n > 0) {
      std::string exe(buf.data(), static_cast<std::size_t>(n));
      if (have_pidfd) {
        // Alive after the read: the pid was the connecting process's all along. Gone: the pid may
        // already name someone else, whose exe this could be.
        if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0) p.exe = std::move(exe);
      } else {
        p.exe = exe + " (unverified)";
      }
    }
    if (have_pidfd) ::close(pidfd);
  }
  return p;
}

void describe(Peer& p) {
  p.user = user_name(p.uid);
  p.group_names.clear();
  p.group_names.push_back(group_name(p.gid));
  for (gid_t g : p.groups) {
    if (g == p.gid) continue;
    p.group_names.push_back(group_name(g));
  }
}

AccessPolicy AccessPolicy::resolve(const ApiConfig& api, uid_t agent_uid) {
  AccessPolicy p;
  p.group = api.group;
  p.group_gid = lookup_gid(api.group);
  p.operators_group = api.operators_group;
  p.operators_gid = lookup_gid(api.operators_group);
  p.agent_uid = agent_uid;
  return p;
}

Decision authorize(Access tier, const Peer& peer, const AccessPolicy& policy) {
  Decision d;
  // Only groups that exist are offered as a way in; one that does not is named as such.
  std::vector<std::string> ways{"uid 0"};
  std::vector<std::string> missing;
  auto offer = [&](const std::string& name, const std::optional<gid_t>& gid) {
    if (gid) ways.push_back(name);
    else missing.push_back(name);
  };
  if (tier != Access::operate) offer(policy.group, policy.group_gid);
  if (tier != Access::operate && policy.operators_group == policy.group) {
    // One group for both tiers: say it once.
  } else {
    offer(policy.operators_group, policy.operators_gid);
  }
  if (ways.size() == 1) d.needs = "uid 0";
  else {
    d.needs = "uid 0 or group " + ways[1];
    for (std::size_t i = 2; i < ways.size(); ++i) d.needs += " or " + ways[i];
  }
  for (const auto& m : missing) d.needs += " (group " + m + " does not exist on this node)";

  if (peer.uid == 0 || peer.uid == policy.agent_uid) {
    d.allowed = true;
    return d;
  }
  if (policy.operators_gid && in_group(peer, *policy.operators_gid)) {
    d.allowed = true;
    return d;
  }
  if (tier != Access::operate && policy.group_gid && in_group(peer, *policy.group_gid)) d.allowed = true;
  return d;
}

std::string refusal_text(std::string_view op, const Decision& d, const Peer& peer) {
  std::string s = "permission denied: " + std::string(op) + " needs " + d.needs + "; caller uid " +
                  std::to_string(peer.uid) + " (" + (peer.user.empty() ? std::to_string(peer.uid) : peer.user) +
                  "), pid " + std::to_string(peer.pid) + ", groups ";
  if (peer.group_names.empty()) {
    s += std::to_string(peer.gid);
    for (gid_t g : peer.groups)
      if (g != peer.gid) s += "," + std::to_string(g);
  } else {
    for (std::size_t i = 0; i < peer.group_names.size(); ++i) s += (i ? "," : "") + peer.group_names[i];
  }
  return s;
}

}  // namespace chaos
