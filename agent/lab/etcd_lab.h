// An etcd cluster in the lab: `chaosctl lab up --etcd K` makes hosts etcd1..etcdK (lab.h) and
// then starts one member of Debian's etcd-server in each, one cluster among them.
//
//   member K: name etcdK, netns LAB-etcdK, peer http://198.18.0.(30+K):2380,
//             client http://198.18.0.(30+K):2379 (and http://127.0.0.1:2379 inside its netns)
//   data:     STATE_DIR/etcdK/ (the lab's state dir is on /run: tmpfs, so fsync is cheap)
//   log:      STATE_DIR/etcdK.log
//   config:   STATE_DIR/etcd.json (what was started, with the raft timing it was given)
//
// Raft timing defaults to etcd's own (heartbeat 100ms, election timeout 1000ms) with pre-vote
// on: a member cut off from its peers then cannot raise the term behind their backs, so its
// return does not depose a healthy leader (etcd 3.4 has pre-vote off by default; 3.5 on).
// Members are recorded as lab processes: `lab down` stops them with the rest of the lab.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "lab/lab.h"

namespace chaos {

inline constexpr const char* kEtcdBinary = "/usr/bin/etcd";

struct LabEtcdOptions {
  std::string binary = kEtcdBinary;
  std::chrono::milliseconds heartbeat{100};
  std::chrono::milliseconds election_timeout{1000};
  bool pre_vote = true;
  std::uint16_t client_port = 2379;
  std::uint16_t peer_port = 2380;
  // Until every member answers /health (it has a leader and serves).
  std::chrono::milliseconds ready_timeout{30000};
};

struct LabEtcdMember {
  std::string name;   // etcdK
  std::string host;   // the lab host, etcdK
  std::string netns;  // LAB-etcdK
  std::string client_url, peer_url;
  std::string data_dir, log;
  pid_t pid = 0;
};

struct LabEtcdCluster {
  std::string lab;
  std::vector<LabEtcdMember> members;
  std::chrono::milliseconds heartbeat{0}, election_timeout{0};
  bool pre_vote = false;
  std::string token;  // --initial-cluster-token
  std::string version;
  std::vector<std::string> client_urls() const;
};

// Starts one member in every etcdK host of `lab`, waits until all of them are healthy, records
// them as lab processes and writes STATE_DIR/etcd.json. Refuses a lab without etcd hosts and
// one whose members were started already (EEXIST). On failure the members it started are
// stopped again.
Result<LabEtcdCluster> lab_start_etcd(const LabInfo& lab, const LabEtcdOptions& opts = {});
// What lab_start_etcd() wrote (ENOENT: no etcd in that lab).
Result<LabEtcdCluster> lab_etcd_cluster(const std::string& lab);
// "etcd 3.4.23: 3 members, heartbeat 100ms, election timeout 1000ms, pre-vote on\n  etcd1 ..."
std::string describe_lab_etcd(const LabEtcdCluster& c);

}  // namespace chaos
