// The etcd family without an etcd: the block and the etcdWriter probe through the real registry
// (as `chaosctl validate` reads them), the JSON gateway's encodings, route choice, role choice,
// the cluster tracker's arithmetic over made-up timelines, and the read-back's verdict.
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/parser.h"
#include "faults/etcd/cluster_watch.h"
#include "faults/etcd/members.h"
#include "faults/etcd/spec.h"
#include "observe/etcd_client.h"
#include "observe/etcd_writer.h"
#include "unit/support/spec_text.h"

namespace chaos {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string experiment(const std::string& etcd_block, const std::string& probes = "") {
  return fake::one_fault_experiment("etcd", etcd_block, probes);
}
ParseOutcome parse(const std::string& text) { return fake::parse_builtin(text); }
const etcd::EtcdSpec& spec_of(const ParseOutcome& o) { return fake::first_fault_spec<etcd::EtcdSpec>(o); }

// ---- the block

TEST(EtcdSpec, IsolateMemberWithEveryField) {
  auto o = parse(experiment("        action: isolate-member\n"
                            "        endpoints:\n"
                            "          - http://198.18.0.31:2379\n"
                            "          - {url: \"http://198.18.0.32:2379\", netns: lab-etcd2}\n"
                            "          - {url: \"http://[2001:2::33]:12379/\", lab: etcd3}\n"
                            "          - {url: \"http://198.18.0.34\", pid: 4242}\n"
                            "        member: follower\n"
                            "        ports: {peer: 12380, client: 12379}\n"
                            "        alsoClients: true\n"
                            "        sampleInterval: 20ms\n"));
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  const auto& s = spec_of(o);
  EXPECT_EQ(s.action, etcd::Action::isolate_member);
  ASSERT_EQ(s.endpoints.size(), 4u);
  EXPECT_FALSE(s.endpoints[0].where.has_value());
  EXPECT_EQ(s.endpoints[1].where->kind, NetTarget::Kind::netns);
  EXPECT_EQ(s.endpoints[1].where->name, "lab-etcd2");
  EXPECT_EQ(s.endpoints[2].url.host, "2001:2::33");
  EXPECT_EQ(s.endpoints[2].url.port, 12379);
  EXPECT_EQ(s.endpoints[2].where->kind, NetTarget::Kind::lab);
  EXPECT_EQ(s.endpoints[3].url.port, 2379);  // the default client port
  EXPECT_EQ(s.endpoints[3].where->pid, 4242);
  EXPECT_EQ(s.member, etcd::Selector::follower);
  EXPECT_EQ(s.peer_port, 12380);
  EXPECT_EQ(s.client_port, 12379);
  EXPECT_TRUE(s.also_clients);
  EXPECT_EQ(s.sample_interval, 20ms);
}

TEST(EtcdSpec, DefaultsAndNamedMember) {
  auto o = parse(experiment("        action: isolate-member\n"
                            "        endpoints: [http://198.18.0.31:2379]\n"));
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  EXPECT_EQ(spec_of(o).member, etcd::Selector::leader);
  EXPECT_EQ(spec_of(o).peer_port, 2380);
  EXPECT_EQ(spec_of(o).client_port, 2379);
  EXPECT_FALSE(spec_of(o).also_clients);
  EXPECT_EQ(spec_of(o).sample_interval, 50ms);
  auto n = parse(experiment("        action: isolate-member\n"
                            "        endpoints: [http://198.18.0.31:2379]\n"
                            "        member: etcd2\n"));
  ASSERT_TRUE(n.diags.ok()) << n.diags.str();
  EXPECT_EQ(spec_of(n).member, etcd::Selector::named);
  EXPECT_EQ(spec_of(n).member_name, "etcd2");
}

TEST(EtcdSpec, CutClientsWithACgroup) {
  auto o = parse(experiment("        action: cut-clients\n"
                            "        endpoints: [http://198.18.0.31:2379, http://198.18.0.32:2379]\n"
                            "        clients: {lab: client, cgroup: /trainer}\n"));
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  EXPECT_EQ(spec_of(o).action, etcd::Action::cut_clients);
  EXPECT_EQ(spec_of(o).clients.kind, NetTarget::Kind::lab);
  EXPECT_EQ(spec_of(o).clients_cgroup, "/trainer");
}

TEST(EtcdSpec, EveryErrorOfTheBlockInOnePassWithItsPlace) {
  auto o = parse(experiment("        action: isolate-leader\n"
                            "        endpoints:\n"
                            "          - https://198.18.0.31:2379\n"
                            "          - http://etcd-1.example:2379\n"
                            "          - {url: \"http://198.18.0.33:99999\"}\n"
                            "          - {netns: x}\n"
                            "        member: \"lead er\"\n"
                            "        ports: {peer: 2379, client: 2379}\n"
                            "        sampleInterval: 1s\n"
                            "        colour: red\n"));
  ASSERT_FALSE(o.diags.ok());
  auto text = o.diags.str();
  EXPECT_THAT(text, HasSubstr("exp.yaml:10:17: error: spec.faults[0].etcd.action: \"isolate-leader\": expected one of: "
                              "isolate-member, cut-clients"));
  EXPECT_THAT(text, HasSubstr("exp.yaml:12:13: error: spec.faults[0].etcd.endpoints[0]: \"https://198.18.0.31:2379\": "
                              "https is not supported"));
  EXPECT_THAT(text, HasSubstr("exp.yaml:13:13: error: spec.faults[0].etcd.endpoints[1]: \"http://etcd-1.example:2379\": "
                              "expected an address literal"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].etcd.endpoints[2].url: \"http://198.18.0.33:99999\": expected a port 1..65535"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].etcd.endpoints[3].url: missing required field"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].etcd.member: \"lead er\": expected leader, follower, any or a member name"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].etcd.ports: peer and client are both 2379"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].etcd.sampleInterval: \"1s\": expected 10ms..100ms"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].etcd.colour: unknown field"));
}

TEST(EtcdSpec, FieldsOfTheOtherAction) {
  auto o = parse(experiment("        action: cut-clients\n"
                            "        endpoints: [http://198.18.0.31:2379]\n"
                            "        member: leader\n"
                            "        alsoClients: true\n"));
  ASSERT_FALSE(o.diags.ok());
  EXPECT_THAT(o.diags.str(), HasSubstr("member applies to action isolate-member only"));
  EXPECT_THAT(o.diags.str(), HasSubstr("alsoClients applies to action isolate-member only"));
  auto i = parse(experiment("        action: isolate-member\n"
                            "        endpoints: [http://198.18.0.31:2379]\n"
                            "        clients: {lab: client}\n"));
  ASSERT_FALSE(i.diags.ok());
  EXPECT_THAT(i.diags.str(), HasSubstr("clients applies to action cut-clients only"));
}

TEST(EtcdSpec, EndpointsRequiredAndUnique) {
  auto o = parse(experiment("        action: isolate-member\n"));
  ASSERT_FALSE(o.diags.ok());
  EXPECT_THAT(o.diags.str(), HasSubstr("spec.faults[0].etcd.endpoints: missing required field"));
  auto d = parse(experiment("        action: isolate-member\n"
                            "        endpoints: [http://198.18.0.31:2379, \"http://198.18.0.31:2379/\"]\n"));
  ASSERT_FALSE(d.diags.ok());
  EXPECT_THAT(d.diags.str(), HasSubstr("listed twice"));
}

TEST(EtcdWriterSpec, ParsesAndRefuses) {
  const std::string block = "        action: isolate-member\n        endpoints: [http://198.18.0.31:2379]\n";
  auto good = parse(experiment(block, "  steadyState:\n"
                                      "    - name: w\n"
                                      "      interval: 50ms\n"
                                      "      etcdWriter:\n"
                                      "        endpoints: [http://198.18.0.31:2379, http://198.18.0.32:2379]\n"
                                      "        lab: client\n"
                                      "        prefix: /test/\n"
                                      "        readBackTimeout: 3s\n"
                                      "        cleanup: false\n"));
  ASSERT_TRUE(good.diags.ok()) << good.diags.str();
  const auto& w = *std::static_pointer_cast<const EtcdWriterSpec>(good.experiment->probes.at(0).spec);
  EXPECT_EQ(w.endpoints.size(), 2u);
  EXPECT_EQ(w.prefix, "/test/");
  EXPECT_EQ(w.read_back_timeout, 3s);
  EXPECT_FALSE(w.cleanup);
  EXPECT_TRUE(w.read_back);
  EXPECT_EQ(good.experiment->probes.at(0).kind, "etcdWriter");

  auto bad = parse(experiment(block, "  steadyState:\n"
                                     "    - name: w\n"
                                     "      etcdWriter:\n"
                                     "        endpoints: [\"198.18.0.31:2379\"]\n"
                                     "        prefix: nope\n"
                                     "        readback: true\n"));
  ASSERT_FALSE(bad.diags.ok());
  EXPECT_THAT(bad.diags.str(), HasSubstr("spec.steadyState[0].etcdWriter.endpoints[0]: \"198.18.0.31:2379\": expected http://"));
  EXPECT_THAT(bad.diags.str(), HasSubstr("spec.steadyState[0].etcdWriter.prefix: \"nope\": expected a key prefix ending in /"));
  EXPECT_THAT(bad.diags.str(), HasSubstr("spec.steadyState[0].etcdWriter.readback: unknown field"));
}

// ---- the gateway's encodings

TEST(EtcdClient, Base64) {
  EXPECT_EQ(etcd::base64_encode(""), "");
  EXPECT_EQ(etcd::base64_encode("f"), "Zg==");
  EXPECT_EQ(etcd::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(etcd::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(etcd::base64_encode("foobar"), "Zm9vYmFy");
  std::string bin("\0\xff\x10 key/\x80", 8);
  auto round = etcd::base64_decode(etcd::base64_encode(bin));
  ASSERT_TRUE(round);
  EXPECT_EQ(*round, bin);
  EXPECT_EQ(*etcd::base64_decode("Zm8"), "fo");  // padding optional
  EXPECT_FALSE(etcd::base64_decode("Zm9v!"));
}

TEST(EtcdClient, PrefixEnd) {
  EXPECT_EQ(etcd::prefix_end("/a/"), "/a0");
  EXPECT_EQ(etcd::prefix_end("ab"), "ac");
  EXPECT_EQ(etcd::prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(etcd::prefix_end(""), std::string(1, '\0'));
}

TEST(EtcdClient, Urls) {
  auto u = etcd::parse_etcd_url("http://198.18.0.31:2379");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "198.18.0.31");
  EXPECT_EQ(u->port, 2379);
  EXPECT_EQ(etcd::parse_etcd_url("http://[::1]:23")->host, "::1");
  EXPECT_EQ(etcd::parse_etcd_url("http://localhost:2379/")->host, "127.0.0.1");
  EXPECT_FALSE(etcd::parse_etcd_url("http://::1:2379"));
  EXPECT_FALSE(etcd::parse_etcd_url("http://198.18.0.31:2379/v3"));
  EXPECT_EQ(etcd::url_port("http://198.18.0.31:2380"), 2380);
  EXPECT_EQ(etcd::url_port("http://[2001:2::31]:2380"), 2380);
  EXPECT_EQ(etcd::url_port("http://[2001:2::31]"), 0);
  EXPECT_EQ(etcd::member_id_hex(0x771441abc2939927ull), "771441abc2939927");
}

TEST(EtcdClient, HttpResponses) {
  auto cl = etcd::parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}junk");
  ASSERT_TRUE(cl);
  EXPECT_EQ(cl->status, 200);
  EXPECT_EQ(cl->body, "{}");
  // grpc-gateway answers large ranges and errors chunked, errors with trailers after the last chunk.
  auto ch = etcd::parse_http_response(
      "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nTrailer: Grpc-Trailer-Content-Type\r\n\r\n"
      "5\r\n{\"err\r\n"
      "11\r\nor\":\"x\",\"code\":3}\r\n"
      "0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n");
  ASSERT_TRUE(ch) << ch.error().text();
  EXPECT_EQ(ch->status, 400);
  EXPECT_EQ(ch->body, "{\"error\":\"x\",\"code\":3}");
  auto eof = etcd::parse_http_response("HTTP/1.0 503 Service Unavailable\r\n\r\nbusy");
  ASSERT_TRUE(eof);
  EXPECT_EQ(eof->body, "busy");
  EXPECT_FALSE(etcd::parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"));
  EXPECT_FALSE(etcd::parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"));
  EXPECT_FALSE(etcd::parse_http_response("garbage"));
}

// ---- routes and roles

RouteInfo route(const char* dst, int ifindex, std::uint32_t table = RT_TABLE_MAIN, std::uint8_t type = RTN_UNICAST) {
  RouteInfo r;
  r.family = AF_INET;
  r.dst = dst;
  r.table = table;
  r.type = type;
  r.ifindexes = {ifindex};
  return r;
}

TEST(EtcdMembers, LongestPrefixRoute) {
  std::vector<RouteInfo> routes{route("default", 1), route("198.18.0.0/24", 2), route("198.18.0.0/16", 3),
                                route("198.18.0.31", 4, RT_TABLE_LOCAL, RTN_LOCAL),
                                route("198.18.0.255", 2, RT_TABLE_LOCAL, RTN_BROADCAST)};
  auto c = [](const char* a) { return *parse_cidr(a); };
  EXPECT_EQ(etcd::route_towards(routes, c("198.18.0.32"))->ifindex, 2);
  EXPECT_EQ(etcd::route_towards(routes, c("198.18.1.1"))->ifindex, 3);
  EXPECT_EQ(etcd::route_towards(routes, c("10.0.0.1"))->ifindex, 1);
  auto own = etcd::route_towards(routes, c("198.18.0.31"));
  EXPECT_EQ(own->ifindex, 4);
  EXPECT_TRUE(own->local);
  EXPECT_EQ(etcd::route_towards(routes, c("198.18.0.255"))->ifindex, 2);  // broadcast routes are skipped
  EXPECT_FALSE(etcd::route_towards({route("198.18.0.0/24", 2)}, c("10.0.0.1")));
  EXPECT_FALSE(etcd::route_towards(routes, c("2001:2::31")));  // no IPv6 route at all
}

etcd::MemberState state(std::uint64_t id, std::uint64_t leader, const char* name) {
  etcd::MemberState s;
  s.status = etcd::EtcdStatus{};
  s.status->member_id = id;
  s.status->leader = leader;
  s.name = name;
  return s;
}

TEST(EtcdMembers, ChooseByRole) {
  std::vector<etcd::MemberState> st{state(11, 22, "a"), state(22, 22, "b"), state(33, 22, "c")};
  EXPECT_EQ(*etcd::choose_member(st, etcd::Selector::leader, "", 0), 1u);
  EXPECT_EQ(*etcd::choose_member(st, etcd::Selector::follower, "", 0), 0u);
  EXPECT_EQ(*etcd::choose_member(st, etcd::Selector::named, "c", 0), 2u);
  EXPECT_EQ(*etcd::choose_member(st, etcd::Selector::any, "", 5), 2u);
  auto none = etcd::choose_member(st, etcd::Selector::named, "zz", 0);
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("a: follower; b: leader; c: follower"));

  // An isolated old leader still believing in itself is outvoted by the other two.
  std::vector<etcd::MemberState> split{state(11, 33, "a"), state(22, 22, "b"), state(33, 33, "c")};
  EXPECT_EQ(etcd::consensus_leader(split), 33u);
  EXPECT_EQ(*etcd::choose_member(split, etcd::Selector::leader, "", 0), 2u);

  std::vector<etcd::MemberState> election{state(11, 0, "a"), state(22, 0, "b")};
  election.push_back({});
  election.back().error = "connection refused";
  election.back().name = "c";
  auto r = etcd::choose_member(election, etcd::Selector::leader, "", 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EAGAIN);  // apply() waits for the election to end
  EXPECT_THAT(r.error().message, HasSubstr("c: no answer (connection refused)"));
  auto dead = etcd::choose_member(election, etcd::Selector::named, "c", 0);
  ASSERT_FALSE(dead);
  EXPECT_THAT(dead.error().message, HasSubstr("member c does not answer"));
}

// ---- the tracker

etcd::MemberView view(std::uint64_t id, std::uint64_t leader, std::uint64_t term) {
  etcd::MemberView v;
  v.ok = true;
  v.member_id = id;
  v.leader = leader;
  v.term = term;
  return v;
}

// Feeds all three members the same way every 50ms from `from` to `to`.
void feed(etcd::ClusterTracker& t, int from_ms, int to_ms, const std::vector<etcd::MemberView>& v) {
  for (int ms = from_ms; ms < to_ms; ms += 50)
    for (std::size_t i = 0; i < v.size(); ++i) t.update(i, std::chrono::milliseconds(ms + static_cast<int>(i)), v[i]);
}

TEST(ClusterTracker, LeaderIsolatedThenHealed) {
  etcd::ClusterTracker t({"etcd1", "etcd2", "etcd3"});
  // Before: etcd2 leads in term 2.
  feed(t, 0, 1000, {view(1, 2, 2), view(2, 2, 2), view(3, 2, 2)});
  EXPECT_EQ(t.quorum_leader(), 2u);
  EXPECT_TRUE(t.healthy());
  t.mark_applied(std::chrono::milliseconds(1000), 1, 2, 2);
  // The followers keep believing in etcd2 for a while (no working leader, though), then lose it...
  feed(t, 1000, 2000, {view(1, 2, 2), view(2, 2, 2), view(3, 2, 2)});
  feed(t, 2000, 2500, {view(1, 0, 2), view(2, 2, 2), view(3, 0, 2)});
  // ... and elect etcd1 in term 3 while the isolated etcd2 steps down.
  feed(t, 2500, 5000, {view(1, 1, 3), view(2, 0, 2), view(3, 1, 3)});
  EXPECT_EQ(t.quorum_leader(), 1u);
  EXPECT_FALSE(t.healthy());
  t.mark_reverted(std::chrono::milliseconds(5000));
  feed(t, 5000, 5200, {view(1, 1, 3), view(2, 0, 2), view(3, 1, 3)});
  feed(t, 5200, 6000, {view(1, 1, 3), view(2, 1, 3), view(3, 1, 3)});
  EXPECT_TRUE(t.healthy());

  EXPECT_EQ(t.leader_changes(), 1);
  ASSERT_TRUE(t.elected_after_apply());
  EXPECT_NEAR((std::chrono::duration<double, std::milli>(*t.elected_after_apply()).count()), 1500, 5);
  ASSERT_TRUE(t.healthy_after_heal());
  EXPECT_NEAR((std::chrono::duration<double, std::milli>(*t.healthy_after_heal()).count()), 200, 5);
  auto s = t.summary();
  EXPECT_EQ(s["leaderAtApply"], "etcd2");
  EXPECT_EQ(s["isolated"], "etcd2");
  EXPECT_EQ(s["isolatedRoleAtApply"], "leader");
  EXPECT_EQ(s["leaderAfterHeal"], "etcd1");
  EXPECT_EQ(s["isolatedRoleAfterHeal"], "follower");
  EXPECT_NEAR(s["noLeader_ms"].get<double>(), 500, 5);                     // 2.0s .. 2.5s
  EXPECT_NEAR(s["noWorkingLeaderDuringFault_ms"].get<double>(), 1500, 5);  // 1.0s .. 2.5s
  EXPECT_NEAR(s["members"]["etcd2"]["noLeader_ms"].get<double>(), 2700, 60);
  EXPECT_EQ(s["members"]["etcd1"]["termFirst"], 2);
  EXPECT_EQ(s["members"]["etcd1"]["termLast"], 3);
  EXPECT_EQ(s["leaderHistory"].size(), 3u);  // etcd2, none, etcd1
  EXPECT_EQ(s["leaderHistory"][2]["leader"], "etcd1");
  EXPECT_NEAR(s["leaderHistory"][2]["t"].get<double>(), 1.5, 0.01);  // seconds after the apply
  EXPECT_EQ(t.snapshot()["leader"], "etcd1");
}

TEST(ClusterTracker, FollowerIsolatedKeepsTheLeader) {
  etcd::ClusterTracker t({"etcd1", "etcd2", "etcd3"});
  feed(t, 0, 500, {view(1, 1, 4), view(2, 1, 4), view(3, 1, 4)});
  t.mark_applied(500ms, 2, 3, 1);
  feed(t, 500, 3000, {view(1, 1, 4), view(2, 1, 4), view(3, 0, 4)});
  t.mark_reverted(3000ms);
  feed(t, 3000, 3500, {view(1, 1, 4), view(2, 1, 4), view(3, 1, 4)});
  EXPECT_EQ(t.leader_changes(), 0);
  EXPECT_FALSE(t.elected_after_apply());  // nothing to elect: the leader was never cut off
  auto s = t.summary();
  EXPECT_EQ(s["noLeader_ms"].get<double>(), 0.0);
  EXPECT_EQ(s["noWorkingLeaderDuringFault_ms"].get<double>(), 0.0);
  EXPECT_EQ(s["isolatedRoleAtApply"], "follower");
  EXPECT_NEAR(s["healthyAfterHeal_ms"].get<double>(), 2, 3);
}

TEST(ClusterTracker, OneFailedPollIsNotALostLeaderButALongSilenceIs) {
  // The follower etcd3 is cut off; meanwhile the leader's status call times out once (a busy
  // node), later the other follower stops answering for 1.5s.
  etcd::ClusterTracker t({"etcd1", "etcd2", "etcd3"}, 500ms);
  etcd::MemberView slow;
  slow.error = "timed out after 200ms";
  feed(t, 0, 500, {view(1, 1, 4), view(2, 1, 4), view(3, 1, 4)});
  t.mark_applied(500ms, 2, 3, 1);
  feed(t, 500, 1500, {view(1, 1, 4), view(2, 1, 4), view(3, 0, 4)});
  feed(t, 1500, 1550, {slow, view(2, 1, 4), view(3, 0, 4)});
  EXPECT_EQ(t.quorum_leader(), 1u) << "etcd1's last answer, 50ms old, still counts";
  EXPECT_FALSE(t.healthy()) << "healthy needs every member answering now";
  feed(t, 1550, 2000, {view(1, 1, 4), view(2, 1, 4), view(3, 0, 4)});
  EXPECT_EQ(t.summary()["noWorkingLeaderDuringFault_ms"].get<double>(), 0.0);
  EXPECT_NEAR(t.summary()["majorityFromCarriedViews_ms"].get<double>(), 50, 5);
  // etcd2 silent from 2.0s to 3.5s: its answer carries until 2.5s, then there is no majority.
  feed(t, 2000, 3500, {view(1, 1, 4), slow, view(3, 0, 4)});
  EXPECT_EQ(t.quorum_leader(), 0u);
  feed(t, 3500, 4000, {view(1, 1, 4), view(2, 1, 4), view(3, 0, 4)});
  t.mark_reverted(4000ms);
  auto s = t.summary();
  EXPECT_NEAR(s["noWorkingLeaderDuringFault_ms"].get<double>(), 1050, 5);  // 2.45s .. 3.5s
  EXPECT_NEAR(s["majorityFromCarriedViews_ms"].get<double>(), 500, 5);      // 50ms + 450ms
  EXPECT_EQ(s["leaderChanges"], 0) << "the same leader before and after the unknown stretch";
}

TEST(ClusterTracker, NeverHealedAndUnansweredMembers) {
  etcd::ClusterTracker t({"a", "b", "c"});
  etcd::MemberView down;
  down.error = "connection refused";
  feed(t, 0, 500, {view(1, 1, 1), view(2, 1, 1), down});
  EXPECT_EQ(t.quorum_leader(), 1u);  // two of three agree
  EXPECT_FALSE(t.healthy());         // but not everyone answers
  t.mark_applied(500ms, std::nullopt, 0, 1);
  t.mark_reverted(1000ms);
  feed(t, 1000, 2000, {view(1, 1, 1), view(2, 1, 1), down});
  EXPECT_FALSE(t.healthy_after_heal());
  EXPECT_TRUE(t.summary()["healthyAfterHeal_ms"].is_null());
  EXPECT_EQ(t.summary()["members"]["c"]["errors"], 30);
}

// ---- the read-back's verdict

TEST(ReadBack, CountsLostWritesOnAnyMember) {
  ReadBackInput in;
  in.acknowledged = {1, 2, 3, 4};
  in.ambiguous = {5, 6};
  auto m = [](const char* name, std::vector<std::uint64_t> seqs) {
    ReadBackInput::Member x;
    x.name = name;
    x.read = true;
    for (auto s : seqs) x.found.emplace_back(s, etcd_writer_value(s));
    return x;
  };
  in.members = {m("a", {1, 2, 3, 4, 5}), m("b", {1, 2, 3, 4, 5}), m("c", {1, 2, 3, 4, 5})};
  auto ok = evaluate_read_back(in);
  EXPECT_EQ(ok["lost"], 0);
  EXPECT_EQ(ok["ambiguousPresent"], 1);  // seq 5 made it although its answer never came
  EXPECT_EQ(ok["perMember"]["a"]["ambiguousFound"], 1);
  EXPECT_EQ(ok["unexpected"], 0);
  EXPECT_TRUE(ok["violations"].empty());

  // Present on one member, absent on another: an indeterminate write may be either.
  in.members = {m("a", {1, 2, 3, 4, 6}), m("b", {1, 2, 3, 4}), m("c", {1, 2, 3, 4, 5, 6})};
  auto mixed = evaluate_read_back(in);
  EXPECT_EQ(mixed["lost"], 0);
  EXPECT_EQ(mixed["ambiguousPresent"], 2);
  EXPECT_TRUE(mixed["violations"].empty()) << mixed.dump();

  // A key the writer never sent (seq 9), and an indeterminate one holding a value it never sent.
  in.members = {m("a", {1, 2, 3, 4, 9}), m("b", {1, 2, 3, 4, 5}), m("c", {1, 2, 3, 4})};
  in.members[1].found.back().second = "seq 55";
  auto phantom = evaluate_read_back(in);
  EXPECT_EQ(phantom["lost"], 0);
  EXPECT_EQ(phantom["unexpected"], 2);
  EXPECT_EQ(phantom["unexpectedSeqs"], nlohmann::json::array({5, 9}));
  EXPECT_EQ(phantom["perMember"]["a"]["unexpected"], 1);
  EXPECT_EQ(phantom["perMember"]["b"]["unexpected"], 1);
  ASSERT_EQ(phantom["violations"].size(), 1u);
  EXPECT_THAT(phantom["violations"][0].get<std::string>(), HasSubstr("2 keys present that the writer never sent"));

  in.members = {m("a", {1, 2, 3, 4}), m("b", {1, 3, 4}), m("c", {1, 2, 3})};
  in.members[0].found[0].second = "seq 999";  // a has another value under seq 1
  auto bad = evaluate_read_back(in);
  EXPECT_EQ(bad["lost"], 3);  // 1 (wrong on a), 2 (missing on b), 4 (missing on c)
  EXPECT_EQ(bad["lostSeqs"], nlohmann::json::array({1, 2, 4}));
  EXPECT_EQ(bad["perMember"]["a"]["wrongValue"], 1);
  EXPECT_EQ(bad["perMember"]["b"]["missing"], 1);
  ASSERT_EQ(bad["violations"].size(), 1u);
  EXPECT_THAT(bad["violations"][0].get<std::string>(), HasSubstr("3 of 4 acknowledged writes lost"));

  ReadBackInput::Member gone;
  gone.name = "d";
  gone.error = "connect: Connection refused";
  in.members = {m("a", {1, 2, 3, 4}), gone};
  auto unread = evaluate_read_back(in);
  EXPECT_EQ(unread["lost"], 0);
  ASSERT_EQ(unread["violations"].size(), 1u);
  EXPECT_THAT(unread["violations"][0].get<std::string>(), HasSubstr("member d could not be read back"));
}

}  // namespace
}  // namespace chaos
