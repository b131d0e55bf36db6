#include "faults/etcd/etcd_fault.h"

#include <algorithm>
#include <random>
#include <thread>

#include "faults/etcd/cluster_watch.h"
#include "faults/etcd/members.h"
#include "faults/etcd/spec.h"
#include "faults/network/config.h"
#include "faults/network/partition.h"
#include "kernel/netstat.h"
#include "kernel/cgroup.h"
#include "kernel/bpf_util.h"
#include "kernel/classifier.h"
#include "kernel/netns.h"
#include "kernel/target.h"

namespace chaos::etcd {

using namespace std::chrono;
using kernel::AttachMode;
using kernel::Classifier;
using kernel::ClassifierAction;
using kernel::TcDirection;
using nlohmann::json;

namespace {

constexpr Duration kQueryTimeout = seconds(1);
// How long apply() keeps asking for roles while the cluster has no leader (an election that
// happens to be under way).
constexpr Duration kRoleWait = seconds(3);

std::string host_of(const std::string& url) {
  auto u = parse_etcd_url(url);
  if (u) return u->host;
  // Peer URLs may carry a path or a name etcd accepts; take what sits between :// and :PORT.
  auto s = url.find("://");
  std::string rest = s == std::string::npos ? url : url.substr(s + 3);
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.find(':'));
}

class EtcdFault : public Fault {
 public:
  EtcdFault(const FaultEntry& e, const FaultContext& ctx)
      : entry_(e), spec_(*std::static_pointer_cast<const EtcdSpec>(e.spec)), ctx_(ctx) {}
  ~EtcdFault() override {
    (void)revert();
    if (watch_) watch_->stop();
  }

  Result<std::vector<std::string>> plan() override {
    // The network family's network.attach: members are isolated with its classifiers.
    mode_ = network::config_of(*ctx_.config).attach;
    for (const auto& p : ctx_.config->protected_ports) {
      for (std::uint16_t port : ports())
        if (p.contains(port))
          return refuse("port " + std::to_string(port) + " is protected by the agent's config (protectedPorts)");
    }
    for (const auto& e : spec_.endpoints) {
      auto m = resolve_endpoint(e);
      if (!m) return std::unexpected(m.error());
      members_.push_back(*m);
    }
    // The cluster must answer now: its member list names the members and their peer URLs.
    auto states = query_states();
    std::vector<EtcdMember> list;
    std::string list_error;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      if (!states[i].status)
        return fail("etcd endpoint " + members_[i].url.url + " (" + members_[i].where + ") does not answer: " +
                        states[i].error,
                    EHOSTUNREACH);
      if (list.empty()) {
        auto ml = in_netns(members_[i].netns.path, [&] { return member_list(members_[i].url, kQueryTimeout); });
        if (ml) list = *ml;
        else list_error = ml.error().text();
      }
    }
    if (list.empty()) return fail("etcd member list: " + list_error, EHOSTUNREACH);
    names_.assign(members_.size(), "");
    for (std::size_t i = 0; i < members_.size(); ++i) {
      for (const auto& m : list)
        if (m.id == states[i].status->member_id) names_[i] = m.name;
      if (names_[i].empty()) names_[i] = members_[i].url.url;
    }
    for (const auto& m : list) {
      id_names_.emplace_back(m.id, m.name);
      for (const auto& pu : m.peer_urls)
        if (url_port(pu) != 0 && url_port(pu) != spec_.peer_port)
          return fail("member " + m.name + " listens for peers on " + pu + " but ports.peer is " +
                          std::to_string(spec_.peer_port) + ": a drop on the wrong port would cut nothing",
                      EINVAL);
    }
    if (spec_.member == Selector::named &&
        std::find(names_.begin(), names_.end(), spec_.member_name) == names_.end()) {
      std::string known;
      for (const auto& n : names_) known += (known.empty() ? "" : ", ") + n;
      return fail("member " + spec_.member_name + " is not among the endpoints' members (" + known + ")", ENOENT);
    }

    std::vector<std::string> lines;
    if (spec_.action == Action::isolate_member) {
      if (auto r = plan_isolate(list, states, lines); !r) return std::unexpected(r.error());
    } else {
      if (auto r = plan_cut_clients(lines); !r) return std::unexpected(r.error());
    }
    lines.push_back("watch every member's view of leader and term every " + format_duration(spec_.sample_interval) +
                    " from inside its namespace, from the apply until the cluster has been healthy for 1s after the heal");
    watch_ = std::make_unique<ClusterWatch>(members_, names_, spec_.sample_interval);
    for (const auto& [id, name] : id_names_) watch_->set_member_name(id, name);
    return lines;
  }

  Result<void> apply() override {
    // The watch covers this fault only: from a first view of every member (a few ms, they are
    // read locally) until the cluster has settled after the heal.
    watch_->start();
    watch_->wait_first_round(seconds(1));
    if (spec_.action == Action::isolate_member) return apply_isolate();
    auto states = query_states();
    watch_->mark_applied(std::nullopt, 0, consensus_leader(states));
    kernel_ = kernel::NetCounterDelta(clients_ns_);
    kernel_.start();
    auto t0 = steady_clock::now();
    auto deadline = kernel::monotonic_now_ns() + static_cast<std::uint64_t>(ctx_.config->lease.count());
    applied_ = true;
    for (auto& p : parts_)
      if (auto r = attach_part(p, deadline); !r) return r;
    attach_took_ = steady_clock::now() - t0;
    return {};
  }

  Result<void> renew(std::uint64_t deadline) override {
    for (auto& p : parts_)
      if (p.cls->attachment())
        if (auto r = p.cls->set_lease_deadline(deadline); !r) return r;
    return {};
  }

  Result<void> revert() override {
    kernel_.freeze();
    Result<void> first{};
    bool any = false;
    auto t0 = steady_clock::now();
    for (auto& p : parts_) {
      if (!p.cls || !p.cls->attachment()) continue;
      any = true;
      auto r = network::detach_journaled(*p.cls, ctx_, p.seq);
      if (!r && first) first = r;
    }
    if (any) {
      detach_took_ = steady_clock::now() - t0;
      if (watch_) watch_->mark_reverted();
    }
    return first;
  }

  json sample() override {
    if (!watch_) return nullptr;
    json s = watch_->snapshot();
    std::uint64_t dropped = 0;
    for (auto& p : parts_)
      if (p.cls && p.cls->attachment())
        if (auto st = p.cls->stats()) dropped += st->acted;
    s["dropped"] = dropped;
    if (auto k = kernel_.delta(); !k.is_null()) s["kernel"] = k;
    return s;
  }

  std::vector<std::string> verify() override {
    if (!watch_) return {};
    watch_->stop();
    if (!applied_) return {};
    if (!watch_->healthy_after_heal())
      return {"the etcd cluster was not healthy again (every member answering, one leader agreed) by the end of "
              "the run; last view: " +
              watch_->unhealthy_reason()};
    return {};
  }

  json observe() const override {
    json o{{"action", action_name(spec_.action)}};
    if (spec_.action == Action::isolate_member) {
      o["member"] = spec_.member_str();
      o["alsoClients"] = spec_.also_clients;
      if (chosen_) {
        o["chosen"] = names_[*chosen_];
        o["chosenRole"] = chosen_role_;
        o["netns"] = members_[*chosen_].where;
      }
    } else {
      o["clients"] = clients_where_;
      if (!spec_.clients_cgroup.empty()) o["cgroup"] = spec_.clients_cgroup;
    }
    json att = json::array();
    for (const auto& p : parts_) {
      if (!p.cls) continue;
      json a = p.cls->report_json("dropped");
      if (a.is_null()) continue;
      a["interface"] = p.itf.name;
      a["direction"] = kernel::tc_direction_name(p.dir);
      att.push_back(a);
    }
    o["drops"] = att;
    // TCP/UDP counters of the cut-off namespace (the member's, or the clients') over the fault.
    if (auto k = kernel_.result(); !k.is_null()) o["kernel"] = k;
    auto ms = [](Duration d) { return duration_cast<microseconds>(d).count() / 1000.0; };
    json timing = json::object();
    if (roles_took_) timing["roles_ms"] = ms(*roles_took_);
    if (attach_took_) timing["attach_ms"] = ms(*attach_took_);
    if (detach_took_) timing["detach_ms"] = ms(*detach_took_);
    o["timing"] = timing;
    if (watch_) o["cluster"] = watch_->summary();
    return o;
  }

 private:
  struct Part {
    TcDirection dir;
    Interface itf;
    std::unique_ptr<Classifier> cls;
    std::uint64_t seq = 0;
  };

  std::vector<std::uint16_t> ports() const {
    if (spec_.action == Action::cut_clients) return {spec_.client_port};
    if (spec_.also_clients) return {spec_.peer_port, spec_.client_port};
    return {spec_.peer_port};
  }

  // Runs f on a thread of its own inside a namespace: the caller's thread never moves.
  template <class F>
  static auto in_netns(const std::string& path, F f) -> decltype(f()) {
    decltype(f()) out = fail("not run");
    std::thread t([&] {
      auto g = NetnsGuard::enter(path);
      if (!g) {
        out = std::unexpected(g.error());
        return;
      }
      out = f();
    });
    t.join();
    return out;
  }

  // Every endpoint's status, asked in parallel from inside each member's namespace.
  std::vector<MemberState> query_states() const {
    std::vector<MemberState> out(members_.size());
    std::vector<std::thread> ts;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      ts.emplace_back([&, i] {
        auto g = NetnsGuard::enter(members_[i].netns.path);
        if (!g) {
          out[i].error = g.error().text();
          return;
        }
        auto st = status(members_[i].url, kQueryTimeout);
        if (st) out[i].status = *st;
        else out[i].error = st.error().text();
      });
    }
    for (auto& t : ts) t.join();
    for (std::size_t i = 0; i < out.size() && i < names_.size(); ++i) out[i].name = names_[i];
    return out;
  }

  Result<std::unique_ptr<Classifier>> load(TcDirection dir, const std::vector<Cidr>& cidrs, std::uint64_t cgroup) {
    kernel::ClassifierConfig c;
    c.action = ClassifierAction::drop;
    c.direction = dir;
    c.protocol = kernel::ClassifierProtocol::tcp;
    for (auto p : ports()) c.ports.push_back({p, p});
    c.cidrs = cidrs;
    c.cgroup_id = dir == TcDirection::egress ? cgroup : 0;
    if (auto v = kernel::validate(c); !v) return std::unexpected(v.error());
    auto cls = Classifier::load(c);
    if (!cls) return wrap(cls.error(), "load the classifier");
    return cls;
  }

  Result<void> plan_isolate(const std::vector<EtcdMember>& list, const std::vector<MemberState>& states,
                            std::vector<std::string>& lines) {
    targets_.resize(members_.size());
    for (std::size_t i = 0; i < members_.size(); ++i) {
      if (!members_[i].local) {
        targets_[i] = fail("member " + names_[i] + " at " + members_[i].url.url +
                               " does not run on this node (no local namespace holds " + members_[i].url.host +
                               "): the agent can isolate only members it hosts",
                           EHOSTUNREACH);
        continue;
      }
      // The peers: every other member's peer URLs (the member list knows them all).
      std::vector<std::string> peers;
      for (const auto& m : list) {
        if (m.id == states[i].status->member_id) continue;
        for (const auto& pu : m.peer_urls) peers.push_back(host_of(pu));
      }
      if (peers.empty())
        for (std::size_t j = 0; j < members_.size(); ++j)
          if (j != i) peers.push_back(members_[j].url.host);
      auto itfs = interfaces_towards(members_[i].netns.path, peers);
      if (!itfs) {
        targets_[i] = wrap(itfs.error(), "member " + names_[i]);
        continue;
      }
      Result<void> allowed{};
      for (const auto& itf : *itfs)
        if (auto a = check_interface_allowed(members_[i], itf, *ctx_.config); !a) allowed = wrap(a.error(), "member " + names_[i]);
      if (!allowed) {
        targets_[i] = std::unexpected(allowed.error());
        continue;
      }
      targets_[i] = *itfs;
    }
    // A selector that can only ever land on one member is checked now, not at apply.
    if (spec_.member == Selector::named) {
      auto idx = static_cast<std::size_t>(std::find(names_.begin(), names_.end(), spec_.member_name) - names_.begin());
      if (!targets_[idx]) return std::unexpected(targets_[idx].error());
    } else if (std::none_of(targets_.begin(), targets_.end(), [](const auto& t) { return t.has_value(); })) {
      return std::unexpected(targets_.front().error());
    }
    // Loading is the preflight (the verifier accepts the program); attaching waits for apply.
    for (auto d : {TcDirection::egress, TcDirection::ingress}) {
      auto cls = load(d, {}, 0);
      if (!cls) return std::unexpected(cls.error());
      spare_.push_back(Part{d, {}, std::move(*cls), 0});
    }
    auto now = choose_member(query_states(), spec_.member, spec_.member_name, 0);
    std::string what = "drop tcp port " + std::to_string(spec_.peer_port) +
                       (spec_.also_clients ? " and client port " + std::to_string(spec_.client_port) : "") +
                       " both ways";
    lines.push_back("isolate the " + spec_.member_str() + " from its peers (" + what + ") [" +
                    kernel::attach_mode_name(mode_) + " attach]; roles are read again when the fault starts");
    for (std::size_t i = 0; i < members_.size(); ++i) {
      std::string l = "  " + names_[i] + " " + members_[i].url.url + " in " + members_[i].where;
      if (targets_[i]) {
        l += ", cut on";
        for (const auto& itf : *targets_[i]) l += " " + itf.name + " (ifindex " + std::to_string(itf.ifindex) + ")";
      } else {
        l += ": cannot be isolated: " + targets_[i].error().message;
      }
      if (now && *now == i) l += "  <- the " + spec_.member_str() + " now";
      lines.push_back(l);
    }
    return {};
  }

  Result<void> plan_cut_clients(std::vector<std::string>& lines) {
    auto where = resolve_net_target(spec_.clients);
    if (!where) return wrap(where.error(), "clients");
    clients_where_ = where->netns.describe;
    MemberEndpoint me;
    me.netns = where->netns;
    me.is_root = where->is_root;
    me.local = true;
    me.where = where->netns.describe;
    std::uint64_t cg = 0;
    if (!spec_.clients_cgroup.empty()) {
      auto id = cgroup::v2_id(spec_.clients_cgroup);
      if (!id) return wrap(id.error(), "clients.cgroup");
      cg = *id;
    }
    std::vector<std::string> hosts;
    std::vector<Cidr> cidrs;
    for (const auto& m : members_) {
      hosts.push_back(m.url.host);
      auto c = parse_cidr(m.url.host);
      if (!c) return wrap(c.error(), m.url.url);
      cidrs.push_back(*c);
    }
    auto itfs = interfaces_towards(where->netns.path, hosts);
    if (!itfs) return wrap(itfs.error(), "clients in " + clients_where_);
    clients_ns_ = where->netns.path;
    for (const auto& itf : *itfs) {
      if (auto a = check_interface_allowed(me, itf, *ctx_.config); !a) return a;
      auto cls = load(TcDirection::egress, cidrs, cg);
      if (!cls) return std::unexpected(cls.error());
      parts_.push_back(Part{TcDirection::egress, itf, std::move(*cls), 0});
      std::string dst;
      for (const auto& c : cidrs) dst += (dst.empty() ? "" : ", ") + c.str();
      lines.push_back("cut clients in " + clients_where_ +
                      (spec_.clients_cgroup.empty() ? "" : " (cgroup " + spec_.clients_cgroup + " only)") +
                      " off etcd: drop tcp to " + dst + " port " + std::to_string(spec_.client_port) + " egress on " +
                      itf.name + " (ifindex " + std::to_string(itf.ifindex) + ") [" +
                      kernel::attach_mode_name(mode_) + " attach]");
    }
    return {};
  }

  Result<void> attach_part(Part& p, std::uint64_t deadline) {
    if (auto r = p.cls->set_lease_deadline(deadline); !r) return r;
    const std::string& ns = spec_.action == Action::cut_clients ? clients_ns_ : members_[*chosen_].netns.path;
    if (auto r = network::attach_journaled(*p.cls, p.itf.ifindex, ns, mode_, ctx_, p.seq); !r)
      return wrap(r.error(), std::string("attach ") + kernel::tc_direction_name(p.dir) + " on " + p.itf.name);
    ctx_.log->info("run {} fault {}: {}", ctx_.run_id, entry_.name, p.cls->attachment()->describe());
    return {};
  }

  Result<void> apply_isolate() {
    // Roles now: leadership may have moved since the plan. An election under way is waited out.
    auto t_roles = steady_clock::now();
    std::vector<MemberState> states;
    Result<std::size_t> idx = fail("not chosen");
    auto until = steady_clock::now() + kRoleWait;
    std::random_device rd;
    std::uint64_t random = rd();
    while (true) {
      states = query_states();
      idx = choose_member(states, spec_.member, spec_.member_name, random);
      if (idx || idx.error().code != EAGAIN || steady_clock::now() >= until) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    roles_took_ = steady_clock::now() - t_roles;
    if (!idx) return wrap(idx.error(), "choose the " + spec_.member_str());
    if (!targets_[*idx]) return std::unexpected(targets_[*idx].error());
    chosen_ = *idx;
    // The isolated member's own TCP counters: its peers' connections retrying, timing out.
    kernel_ = kernel::NetCounterDelta(members_[*idx].netns.path);
    kernel_.start();
    std::uint64_t leader = consensus_leader(states);
    std::uint64_t id = states[*idx].status->member_id;
    chosen_role_ = id == leader ? "leader" : "follower";
    ctx_.log->info("run {} fault {}: isolating {} ({} at {}), the {}", ctx_.run_id, entry_.name, names_[*idx],
                   member_id_hex(id), members_[*idx].url.url, chosen_role_);
    // One classifier per (interface, direction): two were loaded at plan, more now if needed.
    for (const auto& itf : *targets_[*idx]) {
      for (auto d : {TcDirection::egress, TcDirection::ingress}) {
        Part p;
        auto it = std::find_if(spare_.begin(), spare_.end(), [&](const Part& s) { return s.dir == d; });
        if (it != spare_.end()) {
          p = std::move(*it);
          spare_.erase(it);
        } else {
          auto cls = load(d, {}, 0);
          if (!cls) return std::unexpected(cls.error());
          p.dir = d;
          p.cls = std::move(*cls);
        }
        p.itf = itf;
        parts_.push_back(std::move(p));
      }
    }
    // The cut begins with the first attachment: the watch's clock for the election starts now.
    watch_->mark_applied(*idx, id, leader);
    auto t0 = steady_clock::now();
    auto deadline = kernel::monotonic_now_ns() + static_cast<std::uint64_t>(ctx_.config->lease.count());
    applied_ = true;  // from here on revert() has something to undo, even after a partial attach
    for (auto& p : parts_)
      if (auto r = attach_part(p, deadline); !r) return r;
    attach_took_ = steady_clock::now() - t0;
    return {};
  }

  FaultEntry entry_;
  EtcdSpec spec_;
  FaultContext ctx_;
  AttachMode mode_ = AttachMode::automatic;
  std::vector<MemberEndpoint> members_;
  std::vector<std::string> names_;  // per endpoint
  std::vector<std::pair<std::uint64_t, std::string>> id_names_;
  std::vector<Result<std::vector<Interface>>> targets_;  // isolate: per endpoint, where to cut
  std::string clients_ns_, clients_where_;
  kernel::NetCounterDelta kernel_;
  std::vector<Part> spare_;  // loaded at plan, attached once the member is chosen
  std::vector<Part> parts_;  // attached (or being attached)
  std::optional<std::size_t> chosen_;
  std::string chosen_role_;
  bool applied_ = false;
  std::optional<Duration> roles_took_, attach_took_, detach_took_;
  std::unique_ptr<ClusterWatch> watch_;
};

}  // namespace

Result<std::unique_ptr<Fault>> make_etcd_fault(const FaultEntry& entry, const FaultContext& ctx) {
  return std::unique_ptr<Fault>(new EtcdFault(entry, ctx));
}

}  // namespace chaos::etcd
