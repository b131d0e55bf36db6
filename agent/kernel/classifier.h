// The eBPF classifier every network fault uses (bpf/classifier.bpf.c): one loaded instance per
// fault, so each has its own CIDR tries, lease and counters.
//
//   auto cls = Classifier::load(cfg);                  // open, set rodata, load, fill the tries
//   cls->set_lease_deadline(monotonic_now_ns() + 3s);  // nothing is touched before this
//   { NetnsGuard in(ns_path); cls->attach(ifindex, {.netns_path = ns_path, ...}); }
//   ... renew the lease every tick ...
//   cls->detach();                                      // also done by the destructor
//
// Fail-safe: until a lease is set, and once it has run out, the program passes every packet
// untouched (the dead-man lease). A tcx link dies with the process; a classic filter does not,
// which is why attach() reports every change before it makes it (AttachOptions::before_change)
// in a form undo_attach() can act on without this object.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/units.h"
#include "kernel/clsact.h"
#include "kernel/tc_attach.h"

struct classifier_bpf;

namespace chaos {
class UndoRegistry;
}

namespace chaos::kernel {

enum class ClassifierAction : std::uint32_t {
  drop = 1,      // TC_ACT_SHOT (partitions)
  steer = 2,     // skb->priority = classid, continue: the root HTB sends it to a netem leaf
  redirect = 3,  // bpf_redirect to redirect_ifindex (an ifb, for ingress netem)
};
const char* classifier_action_name(ClassifierAction a);

// IP protocol numbers, the same values as chaos::network::Protocol.
enum class ClassifierProtocol : std::uint8_t { any = 0, icmp = 1, tcp = 6, udp = 17 };

inline constexpr std::size_t kClassifierMaxPortRanges = 16;
inline constexpr std::size_t kClassifierMaxCidrsPerFamily = 1024;

struct ClassifierConfig {
  ClassifierAction action = ClassifierAction::drop;
  // Which address is the peer the CIDRs name: destination on egress, source on ingress.
  TcDirection direction = TcDirection::egress;
  ClassifierProtocol protocol = ClassifierProtocol::any;
  std::vector<PortRange> ports;  // source OR destination port in any range; empty: any port
  // Peer networks. Empty: any address. Only IPv4 ones given: IPv6 traffic never matches (and
  // the other way round).
  std::vector<Cidr> cidrs;
  std::uint64_t cgroup_id = 0;   // cgroup v2 id of the sending sockets; egress only; 0: any
  std::uint32_t classid = 0;     // steer: e.g. 0x10002 for HTB class 1:2
  int redirect_ifindex = 0;      // redirect: the target device
};
// Refuses what the program cannot express or would silently ignore.
Result<void> validate(const ClassifierConfig& cfg);

struct ClassifierStats {
  std::uint64_t seen = 0;                  // packets the program ran on
  std::uint64_t matched = 0;               // of those, matching the filter
  std::uint64_t acted = 0;                 // matched and dropped/steered/redirected
  std::uint64_t lease_expired_passes = 0;  // matched but passed: no live lease
  // {seen, matched, <acted_key>, leaseExpiredPasses}: the counters every fault reports.
  nlohmann::json to_json(const std::string& acted_key) const;
};

// Everything needed to undo an attachment without the Classifier: the journal's undo data.
struct AttachRecord {
  std::string netns_path;      // where it was attached ("" = whatever the undoing thread is in)
  std::uint64_t netns_dev = 0;  // identity of that namespace at attach time (0: not checked)
  std::uint64_t netns_ino = 0;
  int ifindex = 0;
  TcDirection direction = TcDirection::egress;
  AttachMode mode = AttachMode::tcx;  // tcx or classic, never automatic
  std::string prog_name = "chaos_cls";
  std::uint32_t prog_id = 0;
  // tcx
  std::uint32_t link_id = 0;  // 0 until the link exists
  // classic
  std::uint16_t prio = 0;
  std::uint32_t handle = 0;
  // This record owns the clsact qdisc it made (undo removes it with the last filter). Only when
  // there is no journal: with one, the clsact is an entry of its own (kernel/clsact.h) shared by
  // every filter on the interface, and this stays false.
  bool created_clsact = false;

  nlohmann::json to_json() const;
  static Result<AttachRecord> from_json(const nlohmann::json& j);
  std::string describe() const;  // "tcx egress ifindex 3 in /run/netns/x (link 12)"
};

// Undoes an attachment from its record alone. Idempotent; a namespace that is gone, or that
// was re-created under the same path (different identity), counts as nothing left to undo.
Result<void> undo_attach(const AttachRecord& r);

// The journal kind under which faults record attachments, and its undo function (plus the
// clsact's, kernel/clsact.h, which classic attachments journal too).
inline constexpr const char* kClassifierJournalKind = "bpf-classifier";
void register_classifier_undo(UndoRegistry& registry);

// Called before each change attach() makes, with the undo data as it will stand once that
// change is made, and once more after the last change with the final data (tcx: the link id).
// An error aborts the attach before the change. Journal it: the first call `intend`s, later
// ones replace the undo data.
using BeforeChange = std::function<Result<void>(const AttachRecord&)>;

struct AttachOptions {
  AttachMode mode = AttachMode::automatic;
  // For the record only: attach acts in the calling thread's namespace, which this must name
  // for undo from the journal ("" leaves it to whoever undoes).
  std::string netns_path;
  std::uint16_t classic_prio = kClassicPrio;
  BeforeChange before_change;
  // Classic: where the clsact qdisc is journaled when the attach has to make one (its own entry,
  // made before it exists). No journal: the record owns it (AttachRecord::created_clsact).
  ClsactJournal clsact_journal;
};

class Classifier {
 public:
  // Opens the skeleton, writes cfg into .rodata, loads (the verifier runs here), fills the CIDR
  // tries. The lease starts at 0: the program passes everything until set_lease_deadline().
  static Result<std::unique_ptr<Classifier>> load(const ClassifierConfig& cfg);
  ~Classifier();  // detaches (logging a failure), then unloads
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // CLOCK_MONOTONIC ns (monotonic_now_ns() + lease). 0 switches the program off at once.
  Result<void> set_lease_deadline(std::uint64_t deadline_mono_ns);
  Result<std::uint64_t> lease_deadline() const;
  Result<ClassifierStats> stats() const;
  // stats() as ClassifierStats::to_json(acted_key), or {"error": why} when the map cannot be read.
  nlohmann::json stats_json(const std::string& acted_key) const;
  // What a fault reports of this classifier: stats_json(acted_key) plus "attach" (tcx or classic,
  // what auto chose). The counters stay readable after detach() (the maps live as long as this
  // object), so the same call serves while attached and after the revert; null before any attach.
  nlohmann::json report_json(const std::string& acted_key) const;

  // On ifindex in the calling thread's namespace. One attachment per instance.
  Result<AttachRecord> attach(int ifindex, const AttachOptions& opts);
  // Idempotent. Acts in the namespace attach() ran in, from any thread.
  Result<void> detach();
  // Forgets the attachment without undoing it (what a crash would leave): for tests of the
  // journal path, and for handing a classic filter over to the journal on purpose.
  std::optional<AttachRecord> release();

  const std::optional<AttachRecord>& attachment() const { return attached_; }
  const ClassifierConfig& config() const { return cfg_; }
  int prog_fd() const;
  std::uint32_t prog_id() const { return prog_id_; }
  // Link fd of a tcx attachment (-1 otherwise); closing it is what detaches.
  int tcx_link_fd() const { return link_fd_; }

 private:
  Classifier() = default;
  Result<void> fill_cidrs();
  Result<AttachRecord> attach_tcx(int ifindex, const AttachOptions& opts, AttachRecord rec);
  Result<AttachRecord> attach_classic(int ifindex, const AttachOptions& opts, AttachRecord rec);

  ClassifierConfig cfg_;
  classifier_bpf* skel_ = nullptr;
  std::uint32_t prog_id_ = 0;
  std::optional<AttachRecord> attached_;
  std::optional<AttachMode> last_mode_;  // of the last attachment, kept after detach
  int link_fd_ = -1;   // tcx
  int netns_fd_ = -1;  // the namespace attach() ran in (classic detach goes back there)
  ClsactShare clsact_;  // classic: this filter's share of the interface's clsact
};

}  // namespace chaos::kernel
