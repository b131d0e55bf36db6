// `chaosctl lab`: a private network sandbox made of named network namespaces.
//
//   N-switch   holds bridge br0; one port v-HOST per host
//   N-client   eth0 198.18.0.10/24  2001:2::10/64
//   N-server   eth0 198.18.0.20/24  2001:2::20/64, HTTP responder on 0.0.0.0:8080 and [::]:8080
//   N-etcdK    eth0 198.18.0.(30+K)/24  2001:2::(30+K)/64   (lab up --etcd K; topology only)
//
// Addresses come from the benchmarking ranges (198.18.0.0/15, RFC 2544; 2001:2::/48, RFC 5180):
// never routed, so the lab is obviously private. No namespace gets a default route, so nothing
// in a lab can reach past the bridge. Loopback is up everywhere.
//
// State: /run/chaos-lab/N/lab.json (written before every change it describes, so a lab killed
// half-way is still fully known), responder.pid, responder.log. `lab down` works from that file,
// also kills every process still living in one of the lab's namespaces, and is idempotent.
// One lab is changed by one caller at a time (no locking across processes).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/net_target.h"  // kLabDefaultName, kLabInterface, lab_netns_name()
#include "core/result.h"
#include "kernel/netlink.h"

namespace chaos {

inline constexpr const char* kLabStateRoot = "/run/chaos-lab";
inline constexpr const char* kLabBridge = "br0";
inline constexpr std::uint16_t kLabResponderPort = 8080;

// A host to add: a name (1..12 of [a-z0-9-], starting with a letter) and its addresses.
struct LabHostSpec {
  std::string name;
  InterfaceAddress ipv4;
  InterfaceAddress ipv6;
};

struct LabHost {
  std::string name;         // "client"
  std::string netns;        // "chaoslab-client"
  std::string interface;    // "eth0" inside netns
  std::string switch_port;  // "v-client" inside the switch namespace, enslaved to br0
  InterfaceAddress ipv4;
  InterfaceAddress ipv6;
  // Filled by lab_status(): the namespace exists and eth0 is up in it.
  bool present = false;
};

// A process the lab owns (the responder; etcd members later). `lab down` kills it.
struct LabProcess {
  std::string role;  // "responder", "etcd1", ...
  std::string host;  // the lab host it runs in
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // /proc/PID/stat field 22 (kernel/process.h): tells a recycled pid apart
  bool alive = false;            // filled by lab_status()
};

struct LabInfo {
  std::string name;
  std::string state;  // "building" until lab_up() finished, then "ready"
  std::string state_dir;
  std::string switch_netns;
  std::string bridge;
  std::vector<std::string> netns;  // every namespace the lab made (or was about to make)
  std::vector<LabHost> hosts;
  std::vector<LabProcess> processes;
  std::uint16_t responder_port = 0;  // 0: no responder

  const LabHost* host(const std::string& name) const;
  const LabProcess* process(const std::string& role) const;
  // Status view: ready, every host present, every recorded process alive.
  bool healthy() const;
};

struct LabOptions {
  std::string name = kLabDefaultName;
  bool responder = true;  // the HTTP responder on the server
  std::uint16_t responder_port = kLabResponderPort;
  int etcd_hosts = 0;  // 0..9 extra hosts etcd1..etcdK (topology only; nothing is launched)
  // Test hook: SIGKILL the calling process right after this many build steps (0: never), to
  // prove that `lab down` cleans a lab killed half-way.
  int crash_after_steps = 0;
};

// The built-in address plan.
std::vector<LabHostSpec> lab_default_hosts();  // client, server
LabHostSpec lab_etcd_host(int k);               // etcdK at .30+K, 1 <= K <= 9

// Names: 1..32 of [A-Za-z0-9_-], starting with a letter or digit.
Result<void> validate_lab_name(const std::string& name);
Result<void> validate_lab_host_name(const std::string& name);
std::string lab_state_dir(const std::string& name);

// Builds the lab. EEXIST when any part of it (state dir, one of its namespaces) is there
// already: run lab_down first. On failure the partial lab is removed before returning.
Result<LabInfo> lab_up(const LabOptions& opts);
// Removes everything the lab made: its processes (recorded ones, checked by start time, and
// any other process living in one of its namespaces), namespaces, state dir. Succeeds when
// there is nothing to remove.
Result<void> lab_down(const std::string& name);
// Reads the state and checks it against the kernel (namespaces, eth0 up, processes alive).
// ENOENT when no such lab.
Result<LabInfo> lab_status(const std::string& name);
void print_lab_status(const LabInfo& info, std::ostream& out);

// What an experiment's `lab: HOST` resolves to. ENOENT when the lab or host does not exist.
Result<LabHost> lab_host(const std::string& lab, const std::string& host);
// Adds a host to an existing lab (bridge port, namespace, eth0, addresses). EEXIST when a host
// of that name or with one of those addresses is already there.
Result<LabHost> lab_add_host(const std::string& lab, const LabHostSpec& spec);
// Records a process as the lab's (so lab down kills it). The pid must be alive.
Result<void> lab_record_process(const std::string& lab, const std::string& role,
                                const std::string& host, pid_t pid);

// lab.json <-> LabInfo (exposed for tests).
std::string lab_to_json(const LabInfo& info);
Result<LabInfo> lab_from_json(const std::string& text);

}  // namespace chaos
