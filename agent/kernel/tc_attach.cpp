#include "kernel/tc_attach.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include "core/log.h"
#include "kernel/bpf_util.h"
#include "kernel/clsact.h"
#include "kernel/netns.h"
#include "kernel/rtnl.h"

namespace chaos::kernel {

namespace {

std::shared_ptr<spdlog::logger> bpf_log() {
  static const auto l = logger("bpf");
  return l;
}

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

std::string where(int ifindex, TcDirection dir) {
  return std::string(tc_direction_name(dir)) + " of ifindex " + std::to_string(ifindex);
}

std::uint32_t filter_info(std::uint16_t prio) {
  return TC_H_MAKE(static_cast<std::uint32_t>(prio) << 16, htons(ETH_P_ALL));
}

Result<std::vector<TcFilterInfo>> list_filters_on(nl_sock* sk, int ifindex, TcDirection dir) {
  auto m = tc_message(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, ifindex, clsact_parent(dir), 0, 0);
  if (!m) return std::unexpected(m.error());
  std::vector<TcFilterInfo> out;
  auto r = rtnl_transact(sk, m->get(), "list tc filters on " + where(ifindex, dir), [&](nlmsghdr* h) {
    if (auto f = parse_filter_message(h)) out.push_back(std::move(*f));
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

bool device_exists(int ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(static_cast<unsigned>(ifindex), name) != nullptr;
}

// ---- tcx link lookups

struct LinkFd {
  int fd = -1;
  ~LinkFd() {
    if (fd >= 0) ::close(fd);
  }
};

std::uint32_t tcx_attach_type(TcDirection dir) {
  return dir == TcDirection::ingress ? kBpfTcxIngress : kBpfTcxEgress;
}

// Is this link ours? Program name is looked up through the program the link runs.
bool link_is_ours(const BpfLinkInfo& li, std::uint32_t attach_type, int ifindex,
                  std::uint32_t prog_id, const std::string& prog_name) {
  if (li.type != kBpfLinkTypeTcx || li.tcx_attach_type != attach_type) return false;
  if (prog_id && li.prog_id != prog_id) return false;
  // ifindex 0: the device went away and the link is defunct; it still has to be let go of.
  if (li.tcx_ifindex && ifindex > 0 && li.tcx_ifindex != static_cast<std::uint32_t>(ifindex))
    return false;
  auto pi = bpf_prog_info_by_id(li.prog_id);
  return pi && pi->name == prog_name;
}

Result<void> detach_link_fd(int fd, std::uint32_t id) {
  if (int rc = bpf_link_detach(fd); rc < 0 && rc != -ENOLINK && rc != -ENOENT)
    return fail_rc(rc, "detach tcx link " + std::to_string(id));
  return {};
}

}  // namespace

const char* tc_direction_name(TcDirection d) {
  return d == TcDirection::ingress ? "ingress" : "egress";
}

Result<TcDirection> parse_tc_direction(std::string_view s) {
  if (s == "egress") return TcDirection::egress;
  if (s == "ingress") return TcDirection::ingress;
  return fail("direction \"" + std::string(s) + "\": expected egress or ingress", EINVAL);
}

// The table's names are string literals: data() ends in a NUL.
const char* attach_mode_name(AttachMode m) { return name(m).data(); }

Result<AttachMode> parse_attach_mode(std::string_view s) {
  if (auto m = kAttachModeNames.find(s)) return *m;
  return fail("attach mode \"" + std::string(s) + "\": expected " + kAttachModeNames.expected(), EINVAL);
}

std::uint32_t clsact_parent(TcDirection d) {
  return d == TcDirection::ingress ? kClsactIngressParent : kClsactEgressParent;
}

// ---- tcx

Result<int> tcx_attach(int prog_fd, int ifindex, TcDirection dir) {
  int fd = bpf_link_create(prog_fd, ifindex, static_cast<bpf_attach_type>(tcx_attach_type(dir)),
                           nullptr);
  if (fd < 0) return fail_rc(fd, "attach tcx on " + where(ifindex, dir));
  return fd;
}

Result<void> detach_tcx_link(const std::string& netns_path, int ifindex, TcDirection dir,
                             std::uint32_t link_id, std::uint32_t prog_id,
                             const std::string& prog_name) {
  const std::uint32_t type = tcx_attach_type(dir);
  const std::string what = "tcx link on " + where(ifindex, dir) +
                           (netns_path.empty() ? "" : " in " + netns_path);
  if (link_id) {
    LinkFd l{bpf_link_get_fd_by_id(link_id)};
    if (l.fd < 0) {
      if (l.fd == -ENOENT) return {};  // closed with its last fd
      return fail_rc(l.fd, "open " + what + " (link id " + std::to_string(link_id) + ")");
    }
    auto li = bpf_link_info(l.fd);
    if (!li) return wrap(li.error(), what);
    if (!link_is_ours(*li, type, ifindex, prog_id, prog_name)) {
      bpf_log()->info("link id {} is no longer our {}; nothing to detach", link_id, what);
      return {};
    }
    if (auto r = detach_link_fd(l.fd, link_id); !r) return r;
    bpf_log()->debug("detached {} (link id {})", what, link_id);
    return {};
  }
  if (!prog_id)
    return fail("detach " + what + ": neither link id nor program id known", EINVAL);
  std::uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    LinkFd l{bpf_link_get_fd_by_id(id)};
    if (l.fd < 0) continue;  // went away meanwhile
    auto li = bpf_link_info(l.fd);
    if (!li || !link_is_ours(*li, type, ifindex, prog_id, prog_name)) continue;
    if (auto r = detach_link_fd(l.fd, id); !r) return r;
    bpf_log()->debug("detached {} (found as link id {})", what, id);
  }
  return {};
}

// ---- classic

Result<std::vector<TcFilterInfo>> list_clsact_filters(int ifindex, TcDirection dir) {
  auto sk = open_route_socket();
  if (!sk) return std::unexpected(sk.error());
  return list_filters_on(sk->get(), ifindex, dir);
}

Result<std::vector<TcFilterInfo>> list_clsact_filters(nl_sock* sk, int ifindex, TcDirection dir) {
  return list_filters_on(sk, ifindex, dir);
}

Result<ClassicAttachPlan> plan_classic_attach(int ifindex, TcDirection dir, std::uint16_t prio) {
  auto sk = open_route_socket();
  if (!sk) return std::unexpected(sk.error());
  auto kind = clsact_slot_kind(sk->get(), ifindex);
  if (!kind) return std::unexpected(kind.error());
  ClassicAttachPlan plan;
  plan.prio = prio;
  if (kind->empty()) {
    plan.create_clsact = true;
  } else if (*kind == "ingress" && dir == TcDirection::egress) {
    // An ingress qdisc has only the ingress hook; replacing it would drop its owner's filters.
    return fail("classic attach on " + where(ifindex, dir) +
                    ": an ingress qdisc (not clsact) holds the slot, so there is no egress hook",
                EEXIST);
  }
  std::set<std::uint32_t> taken;
  if (!plan.create_clsact) {
    auto filters = list_filters_on(sk->get(), ifindex, dir);
    if (!filters) return std::unexpected(filters.error());
    for (const auto& f : *filters) {
      if (f.prio != prio) continue;
      if (f.handle == 0 && f.kind != "bpf")
        return fail("classic attach on " + where(ifindex, dir) + ": priority " +
                        std::to_string(prio) + " is held by a \"" + f.kind + "\" filter",
                    EEXIST);
      taken.insert(f.handle);
    }
  }
  plan.handle = kClassicHandleBase;
  while (taken.contains(plan.handle)) ++plan.handle;
  return plan;
}

Result<void> classic_add_filter(int ifindex, TcDirection dir, int prog_fd, std::uint16_t prio,
                                std::uint32_t handle, const std::string& name) {
  auto sk = open_route_socket();
  if (!sk) return std::unexpected(sk.error());
  auto m = tc_message(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifindex,
                  clsact_parent(dir), handle, filter_info(prio));
  if (!m) return std::unexpected(m.error());
  nl_msg* msg = m->get();
  nlattr* opts = nullptr;
  if (nla_put_string(msg, TCA_KIND, "bpf") < 0 || !(opts = nla_nest_start(msg, TCA_OPTIONS)) ||
      nla_put_u32(msg, TCA_BPF_FD, static_cast<std::uint32_t>(prog_fd)) < 0 ||
      nla_put_string(msg, TCA_BPF_NAME, name.c_str()) < 0 ||
      nla_put_u32(msg, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT) < 0)
    return fail("build the cls_bpf filter message", EMSGSIZE);
  nla_nest_end(msg, opts);
  auto r = rtnl_transact(sk->get(), msg,
                    "add cls_bpf filter " + name + " (prio " + std::to_string(prio) + ", handle " +
                        hex(handle) + ") on " + where(ifindex, dir));
  if (r) bpf_log()->debug("added cls_bpf {} prio {} handle {:#x} on {}", name, prio, handle, where(ifindex, dir));
  return r;
}

bool is_agent_filter(const TcFilterInfo& f) {
  if (f.prio == kClassicPrio || (f.kind == "bpf" && f.bpf_name.rfind("chaos_cls", 0) == 0)) return true;
  return f.kind == "u32" && f.prio == kAgentRedirectPrio;
}

Result<void> detach_classic_filter(const std::string& netns_path, int ifindex, TcDirection dir,
                                   std::uint16_t prio, std::uint32_t handle, bool created_clsact,
                                   std::uint32_t prog_id, const std::string& prog_name) {
  const std::string what = "cls_bpf filter " + prog_name + " on " + where(ifindex, dir) +
                           (netns_path.empty() ? "" : " in " + netns_path);
  std::optional<NetnsGuard> in_ns;
  if (!netns_path.empty()) {
    auto g = NetnsGuard::enter(netns_path);
    if (!g) {
      if (g.error().code == ENOENT) {  // the namespace is gone, and everything that was in it
        bpf_log()->debug("{}: namespace gone, nothing to undo", what);
        return {};
      }
      return wrap(g.error(), "detach " + what);
    }
    in_ns.emplace(std::move(*g));
  }
  if (!device_exists(ifindex)) {
    bpf_log()->debug("{}: device gone, nothing to undo", what);
    return {};
  }
  auto sk = open_route_socket();
  if (!sk) return wrap(sk.error(), "detach " + what);

  auto filters = list_filters_on(sk->get(), ifindex, dir);
  if (!filters) return wrap(filters.error(), "detach " + what);
  auto ours = std::find_if(filters->begin(), filters->end(), [&](const TcFilterInfo& f) {
    return f.prio == prio && f.handle == handle && f.kind == "bpf" && f.bpf_name == prog_name &&
           (prog_id == 0 || f.bpf_prog_id == prog_id);
  });
  if (ours != filters->end()) {
    auto m = tc_message(RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, ifindex, clsact_parent(dir), handle,
                    filter_info(prio));
    if (!m) return std::unexpected(m.error());
    nla_put_string(m->get(), TCA_KIND, "bpf");
    auto r = rtnl_transact(sk->get(), m->get(), "delete " + what);
    if (!r && r.error().code != ENOENT) return r;
    bpf_log()->debug("deleted {}", what);
  }

  if (!created_clsact) return {};
  auto left = remove_clsact_if_unused(sk->get(), ifindex);
  if (!left) return wrap(left.error(), "detach " + what);
  if (left->what == ClsactLeft::removed) bpf_log()->debug("deleted clsact on ifindex {}", ifindex);
  else if (left->what != ClsactLeft::gone)
    bpf_log()->debug("clsact on ifindex {} still holds filters ({}); left in place", ifindex, left->text);
  return {};
}

}  // namespace chaos::kernel
