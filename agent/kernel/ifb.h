// ifb devices the agent creates and owns (never the kernel's ifb0/ifb1, never one it did not
// make): the place where ingress traffic is shaped. The device's alias carries what the agent
// needs to know about it later (which interface it serves, whether the agent also created that
// interface's clsact qdisc), so the kernel object describes itself to an agent restarted after
// a crash and to a second fault joining the first.
#pragma once

#include <string>

#include "core/result.h"
#include "kernel/netlink.h"

namespace chaos::kernel {

// Prefix of every ifb the agent names; anything else is never touched.
inline constexpr const char* kAgentIfbPrefix = "chaosifb";

// "chaosifb<ifindex>": one per interface it serves, in that interface's namespace.
std::string agent_ifb_name(int served_ifindex);
bool is_agent_ifb_name(const std::string& name);

// Creates the ifb (EEXIST when the name is taken), with `alias` as its ifalias, and sets it up.
// On a failure after the creation the device is removed again.
Result<int> create_ifb(NetlinkSocket& sk, const std::string& name, const std::string& alias);
// The ifalias of `name` ("" when none).
Result<std::string> link_alias(NetlinkSocket& sk, const std::string& name);

}  // namespace chaos::kernel
