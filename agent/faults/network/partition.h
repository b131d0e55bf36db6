// Partition: the classifier drops matching packets on the interface's egress, ingress or both.
#pragma once

#include <memory>

#include "faults/fault.h"
#include "faults/network/spec.h"
#include "kernel/classifier.h"

namespace chaos::network {

// Builds the classifier configuration for one direction of a network block.
kernel::ClassifierConfig classifier_config(const NetworkSpec& spec, kernel::TcDirection dir,
                                           kernel::ClassifierAction action, std::uint64_t cgroup_id);

// Attaches a loaded classifier, journaling every change before it is made.
Result<void> attach_journaled(kernel::Classifier& cls, int ifindex, const std::string& netns_path,
                              kernel::AttachMode mode, const FaultContext& ctx, std::uint64_t& journal_seq);
// Detaches and marks the journal entry reverted (idempotent).
Result<void> detach_journaled(kernel::Classifier& cls, const FaultContext& ctx, std::uint64_t& journal_seq);

Result<std::unique_ptr<Fault>> make_partition(const FaultEntry& entry, const FaultContext& ctx);

}  // namespace chaos::network
