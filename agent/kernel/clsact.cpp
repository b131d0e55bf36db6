#include "kernel/clsact.h"

#include <fcntl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "core/journal.h"
#include "core/log.h"
#include "kernel/netns.h"
#include "kernel/rtnl.h"
#include "kernel/tc_attach.h"

namespace chaos::kernel {

namespace {

std::shared_ptr<spdlog::logger> tc_log() {
  static const auto l = logger("bpf");
  return l;
}

using Key = std::tuple<std::uint64_t, std::uint64_t, int>;

// What this process knows of one interface's clsact.
struct Slot {
  int users = 0;
  bool agents = false;           // the clsact there now was made by a share of this process
  std::uint64_t seq = 0;         // its journal entry (0: none)
  Journal* journal = nullptr;
  std::string owner_run;         // the run that entry is filed under
  std::multiset<std::string> runs;  // the runs of the shares
  int netns_fd = -1;             // the namespace, to come back to from any thread
  ClsactRecord rec;
};

// Every acquire and release, and the journal undo, decide under this lock: "am I the last user,
// and is nothing left on it" must not race with a new user joining.
std::mutex& slots_mutex() {
  static std::mutex m;
  return m;
}
std::map<Key, Slot>& slots() {
  static std::map<Key, Slot> s;
  return s;
}

void drop_slot(std::map<Key, Slot>::iterator it) {
  if (it->second.netns_fd >= 0) ::close(it->second.netns_fd);
  slots().erase(it);
}

std::string ifname_of(int ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(static_cast<unsigned>(ifindex), name) ? std::string(name) : std::string();
}

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", v);
  return buf;
}

std::string filter_text(TcDirection d, const TcFilterInfo& f) {
  std::string s = std::string(tc_direction_name(d)) + " " + (f.kind.empty() ? "?" : f.kind) + " prio " +
                  std::to_string(f.prio) + " handle 0x" + hex(f.handle);
  if (!f.bpf_name.empty()) s += " " + f.bpf_name;
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

constexpr std::uint32_t kClsactHandle = 0xFFFF0000;  // ffff:

}  // namespace

// ---- the qdisc itself

Result<std::string> clsact_slot_kind(nl_sock* sk, int ifindex) {
  // A dump, not a get: the kernel answers RTM_GETQDISC for one qdisc as a notification to the
  // RTNLGRP_TC group, which reaches the asker only with NLM_F_ECHO; a dump is plain request-reply.
  auto m = tc_message(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, 0, 0, 0, 0);
  if (!m) return std::unexpected(m.error());
  std::string kind;
  auto r = rtnl_transact(sk, m->get(),
                         "list qdiscs (looking for clsact on ifindex " + std::to_string(ifindex) + ")",
                         [&](nlmsghdr* h) {
                           if (h->nlmsg_type != RTM_NEWQDISC) return;
                           auto* t = static_cast<tcmsg*>(nlmsg_data(h));
                           if (t->tcm_ifindex != ifindex || t->tcm_parent != TC_H_CLSACT) return;
                           nlattr* tb[TCA_MAX + 1] = {};
                           if (nlmsg_parse(h, sizeof(tcmsg), tb, TCA_MAX, nullptr) == 0 && tb[TCA_KIND])
                             kind = nla_get_string(tb[TCA_KIND]);
                         });
  if (!r) return std::unexpected(r.error());
  if (kind != "clsact" && kind != "ingress") return std::string();
  return kind;
}

Result<std::string> clsact_slot_kind(int ifindex) {
  auto sk = open_route_socket();
  if (!sk) return std::unexpected(sk.error());
  return clsact_slot_kind(sk->get(), ifindex);
}

Result<bool> create_clsact(int ifindex) {
  auto sk = open_route_socket();
  if (!sk) return std::unexpected(sk.error());
  auto m = tc_message(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifindex, TC_H_CLSACT,
                      kClsactHandle, 0);
  if (!m) return std::unexpected(m.error());
  if (nla_put_string(m->get(), TCA_KIND, "clsact") < 0) return fail("build the clsact message", EMSGSIZE);
  auto r = rtnl_transact(sk->get(), m->get(), "create a clsact qdisc on ifindex " + std::to_string(ifindex));
  if (r) {
    tc_log()->debug("created clsact on ifindex {}", ifindex);
    return true;
  }
  if (r.error().code != EEXIST) return std::unexpected(r.error());
  auto kind = clsact_slot_kind(sk->get(), ifindex);
  if (!kind) return std::unexpected(kind.error());
  if (*kind == "clsact" || *kind == "ingress") return false;
  return std::unexpected(r.error());
}

Result<void> delete_clsact(nl_sock* sk, int ifindex) {
  auto m = tc_message(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK, ifindex, TC_H_CLSACT, kClsactHandle, 0);
  if (!m) return std::unexpected(m.error());
  // With TCA_KIND the kernel refuses (EINVAL) to delete anything but a clsact.
  if (nla_put_string(m->get(), TCA_KIND, "clsact") < 0) return fail("build the clsact message", EMSGSIZE);
  auto r = rtnl_transact(sk, m->get(), "delete the clsact qdisc of ifindex " + std::to_string(ifindex));
  if (!r && r.error().code != ENOENT) return r;
  return {};
}

Result<ClsactSettled> remove_clsact_if_unused(nl_sock* sk, int ifindex) {
  auto kind = clsact_slot_kind(sk, ifindex);
  if (!kind) return std::unexpected(kind.error());
  if (*kind != "clsact")
    return ClsactSettled{ClsactLeft::gone, kind->empty() ? "" : "the slot holds an " + *kind + " qdisc now"};
  std::vector<std::string> ours, foreign;
  for (TcDirection d : {TcDirection::ingress, TcDirection::egress}) {
    auto fl = list_clsact_filters(sk, ifindex, d);
    if (!fl) return std::unexpected(fl.error());
    for (const auto& f : *fl) (is_agent_filter(f) ? ours : foreign).push_back(filter_text(d, f));
  }
  if (!ours.empty()) return ClsactSettled{ClsactLeft::agent_filters, join(ours)};
  if (!foreign.empty()) return ClsactSettled{ClsactLeft::foreign_filters, join(foreign)};
  if (auto r = delete_clsact(sk, ifindex); !r) return std::unexpected(r.error());
  return ClsactSettled{ClsactLeft::removed, ""};
}

namespace {

// In the calling thread's namespace.
Result<ClsactSettled> settle(int ifindex) {
  auto sk = open_route_socket();
  if (!sk) return std::unexpected(sk.error());
  return remove_clsact_if_unused(sk->get(), ifindex);
}

}  // namespace

// ---- ClsactRecord

nlohmann::json ClsactRecord::to_json() const {
  return {{"netns", netns_path}, {"netns_dev", netns_dev}, {"netns_ino", netns_ino},
          {"ifindex", ifindex},  {"ifname", ifname}};
}

Result<ClsactRecord> ClsactRecord::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("ifindex")) return fail("clsact undo data: needs ifindex", EINVAL);
  try {
    ClsactRecord r;
    r.netns_path = j.value("netns", std::string());
    r.netns_dev = j.value("netns_dev", std::uint64_t{0});
    r.netns_ino = j.value("netns_ino", std::uint64_t{0});
    r.ifindex = j.at("ifindex").get<int>();
    r.ifname = j.value("ifname", std::string());
    if (r.ifindex <= 0) return fail("clsact undo data: ifindex " + std::to_string(r.ifindex), EINVAL);
    return r;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("clsact undo data: ") + e.what(), EINVAL);
  }
}

std::string ClsactRecord::describe() const {
  std::string s = "clsact on " + (ifname.empty() ? std::string() : ifname + " ") + "(ifindex " +
                  std::to_string(ifindex) + ")";
  if (!netns_path.empty()) s += " in " + netns_path;
  return s;
}

// ---- ClsactShare

Result<ClsactShare> ClsactShare::acquire(int ifindex, const std::string& netns_path, const ClsactJournal& j,
                                         const std::function<Result<void>()>& before_create) {
  auto id = current_netns_id();
  if (!id) return wrap(id.error(), "clsact on ifindex " + std::to_string(ifindex));
  ClsactRecord rec{netns_path, id->dev, id->ino, ifindex, ifname_of(ifindex)};
  const Key key{id->dev, id->ino, ifindex};

  std::lock_guard lk(slots_mutex());
  auto [it, fresh] = slots().try_emplace(key);
  Slot& slot = it->second;
  auto give_up = [&](const Error& e, const std::string& what) -> std::unexpected<Error> {
    if (slot.users == 0) drop_slot(it);
    return wrap(e, what + " " + rec.describe());
  };
  if (slot.netns_fd < 0) {
    slot.netns_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (slot.netns_fd < 0) return give_up(Error{errno, "open this thread's netns"}, "share");
  }
  auto kind = clsact_slot_kind(ifindex);
  if (!kind) return give_up(kind.error(), "look for");
  bool made = false;
  if (kind->empty()) {
    // Nobody's: the agent makes one, journaled first. A crash after the intent leaves an entry
    // whose undo finds nothing, or an empty clsact it removes.
    std::uint64_t seq = slot.seq;  // a share before us made one that has since gone: same entry
    bool new_entry = false;
    if (j.journal && seq == 0) {
      auto s = j.journal->intend(j.run, kClsactJournalKind, rec.to_json(), /*durable=*/!before_create);
      if (!s) return give_up(s.error(), "journal");
      seq = *s;
      new_entry = true;
    }
    if (before_create) {
      if (auto b = before_create(); !b) {
        if (new_entry) (void)j.journal->reverted(seq, false, "not made: " + b.error().text());
        if (slot.users == 0) drop_slot(it);
        return std::unexpected(b.error());
      }
    }
    auto c = create_clsact(ifindex);
    if (!c || !*c) {
      // Not ours after all (an error, or someone else was faster): nothing of ours to undo.
      if (new_entry)
        (void)j.journal->reverted(seq, false, c ? "someone else made it first" : "not made: " + c.error().text());
      if (!c) return give_up(c.error(), "create");
      slot.agents = false;
    } else {
      made = true;
      slot.agents = true;
      slot.rec = rec;
      if (new_entry) {
        slot.seq = seq;
        slot.journal = j.journal;
        slot.owner_run = j.run;
      }
      tc_log()->debug("made {} (journal #{})", rec.describe(), slot.seq);
    }
  } else if (slot.users == 0) {
    slot.agents = false;  // there before any share of ours: someone else's
  }
  slot.users++;
  slot.runs.insert(j.run);
  ClsactShare sh;
  sh.key_ = key;
  sh.run_ = j.run;
  sh.held_ = true;
  sh.made_it_ = made;
  return sh;
}

ClsactShare::~ClsactShare() {
  if (auto r = release(); !r) tc_log()->error("{}", r.error().text());
}

ClsactShare::ClsactShare(ClsactShare&& o) noexcept
    : key_(o.key_), run_(std::move(o.run_)), held_(std::exchange(o.held_, false)), made_it_(o.made_it_) {}

ClsactShare& ClsactShare::operator=(ClsactShare&& o) noexcept {
  if (this != &o) {
    if (auto r = release(); !r) tc_log()->error("{}", r.error().text());
    key_ = o.key_;
    run_ = std::move(o.run_);
    held_ = std::exchange(o.held_, false);
    made_it_ = o.made_it_;
  }
  return *this;
}

bool ClsactShare::agents() const {
  if (!held_) return false;
  std::lock_guard lk(slots_mutex());
  auto it = slots().find(key_);
  return it != slots().end() && it->second.agents;
}

void ClsactShare::forget() {
  if (!held_) return;
  held_ = false;
  std::lock_guard lk(slots_mutex());
  auto it = slots().find(key_);
  if (it == slots().end()) return;
  if (--it->second.users <= 0) drop_slot(it);
}

Result<void> ClsactShare::release() {
  if (!held_) return {};
  held_ = false;
  std::lock_guard lk(slots_mutex());
  auto it = slots().find(key_);
  if (it == slots().end()) return {};
  Slot& slot = it->second;
  slot.users--;
  if (auto r = slot.runs.find(run_); r != slot.runs.end()) slot.runs.erase(r);
  if (slot.users > 0) {
    // Still used: the entry follows whichever run still uses the qdisc, so the run that made it
    // can end without leaving an entry that looks forgotten.
    if (slot.seq && slot.journal && slot.owner_run == run_ && !slot.runs.contains(run_) && !slot.runs.empty()) {
      const std::string next = *slot.runs.begin();
      if (auto r = slot.journal->reassign(slot.seq, next); r) slot.owner_run = next;
      else tc_log()->warn("hand {} to run {}: {}", slot.rec.describe(), next, r.error().text());
    }
    return {};
  }
  // The last share.
  Slot s = std::move(slot);
  slot.netns_fd = -1;
  slots().erase(it);
  struct CloseFd {
    int fd;
    ~CloseFd() {
      if (fd >= 0) ::close(fd);
    }
  } close_fd{s.netns_fd};
  if (!s.agents) return {};
  const std::string what = s.rec.describe();
  auto mark = [&](const std::string& note) {
    if (s.seq && s.journal)
      if (auto m = s.journal->reverted(s.seq, false, note); !m)
        tc_log()->error("journal {} removed: {}", what, m.error().text());
  };
  auto g = NetnsGuard::enter("/proc/self/fd/" + std::to_string(s.netns_fd));
  if (!g) return wrap(g.error(), "remove " + what + " (its journal entry stays)");
  if (ifname_of(s.rec.ifindex).empty()) {  // the device went, and its qdiscs with it
    mark("");
    return {};
  }
  auto st = settle(s.rec.ifindex);
  if (!st) return wrap(st.error(), "remove " + what + " (its journal entry stays)");
  switch (st->what) {
    case ClsactLeft::gone:
    case ClsactLeft::removed:
      tc_log()->debug("{} {}", st->what == ClsactLeft::removed ? "removed" : "already gone:", what);
      mark(st->text);
      return {};
    case ClsactLeft::foreign_filters: {
      std::string note = "left in place: foreign filter(s) on it: " + st->text;
      tc_log()->warn("{}: {}", what, note);
      mark(note);
      return {};
    }
    case ClsactLeft::agent_filters:
      break;
  }
  return fail(what + " still holds the agent's filter(s) " + st->text +
                  " (a removal failed): left in place, and in the journal",
              EBUSY);
}

int clsact_users(std::uint64_t netns_dev, std::uint64_t netns_ino, int ifindex) {
  std::lock_guard lk(slots_mutex());
  auto it = slots().find(Key{netns_dev, netns_ino, ifindex});
  return it == slots().end() ? 0 : it->second.users;
}

// ---- the journal's undo

Result<std::string> undo_clsact(const ClsactRecord& r) {
  const std::string what = r.describe();
  if (!r.netns_path.empty() && r.netns_ino) {
    auto id = netns_id(r.netns_path);
    // ENOENT: deleted; EINVAL: a stale name whose namespace is gone. Its qdiscs went with it.
    if (!id && (id.error().code == ENOENT || id.error().code == EINVAL)) return std::string();
    if (!id) return wrap(id.error(), "undo " + what);
    if (id->dev != r.netns_dev || id->ino != r.netns_ino) {
      tc_log()->info("undo {}: {} now names another namespace; ours is gone", what, r.netns_path);
      return std::string();
    }
  }
  std::optional<NetnsGuard> in_ns;
  if (!r.netns_path.empty()) {
    auto g = NetnsGuard::enter(r.netns_path);
    if (!g) {
      if (g.error().code == ENOENT) return std::string();
      return wrap(g.error(), "undo " + what);
    }
    in_ns.emplace(std::move(*g));
  }
  if (ifname_of(r.ifindex).empty()) return std::string();  // the device is gone
  auto id = current_netns_id();
  if (!id) return wrap(id.error(), "undo " + what);
  std::lock_guard lk(slots_mutex());
  if (auto it = slots().find(Key{id->dev, id->ino, r.ifindex}); it != slots().end() && it->second.users > 0)
    return fail("undo " + what + ": in use by " + std::to_string(it->second.users) +
                    " fault(s) of this agent, which remove it when the last one ends",
                EBUSY);
  auto st = settle(r.ifindex);
  if (!st) return wrap(st.error(), "undo " + what);
  switch (st->what) {
    case ClsactLeft::gone:
    case ClsactLeft::removed: return st->text;
    case ClsactLeft::foreign_filters: return "left in place: foreign filter(s) on it: " + st->text;
    case ClsactLeft::agent_filters:
      // Every filter entry of this journal was undone before any clsact entry (the replay would
      // have deferred this one otherwise): these filters are not in this journal (another agent's,
      // or leaked by an old one). Not ours to take away from under them.
      return "left in place: filter(s) with the agent's marks that this journal does not list: " + st->text;
  }
  return st->text;
}

void register_clsact_undo(UndoRegistry& registry) {
  registry.add_noted(
      kClsactJournalKind,
      [](const nlohmann::json& undo) -> Result<std::string> {
        auto r = ClsactRecord::from_json(undo);
        if (!r) return std::unexpected(r.error());
        return undo_clsact(*r);
      },
      UndoOrder::container);
}

}  // namespace chaos::kernel
