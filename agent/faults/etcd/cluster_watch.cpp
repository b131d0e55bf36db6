#include "faults/etcd/cluster_watch.h"

#include <algorithm>
#include <cmath>

#include "core/log.h"
#include "kernel/netns.h"

namespace chaos::etcd {

using namespace std::chrono;
using nlohmann::json;

namespace {

// Milliseconds, to 0.1ms: finer would be noise at a 50ms sampling interval.
double ms_of(Duration d) { return std::round(duration_cast<microseconds>(d).count() / 100.0) / 10.0; }

constexpr std::size_t kMaxEvents = 300;

// A member that hangs must not hold its poller for long: a view is due every interval.
Duration poll_timeout(Duration interval) { return std::max<Duration>(interval * 4, milliseconds(200)); }

// How long a member whose poll failed still counts at its last answer: one poll that timed out
// and the next one's interval, with room for a second slow one.
Duration carry_for(Duration interval) {
  return std::max<Duration>(poll_timeout(interval) * 2 + interval, milliseconds(500));
}

}  // namespace

ClusterTracker::ClusterTracker(std::vector<std::string> names, Duration carry) : carry_(carry) {
  for (auto& n : names) members_.push_back(Member{std::move(n)});
}

std::string ClusterTracker::name_of(std::uint64_t id) const {
  if (id == 0) return "none";
  auto it = id_names_.find(id);
  return it != id_names_.end() ? it->second : member_id_hex(id);
}

double ClusterTracker::rel_s(Duration t) const {
  Duration origin = applied_at_ ? *applied_at_ : first_t_.value_or(Duration{0});
  return std::round(ms_of(t - origin)) / 1000.0;
}

void ClusterTracker::update(std::size_t i, Duration t, const MemberView& v) {
  if (i >= members_.size()) return;
  if (!first_t_) first_t_ = t;
  Member& m = members_[i];
  if (m.seen && m.view.ok && m.view.leader == 0 && t > m.last_t) m.no_leader += t - m.last_t;
  bool changed = !m.seen || m.view.ok != v.ok || (v.ok && (m.view.leader != v.leader || m.view.term != v.term));
  if (v.ok && v.member_id != 0 && !id_names_.count(v.member_id)) id_names_[v.member_id] = m.name;
  m.views++;
  if (!v.ok) m.errors++;
  if (v.ok) {
    if (m.term_first == 0) m.term_first = v.term;
    m.term_last = v.term;
  }
  if (changed && events_.size() < kMaxEvents) {
    json e{{"member", m.name}};
    if (v.ok) {
      e["leader"] = name_of(v.leader);
      e["term"] = v.term;
    } else {
      e["error"] = v.error;
    }
    events_.push_back({t, e});
  }
  m.view = v;
  m.seen = true;
  m.last_t = t;
  if (v.ok) {
    m.last_ok = v;
    m.last_ok_t = t;
  }
  evaluate(t);
}

void ClusterTracker::evaluate(Duration t) {
  // Nothing is judged before every member has answered once (a half-seen cluster would count
  // as leaderless). Then time since the last evaluation belongs to the state that held during it.
  if (!std::all_of(members_.begin(), members_.end(), [](const Member& m) { return m.seen; })) return;
  if (last_eval_ && t > *last_eval_) {
    Duration dt = t - *last_eval_;
    bool during = applied_at_ && !reverted_at_;
    if (quorum_leader_ == 0) {
      no_leader_ += dt;
      if (during) no_leader_fault_ += dt;
    }
    if (during && (quorum_leader_ == 0 || (isolated_id_ != 0 && quorum_leader_ == isolated_id_)))
      no_working_leader_fault_ += dt;
    if (leaning_) carried_ += dt;
  }
  last_eval_ = t;

  // Healthy needs every member answering now and agreeing. The majority count also takes a
  // failed poll's member at its last answer, if that is recent enough.
  std::map<std::uint64_t, std::size_t> votes, fresh_votes;
  bool all_ok = true;
  std::uint64_t common = 0;
  bool agree = true;
  for (const auto& m : members_) {
    if (m.seen && m.view.ok) {
      if (m.view.leader != 0) {
        ++votes[m.view.leader];
        ++fresh_votes[m.view.leader];
      }
      if (common == 0 && m.view.leader != 0) common = m.view.leader;
      if (m.view.leader == 0 || m.view.leader != common) agree = false;
      continue;
    }
    all_ok = false;
    if (m.last_ok_t && t - *m.last_ok_t <= carry_ && m.last_ok.leader != 0) ++votes[m.last_ok.leader];
  }
  auto majority = [&](const std::map<std::uint64_t, std::size_t>& v) {
    std::uint64_t q = 0;
    for (auto [id, n] : v)
      if (n * 2 > members_.size()) q = id;
    return q;
  };
  std::uint64_t q = majority(votes);
  leaning_ = q != 0 && majority(fresh_votes) != q;
  quorum_leader_ = q;
  healthy_ = all_ok && agree && common != 0;

  if (q != 0 && q != last_known_leader_) {
    if (last_known_leader_ != 0) ++leader_changes_;
    leader_history_.push_back({t, {{"leader", name_of(q)}}});
    last_known_leader_ = q;
  } else if (q == 0 && !leader_history_.empty() && leader_history_.back().what["leader"] != "none") {
    leader_history_.push_back({t, {{"leader", "none"}}});
  }
  if (applied_at_ && !elected_at_ && leader_at_apply_ != 0 && isolated_id_ == leader_at_apply_ && q != 0 &&
      q != leader_at_apply_)
    elected_at_ = t;
  if (reverted_at_ && !healthy_at_ && healthy_) {
    healthy_at_ = t;
    leader_after_heal_ = common;
    if (isolated_id_ != 0) isolated_role_after_heal_ = isolated_id_ == common ? "leader" : "follower";
  }
}

void ClusterTracker::mark_applied(Duration t, std::optional<std::size_t> isolated, std::uint64_t isolated_id,
                                  std::uint64_t leader) {
  evaluate(t);
  applied_at_ = t;
  isolated_ = isolated;
  isolated_id_ = isolated_id;
  leader_at_apply_ = leader != 0 ? leader : last_known_leader_;
}

void ClusterTracker::mark_reverted(Duration t) {
  reverted_at_ = t;
  evaluate(t);
}

std::optional<Duration> ClusterTracker::healthy_after_heal() const {
  if (!reverted_at_ || !healthy_at_) return std::nullopt;
  return *healthy_at_ - *reverted_at_;
}

std::optional<Duration> ClusterTracker::elected_after_apply() const {
  if (!applied_at_ || !elected_at_) return std::nullopt;
  return *elected_at_ - *applied_at_;
}

json ClusterTracker::snapshot() const {
  json members = json::object();
  for (const auto& m : members_) {
    if (!m.seen) members[m.name] = {{"error", "no answer yet"}};
    else if (!m.view.ok) members[m.name] = {{"error", m.view.error}};
    else members[m.name] = {{"leader", name_of(m.view.leader)}, {"term", m.view.term}};
  }
  return {{"leader", name_of(quorum_leader_)}, {"healthy", healthy_}, {"members", members}};
}

json ClusterTracker::summary() const {
  json s;
  s["leaderAtApply"] = name_of(leader_at_apply_);
  if (isolated_ && *isolated_ < members_.size()) {
    s["isolated"] = members_[*isolated_].name;
    s["isolatedRoleAtApply"] = isolated_id_ != 0 && isolated_id_ == leader_at_apply_ ? "leader" : "follower";
  }
  auto with_t = [&](const std::vector<Event>& ev) {
    json a = json::array();
    for (const auto& e : ev) {
      json x = e.what;
      x["t"] = rel_s(e.t);
      a.push_back(x);
    }
    return a;
  };
  s["leaderChanges"] = leader_changes_;
  s["leaderHistory"] = with_t(leader_history_);
  s["noLeader_ms"] = ms_of(no_leader_);
  s["noLeaderDuringFault_ms"] = ms_of(no_leader_fault_);
  s["noWorkingLeaderDuringFault_ms"] = ms_of(no_working_leader_fault_);
  s["majorityFromCarriedViews_ms"] = ms_of(carried_);
  if (auto e = elected_after_apply()) s["newLeaderElectedAfter_ms"] = ms_of(*e);
  if (reverted_at_) {
    if (auto h = healthy_after_heal()) {
      s["healthyAfterHeal_ms"] = ms_of(*h);
      s["leaderAfterHeal"] = name_of(leader_after_heal_);
      if (!isolated_role_after_heal_.empty()) s["isolatedRoleAfterHeal"] = isolated_role_after_heal_;
    } else {
      s["healthyAfterHeal_ms"] = nullptr;
    }
  }
  json members = json::object();
  for (const auto& m : members_)
    members[m.name] = {{"views", m.views},
                       {"errors", m.errors},
                       {"noLeader_ms", ms_of(m.no_leader)},
                       {"termFirst", m.term_first},
                       {"termLast", m.term_last},
                       {"leaderNow", m.seen && m.view.ok ? name_of(m.view.leader) : "unknown"}};
  s["members"] = members;
  s["events"] = with_t(events_);
  s["eventsTruncated"] = events_.size() >= kMaxEvents;
  return s;
}

// ---- ClusterWatch

ClusterWatch::ClusterWatch(std::vector<MemberEndpoint> members, std::vector<std::string> names, Duration interval,
                           Duration settle)
    : members_(std::move(members)),
      interval_(interval),
      settle_(settle),
      t0_(steady_clock::now()),
      tracker_(std::move(names), carry_for(interval)),
      answered_(members_.size(), false) {}

ClusterWatch::~ClusterWatch() { stop(); }

void ClusterWatch::set_member_name(std::uint64_t id, const std::string& name) {
  std::lock_guard lk(mu_);
  tracker_.set_member_name(id, name);
}

void ClusterWatch::start() {
  if (!threads_.empty()) return;
  stop_ = false;
  for (std::size_t i = 0; i < members_.size(); ++i) threads_.emplace_back([this, i] { poll(i); });
}

void ClusterWatch::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

bool ClusterWatch::wait_first_round(Duration limit) {
  auto deadline = steady_clock::now() + limit;
  while (steady_clock::now() < deadline) {
    {
      std::lock_guard lk(mu_);
      if (std::all_of(answered_.begin(), answered_.end(), [](bool b) { return b; })) return true;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

void ClusterWatch::poll(std::size_t i) {
  const auto& m = members_[i];
  auto guard = NetnsGuard::enter(m.netns.path);
  if (!guard) {
    MemberView v;
    v.error = "enter " + m.netns.path + ": " + guard.error().text();
    std::lock_guard lk(mu_);
    tracker_.update(i, now(), v);
    answered_[i] = true;
    return;
  }
  const Duration timeout = poll_timeout(interval_);
  auto next = steady_clock::now();
  while (!stop_) {
    auto st = status(m.url, timeout);
    MemberView v;
    if (st) {
      v.ok = true;
      v.member_id = st->member_id;
      v.leader = st->leader;
      v.term = st->raft_term;
    } else {
      v.error = st.error().text();
    }
    {
      std::lock_guard lk(mu_);
      Duration t = now();
      // Healed and settled: this fault's account is complete (a flap right after the heal is
      // still in it; a later fault's doings are not).
      auto healed = tracker_.healthy_since_heal();
      if (healed && t - *healed >= settle_) break;
      tracker_.update(i, t, v);
      answered_[i] = true;
    }
    next += interval_;
    auto n = steady_clock::now();
    if (next < n) next = n;
    while (!stop_ && steady_clock::now() < next)
      std::this_thread::sleep_for(std::min<Duration>(next - steady_clock::now(), milliseconds(10)));
  }
}

void ClusterWatch::mark_applied(std::optional<std::size_t> isolated, std::uint64_t isolated_id, std::uint64_t leader) {
  std::lock_guard lk(mu_);
  tracker_.mark_applied(now(), isolated, isolated_id, leader);
}

void ClusterWatch::mark_reverted() {
  std::lock_guard lk(mu_);
  tracker_.mark_reverted(now());
}

json ClusterWatch::snapshot() const {
  std::lock_guard lk(mu_);
  return tracker_.snapshot();
}

json ClusterWatch::summary() const {
  std::lock_guard lk(mu_);
  json s = tracker_.summary();
  s["sampleInterval_ms"] = ms_of(interval_);
  return s;
}

bool ClusterWatch::healthy_after_heal() const {
  std::lock_guard lk(mu_);
  return tracker_.healthy_after_heal().has_value();
}

std::string ClusterWatch::unhealthy_reason() const {
  std::lock_guard lk(mu_);
  return tracker_.snapshot().dump();
}

}  // namespace chaos::etcd
