#include "kernel/ifb.h"

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <memory>

namespace chaos::kernel {

namespace {
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
}  // namespace

std::string agent_ifb_name(int served_ifindex) { return kAgentIfbPrefix + std::to_string(served_ifindex); }

bool is_agent_ifb_name(const std::string& name) {
  const std::string p = kAgentIfbPrefix;
  if (name.size() <= p.size() || name.compare(0, p.size(), p) != 0) return false;
  for (std::size_t i = p.size(); i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  return true;
}

Result<int> create_ifb(NetlinkSocket& sk, const std::string& name, const std::string& alias) {
  if (!is_agent_ifb_name(name) || name.size() > 15)
    return fail("ifb name \"" + name + "\": the agent only creates " + kAgentIfbPrefix + "N devices", EINVAL);
  LinkPtr link(rtnl_link_alloc());
  if (!link) return fail("create ifb " + name + ": out of memory", ENOMEM);
  if (int rc = rtnl_link_set_type(link.get(), "ifb"); rc < 0) return fail_nl(rc, "create ifb " + name);
  rtnl_link_set_name(link.get(), name.c_str());
  // Ingress bursts queue here before the qdisc sees them; the kernel's default for ifb is 32.
  rtnl_link_set_txqlen(link.get(), 1000);
  if (int rc = rtnl_link_add(sk.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); rc < 0)
    return fail_nl(rc, "create ifb " + name);
  auto idx = ifindex_by_name(sk, name);
  if (!idx) {
    (void)delete_link(sk, name);
    return wrap(idx.error(), "created ifb " + name);
  }
  // The kernel takes IFLA_IFALIAS only on a change, not on creation.
  if (!alias.empty()) {
    LinkPtr orig(rtnl_link_alloc()), change(rtnl_link_alloc());
    if (!orig || !change) {
      (void)delete_link(sk, name);
      return fail("set the alias of " + name + ": out of memory", ENOMEM);
    }
    rtnl_link_set_ifindex(orig.get(), *idx);
    rtnl_link_set_ifalias(change.get(), alias.c_str());
    if (int rc = rtnl_link_change(sk.get(), orig.get(), change.get(), 0); rc < 0) {
      (void)delete_link(sk, name);
      return fail_nl(rc, "set the alias of " + name);
    }
  }
  if (auto up = set_link_up(sk, name, true); !up) {
    (void)delete_link(sk, name);
    return std::unexpected(up.error());
  }
  return *idx;
}

Result<std::string> link_alias(NetlinkSocket& sk, const std::string& name) {
  rtnl_link* l = nullptr;
  if (int rc = rtnl_link_get_kernel(sk.get(), 0, name.c_str(), &l); rc < 0) return fail_nl(rc, "interface " + name);
  LinkPtr owner(l);
  const char* a = rtnl_link_get_ifalias(l);
  return std::string(a ? a : "");
}

}  // namespace chaos::kernel
