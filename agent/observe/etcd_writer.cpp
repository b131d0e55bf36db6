#include "observe/etcd_writer.h"

#include "observe/open_loop.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/log.h"
#include "kernel/target.h"

namespace chaos {

using namespace std::chrono;
using nlohmann::json;

nlohmann::json EtcdWriterSpec::to_json() const {
  json eps = json::array();
  for (const auto& e : endpoints) eps.push_back(e.url);
  return {{"endpoints", eps}, {"from", target.str()}, {"prefix", prefix}, {"readBack", read_back},
          {"readBackTimeout", format_duration(read_back_timeout)}, {"cleanup", cleanup}};
}

std::shared_ptr<const ProbeSpec> parse_etcd_writer_probe(MapReader& r) {
  auto spec = std::make_shared<EtcdWriterSpec>();
  bool ok = true;
  auto eps = r.seq("endpoints", true);
  if (r.has("endpoints") && eps.empty()) {
    r.child("endpoints")->error("expected a list of at least one URL like http://198.18.0.31:2379");
    ok = false;
  }
  for (const auto& e : eps) {
    auto s = e.as_string();
    if (!s) {
      ok = false;
      continue;
    }
    auto u = etcd::parse_etcd_url(*s);
    if (!u) {
      e.error(u.error().message);
      ok = false;
      continue;
    }
    spec->endpoints.push_back(*u);
  }
  if (eps.empty()) ok = false;
  if (auto t = read_net_target(r)) spec->target = *t; else ok = false;
  if (auto p = r.str("prefix")) {
    if (p->empty() || p->back() != '/') r.child("prefix")->error("\"" + *p + "\": expected a key prefix ending in /");
    spec->prefix = *p;
  }
  if (auto b = r.boolean("readBack")) spec->read_back = *b;
  if (auto d = r.duration("readBackTimeout")) {
    if (d->count() == 0) r.child("readBackTimeout")->error("expected a duration above 0s");
    spec->read_back_timeout = *d;
  }
  if (auto b = r.boolean("cleanup")) spec->cleanup = *b;
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

std::string etcd_writer_value(std::uint64_t seq) { return "seq " + std::to_string(seq); }

json evaluate_read_back(const ReadBackInput& in) {
  json out;
  std::set<std::uint64_t> acked(in.acknowledged.begin(), in.acknowledged.end());
  std::set<std::uint64_t> ambiguous(in.ambiguous.begin(), in.ambiguous.end());
  std::set<std::uint64_t> lost;
  std::set<std::uint64_t> ambiguous_present;
  std::set<std::uint64_t> unexpected;  // present, but never attempted (or with a value never sent)
  json per = json::object();
  json violations = json::array();
  for (const auto& m : in.members) {
    if (!m.read) {
      per[m.name] = {{"read", false}, {"error", m.error}};
      violations.push_back("member " + m.name + " could not be read back: " + m.error);
      continue;
    }
    std::map<std::uint64_t, const std::string*> found;
    for (const auto& [seq, value] : m.found) found[seq] = &value;
    std::size_t missing = 0, wrong = 0, indeterminate = 0, never_sent = 0;
    for (auto seq : acked) {
      auto it = found.find(seq);
      if (it == found.end()) {
        ++missing;
        lost.insert(seq);
      } else if (*it->second != etcd_writer_value(seq)) {
        ++wrong;
        lost.insert(seq);
      }
    }
    // An indeterminate write (sent, never answered) may be present or absent; what is present
    // must be something the writer sent, with the value it sent.
    for (const auto& [seq, v] : found) {
      if (acked.count(seq)) continue;
      if (ambiguous.count(seq) && *v == etcd_writer_value(seq)) {
        ++indeterminate;
        ambiguous_present.insert(seq);
      } else {
        ++never_sent;
        unexpected.insert(seq);
      }
    }
    per[m.name] = {{"read", true},          {"found", m.found.size()},       {"missing", missing},
                   {"wrongValue", wrong},   {"ambiguousFound", indeterminate}, {"unexpected", never_sent}};
  }
  out["acknowledged"] = acked.size();
  out["ambiguous"] = ambiguous.size();
  out["ambiguousPresent"] = ambiguous_present.size();
  out["lost"] = lost.size();
  out["unexpected"] = unexpected.size();
  auto first20 = [](const std::set<std::uint64_t>& s) {
    json seqs = json::array();
    for (auto v : s) {
      if (seqs.size() >= 20) break;
      seqs.push_back(v);
    }
    return seqs;
  };
  out["lostSeqs"] = first20(lost);
  if (!unexpected.empty()) out["unexpectedSeqs"] = first20(unexpected);
  out["perMember"] = per;
  if (!lost.empty())
    violations.push_back(std::to_string(lost.size()) + " of " + std::to_string(acked.size()) +
                         " acknowledged writes lost (missing or different on at least one member)");
  if (!unexpected.empty())
    violations.push_back(std::to_string(unexpected.size()) +
                         " keys present that the writer never sent (or with a value it never sent)");
  out["violations"] = violations;
  return out;
}

namespace {

std::string random_token() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(getpid());
  char b[20];
  std::snprintf(b, sizeof b, "%012llx", static_cast<unsigned long long>(v & 0xFFFFFFFFFFFFull));
  return b;
}

std::string seq_key(const std::string& base, std::uint64_t seq) {
  char b[24];
  std::snprintf(b, sizeof b, "%010llu", static_cast<unsigned long long>(seq));
  return base + b;
}

class EtcdWriter : public OpenLoopProbe {
 public:
  explicit EtcdWriter(const ProbeEntry& e)
      : OpenLoopProbe(e.interval, "puts"), entry_(e), spec_(*std::static_pointer_cast<const EtcdWriterSpec>(e.spec)) {}
  ~EtcdWriter() override { stop(); }

  Result<std::vector<std::string>> plan() override {
    auto ns = resolve_net_target(spec_.target);
    if (!ns) return std::unexpected(ns.error());
    set_netns(ns->netns.path);
    std::string eps;
    for (const auto& e : spec_.endpoints) eps += (eps.empty() ? "" : ", ") + e.url;
    return std::vector<std::string>{
        "etcd put every " + format_duration(entry_.interval) + " (timeout " + format_duration(entry_.timeout) +
        ") to " + eps + " from " + ns->netns.describe + " under " + spec_.prefix +
        (spec_.read_back ? "; after the run every acknowledged write is read back from every member" : "")};
  }

  Result<void> start(RunClock clock) override {
    base_ = spec_.prefix + random_token() + "/";
    return OpenLoopProbe::start(clock);
  }

  json verify() override {
    if (!spec_.read_back) return nullptr;
    json result;
    // The read-back runs where the writes came from, on a thread of its own (the caller's
    // namespace is left alone).
    std::thread t([&] { result = read_back(); });
    t.join();
    return result;
  }

 private:
  // Open loop like the http probe (OpenLoopProbe): a put starts every interval whatever the
  // earlier ones are doing, so a stalled cluster shows as errors at the true rate.
  void fire(Duration t) override { write_one(t, ++seq_); }

  void write_one(Duration t, std::uint64_t seq) {
    std::size_t cur = current_.load();
    const auto& ep = spec_.endpoints[cur % spec_.endpoints.size()];
    auto begin = steady_clock::now();
    auto r = etcd::put(ep, seq_key(base_, seq), etcd_writer_value(seq), entry_.timeout);
    ProbeSample s;
    s.t = t;
    s.latency = steady_clock::now() - begin;
    if (r) {
      s.ok = true;
      s.status = 200;
    } else {
      s.error = r.error().text();
      // Fail over like a client would; only the first failure on an endpoint moves the writer.
      current_.compare_exchange_strong(cur, cur + 1);
    }
    std::lock_guard lk(mu_);
    record_locked(s);
    if (r) acked_.push_back(seq);
    else unacked_.push_back(seq);
  }

  // Which URL reaches a member: one of ours when it lists it, else the first it advertises.
  static std::optional<etcd::EtcdUrl> url_for(const etcd::EtcdMember& m, const std::vector<etcd::EtcdUrl>& ours) {
    for (const auto& c : m.client_urls) {
      auto u = etcd::parse_etcd_url(c);
      if (!u) continue;
      for (const auto& o : ours)
        if (o.host == u->host && o.port == u->port) return o;
    }
    for (const auto& c : m.client_urls)
      if (auto u = etcd::parse_etcd_url(c)) return *u;
    return std::nullopt;
  }

  json read_back() {
    auto log = logger("etcd");
    auto guard = NetnsGuard::enter(netns_path());
    if (!guard) return {{"check", "consistency"}, {"violations", {"enter " + netns_path() + ": " + guard.error().text()}}};
    auto deadline = steady_clock::now() + spec_.read_back_timeout;
    const Duration per_call = std::max<Duration>(entry_.timeout, seconds(2));

    ReadBackInput in;
    {
      std::lock_guard lk(mu_);
      in.acknowledged = acked_;
      in.ambiguous = unacked_;
    }
    // Every member of the cluster, not only the endpoints the writer was given.
    std::vector<etcd::EtcdMember> members;
    std::string list_error;
    while (members.empty() && steady_clock::now() < deadline) {
      for (const auto& ep : spec_.endpoints) {
        auto ml = etcd::member_list(ep, per_call);
        if (ml) {
          members = *ml;
          break;
        }
        list_error = ml.error().text();
      }
      if (members.empty()) std::this_thread::sleep_for(milliseconds(200));
    }
    struct Target {
      std::string name;
      std::optional<etcd::EtcdUrl> url;
    };
    std::vector<Target> targets;
    if (members.empty()) {
      log->warn("etcdWriter {}: member list failed ({}); reading back from the endpoints only", entry_.name, list_error);
      for (const auto& ep : spec_.endpoints) targets.push_back({ep.url, ep});
    } else {
      for (const auto& m : members)
        targets.push_back({m.name.empty() ? etcd::member_id_hex(m.id) : m.name, url_for(m, spec_.endpoints)});
    }
    const std::string end = etcd::prefix_end(base_);
    for (const auto& t : targets) {
      ReadBackInput::Member m;
      m.name = t.name;
      if (!t.url) {
        m.error = "advertises no usable client URL";
        in.members.push_back(m);
        continue;
      }
      while (true) {
        auto kvs = etcd::range_all(*t.url, base_, end, /*serializable=*/false, per_call);
        if (kvs) {
          m.read = true;
          for (const auto& kv : *kvs) {
            std::uint64_t seq = 0;
            std::string_view tail = std::string_view(kv.key).substr(base_.size());
            std::from_chars(tail.data(), tail.data() + tail.size(), seq);
            m.found.emplace_back(seq, kv.value);
          }
          break;
        }
        m.error = t.url->url + ": " + kvs.error().text();
        if (steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(milliseconds(200));
      }
      in.members.push_back(std::move(m));
    }
    json out = evaluate_read_back(in);
    out["check"] = "consistency";
    out["attempted"] = in.acknowledged.size() + in.ambiguous.size();
    out["keys"] = base_;
    if (spec_.cleanup) {
      std::string err;
      bool done = false;
      for (const auto& ep : spec_.endpoints) {
        auto d = etcd::delete_range(ep, base_, end, per_call);
        if (d) {
          out["cleanedUp"] = *d;
          done = true;
          break;
        }
        err = d.error().text();
      }
      if (!done) log->warn("etcdWriter {}: could not delete {}*: {}", entry_.name, base_, err);
    }
    log->info("etcdWriter {}: read back {} acknowledged writes from {} members: {} lost", entry_.name,
              in.acknowledged.size(), in.members.size(), out["lost"].get<std::size_t>());
    return out;
  }

  ProbeEntry entry_;
  EtcdWriterSpec spec_;
  std::string base_;
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::size_t> current_{0};
  std::vector<std::uint64_t> acked_, unacked_;  // under mu_
};

}  // namespace

ProbeKind etcd_writer_probe_kind() {
  return ProbeKind{"etcdWriter", parse_etcd_writer_probe, [](const ProbeEntry& e) -> Result<std::unique_ptr<Probe>> {
                     return std::unique_ptr<Probe>(new EtcdWriter(e));
                   }};
}

}  // namespace chaos
