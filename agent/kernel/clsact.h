// The clsact qdisc the agent makes so that classic tc filters have somewhere to hang (the cls_bpf
// classifiers of partitions, netem and etcd faults, netem's ingress redirect) is an object of its
// own, not a detail of whichever filter happened to come first:
//
//   - journaled (kind "clsact") before it is made, with everything needed to find it again;
//   - shared in this process by every user on that interface, counted by namespace identity +
//     ifindex: users release their share in any order, and the last one out removes it;
//   - removed only once no filter hangs off either hook. If a foreign filter sits on it, it is
//     left in place and the journal entry is closed with that reason; while a filter of the
//     agent's own is still there (its removal failed), the entry stays outstanding;
//   - replayed after every other entry (UndoOrder::container): at start-up the filters go first,
//     then the qdisc, whatever order the journal lists them in.
//
// Before this, "we created the clsact" travelled inside each filter's record, so a filter that
// made the qdisc and was removed while another filter still used it took the ownership with it:
// a partition with direction both (egress made it, ingress joined) left an empty clsact behind on
// every revert, and a kill between two detaches did the same.
//
//   auto share = ClsactShare::acquire(ifindex, "/run/netns/x", {journal, run});  // in that netns
//   ... add a filter under ffff:fff2 / ffff:fff3 ...
//   ... remove the filter ...
//   share->release();   // the last share removes the qdisc the agent made (also the destructor)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/result.h"

struct nl_sock;

namespace chaos {
class Journal;
class UndoRegistry;
}  // namespace chaos

namespace chaos::kernel {

inline constexpr const char* kClsactJournalKind = "clsact";

// ---- the qdisc itself: the one place that finds, makes and removes it
//
// clsact has handle ffff: in the slot TC_H_CLSACT (ffff:fff1); an ingress qdisc takes the same
// slot (with only the ingress hook). Each call works over `sk`, any rtnetlink socket of the
// namespace (TcSocket::get(), open_route_socket()), or without one in the calling thread's.

// The kind in the slot: "clsact", "ingress", or "" when it is empty.
Result<std::string> clsact_slot_kind(nl_sock* sk, int ifindex);
Result<std::string> clsact_slot_kind(int ifindex);
// Makes a clsact (NLM_F_EXCL). true: this call made it; false: a clsact or an ingress qdisc was
// there already (someone was faster).
Result<bool> create_clsact(int ifindex);
// Deletes the clsact (kind-checked: never anything else in that slot). Gone already is success.
Result<void> delete_clsact(nl_sock* sk, int ifindex);

enum class ClsactLeft : std::uint8_t {
  gone,             // no clsact in the slot (or another kind: see text)
  removed,          // no filter hung off either hook: deleted
  agent_filters,    // left in place: filters with the agent's marks (is_agent_filter) on it
  foreign_filters,  // left in place: someone else's filters on it
};
struct ClsactSettled {
  ClsactLeft what = ClsactLeft::gone;
  std::string text;  // the filters left, or what holds the slot
};
// Removes the clsact of ifindex when no filter hangs off either hook, and says what it found.
// Every "is the clsact still needed" decision goes through here (ClsactShare's last release, the
// journal's undo, records that own their clsact themselves).
Result<ClsactSettled> remove_clsact_if_unused(nl_sock* sk, int ifindex);

// The journal's undo data for one clsact the agent made.
struct ClsactRecord {
  std::string netns_path;  // "" = whatever namespace the undoing thread is in
  std::uint64_t netns_dev = 0;  // identity of that namespace when it was made (0: not checked)
  std::uint64_t netns_ino = 0;
  int ifindex = 0;
  std::string ifname;  // for the log only

  nlohmann::json to_json() const;
  static Result<ClsactRecord> from_json(const nlohmann::json& j);
  std::string describe() const;  // "clsact on eth0 (ifindex 3) in /run/netns/x"
};

// Where a share journals the clsact it makes. No journal: nothing is written (tests and tools
// that keep the ownership in their own records, AttachRecord::created_clsact).
struct ClsactJournal {
  Journal* journal = nullptr;
  std::string run;
};

// One user's share of the clsact qdisc of one interface. Move-only; the destructor releases.
class ClsactShare {
 public:
  // On `ifindex` in the calling thread's namespace (`netns_path` names it, for the record). An
  // empty slot: the intent is journaled, then the clsact is made, and it is the agent's. A clsact
  // (or an ingress qdisc) already there: the share joins it; it is the agent's only if another
  // share of this process made it.
  //
  // before_create (optional) runs after the clsact's intent is written and before the qdisc is
  // made, only when it is to be made: the caller's own durable intent (the filter's). The clsact's
  // intent then waits for that fdatasync instead of its own, so one disk sync covers both. An
  // error from it stops everything before any change.
  static Result<ClsactShare> acquire(int ifindex, const std::string& netns_path, const ClsactJournal& j,
                                     const std::function<Result<void>()>& before_create = {});

  ClsactShare() = default;
  ~ClsactShare();
  ClsactShare(ClsactShare&& o) noexcept;
  ClsactShare& operator=(ClsactShare&& o) noexcept;
  ClsactShare(const ClsactShare&) = delete;
  ClsactShare& operator=(const ClsactShare&) = delete;

  explicit operator bool() const { return held_; }
  // This share's acquire() made the qdisc (the first user of a clsact the agent owns).
  bool made_it() const { return made_it_; }
  // The clsact on this interface is the agent's (made by some share of this process).
  bool agents() const;

  // Gives the share back, from any thread. The last share of a clsact the agent made removes it
  // when no filter is left on either hook, and closes its journal entry; with a foreign filter on
  // it the qdisc stays and the entry is closed with that reason; with one of the agent's own
  // filters still on it (a removal that failed) the qdisc and its entry stay, and this says so.
  // Idempotent.
  Result<void> release();
  // Drops the share without touching the kernel or the journal: what a crash leaves (tests of the
  // replay path).
  void forget();

 private:
  using Key = std::tuple<std::uint64_t, std::uint64_t, int>;  // netns dev, ino, ifindex
  Key key_{};
  std::string run_;
  bool held_ = false;
  bool made_it_ = false;
};

// Undoes a journaled clsact from its record alone: nothing to do when the namespace, the device
// or the qdisc is gone (or the path now names another namespace); removed when no filter hangs
// off either hook; left in place with a note when filters do (the replay undoes every filter
// entry before any clsact entry, so what is left there is not in this journal). EBUSY while a
// share of this process still uses it. Returns the note ("" when removed or gone).
Result<std::string> undo_clsact(const ClsactRecord& r);

// Registers kClsactJournalKind (UndoOrder::container).
void register_clsact_undo(UndoRegistry& registry);

// Users of the interface's clsact in this process (for tests).
int clsact_users(std::uint64_t netns_dev, std::uint64_t netns_ino, int ifindex);

}  // namespace chaos::kernel
