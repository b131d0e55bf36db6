// Raw rtnetlink requests for the tc code (tc_attach.cpp, qdisc.cpp): libnl builds and sends the
// messages, but errors come back as the kernel's errno plus its extended-ack text ("Parent Qdisc
// doesn't exists"), not as libnl's NLE codes, so callers can act on EEXIST/ENOENT and users read
// the kernel's own words.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"

struct nl_msg;
struct nl_sock;
struct nlmsghdr;

namespace chaos::kernel {

struct NlMsgFree {
  void operator()(nl_msg* m) const;
};
using NlMsg = std::unique_ptr<nl_msg, NlMsgFree>;

struct NlSockFree {
  void operator()(nl_sock* s) const;
};
using RouteSock = std::unique_ptr<nl_sock, NlSockFree>;

// A NETLINK_ROUTE socket in the calling thread's network namespace, with extended acks and
// capped acks on and auto-ack off (each request asks for its ACK; a dump ends with NLMSG_DONE).
// msg_buf_size: receive buffer for large dumps (0: libnl's default).
Result<RouteSock> open_route_socket(std::size_t msg_buf_size = 0);

// Sends one request and reads until its ACK, NLMSG_DONE or an error; every other message goes
// to on_msg. An error carries the kernel's errno and "what (extended-ack text)".
Result<void> rtnl_transact(nl_sock* sk, nl_msg* msg, const std::string& what,
                           const std::function<void(nlmsghdr*)>& on_msg = {});

// A tc request (RTM_*QDISC, RTM_*TCLASS, RTM_*TFILTER) with its tcmsg header filled in.
// size: the message buffer (0: one page, enough for anything but a netem distribution table).
Result<NlMsg> tc_message(int type, int flags, int ifindex, std::uint32_t parent, std::uint32_t handle,
                         std::uint32_t info, std::size_t size = 0);

}  // namespace chaos::kernel
