// Root: named namespaces, NetnsGuard, and the netlink helpers against the real kernel, only
// inside namespaces this test creates (unique names with the pid, removed also on failure).
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fcntl.h>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "kernel/netlink.h"
#include "kernel/netns.h"

namespace chaos {
namespace {

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  pclose(p);
  return out;
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to create namespaces";
  }
  void TearDown() override {
    for (auto& n : made_) delete_named_netns(n);
  }
  std::string unique(const std::string& what) {
    std::string n = "tnl" + std::to_string(getpid()) + "-" + what;
    made_.push_back(n);
    return n;
  }
  std::vector<std::string> made_;
};

TEST_F(NetnsTest, CreateResolveEnterDelete) {
  std::string name = unique("a");
  auto before = current_netns_id();
  ASSERT_TRUE(before);

  auto ref = create_named_netns(name);
  ASSERT_TRUE(ref) << ref.error().text();
  EXPECT_EQ(ref->path, "/run/netns/" + name);
  // The caller's thread never moved.
  EXPECT_EQ(*current_netns_id(), *before);
  auto root = is_root_netns(ref->path);
  ASSERT_TRUE(root);
  EXPECT_FALSE(*root);
  EXPECT_TRUE(*is_root_netns(kRootNetnsPath));
  auto listed = list_named_netns();
  ASSERT_TRUE(listed);
  EXPECT_NE(std::find(listed->begin(), listed->end(), name), listed->end());
  // iproute2 sees it too, and so /run/netns was prepared the way it expects.
  EXPECT_NE(sh("ip netns list").find(name), std::string::npos);

  auto again = create_named_netns(name);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);

  // A thread started before the guard stays where it was; one started inside inherits the
  // guarded namespace (clone copies the creating thread's namespaces).
  std::promise<void> go;
  std::promise<NetnsId> seen;
  std::thread bystander([&] {
    go.get_future().wait();
    seen.set_value(current_netns_id().value_or(NetnsId{}));
  });
  {
    auto g = NetnsGuard::enter(ref->path);
    ASSERT_TRUE(g) << g.error().text();
    EXPECT_EQ(*current_netns_id(), ref->id);
    // A fresh namespace: only lo, and it is down.
    auto sk = NetlinkSocket::open();
    ASSERT_TRUE(sk);
    auto links = list_links(*sk);
    ASSERT_TRUE(links);
    ASSERT_EQ(links->size(), 1u);
    EXPECT_EQ((*links)[0].name, "lo");
    EXPECT_FALSE((*links)[0].up());
    go.set_value();
    EXPECT_EQ(seen.get_future().get(), *before);
    NetnsId child{};
    std::thread([&] { child = current_netns_id().value_or(NetnsId{}); }).join();
    EXPECT_EQ(child, ref->id);
  }
  bystander.join();
  EXPECT_EQ(*current_netns_id(), *before);

  // Same name re-created: a different namespace, and the old reference knows it.
  ASSERT_TRUE(delete_named_netns(name));
  EXPECT_FALSE(named_netns_exists(name));
  EXPECT_TRUE(delete_named_netns(name)) << "delete is idempotent";
  auto ref2 = create_named_netns(name);
  ASSERT_TRUE(ref2);
  auto v = verify_netns(*ref);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ESTALE);
  EXPECT_TRUE(verify_netns(*ref2));
}

TEST_F(NetnsTest, StaleNetnsFileIsNotANamespace) {
  std::string name = unique("stale");
  ASSERT_EQ(mkdir(kNetnsRunDir, 0755) == 0 || errno == EEXIST, true);
  std::string path = std::string(kNetnsRunDir) + "/" + name;
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  close(fd);
  auto r = resolve_named_netns(name);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().message.find("not a namespace"), std::string::npos) << r.error().message;
  EXPECT_FALSE(NetnsGuard::enter(path));
  EXPECT_TRUE(delete_named_netns(name));
  EXPECT_FALSE(named_netns_exists(name));
}

TEST_F(NetnsTest, PidAndHostResolution) {
  auto host = resolve_host_netns();
  ASSERT_TRUE(host) << host.error().text();
  EXPECT_EQ(host->path, "/proc/1/ns/net");
  auto self = resolve_pid_netns(getpid());
  ASSERT_TRUE(self);
  // This test runs in the root namespace (the tier's premise).
  EXPECT_EQ(self->id, host->id);
  NetnsTarget t;
  t.kind = NetnsTarget::Kind::pid;
  t.pid = 0x3ffffff;
  auto gone = resolve_netns(t);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
}

TEST_F(NetnsTest, VethBridgeAddressesRoutesAndMoves) {
  std::string a = unique("a"), b = unique("b");
  auto ra = create_named_netns(a);
  auto rb = create_named_netns(b);
  ASSERT_TRUE(ra && rb);

  auto sa = NetlinkSocket::open_in(ra->path);
  auto sb = NetlinkSocket::open_in(rb->path);
  ASSERT_TRUE(sa && sb);
  // The sockets act in their namespaces although this thread is in the root one.
  ASSERT_TRUE(set_link_up(*sa, "lo"));
  EXPECT_TRUE(*link_is_up(*sa, "lo"));
  EXPECT_FALSE(*link_is_up(*sb, "lo"));

  // veth created in a, then one end moved to b.
  ASSERT_TRUE(create_veth(*sa, "x0", "x1"));
  auto dup = create_veth(*sa, "x0", "x2");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  auto fb = NetnsFd::open(rb->path);
  ASSERT_TRUE(fb);
  ASSERT_TRUE(move_link_to_netns(*sa, "x1", fb->get()));
  EXPECT_FALSE(*link_exists(*sa, "x1"));
  EXPECT_TRUE(*link_exists(*sb, "x1"));
  auto x0 = get_link(*sa, "x0");
  ASSERT_TRUE(x0);
  EXPECT_EQ(x0->kind, "veth");
  EXPECT_EQ(*name_by_ifindex(*sa, x0->ifindex), "x0");
  EXPECT_EQ(*ifindex_by_name(*sa, "x0"), x0->ifindex);
  auto nodev = ifindex_by_name(*sa, "nope0");
  ASSERT_FALSE(nodev);
  EXPECT_EQ(nodev.error().code, ENODEV);

  // A veth whose peer is born in b, then a bridge in b with it as a port.
  ASSERT_TRUE(create_veth(*sa, "y0", "y1", fb->get()));
  EXPECT_TRUE(*link_exists(*sb, "y1"));
  EXPECT_FALSE(*link_exists(*sa, "y1"));
  ASSERT_TRUE(create_bridge(*sb, "brt"));
  ASSERT_TRUE(set_master(*sb, "y1", "brt"));
  auto y1 = get_link(*sb, "y1");
  auto brt = get_link(*sb, "brt");
  ASSERT_TRUE(y1 && brt);
  EXPECT_EQ(brt->kind, "bridge");
  EXPECT_EQ(y1->master, brt->ifindex);

  // Addresses and link state, cross-checked with iproute2.
  auto v4 = *parse_interface_address("198.18.5.1/24");
  auto v6 = *parse_interface_address("2001:2:0:5::1/64");
  ASSERT_TRUE(add_address(*sa, "x0", v4));
  ASSERT_TRUE(add_address(*sa, "x0", v6));
  auto dupaddr = add_address(*sa, "x0", v4);
  ASSERT_FALSE(dupaddr);
  EXPECT_EQ(dupaddr.error().code, EEXIST);
  ASSERT_TRUE(set_link_up(*sa, "x0"));
  EXPECT_TRUE(*link_is_up(*sa, "x0"));
  auto addrs = list_addresses(*sa, x0->ifindex);
  ASSERT_TRUE(addrs);
  auto has = [&](const InterfaceAddress& want) {
    return std::any_of(addrs->begin(), addrs->end(), [&](auto& ai) { return ai.address == want; });
  };
  EXPECT_TRUE(has(v4));
  EXPECT_TRUE(has(v6));
  std::string ipaddr = sh("ip -n " + a + " -o addr show dev x0");
  EXPECT_NE(ipaddr.find("198.18.5.1/24"), std::string::npos) << ipaddr;
  EXPECT_NE(ipaddr.find("2001:2:0:5::1/64"), std::string::npos) << ipaddr;
  EXPECT_EQ(ipaddr.find("tentative"), std::string::npos) << "IFA_F_NODAD: usable at once";
  ASSERT_TRUE(delete_address(*sa, "x0", v4));
  addrs = list_addresses(*sa, x0->ifindex);
  EXPECT_FALSE(has(v4));

  // No default route yet in a.
  auto none = default_route_interfaces(*sa);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());

  ASSERT_TRUE(add_address(*sa, "x0", v4));
  ASSERT_TRUE(delete_link(*sa, "y0"));
  EXPECT_FALSE(*link_exists(*sb, "y1")) << "deleting one end of a veth removes the peer";
  EXPECT_TRUE(delete_link(*sa, "y0")) << "delete_link is idempotent";
}

// The guardrail's answer, proven on a private namespace that has a default route (a veth to
// nowhere: the namespace has no way out, so the route leads nowhere) and on the root namespace
// against iproute2's view.
TEST_F(NetnsTest, DefaultRouteInterfaces) {
  std::string g = unique("gw");
  auto rg = create_named_netns(g);
  ASSERT_TRUE(rg);
  auto sk = NetlinkSocket::open_in(rg->path);
  ASSERT_TRUE(sk);
  ASSERT_TRUE(create_veth(*sk, "up0", "up1"));
  ASSERT_TRUE(create_veth(*sk, "side0", "side1"));
  for (auto* n : {"up0", "up1", "side0", "side1"}) ASSERT_TRUE(set_link_up(*sk, n));
  ASSERT_TRUE(add_address(*sk, "up0", *parse_interface_address("198.18.7.2/24")));
  ASSERT_TRUE(add_address(*sk, "up0", *parse_interface_address("2001:2:0:7::2/64")));
  ASSERT_TRUE(add_address(*sk, "side0", *parse_interface_address("198.18.8.2/24")));
  auto v4def = parse_cidr("0.0.0.0/0");
  auto v6def = parse_cidr("::/0");
  ASSERT_TRUE(v4def && v6def);
  auto r4 = add_route(*sk, *v4def, "up0", "198.18.7.1");
  ASSERT_TRUE(r4) << r4.error().text();
  auto r6 = add_route(*sk, *v6def, "up0", "2001:2:0:7::1");
  ASSERT_TRUE(r6) << r6.error().text();
  // A non-default route on the other interface must not count.
  ASSERT_TRUE(add_route(*sk, *parse_cidr("198.19.0.0/16"), "side0", "198.18.8.1"));

  auto d = default_route_interfaces(*sk);
  ASSERT_TRUE(d) << d.error().text();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].name, "up0");
  EXPECT_EQ((*d)[0].ifindex, *ifindex_by_name(*sk, "up0"));
  auto fams = (*d)[0].families;
  std::sort(fams.begin(), fams.end());
  EXPECT_EQ(fams, (std::vector<int>{AF_INET, AF_INET6}));
  std::string ipr = sh("ip -n " + g + " route show default");
  EXPECT_NE(ipr.find("dev up0"), std::string::npos) << ipr;

  auto routes = list_routes(*sk);
  ASSERT_TRUE(routes);
  EXPECT_TRUE(std::any_of(routes->begin(), routes->end(),
                          [](auto& r) { return r.dst == "198.19.0.0/16" && r.gateways == std::vector<std::string>{"198.18.8.1"}; }));

  // The root namespace, read only: the same interfaces iproute2 names.
  auto root = default_route_interfaces();
  ASSERT_TRUE(root) << root.error().text();
  std::string want = sh("ip route show default table all; ip -6 route show default table all");
  for (auto& dri : *root) EXPECT_NE(want.find("dev " + dri.name), std::string::npos) << dri.name << " in\n" << want;
  std::size_t devs = 0;
  for (std::size_t pos = 0; (pos = want.find(" dev ", pos)) != std::string::npos; ++pos) ++devs;
  if (devs > 0) {
    EXPECT_FALSE(root->empty()) << want;
  }
}

}  // namespace
}  // namespace chaos
