// The blast radius of an etcd fault, as the members themselves see it: every member's view of
// the leader and the term, read every sampleInterval (50ms by default) from inside the member's
// own namespace, so that a member cut off from its peers (and even from its clients) is still
// watched. From those views: the leader a majority agrees on, how long there was none, how often
// it changed, how long after the isolation a new one was elected, and how long after the heal
// the cluster was healthy again (every member answering and agreeing on one leader).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/units.h"
#include "faults/etcd/members.h"

namespace chaos::etcd {

struct MemberView {
  bool ok = false;
  std::uint64_t member_id = 0;
  std::uint64_t leader = 0;  // 0: the member knows no leader
  std::uint64_t term = 0;
  std::string error;
};

// The arithmetic, fed with views and their times (unit-tested with made-up timelines).
// Not thread-safe: ClusterWatch serialises access.
class ClusterTracker {
 public:
  // One name per endpoint, in endpoint order. A member whose poll fails keeps its last answer
  // for the majority count for up to `carry` (a status call slower than its timeout on a busy
  // node is not a lost leader); longer than that its view is unknown, which is no vote.
  explicit ClusterTracker(std::vector<std::string> names, Duration carry = std::chrono::milliseconds(500));

  void set_member_name(std::uint64_t id, const std::string& name) { id_names_[id] = name; }
  // A new view of endpoint `member` at `t` (any monotonic origin, the same for every call).
  void update(std::size_t member, Duration t, const MemberView& v);
  // The fault took hold at `t`, on endpoint `isolated` (none: cut-clients) whose member id is
  // `isolated_id`, while the cluster's leader was `leader` (as the fault saw it when choosing).
  void mark_applied(Duration t, std::optional<std::size_t> isolated, std::uint64_t isolated_id, std::uint64_t leader);
  void mark_reverted(Duration t);

  std::uint64_t quorum_leader() const { return quorum_leader_; }
  bool healthy() const { return healthy_; }
  bool applied() const { return applied_at_.has_value(); }
  bool reverted() const { return reverted_at_.has_value(); }
  std::optional<Duration> healthy_after_heal() const;
  // When the cluster was first healthy after the revert (nullopt: not yet).
  std::optional<Duration> healthy_since_heal() const { return healthy_at_; }
  std::optional<Duration> elected_after_apply() const;
  int leader_changes() const { return leader_changes_; }
  Duration no_leader() const { return no_leader_; }

  // The current state, for the run's time series.
  nlohmann::json snapshot() const;
  // Everything, for the report. Times are seconds relative to the apply.
  nlohmann::json summary() const;
  // Human words for a leader id: the member's name, else its hex id; "none" for 0.
  std::string name_of(std::uint64_t id) const;

 private:
  void evaluate(Duration t);
  double rel_s(Duration t) const;

  struct Member {
    std::string name;
    MemberView view;
    bool seen = false;
    Duration last_t{0};
    MemberView last_ok;  // the last answer, and when it came
    std::optional<Duration> last_ok_t;
    std::uint64_t views = 0, errors = 0;
    Duration no_leader{0};
    std::uint64_t term_first = 0, term_last = 0;
  };
  std::vector<Member> members_;
  std::map<std::uint64_t, std::string> id_names_;
  Duration carry_;
  Duration carried_{0};  // time the majority count leaned on a carried answer
  bool leaning_ = false;

  std::optional<Duration> last_eval_;
  std::uint64_t quorum_leader_ = 0;
  std::uint64_t last_known_leader_ = 0;
  bool healthy_ = false;
  int leader_changes_ = 0;
  Duration no_leader_{0}, no_leader_fault_{0};
  // During the fault, a majority that still follows the isolated member is no working leader
  // either: cut off from its peers, it can commit nothing.
  Duration no_working_leader_fault_{0};
  std::optional<Duration> first_t_;

  std::optional<Duration> applied_at_, reverted_at_;
  std::optional<std::size_t> isolated_;
  std::uint64_t leader_at_apply_ = 0;
  std::uint64_t isolated_id_ = 0;
  std::optional<Duration> elected_at_, healthy_at_;
  std::uint64_t leader_after_heal_ = 0;
  std::string isolated_role_after_heal_;

  // Kept with raw times: the report states them relative to the apply, known only later.
  struct Event {
    Duration t;
    nlohmann::json what;
  };
  std::vector<Event> leader_history_;  // the majority's leader, whenever it changed
  std::vector<Event> events_;          // per-member view changes (capped)
};

// The tracker fed by one thread per member, from start() until the cluster has been healthy
// for `settle` after the revert (so one fault's account ends before a later fault begins), or
// until stop().
class ClusterWatch {
 public:
  ClusterWatch(std::vector<MemberEndpoint> members, std::vector<std::string> names, Duration interval,
               Duration settle = std::chrono::seconds(1));
  ~ClusterWatch();
  ClusterWatch(const ClusterWatch&) = delete;
  ClusterWatch& operator=(const ClusterWatch&) = delete;

  void set_member_name(std::uint64_t id, const std::string& name);
  // Starts the pollers (idempotent). Each enters its member's namespace on its own thread.
  void start();
  // Stops and joins (idempotent).
  void stop();
  // Waits (up to `limit`) until every member has answered at least once.
  bool wait_first_round(Duration limit);

  void mark_applied(std::optional<std::size_t> isolated, std::uint64_t isolated_id, std::uint64_t leader);
  void mark_reverted();
  nlohmann::json snapshot() const;
  nlohmann::json summary() const;
  bool healthy_after_heal() const;
  std::string unhealthy_reason() const;

 private:
  void poll(std::size_t i);
  Duration now() const { return std::chrono::steady_clock::now() - t0_; }

  std::vector<MemberEndpoint> members_;
  Duration interval_;
  Duration settle_;
  std::chrono::steady_clock::time_point t0_;
  mutable std::mutex mu_;
  ClusterTracker tracker_;
  std::vector<bool> answered_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace chaos::etcd
