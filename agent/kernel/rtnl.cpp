#include "kernel/rtnl.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <cerrno>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace chaos::kernel {

void NlMsgFree::operator()(nl_msg* m) const { nlmsg_free(m); }
void NlSockFree::operator()(nl_sock* s) const { nl_socket_free(s); }

Result<RouteSock> open_route_socket(std::size_t msg_buf_size) {
  RouteSock sk(nl_socket_alloc());
  if (!sk) return fail("allocate a netlink socket", ENOMEM);
  if (int rc = nl_connect(sk.get(), NETLINK_ROUTE); rc < 0)
    return fail(std::string("connect NETLINK_ROUTE: ") + nl_geterror(rc), EIO);
  nl_socket_disable_auto_ack(sk.get());
  // Best effort: without them errors still carry errno, only not the kernel's text.
  int one = 1;
  int fd = nl_socket_get_fd(sk.get());
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  if (msg_buf_size) nl_socket_set_msg_buf_size(sk.get(), msg_buf_size);
  return sk;
}

namespace {

struct Exchange {
  const std::function<void(nlmsghdr*)>* on_msg = nullptr;
  int error = 0;  // positive errno from NLMSG_ERROR
  bool done = false;
  std::string ext;  // NLMSGERR_ATTR_MSG
};

int on_valid(nl_msg* m, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  if (x->on_msg && *x->on_msg) (*x->on_msg)(nlmsg_hdr(m));
  return NL_OK;
}

int on_done(nl_msg*, void* arg) {
  static_cast<Exchange*>(arg)->done = true;
  return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  x->error = e->error < 0 ? -e->error : e->error;
  x->done = true;
  // The error message sits right behind its nlmsghdr; with NETLINK_CAP_ACK the request is not
  // echoed, so any TLVs follow struct nlmsgerr directly.
  const auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
  if ((hdr->nlmsg_flags & NLM_F_ACK_TLVS) && (hdr->nlmsg_flags & NLM_F_CAPPED)) {
    int off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nlmsgerr));
    int len = static_cast<int>(hdr->nlmsg_len) - off;
    if (len > 0) {
      nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
      auto* attrs = reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(hdr) + off));
      if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, len, nullptr) == 0 && tb[NLMSGERR_ATTR_MSG])
        x->ext = nla_get_string(tb[NLMSGERR_ATTR_MSG]);
    }
  }
  return NL_STOP;
}

}  // namespace

Result<void> rtnl_transact(nl_sock* sk, nl_msg* msg, const std::string& what,
                           const std::function<void(nlmsghdr*)>& on_msg) {
  Exchange x;
  x.on_msg = &on_msg;
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> cb(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
  if (!cb) return fail(what + ": allocate netlink callbacks", ENOMEM);
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &x);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_done, &x);
  nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_done, &x);
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &x);
  if (int rc = nl_send_auto(sk, msg); rc < 0) return fail(what + ": send: " + nl_geterror(rc), EIO);
  while (!x.done) {
    int rc = nl_recvmsgs(sk, cb.get());
    if (x.error) break;
    if (rc < 0) return fail(what + ": receive: " + nl_geterror(rc), EIO);
  }
  if (x.error) return fail(x.ext.empty() ? what : what + " (" + x.ext + ")", x.error);
  return {};
}

Result<NlMsg> tc_message(int type, int flags, int ifindex, std::uint32_t parent, std::uint32_t handle,
                         std::uint32_t info, std::size_t size) {
  NlMsg m(size ? nlmsg_alloc_size(size) : nlmsg_alloc());
  if (!m) return fail("allocate a netlink message", ENOMEM);
  nlmsghdr* h = nlmsg_hdr(m.get());
  h->nlmsg_type = static_cast<std::uint16_t>(type);
  h->nlmsg_flags = static_cast<std::uint16_t>(flags);
  tcmsg t{};
  t.tcm_family = AF_UNSPEC;
  t.tcm_ifindex = ifindex;
  t.tcm_parent = parent;
  t.tcm_handle = handle;
  t.tcm_info = info;
  if (nlmsg_append(m.get(), &t, sizeof t, NLMSG_ALIGNTO) < 0) return fail("build a tc netlink message", EMSGSIZE);
  return m;
}

}  // namespace chaos::kernel
