// Who may do what on the API socket (docs/operations.md "Who may do what").
//
// Three tiers, by what a request can do to the node:
//   read     status, report, validate, run --dry-run, schedule list/show, audit, ping
//            -> uid 0, or a member of api.group or api.operatorsGroup
//   halt     halt (the kill switch: it only ever takes faults away)
//            -> the same as read
//   operate  run, recover, schedule add/remove/pause/resume/trigger
//            -> uid 0, or a member of api.operatorsGroup
// The uid the agent itself runs as counts as uid 0: that user can already do whatever the agent can.
//
// The caller is who connected: the kernel's SO_PEERCRED (uid, gid, pid) and SO_PEERGROUPS (the
// supplementary groups), both taken at connect(), so a pid reused after the caller exits cannot
// lend its groups to anyone. The groups are the connecting process's own, not /etc/group's
// membership list: the same set the kernel checked against the socket file's group when it let the
// process connect, so the agent and the file permission never disagree (a user added to a group
// gets it at their next login, for both).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace chaos {

enum class Access { read, halt, operate };

// The tier of an op. An unknown op is `read` (its answer says it is unknown, to those who may ask).
Access access_for(std::string_view op, bool dry_run);
// Whether a request may change the node (audited before it acts).
inline bool changes_node(Access a) { return a != Access::read; }

// The connecting process, as the kernel saw it at connect().
struct Peer {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;                // 0 when not visible (another pid namespace)
  std::vector<gid_t> groups;    // supplementary, from SO_PEERGROUPS
  std::string exe;              // readlink /proc/PID/exe at accept; "" when unknown
  // Names, for messages and the audit log (filled by describe(); numbers when unknown).
  std::string user;
  std::vector<std::string> group_names;  // the primary group first, then the supplementary ones
};

// SO_PEERCRED + SO_PEERGROUPS of a connected unix socket, and the peer's executable. The exe is
// read through /proc/PID/exe and kept only when the process is provably the one that connected
// (SO_PEERPIDFD: the pidfd still names a live process after the read, so the pid was not reused);
// on kernels without SO_PEERPIDFD it is kept with " (unverified)" appended.
Result<Peer> read_peer(int fd);
// Fills user and group_names from the user and group databases.
void describe(Peer& peer);

// The groups a decision is made against, resolved once (at listen()).
struct AccessPolicy {
  std::string group;            // api.group
  std::optional<gid_t> group_gid;  // none: the group does not exist here
  std::string operators_group;  // api.operatorsGroup
  std::optional<gid_t> operators_gid;
  uid_t agent_uid = 0;          // counts as root

  // Looks both groups up in the group database.
  static AccessPolicy resolve(const ApiConfig& api, uid_t agent_uid);
};

struct Decision {
  bool allowed = false;
  std::string needs;  // "uid 0 or group chaos-operators"
};

// The policy table: pure, so the unit tier tests it without users or sockets.
Decision authorize(Access tier, const Peer& peer, const AccessPolicy& policy);

// "permission denied: run needs uid 0 or group chaos-operators; caller uid 1001 (alice), pid 4242,
// groups chaos" (peer described first).
std::string refusal_text(std::string_view op, const Decision& d, const Peer& peer);

}  // namespace chaos
