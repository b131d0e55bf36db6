// The etcd fault: isolate a member chosen by its role (leader, follower, any, a name) from its
// peers, or cut local clients off from the cluster, with the network family's eBPF drop (the
// same classifier, dead-man lease and journal entries as a partition), while watching what the
// members themselves see (cluster_watch.h).
//
// isolate-member: roles come from etcd's own API when the fault starts (not when it is
// planned: leadership moves). The chosen member's peer port is dropped in both directions on
// the interface its namespace routes the peers through; its client port too with alsoClients.
// cut-clients: the client port of every endpoint is dropped on the way out of the clients'
// namespace (only for one cgroup's sockets when clients.cgroup is given).
#pragma once

#include <memory>

#include "faults/fault.h"

namespace chaos::etcd {

Result<std::unique_ptr<Fault>> make_etcd_fault(const FaultEntry& entry, const FaultContext& ctx);

}  // namespace chaos::etcd
