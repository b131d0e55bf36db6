#include "faults/network/netem.h"

#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "core/log.h"
#include "kernel/cgroup.h"
#include "faults/network/config.h"
#include "faults/network/partition.h"
#include "faults/network/target_plan.h"
#include "kernel/bpf_util.h"
#include "kernel/classifier.h"
#include "kernel/ifb.h"
#include "kernel/netlink.h"
#include "kernel/netns.h"
#include "kernel/netstat.h"

namespace chaos::network {

using namespace std::chrono_literals;
using kernel::AttachMode;
using kernel::Classifier;
using kernel::ClassifierAction;
using kernel::QdiscRecord;
using kernel::TcDirection;
using kernel::TcSocket;
using kernel::tc_handle;
using kernel::format_tc_handle;

namespace {

std::shared_ptr<spdlog::logger> netem_log() {
  static const auto l = logger("netem");
  return l;
}

// Every change to a tree (apply, revert, undo at start-up) happens under this lock: faults of
// concurrent runs share trees, and the decision "am I the last class?" must not race.
std::mutex& tree_mutex() {
  static std::mutex m;
  return m;
}

constexpr const char* kIfbAliasPrefix = "chaos-agent netem ingress of ifindex ";

std::string ifb_alias(int ifindex, bool created_clsact) {
  return kIfbAliasPrefix + std::to_string(ifindex) + (created_clsact ? " clsact=created" : " clsact=existing");
}

// ---- minors: each fault's class in a shared tree, reserved at plan time so the classifier,
// loaded at plan time with the class id as a constant, already knows it.

using TreeKey = std::tuple<std::uint64_t, std::uint64_t, int, int>;  // netns dev, ino, ifindex, direction
std::map<TreeKey, std::set<std::uint16_t>>& reservations() {
  static std::map<TreeKey, std::set<std::uint16_t>> r;
  return r;
}

Result<std::uint16_t> reserve_minor(const TreeKey& key, const std::set<std::uint16_t>& in_kernel) {
  std::lock_guard lk(tree_mutex());
  auto& taken = reservations()[key];
  for (std::uint32_t m = 2; m < 0xFFFF; ++m) {
    auto minor = static_cast<std::uint16_t>(m);
    if (!taken.contains(minor) && !in_kernel.contains(minor)) {
      taken.insert(minor);
      return minor;
    }
  }
  return fail("no free netem class id left on this interface", ENOSPC);
}

void release_minor(const TreeKey& key, std::uint16_t minor) {
  std::lock_guard lk(tree_mutex());
  auto it = reservations().find(key);
  if (it == reservations().end()) return;
  it->second.erase(minor);
  if (it->second.empty()) reservations().erase(it);
}

// ---- the journal's undo data for one tree class

struct TreeUndo {
  std::string netns_path;
  NetnsId netns_id;
  std::string netns_describe;
  TcDirection direction = TcDirection::egress;
  int ifindex = 0;        // the interface the fault is on
  std::string ifname;
  std::uint32_t root = 0;     // the agent's HTB handle (on the interface, or on the ifb)
  std::uint32_t classid = 0;  // this fault's class
  std::optional<QdiscRecord> foreign;  // egress: the root qdisc that was there before
  std::string ifb;            // ingress: the agent's ifb
  bool created_clsact = false;  // ingress, older records only: the tree owned the interface's clsact
  // ingress: this entry was written before the ifb was made (no such device existed), so an ifb of
  // that name still without the agent's alias is the one a crash caught between its creation and
  // its alias
  bool created_ifb = false;

  nlohmann::json to_json() const {
    nlohmann::json j{{"netns", netns_path},
                     {"netnsDev", netns_id.dev},
                     {"netnsIno", netns_id.ino},
                     {"where", netns_describe},
                     {"direction", kernel::tc_direction_name(direction)},
                     {"ifindex", ifindex},
                     {"ifname", ifname},
                     {"root", root},
                     {"classid", classid}};
    if (foreign) j["foreign"] = foreign->to_json();
    if (!ifb.empty())
      j["ifb"] = {{"name", ifb}, {"redirectPrio", kIngressRedirectPrio}, {"createdClsact", created_clsact},
                  {"createdIfb", created_ifb}};
    return j;
  }

  static Result<TreeUndo> from_json(const nlohmann::json& j) {
    try {
      TreeUndo u;
      u.netns_path = j.at("netns").get<std::string>();
      u.netns_id.dev = j.value("netnsDev", std::uint64_t{0});
      u.netns_id.ino = j.value("netnsIno", std::uint64_t{0});
      u.netns_describe = j.value("where", u.netns_path);
      auto d = kernel::parse_tc_direction(j.at("direction").get<std::string>());
      if (!d) return std::unexpected(d.error());
      u.direction = *d;
      u.ifindex = j.at("ifindex").get<int>();
      u.ifname = j.value("ifname", std::string());
      u.root = j.at("root").get<std::uint32_t>();
      u.classid = j.at("classid").get<std::uint32_t>();
      if (j.contains("foreign")) {
        auto f = QdiscRecord::from_json(j["foreign"]);
        if (!f) return std::unexpected(f.error());
        u.foreign = *f;
      }
      if (j.contains("ifb")) {
        u.ifb = j["ifb"].at("name").get<std::string>();
        u.created_clsact = j["ifb"].value("createdClsact", false);
        u.created_ifb = j["ifb"].value("createdIfb", false);
      }
      return u;
    } catch (const std::exception& e) {
      return fail(std::string("netem undo data: ") + e.what(), EINVAL);
    }
  }

  std::string describe() const {
    std::string s = std::string(kernel::tc_direction_name(direction)) + " netem class " + format_tc_handle(classid) +
                    " on " + (ifb.empty() ? ifname : ifb + " (ingress of " + ifname + ")") + " in " +
                    netns_describe;
    return s;
  }
};

// Is the namespace of this record still the one it was? (gone or replaced: nothing to undo)
Result<bool> netns_still_there(const TreeUndo& u) {
  if (u.netns_path.empty()) return true;
  auto id = netns_id(u.netns_path);
  if (!id && (id.error().code == ENOENT || id.error().code == EINVAL)) return false;
  if (!id) return std::unexpected(id.error());
  if (u.netns_id.ino && *id != u.netns_id) return false;
  return true;
}

bool is_our_root(const std::optional<QdiscRecord>& root, std::uint32_t handle) {
  return root && root->kind == "htb" && root->handle == handle;
}

std::optional<QdiscRecord> leaf_of(const std::vector<QdiscRecord>& qdiscs, std::uint32_t classid) {
  for (const auto& q : qdiscs)
    if (q.parent == classid) return q;
  return std::nullopt;
}

// Classes of our root other than the foreign default class.
std::set<std::uint16_t> fault_minors(const std::vector<kernel::ClassRecord>& classes, std::uint32_t root) {
  std::set<std::uint16_t> out;
  for (const auto& c : classes)
    if (TC_H_MAJ(c.classid) == root && TC_H_MIN(c.classid) != kForeignClassMinor && TC_H_MIN(c.classid) != 0)
      out.insert(static_cast<std::uint16_t>(TC_H_MIN(c.classid)));
  return out;
}

Result<void> ignore_enoent(Result<void> r) {
  if (!r && (r.error().code == ENOENT || r.error().code == ENODEV)) return {};
  return r;
}

// Puts the foreign root back (when the root slot holds the kernel's default) and checks that the
// kernel's dump of it equals the one taken before the fault, byte for byte.
Result<void> restore_foreign_root(TcSocket& sk, const TreeUndo& u) {
  QdiscRecord want = *u.foreign;
  want.ifindex = u.ifindex;
  want.parent = TC_H_ROOT;
  auto now = sk.root_qdisc(u.ifindex);
  if (!now) return std::unexpected(now.error());
  if (*now && (*now)->same_config(want)) return {};
  if (*now && !(*now)->is_default()) {
    netem_log()->warn("undo {}: the root slot holds {} now, not the agent's tree; leaving it, not restoring {}",
                      u.describe(), (*now)->describe(), want.describe());
    return {};
  }
  auto m = kernel::build_qdisc_copy(want, TC_H_ROOT, NLM_F_CREATE | NLM_F_EXCL);
  if (!m) return std::unexpected(m.error());
  if (auto r = sk.request(m->get(), "restore the root qdisc " + want.describe() + " on " + u.ifname); !r) return r;
  auto back = sk.root_qdisc(u.ifindex);
  if (!back) return std::unexpected(back.error());
  if (!*back || !(*back)->same_config(want))
    return fail("restored root qdisc on " + u.ifname + " differs from the one taken before the fault: was " +
                    want.describe() + ", now " + (*back ? (*back)->describe() : std::string("none")),
                EIO);
  netem_log()->info("restored root qdisc {} on {} (byte for byte)", want.describe(), u.ifname);
  return {};
}

Result<void> undo_egress_locked(const TreeUndo& u) {
  auto sk = TcSocket::open_in(u.netns_path);
  if (!sk) return std::unexpected(sk.error());
  auto nl = NetlinkSocket::open_in(u.netns_path);
  if (!nl) return std::unexpected(nl.error());
  auto name = name_by_ifindex(*nl, u.ifindex);
  if (!name) return {};  // the device is gone, and its qdiscs with it
  if (!u.ifname.empty() && *name != u.ifname)
    netem_log()->info("undo {}: ifindex {} is now called {}", u.describe(), u.ifindex, *name);
  auto root = sk->root_qdisc(u.ifindex);
  if (!root) return std::unexpected(root.error());
  std::optional<QdiscRecord> foreign = u.foreign;
  if (is_our_root(*root, u.root)) {
    auto classes = sk->classes(u.ifindex);
    if (!classes) return std::unexpected(classes.error());
    bool mine = std::any_of(classes->begin(), classes->end(), [&](auto& c) { return c.classid == u.classid; });
    if (mine) {
      auto m = kernel::build_class_delete(u.ifindex, u.classid);
      if (!m) return std::unexpected(m.error());
      if (auto r = ignore_enoent(sk->request(m->get(), "delete class " + format_tc_handle(u.classid) + " on " + u.ifname)); !r)
        return r;
    }
    auto others = fault_minors(*classes, u.root);
    others.erase(static_cast<std::uint16_t>(TC_H_MIN(u.classid)));
    if (!others.empty()) {
      netem_log()->debug("undo {}: {} other fault class(es) still use the tree", u.describe(), others.size());
      return {};
    }
    if (!foreign) {
      auto qs = sk->qdiscs(u.ifindex);
      if (!qs) return std::unexpected(qs.error());
      if (auto leaf = leaf_of(*qs, u.root | kForeignClassMinor); leaf && !leaf->is_default()) foreign = leaf;
    }
    auto m = kernel::build_qdisc_delete(u.ifindex, TC_H_ROOT, u.root);
    if (!m) return std::unexpected(m.error());
    if (auto r = ignore_enoent(sk->request(m->get(), "delete the agent's root qdisc " + format_tc_handle(u.root) +
                                                     " on " + u.ifname));
        !r)
      return r;
  }
  if (foreign) {
    TreeUndo with = u;
    with.foreign = foreign;
    return restore_foreign_root(*sk, with);
  }
  return {};
}

Result<void> undo_ingress_locked(const TreeUndo& u) {
  auto sk = TcSocket::open_in(u.netns_path);
  if (!sk) return std::unexpected(sk.error());
  auto nl = NetlinkSocket::open_in(u.netns_path);
  if (!nl) return std::unexpected(nl.error());
  bool created_clsact = u.created_clsact;
  auto exists = link_exists(*nl, u.ifb);
  if (!exists) return std::unexpected(exists.error());
  bool ifb_ours = false;
  if (*exists) {
    auto alias = kernel::link_alias(*nl, u.ifb);
    if (!alias) return std::unexpected(alias.error());
    ifb_ours = alias->rfind(kIfbAliasPrefix + std::to_string(u.ifindex) + " ", 0) == 0;
    // Made by this entry and caught before its alias was set (the kernel takes an alias only as a
    // change after the creation): ours, though it cannot say so yet.
    if (!ifb_ours && alias->empty() && u.created_ifb && kernel::is_agent_ifb_name(u.ifb)) {
      netem_log()->info("undo {}: {} has no alias yet; this entry made it", u.describe(), u.ifb);
      ifb_ours = true;
    }
    if (!ifb_ours) {
      netem_log()->warn("undo {}: {} is not the agent's ifb (alias \"{}\"); leaving it", u.describe(), u.ifb, *alias);
    } else {
      created_clsact = alias->find("clsact=created") != std::string::npos;
      auto idx = ifindex_by_name(*nl, u.ifb);
      if (!idx) return std::unexpected(idx.error());
      auto root = sk->root_qdisc(*idx);
      if (!root) return std::unexpected(root.error());
      if (is_our_root(*root, u.root)) {
        auto classes = sk->classes(*idx);
        if (!classes) return std::unexpected(classes.error());
        if (std::any_of(classes->begin(), classes->end(), [&](auto& c) { return c.classid == u.classid; })) {
          auto m = kernel::build_class_delete(*idx, u.classid);
          if (!m) return std::unexpected(m.error());
          if (auto r = ignore_enoent(sk->request(m->get(), "delete class " + format_tc_handle(u.classid) + " on " + u.ifb));
              !r)
            return r;
        }
        auto others = fault_minors(*classes, u.root);
        others.erase(static_cast<std::uint16_t>(TC_H_MIN(u.classid)));
        if (!others.empty()) return {};
      }
    }
  }
  // Last one out: the redirect first (traffic stops going through the ifb), then the clsact the
  // agent made, then the ifb.
  auto name = name_by_ifindex(*nl, u.ifindex);
  if (name) {
    auto filters = sk->filters(u.ifindex, kernel::kClsactIngressParent);
    if (!filters) return std::unexpected(filters.error());
    bool ours = std::any_of(filters->begin(), filters->end(),
                            [](auto& f) { return f.prio == kIngressRedirectPrio && f.kind == "u32"; });
    if (ours) {
      auto m = kernel::build_filter_delete(u.ifindex, kernel::kClsactIngressParent, kIngressRedirectPrio, "u32");
      if (!m) return std::unexpected(m.error());
      if (auto r = ignore_enoent(sk->request(m->get(), "delete the ingress redirect filter on " + *name)); !r) return r;
    }
    if (created_clsact) {  // an older record's tree owned the clsact (newer ones share it: kernel/clsact.h)
      auto left = kernel::remove_clsact_if_unused(sk->get(), u.ifindex);
      if (!left) return wrap(left.error(), "remove the clsact qdisc the agent made on " + *name);
    }
  }
  if (*exists && ifb_ours) {
    if (auto r = delete_link(*nl, u.ifb); !r) return r;
    netem_log()->debug("deleted {}", u.ifb);
  }
  return {};
}

Result<void> undo_tree(const TreeUndo& u) {
  std::lock_guard lk(tree_mutex());
  auto there = netns_still_there(u);
  if (!there) return wrap(there.error(), "undo " + u.describe());
  if (!*there) return {};
  auto r = u.direction == TcDirection::egress ? undo_egress_locked(u) : undo_ingress_locked(u);
  if (!r) return wrap(r.error(), "undo " + u.describe());
  return {};
}

// ---- module probing (features, not versions)

bool module_available(const std::string& name) {
  if (std::filesystem::exists("/sys/module/" + name)) return true;
  utsname un{};
  if (uname(&un) != 0) return false;
  std::string dir = std::string("/lib/modules/") + un.release;
  std::ifstream builtin(dir + "/modules.builtin");
  for (std::string line; std::getline(builtin, line);)
    if (line.ends_with("/" + name + ".ko")) return true;
  for (const char* ext : {".ko", ".ko.xz", ".ko.zst", ".ko.gz"})
    if (std::filesystem::exists(dir + "/kernel/net/sched/" + name + ext)) return true;
  return false;
}

// ---- the fault


double ms_since(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double ge_loss_rate(const GilbertElliott& g) {
  double p = g.p.fraction(), r = g.r.fraction();
  if (p + r <= 0) return g.k.fraction();  // never leaves the good state
  double bad = p / (p + r);
  return bad * (1.0 - g.h.fraction()) + (1.0 - bad) * g.k.fraction();
}

class NetemFault : public Fault {
 public:
  NetemFault(const FaultEntry& e, const FaultContext& ctx)
      : entry_(e), spec_(*std::static_pointer_cast<const NetworkSpec>(e.spec)), ctx_(ctx) {}

  ~NetemFault() override {
    (void)revert();
    for (auto& p : parts_)
      if (p.minor) release_minor(p.key, p.minor);
  }

  Result<std::vector<std::string>> plan() override {
    if (auto c = check_netem_caps(spec_, *ctx_.config); !c) return std::unexpected(c.error());
    auto params = netem_params(spec_);
    if (!params) return std::unexpected(params.error());
    params_ = *params;
    auto t = resolve_classifier_target(spec_, *ctx_.config);
    if (!t) return std::unexpected(t.error());
    where_ = t->where;
    mode_ = t->mode;
    const std::uint64_t cg = t->cgroup_id;
    if (auto p = probe_netem_support(); !p) return std::unexpected(p.error());
    if (spec_.direction != Direction::egress)
      for (const char* m : {"ifb", "act_mirred", "cls_u32"})
        if (!module_available(m))
          return fail(std::string("ingress netem needs ") + m + ", which this kernel has neither loaded, built in "
                      "nor as a module", ENOTSUP);
    auto sk = TcSocket::open_in(where_.target.netns.path);
    if (!sk) return std::unexpected(sk.error());
    auto nl = NetlinkSocket::open_in(where_.target.netns.path);
    if (!nl) return std::unexpected(nl.error());

    std::vector<std::string> lines;
    for (auto d : t->dirs) {
      Part part;
      part.dir = d;
      std::uint16_t major = d == TcDirection::egress ? kNetemEgressMajor : kNetemIngressMajor;
      std::set<std::uint16_t> in_kernel;
      std::string tree_line;
      if (d == TcDirection::egress) {
        auto root = sk->root_qdisc(where_.ifindex);
        if (!root) return std::unexpected(root.error());
        if (is_our_root(*root, tc_handle(major, 0))) {
          auto classes = sk->classes(where_.ifindex);
          if (!classes) return std::unexpected(classes.error());
          in_kernel = fault_minors(*classes, tc_handle(major, 0));
          tree_line = "joins the agent's htb " + format_tc_handle(tc_handle(major, 0)) + " already on " + where_.interface;
        } else if (*root && !(*root)->is_default()) {
          if (auto f = check_foreign_root(*sk, **root); !f) return std::unexpected(f.error());
          tree_line = "moves the root qdisc " + (*root)->describe() + " under htb " +
                      format_tc_handle(tc_handle(major, 0)) + " as its default class " +
                      format_tc_handle(tc_handle(major, kForeignClassMinor)) + " (restored byte for byte at revert)";
        } else {
          tree_line = "replaces the default root qdisc" + ((*root) ? " (" + (*root)->kind + ")" : std::string()) +
                      " of " + where_.interface + " with htb " + format_tc_handle(tc_handle(major, 0)) +
                      " (unmatched traffic: direct queue, unshaped)";
        }
      } else {
        std::string ifb = kernel::agent_ifb_name(where_.ifindex);
        auto exists = link_exists(*nl, ifb);
        if (!exists) return std::unexpected(exists.error());
        if (*exists) {
          auto alias = kernel::link_alias(*nl, ifb);
          if (!alias) return std::unexpected(alias.error());
          if (alias->rfind(kIfbAliasPrefix + std::to_string(where_.ifindex) + " ", 0) != 0)
            return fail("an interface named " + ifb + " exists in " + where_.target.netns.describe +
                            " and is not this agent's ifb for " + where_.interface + " (alias \"" + *alias + "\")",
                        EEXIST);
          auto idx = ifindex_by_name(*nl, ifb);
          if (!idx) return std::unexpected(idx.error());
          auto classes = sk->classes(*idx);
          if (!classes) return std::unexpected(classes.error());
          in_kernel = fault_minors(*classes, tc_handle(major, 0));
          tree_line = "joins the agent's " + ifb + " (htb " + format_tc_handle(tc_handle(major, 0)) + ")";
        } else {
          auto kind = kernel::clsact_slot_kind(sk->get(), where_.ifindex);
          if (!kind) return std::unexpected(kind.error());
          tree_line = "creates " + ifb + " (htb " + format_tc_handle(tc_handle(major, 0)) + "), " +
                      (kind->empty() ? std::string("a clsact qdisc and ") : std::string()) +
                      "a u32 filter (prio " + std::to_string(kIngressRedirectPrio) + ") redirecting " +
                      where_.interface + "'s ingress to it";
        }
      }
      part.key = TreeKey{where_.target.netns.id.dev, where_.target.netns.id.ino, where_.ifindex, static_cast<int>(d)};
      auto minor = reserve_minor(part.key, in_kernel);
      if (!minor) return std::unexpected(minor.error());
      part.minor = *minor;
      part.classid = tc_handle(major, part.minor);
      // The classifier marks matching packets with the class id; loading it is the preflight.
      auto cfg = classifier_config(spec_, d, ClassifierAction::steer, cg);
      cfg.classid = part.classid;
      if (auto v = kernel::validate(cfg); !v) {
        release_minor(part.key, part.minor);
        return std::unexpected(v.error());
      }
      auto cls = Classifier::load(cfg);
      if (!cls) {
        release_minor(part.key, part.minor);
        return wrap(cls.error(), "load the classifier");
      }
      part.cls = std::move(*cls);
      lines.push_back(std::string(kernel::tc_direction_name(d)) + ": netem " + describe_params() + " in class " +
                      format_tc_handle(part.classid) + " for packets matching " + spec_.to_json()["match"].dump() +
                      " on " + where_.interface + " (ifindex " + std::to_string(where_.ifindex) + ") in " +
                      where_.target.netns.describe + "; " + tree_line + " [" + kernel::attach_mode_name(mode_) +
                      " attach]");
      parts_.push_back(std::move(part));
    }
    return lines;
  }

  Result<void> apply() override {
    kernel_ = kernel::NetCounterDelta(where_.target.netns.path);
    kernel_.start();
    auto deadline = kernel::monotonic_now_ns() + static_cast<std::uint64_t>(ctx_.config->lease.count());
    for (auto& p : parts_) {
      auto t0 = std::chrono::steady_clock::now();
      auto r = p.dir == TcDirection::egress ? apply_egress(p) : apply_ingress(p);
      if (!r) return wrap(r.error(), std::string("netem ") + kernel::tc_direction_name(p.dir));
      auto t1 = std::chrono::steady_clock::now();
      if (auto l = p.cls->set_lease_deadline(deadline); !l) return l;
      if (auto a = attach_journaled(*p.cls, where_.ifindex, where_.target.netns.path, mode_, ctx_, p.cls_seq); !a)
        return wrap(a.error(), std::string("attach the classifier on ") + kernel::tc_direction_name(p.dir));
      netem_log()->debug("apply {}: tree {:.3f} ms, classifier {:.3f} ms", p.undo.describe(), ms_since(t0, t1),
                         ms_since(t1, std::chrono::steady_clock::now()));
      ctx_.log->info("run {} fault {}: {} -> class {}; {}", ctx_.run_id, entry_.name, p.undo.describe(),
                     format_tc_handle(p.classid), p.cls->attachment()->describe());
    }
    return {};
  }

  Result<void> renew(std::uint64_t deadline) override {
    for (auto& p : parts_)
      if (p.cls)
        if (auto r = p.cls->set_lease_deadline(deadline); !r) return r;
    return {};
  }

  Result<void> revert() override {
    kernel_.freeze();
    Result<void> first{};
    for (auto& p : parts_) {
      auto t0 = std::chrono::steady_clock::now();
      // Stop steering first (a zero lease switches the program off at once), let netem empty,
      // and only then detach: removing a classic filter's clsact, like any qdisc graft, resets
      // the device's queues and would drop what netem still holds.
      if (p.cls && p.cls->attachment() && p.tree_seq && p.cls->set_lease_deadline(0)) drain(p);
      if (p.cls) {
        auto r = detach_journaled(*p.cls, ctx_, p.cls_seq);
        if (!r && first) first = r;
      }
      auto t1 = std::chrono::steady_clock::now();
      if (p.tree_seq) {
        auto r = undo_tree(p.undo);
        netem_log()->debug("revert {}: classifier {:.3f} ms, tree {:.3f} ms", p.undo.describe(), ms_since(t0, t1),
                           ms_since(t1, std::chrono::steady_clock::now()));
        if (!r) {
          if (first) first = r;
          continue;
        }
        if (auto j = ctx_.journal->reverted(p.tree_seq); !j && first) first = j;
        p.tree_seq = 0;
      }
      // The redirect is gone with the tree: give back its share of the clsact (the last user
      // removes it; one that cannot go stays journaled).
      if (auto c = p.clsact.release(); !c) netem_log()->warn("revert {}: {}", p.undo.describe(), c.error().text());
    }
    return first;
  }

  nlohmann::json sample() override {
    nlohmann::json s = nlohmann::json::object();
    for (auto& p : parts_)
      if (p.cls && p.cls->attachment()) s[kernel::tc_direction_name(p.dir)] = stats_json(p);
    if (auto k = kernel_.delta(); !k.is_null()) s["kernel"] = k;
    return s;
  }

  nlohmann::json observe() const override {
    nlohmann::json o{{"action", action_name(spec_.action)},
                     {"interface", where_.interface},
                     {"netns", where_.target.netns.describe},
                     {"requested", spec_.to_json()}};
    // The namespace's TCP/UDP counters, from apply to revert: retransmits, timeouts, resets.
    if (auto k = kernel_.result(); !k.is_null()) o["kernel"] = k;
    for (const auto& p : parts_) {
      if (!p.cls) continue;
      auto j = p.cls->report_json("steered");
      if (j.is_null()) continue;
      j["class"] = format_tc_handle(p.classid);
      o[kernel::tc_direction_name(p.dir)] = j;
    }
    return o;
  }

 private:
  struct Part {
    TcDirection dir = TcDirection::egress;
    TreeKey key{};
    std::uint16_t minor = 0;
    std::uint32_t classid = 0;
    std::unique_ptr<Classifier> cls;
    std::uint64_t cls_seq = 0;
    std::uint64_t tree_seq = 0;
    TreeUndo undo;
    kernel::ClsactShare clsact;  // ingress: the tree's share of the interface's clsact
  };

  static nlohmann::json stats_json(const Part& p) {
    nlohmann::json j = p.cls->stats_json("steered");
    j["class"] = format_tc_handle(p.classid);
    return j;
  }

  std::string describe_params() const {
    std::string s;
    auto add = [&](const std::string& x) { s += (s.empty() ? "" : ", ") + x; };
    if (spec_.delay) {
      add("delay " + format_duration(spec_.delay->latency) +
          (spec_.delay->jitter.count() ? " +- " + format_duration(spec_.delay->jitter) : "") +
          (spec_.delay->distribution ? " " + std::string(name(*spec_.delay->distribution)) : ""));
    }
    if (spec_.loss) add(spec_.loss->gemodel ? std::string("loss gemodel") : "loss " + format_percent(spec_.loss->loss));
    if (spec_.duplicate) add("duplicate " + format_percent(spec_.duplicate->value));
    if (spec_.corrupt) add("corrupt " + format_percent(spec_.corrupt->value));
    if (spec_.reorder) add("reorder " + format_percent(spec_.reorder->reorder));
    if (spec_.rate) add("rate " + std::to_string(spec_.rate->bytes_per_second) + " B/s");
    return s;
  }

  // Nothing is steered into the class any more: let what netem still holds leave before anything
  // is removed, so reverting does not drop the faulted flow's packets in flight (a lost SYN
  // would cost its sender a second). Bounded by the longest delay netem can give a packet.
  void drain(const Part& p) {
    std::int64_t max_delay = params_.latency_ns + 4 * params_.jitter_ns;
    if (params_.jitter_ns && !params_.delay_dist.empty()) {
      auto [lo, hi] = std::minmax_element(params_.delay_dist.begin(), params_.delay_dist.end());
      max_delay = params_.latency_ns +
                  params_.jitter_ns * std::max(std::abs(*lo), std::abs(*hi)) / NETEM_DIST_SCALE + params_.jitter_ns;
    }
    auto limit = std::chrono::nanoseconds(std::min<std::int64_t>(max_delay, 2'000'000'000)) + 50ms;
    auto sk = TcSocket::open_in(p.undo.netns_path);
    auto nl = NetlinkSocket::open_in(p.undo.netns_path);
    if (!sk || !nl) return;
    int dev = p.undo.ifindex;
    if (!p.undo.ifb.empty()) {
      auto idx = ifindex_by_name(*nl, p.undo.ifb);
      if (!idx) return;
      dev = *idx;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::uint32_t first = 0;
    while (true) {
      auto qs = sk->qdiscs(dev);
      if (!qs) return;
      auto leaf = leaf_of(*qs, p.classid);
      if (!leaf || leaf->qlen == 0) break;
      if (!first) first = leaf->qlen;
      if (std::chrono::steady_clock::now() - t0 > limit) {
        netem_log()->info("revert {}: {} packet(s) still in netem after {:.0f} ms; removing the class anyway",
                          p.undo.describe(), leaf->qlen, ms_since(t0, std::chrono::steady_clock::now()));
        return;
      }
      std::this_thread::sleep_for(2ms);
    }
    if (first)
      netem_log()->debug("revert {}: drained {} packet(s) from netem in {:.1f} ms", p.undo.describe(), first,
                         ms_since(t0, std::chrono::steady_clock::now()));
  }

  TreeUndo base_undo(const Part& p) const {
    TreeUndo u;
    u.netns_path = where_.target.netns.path;
    u.netns_id = where_.target.netns.id;
    u.netns_describe = where_.target.netns.describe;
    u.direction = p.dir;
    u.ifindex = where_.ifindex;
    u.ifname = where_.interface;
    u.classid = p.classid;
    u.root = TC_H_MAJ(p.classid);
    return u;
  }

  Result<void> journal_intend(Part& p) {
    auto seq = ctx_.journal->intend(ctx_.run_id, kNetemJournalKind, p.undo.to_json());
    if (!seq) return std::unexpected(seq.error());
    p.tree_seq = *seq;
    return {};
  }

  Result<void> add_netem_class(TcSocket& sk, int dev_ifindex, const std::string& dev, const Part& p) {
    auto c = kernel::build_htb_class(dev_ifindex, p.undo.root, p.classid, kUnlimitedRate, NLM_F_CREATE | NLM_F_EXCL);
    if (!c) return std::unexpected(c.error());
    if (auto r = sk.request(c->get(), "add htb class " + format_tc_handle(p.classid) + " on " + dev); !r) return r;
    auto q = kernel::build_netem_qdisc(dev_ifindex, p.classid, 0, params_, NLM_F_CREATE | NLM_F_EXCL);
    if (!q) return std::unexpected(q.error());
    return sk.request(q->get(), "add netem under class " + format_tc_handle(p.classid) + " on " + dev);
  }

  Result<void> apply_egress(Part& p) {
    std::lock_guard lk(tree_mutex());
    const std::string& dev = where_.interface;
    const int ifindex = where_.ifindex;
    auto sk = TcSocket::open_in(where_.target.netns.path);
    if (!sk) return std::unexpected(sk.error());
    p.undo = base_undo(p);
    auto root = sk->root_qdisc(ifindex);
    if (!root) return std::unexpected(root.error());
    bool join = is_our_root(*root, p.undo.root);
    bool foreign = !join && *root && !(*root)->is_default();
    if (foreign) {
      if (auto f = check_foreign_root(*sk, **root); !f) return std::unexpected(f.error());
      p.undo.foreign = **root;
    } else if (join) {
      auto qs = sk->qdiscs(ifindex);
      if (!qs) return std::unexpected(qs.error());
      if (auto leaf = leaf_of(*qs, p.undo.root | kForeignClassMinor); leaf && !leaf->is_default()) {
        leaf->parent = TC_H_ROOT;
        p.undo.foreign = *leaf;
      }
    }
    // On disk before the first change: enough to put everything back without this process.
    if (auto j = journal_intend(p); !j) return j;
    if (!join) {
      // A foreign root is replaced (NLM_F_REPLACE) and recreated below us; the kernel's default
      // root is simply taken over (NLM_F_EXCL: anything else there is an error, not a casualty).
      int flags = NLM_F_CREATE | (foreign ? NLM_F_REPLACE : NLM_F_EXCL);
      auto m = kernel::build_htb_qdisc(ifindex, TC_H_ROOT, p.undo.root, foreign ? kForeignClassMinor : 0,
                                       kDirectQueueLen, flags);
      if (!m) return std::unexpected(m.error());
      if (auto r = sk->request(m->get(), "add root htb " + format_tc_handle(p.undo.root) + " on " + dev); !r) return r;
      if (foreign) {
        std::uint32_t cls = p.undo.root | kForeignClassMinor;
        auto c = kernel::build_htb_class(ifindex, p.undo.root, cls, kUnlimitedRate, NLM_F_CREATE | NLM_F_EXCL);
        if (!c) return std::unexpected(c.error());
        if (auto r = sk->request(c->get(), "add default class " + format_tc_handle(cls) + " on " + dev); !r) return r;
        auto q = kernel::build_qdisc_copy(*p.undo.foreign, cls, NLM_F_CREATE | NLM_F_EXCL);
        if (!q) return std::unexpected(q.error());
        if (auto r = sk->request(q->get(), "re-create " + p.undo.foreign->describe() + " under " + format_tc_handle(cls));
            !r)
          return r;
        // The copy must be exact now, or it would not be exact at revert either.
        auto qs = sk->qdiscs(ifindex);
        if (!qs) return std::unexpected(qs.error());
        auto leaf = leaf_of(*qs, cls);
        QdiscRecord want = *p.undo.foreign;
        want.parent = cls;
        if (!leaf || !leaf->same_config(want))
          return fail("the root qdisc " + p.undo.foreign->describe() + " does not come back identical under the " +
                          "agent's htb (got " + (leaf ? leaf->describe() : std::string("nothing")) +
                          "): refusing, and putting it back",
                      EIO);
      }
    }
    if (auto r = add_netem_class(*sk, ifindex, dev, p); !r) return r;
    (void)ctx_.journal->applied(p.tree_seq, nullptr, false);
    return {};
  }

  Result<void> apply_ingress(Part& p) {
    std::lock_guard lk(tree_mutex());
    const int ifindex = where_.ifindex;
    auto sk = TcSocket::open_in(where_.target.netns.path);
    if (!sk) return std::unexpected(sk.error());
    auto nl = NetlinkSocket::open_in(where_.target.netns.path);
    if (!nl) return std::unexpected(nl.error());
    p.undo = base_undo(p);
    p.undo.ifb = kernel::agent_ifb_name(ifindex);
    const std::string& ifb = p.undo.ifb;
    auto exists = link_exists(*nl, ifb);
    if (!exists) return std::unexpected(exists.error());
    bool join = *exists;
    if (join) {
      auto alias = kernel::link_alias(*nl, ifb);
      if (!alias) return std::unexpected(alias.error());
      if (alias->rfind(kIfbAliasPrefix + std::to_string(ifindex) + " ", 0) != 0)
        return fail("an interface named " + ifb + " exists and is not this agent's ifb", EEXIST);
      p.undo.created_clsact = alias->find("clsact=created") != std::string::npos;
    } else {
      // The interface's clsact is not the tree's: it is a journal entry of its own, shared with the
      // classifiers on that interface (kernel/clsact.h), and goes with the last of them.
      p.undo.created_clsact = false;
    }
    p.undo.created_ifb = !join;
    int ifb_index = 0;
    // This fault's share of the clsact the redirect hangs off, for as long as its class exists.
    // The tree's intent comes before any change: inside acquire() right before a clsact is made
    // (one disk sync for both intents), or right after joining one.
    {
      auto in = NetnsGuard::enter(where_.target.netns.path);
      if (!in) return std::unexpected(in.error());
      bool intended = false;
      auto intend_tree = [&]() -> Result<void> {
        intended = true;
        return journal_intend(p);
      };
      auto share = kernel::ClsactShare::acquire(ifindex, where_.target.netns.path, {ctx_.journal, ctx_.run_id},
                                                intend_tree);
      if (!share) return std::unexpected(share.error());
      p.clsact = std::move(*share);
      if (!intended)
        if (auto j = intend_tree(); !j) return j;
    }
    if (!join) {
      auto idx = kernel::create_ifb(*nl, ifb, ifb_alias(ifindex, false));
      if (!idx) return std::unexpected(idx.error());
      ifb_index = *idx;
      auto m = kernel::build_htb_qdisc(ifb_index, TC_H_ROOT, p.undo.root, 0, kDirectQueueLen, NLM_F_CREATE | NLM_F_EXCL);
      if (!m) return std::unexpected(m.error());
      if (auto r = sk->request(m->get(), "add root htb " + format_tc_handle(p.undo.root) + " on " + ifb); !r) return r;
      auto f = kernel::build_u32_redirect_filter(ifindex, kernel::kClsactIngressParent, kIngressRedirectPrio, ifb_index);
      if (!f) return std::unexpected(f.error());
      if (auto r = sk->request(f->get(), "redirect the ingress of " + where_.interface + " to " + ifb); !r) return r;
    } else {
      auto idx = ifindex_by_name(*nl, ifb);
      if (!idx) return std::unexpected(idx.error());
      ifb_index = *idx;
    }
    if (auto r = add_netem_class(*sk, ifb_index, ifb, p); !r) return r;
    (void)ctx_.journal->applied(p.tree_seq, nullptr, false);
    return {};
  }

  FaultEntry entry_;
  NetworkSpec spec_;
  FaultContext ctx_;
  kernel::NetemParams params_;
  ResolvedInterface where_;
  AttachMode mode_ = AttachMode::automatic;
  std::vector<Part> parts_;
  kernel::NetCounterDelta kernel_;
};

}  // namespace

Result<kernel::NetemParams> netem_params(const NetworkSpec& spec) {
  kernel::NetemParams p;
  using kernel::probability_u32;
  if (spec.delay) {
    p.latency_ns = spec.delay->latency.count();
    p.jitter_ns = spec.delay->jitter.count();
    p.delay_corr = probability_u32(spec.delay->correlation.fraction());
    if (spec.delay->distribution) p.delay_dist = kernel::netem_distribution_table(*spec.delay->distribution);
  }
  if (spec.loss) {
    p.loss = probability_u32(spec.loss->loss.fraction());
    p.loss_corr = probability_u32(spec.loss->correlation.fraction());
    if (spec.loss->gemodel) {
      const auto& g = *spec.loss->gemodel;
      p.gemodel = kernel::NetemGeModel{probability_u32(g.p.fraction()), probability_u32(g.r.fraction()),
                                       probability_u32(g.h.fraction()), probability_u32(g.k.fraction())};
    }
  }
  if (spec.duplicate) {
    p.duplicate = probability_u32(spec.duplicate->value.fraction());
    p.duplicate_corr = probability_u32(spec.duplicate->correlation.fraction());
  }
  if (spec.corrupt) {
    p.corrupt = probability_u32(spec.corrupt->value.fraction());
    p.corrupt_corr = probability_u32(spec.corrupt->correlation.fraction());
  }
  if (spec.reorder) {
    p.reorder = probability_u32(spec.reorder->reorder.fraction());
    p.reorder_corr = probability_u32(spec.reorder->correlation.fraction());
    // As tc does: reordering without a gap means every packet may jump the queue.
    p.gap = spec.reorder->gap ? spec.reorder->gap : (p.reorder ? 1 : 0);
  }
  if (spec.rate) p.rate_bytes_per_s = spec.rate->bytes_per_second;
  return p;
}

Result<void> check_netem_caps(const NetworkSpec& spec, const AgentConfig& agent) {
  const NetworkConfig& config = config_of(agent);
  if (config.max_delay && spec.delay) {
    auto total = spec.delay->latency + spec.delay->jitter;
    if (total > *config.max_delay)
      return refuse("delay " + format_duration(spec.delay->latency) + " + jitter " + format_duration(spec.delay->jitter) +
                      " is above the agent's guardrails.maxDelay " + format_duration(*config.max_delay));
  }
  if (config.max_loss_fraction && spec.loss) {
    double rate = spec.loss->gemodel ? ge_loss_rate(*spec.loss->gemodel) : spec.loss->loss.fraction();
    if (rate > *config.max_loss_fraction + 1e-12)
      return refuse("loss " + format_fraction_percent(rate) + (spec.loss->gemodel ? " (Gilbert-Elliott long-run rate)" : "") +
                      " is above the agent's guardrails.maxLoss " + format_fraction_percent(*config.max_loss_fraction));
  }
  return {};
}

bool foreign_root_movable(const std::string& kind) {
  static const std::set<std::string> movable{"tbf",  "prio",    "pfifo", "bfifo", "pfifo_head_drop", "sfq",
                                             "fq_codel", "codel", "fq",    "netem", "red",             "pie",
                                             "fq_pie", "cake",    "choke", "sfb",   "plug",            "multiq"};
  return movable.contains(kind);
}

Result<void> check_foreign_root(TcSocket& sk, const QdiscRecord& root) {
  const std::string what = "root qdisc " + root.describe();
  if (!foreign_root_movable(root.kind))
    return fail(what + ": chaos-agent keeps a foreign root qdisc working underneath its own only for classless "
                       "and prio-like kinds whose options are their whole state (not " + root.kind +
                    "); remove it first or target another interface",
                ENOTSUP);
  if (root.has_stab)
    return fail(what + ": has a size table (stab), which chaos-agent cannot copy exactly", ENOTSUP);
  if (TC_H_MAJ(root.handle) == tc_handle(kNetemEgressMajor, 0) || TC_H_MAJ(root.handle) == tc_handle(kNetemIngressMajor, 0))
    return fail(what + ": uses the handle chaos-agent's own tree needs", EEXIST);
  auto qs = sk.qdiscs(root.ifindex);
  if (!qs) return std::unexpected(qs.error());
  for (const auto& q : *qs)
    if (q.parent != TC_H_ROOT && q.parent != TC_H_CLSACT && TC_H_MAJ(q.parent) == TC_H_MAJ(root.handle))
      return fail(what + ": has a child qdisc " + q.describe() + ", which would not survive the move", ENOTSUP);
  auto fs = sk.filters(root.ifindex, root.handle);
  if (!fs) return std::unexpected(fs.error());
  if (!fs->empty())
    return fail(what + ": has tc filters attached, which would not survive the move", ENOTSUP);
  return {};
}

Result<void> probe_netem_support() {
  for (const char* m : {"sch_netem", "sch_htb"})
    if (!module_available(m))
      return fail(std::string("this kernel has no ") + m +
                      " (not loaded, not built in, no module under /lib/modules): netem faults need it",
                  ENOTSUP);
  return {};
}

Result<void> undo_netem_class(const nlohmann::json& undo) {
  auto u = TreeUndo::from_json(undo);
  if (!u) return std::unexpected(u.error());
  return undo_tree(*u);
}

void register_netem_undo(UndoRegistry& registry) { registry.add(kNetemJournalKind, undo_netem_class); }

Result<std::unique_ptr<Fault>> make_netem(const FaultEntry& entry, const FaultContext& ctx) {
  return std::unique_ptr<Fault>(new NetemFault(entry, ctx));
}

}  // namespace chaos::network
