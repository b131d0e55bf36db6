#include "kernel/classifier.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

// bpf/classifier.h (angle brackets: not kernel/classifier.h beside this file), which the
// generated skeleton needs declared before it.
#include <classifier.h>
#include <classifier.skel.h>

#include "core/journal.h"
#include "core/log.h"
#include "kernel/bpf_util.h"
#include "kernel/netns.h"

namespace chaos::kernel {

static_assert(sizeof(chaos_cls_config) == 104, "bpf/classifier.h layout changed");
static_assert(sizeof(chaos_cls_stats) == 32);
static_assert(kClassifierMaxPortRanges == CHAOS_CLS_MAX_PORT_RANGES);
static_assert(kClassifierMaxCidrsPerFamily == CHAOS_CLS_LPM_MAX_ENTRIES);
static_assert(static_cast<std::uint32_t>(ClassifierAction::drop) == CHAOS_CLS_DROP);
static_assert(static_cast<std::uint32_t>(ClassifierAction::steer) == CHAOS_CLS_STEER);
static_assert(static_cast<std::uint32_t>(ClassifierAction::redirect) == CHAOS_CLS_REDIRECT);

namespace {

std::shared_ptr<spdlog::logger> bpf_log() {
  static const auto l = logger("bpf");
  return l;
}

std::uint32_t proto_value(ClassifierProtocol p) { return static_cast<std::uint32_t>(p); }

}  // namespace

const char* classifier_action_name(ClassifierAction a) {
  switch (a) {
    case ClassifierAction::drop: return "drop";
    case ClassifierAction::steer: return "steer";
    case ClassifierAction::redirect: return "redirect";
  }
  return "?";
}

Result<void> validate(const ClassifierConfig& cfg) {
  switch (cfg.action) {
    case ClassifierAction::drop: break;
    case ClassifierAction::steer:
      if (cfg.classid == 0) return fail("classifier: steer needs a classid (e.g. 0x10002)", EINVAL);
      break;
    case ClassifierAction::redirect:
      if (cfg.redirect_ifindex <= 0)
        return fail("classifier: redirect needs the target device's ifindex", EINVAL);
      break;
    default:
      return fail("classifier: unknown action " + std::to_string(static_cast<unsigned>(cfg.action)),
                  EINVAL);
  }
  switch (cfg.protocol) {
    case ClassifierProtocol::any:
    case ClassifierProtocol::icmp:
    case ClassifierProtocol::tcp:
    case ClassifierProtocol::udp: break;
    default:
      return fail("classifier: protocol " + std::to_string(static_cast<unsigned>(cfg.protocol)) +
                      ": expected any, icmp, tcp or udp",
                  EINVAL);
  }
  if (cfg.ports.size() > kClassifierMaxPortRanges)
    return fail("classifier: " + std::to_string(cfg.ports.size()) + " port ranges, at most " +
                    std::to_string(kClassifierMaxPortRanges),
                E2BIG);
  if (!cfg.ports.empty() && cfg.protocol == ClassifierProtocol::icmp)
    return fail("classifier: ports make no sense with protocol icmp", EINVAL);
  for (const auto& p : cfg.ports)
    if (p.lo > p.hi)
      return fail("classifier: port range " + std::to_string(p.lo) + "-" + std::to_string(p.hi) +
                      " is empty",
                  EINVAL);
  std::size_t v4 = 0, v6 = 0;
  for (const auto& c : cfg.cidrs) {
    if (c.family == AF_INET && c.prefix >= 0 && c.prefix <= 32)
      ++v4;
    else if (c.family == AF_INET6 && c.prefix >= 0 && c.prefix <= 128)
      ++v6;
    else
      return fail("classifier: malformed CIDR (family " + std::to_string(c.family) + ", prefix " +
                      std::to_string(c.prefix) + ")",
                  EINVAL);
  }
  if (v4 > kClassifierMaxCidrsPerFamily || v6 > kClassifierMaxCidrsPerFamily)
    return fail("classifier: more than " + std::to_string(kClassifierMaxCidrsPerFamily) +
                    " CIDRs of one family",
                E2BIG);
  if (cfg.cgroup_id && cfg.direction == TcDirection::ingress)
    return fail("classifier: a cgroup can only be matched on egress (ingress packets have no "
                "socket yet)",
                EINVAL);
  return {};
}

// ---- AttachRecord

nlohmann::json AttachRecord::to_json() const {
  return {
      {"netns", netns_path},
      {"netns_dev", netns_dev},
      {"netns_ino", netns_ino},
      {"ifindex", ifindex},
      {"direction", tc_direction_name(direction)},
      {"mode", attach_mode_name(mode)},
      {"prog_name", prog_name},
      {"prog_id", prog_id},
      {"link_id", link_id},
      {"prio", prio},
      {"handle", handle},
      {"created_clsact", created_clsact},
  };
}

Result<AttachRecord> AttachRecord::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return fail("classifier undo data: not an object", EINVAL);
  try {
    AttachRecord r;
    r.netns_path = j.value("netns", std::string());
    r.netns_dev = j.value("netns_dev", std::uint64_t{0});
    r.netns_ino = j.value("netns_ino", std::uint64_t{0});
    if (!j.contains("ifindex") || !j.contains("direction") || !j.contains("mode"))
      return fail("classifier undo data: needs ifindex, direction and mode", EINVAL);
    r.ifindex = j.at("ifindex").get<int>();
    auto dir = parse_tc_direction(j.at("direction").get<std::string>());
    if (!dir) return wrap(dir.error(), "classifier undo data");
    r.direction = *dir;
    auto mode = parse_attach_mode(j.at("mode").get<std::string>());
    if (!mode || *mode == AttachMode::automatic)
      return fail("classifier undo data: mode must be tcx or classic", EINVAL);
    r.mode = *mode;
    r.prog_name = j.value("prog_name", std::string(CHAOS_CLS_PROG_NAME));
    r.prog_id = j.value("prog_id", std::uint32_t{0});
    r.link_id = j.value("link_id", std::uint32_t{0});
    r.prio = j.value("prio", std::uint16_t{0});
    r.handle = j.value("handle", std::uint32_t{0});
    r.created_clsact = j.value("created_clsact", false);
    return r;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("classifier undo data: ") + e.what(), EINVAL);
  }
}

std::string AttachRecord::describe() const {
  std::string s = std::string(attach_mode_name(mode)) + " " + tc_direction_name(direction) +
                  " ifindex " + std::to_string(ifindex);
  if (!netns_path.empty()) s += " in " + netns_path;
  if (mode == AttachMode::tcx) {
    s += " (link " + std::to_string(link_id) + ")";
  } else {
    char h[16];
    std::snprintf(h, sizeof h, "%x", handle);
    s += " (prio " + std::to_string(prio) + " handle 0x" + h +
         (created_clsact ? ", our clsact)" : ")");
  }
  return s;
}

Result<void> undo_attach(const AttachRecord& r) {
  if (!r.netns_path.empty() && r.netns_ino) {
    auto id = netns_id(r.netns_path);
    // ENOENT: deleted; EINVAL: a stale name whose namespace is gone. Either way its devices,
    // filters and qdiscs went with it.
    if (!id && (id.error().code == ENOENT || id.error().code == EINVAL)) {
      bpf_log()->debug("undo {}: namespace gone", r.describe());
      return {};
    }
    if (!id) return wrap(id.error(), "undo " + r.describe());
    if (id->dev != r.netns_dev || id->ino != r.netns_ino) {
      bpf_log()->info("undo {}: {} now names another namespace; ours is gone", r.describe(),
                      r.netns_path);
      return {};
    }
  }
  if (r.mode == AttachMode::tcx)
    return detach_tcx_link(r.netns_path, r.ifindex, r.direction, r.link_id, r.prog_id, r.prog_name);
  return detach_classic_filter(r.netns_path, r.ifindex, r.direction, r.prio, r.handle,
                               r.created_clsact, r.prog_id, r.prog_name);
}

void register_classifier_undo(UndoRegistry& registry) {
  registry.add(kClassifierJournalKind, [](const nlohmann::json& undo) -> Result<void> {
    auto r = AttachRecord::from_json(undo);
    if (!r) return std::unexpected(r.error());
    return undo_attach(*r);
  });
  register_clsact_undo(registry);
}

// ---- Classifier

Result<std::unique_ptr<Classifier>> Classifier::load(const ClassifierConfig& cfg) {
  if (auto v = validate(cfg); !v) return std::unexpected(v.error());
  route_libbpf_logs();
  std::unique_ptr<Classifier> c(new Classifier());
  c->cfg_ = cfg;
  c->skel_ = classifier_bpf__open();
  if (!c->skel_) return fail_errno("open the classifier BPF object");

  chaos_cls_config& rc = c->skel_->rodata->cfg;
  std::memset(&rc, 0, sizeof rc);
  rc.action = static_cast<std::uint32_t>(cfg.action);
  rc.direction = cfg.direction == TcDirection::ingress ? CHAOS_CLS_INGRESS : CHAOS_CLS_EGRESS;
  rc.protocol = proto_value(cfg.protocol);
  rc.nports = static_cast<std::uint32_t>(cfg.ports.size());
  for (std::size_t i = 0; i < cfg.ports.size(); ++i) rc.ports[i] = {cfg.ports[i].lo, cfg.ports[i].hi};
  for (const auto& cidr : cfg.cidrs) {
    if (cidr.family == AF_INET) rc.has_v4_cidrs = 1;
    if (cidr.family == AF_INET6) rc.has_v6_cidrs = 1;
  }
  rc.classid = cfg.classid;
  rc.redirect_ifindex = static_cast<std::uint32_t>(cfg.redirect_ifindex);
  rc.cgroup_id = cfg.cgroup_id;

  if (int err = classifier_bpf__load(c->skel_); err)
    return fail_rc(err, "load the classifier BPF program (the bpf log has the verifier's reason)");
  auto info = bpf_prog_info(c->prog_fd());
  if (!info) return std::unexpected(info.error());
  c->prog_id_ = info->id;
  if (auto f = c->fill_cidrs(); !f) return std::unexpected(f.error());
  bpf_log()->debug("loaded {} (prog id {}): {} {}, {} CIDRs, {} port ranges", CHAOS_CLS_PROG_NAME,
                   c->prog_id_, classifier_action_name(cfg.action),
                   tc_direction_name(cfg.direction), cfg.cidrs.size(), cfg.ports.size());
  return c;
}

Result<void> Classifier::fill_cidrs() {
  const std::uint8_t one = 1;
  for (const auto& cidr : cfg_.cidrs) {
    int rc;
    if (cidr.family == AF_INET) {
      chaos_cls_lpm_v4 key{};
      key.prefixlen = static_cast<std::uint32_t>(cidr.prefix);
      std::memcpy(key.addr, cidr.addr.data(), sizeof key.addr);
      rc = bpf_map__update_elem(skel_->maps.cidrs_v4, &key, sizeof key, &one, sizeof one, BPF_ANY);
    } else {
      chaos_cls_lpm_v6 key{};
      key.prefixlen = static_cast<std::uint32_t>(cidr.prefix);
      std::memcpy(key.addr, cidr.addr.data(), sizeof key.addr);
      rc = bpf_map__update_elem(skel_->maps.cidrs_v6, &key, sizeof key, &one, sizeof one, BPF_ANY);
    }
    if (rc < 0) return fail_rc(rc, "add CIDR " + cidr.str() + " to the classifier");
  }
  return {};
}

Classifier::~Classifier() {
  if (auto r = detach(); !r) bpf_log()->error("classifier: {}", r.error().text());
  if (link_fd_ >= 0) ::close(link_fd_);
  if (netns_fd_ >= 0) ::close(netns_fd_);
  if (skel_) classifier_bpf__destroy(skel_);
}

int Classifier::prog_fd() const { return bpf_program__fd(skel_->progs.chaos_cls); }

Result<void> Classifier::set_lease_deadline(std::uint64_t deadline_mono_ns) {
  const std::uint32_t zero = 0;
  int rc = bpf_map__update_elem(skel_->maps.lease, &zero, sizeof zero, &deadline_mono_ns,
                                sizeof deadline_mono_ns, BPF_ANY);
  if (rc < 0) return fail_rc(rc, "set the classifier's lease deadline");
  return {};
}

Result<std::uint64_t> Classifier::lease_deadline() const {
  const std::uint32_t zero = 0;
  std::uint64_t d = 0;
  int rc = bpf_map__lookup_elem(skel_->maps.lease, &zero, sizeof zero, &d, sizeof d, 0);
  if (rc < 0) return fail_rc(rc, "read the classifier's lease deadline");
  return d;
}

nlohmann::json ClassifierStats::to_json(const std::string& acted_key) const {
  return {{"seen", seen}, {"matched", matched}, {acted_key, acted}, {"leaseExpiredPasses", lease_expired_passes}};
}

nlohmann::json Classifier::stats_json(const std::string& acted_key) const {
  auto st = stats();
  if (!st) return {{"error", st.error().text()}};
  return st->to_json(acted_key);
}

nlohmann::json Classifier::report_json(const std::string& acted_key) const {
  auto mode = attached_ ? std::optional<AttachMode>(attached_->mode) : last_mode_;
  if (!mode) return nullptr;
  auto j = stats_json(acted_key);
  j["attach"] = attach_mode_name(*mode);
  return j;
}

Result<ClassifierStats> Classifier::stats() const {
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return fail_rc(ncpus, "count possible CPUs");
  std::vector<chaos_cls_stats> per_cpu(static_cast<std::size_t>(ncpus));
  const std::uint32_t zero = 0;
  int rc = bpf_map__lookup_elem(skel_->maps.stats, &zero, sizeof zero, per_cpu.data(),
                                per_cpu.size() * sizeof(chaos_cls_stats), 0);
  if (rc < 0) return fail_rc(rc, "read the classifier's counters");
  ClassifierStats s;
  for (const auto& c : per_cpu) {
    s.seen += c.seen;
    s.matched += c.matched;
    s.acted += c.acted;
    s.lease_expired_passes += c.lease_expired_passes;
  }
  return s;
}

Result<AttachRecord> Classifier::attach(int ifindex, const AttachOptions& opts) {
  if (attached_) return fail("classifier already attached: " + attached_->describe(), EBUSY);
  AttachRecord rec;
  rec.netns_path = opts.netns_path;
  auto ns = current_netns_id();
  if (!ns) return wrap(ns.error(), "attach classifier");
  rec.netns_dev = ns->dev;
  rec.netns_ino = ns->ino;
  rec.ifindex = ifindex;
  rec.direction = cfg_.direction;
  rec.prog_name = CHAOS_CLS_PROG_NAME;
  rec.prog_id = prog_id_;

  int nsfd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return fail_errno("attach classifier: open this thread's netns");
  if (netns_fd_ >= 0) ::close(netns_fd_);
  netns_fd_ = nsfd;

  AttachMode mode = opts.mode;
  if (mode == AttachMode::automatic && !tcx_supported()) mode = AttachMode::classic;
  if (mode != AttachMode::classic) {
    auto r = attach_tcx(ifindex, opts, rec);
    if (r || mode == AttachMode::tcx) return r;
    int code = r.error().code;
    if (code != EINVAL && code != EOPNOTSUPP) return r;
    note_tcx_unsupported();
    bpf_log()->info("tcx refused ({}); falling back to a classic tc filter", r.error().text());
  }
  return attach_classic(ifindex, opts, rec);
}

Result<AttachRecord> Classifier::attach_tcx(int ifindex, const AttachOptions& opts,
                                            AttachRecord rec) {
  rec.mode = AttachMode::tcx;
  if (opts.before_change)
    if (auto j = opts.before_change(rec); !j) return wrap(j.error(), "attach " + rec.describe());
  auto fd = tcx_attach(prog_fd(), ifindex, cfg_.direction);
  if (!fd) return std::unexpected(fd.error());
  auto li = bpf_link_info(*fd);
  if (!li) {
    ::close(*fd);
    return wrap(li.error(), "attach " + rec.describe());
  }
  rec.link_id = li->id;
  if (opts.before_change)
    if (auto j = opts.before_change(rec); !j) {
      ::close(*fd);  // the link dies with its only fd
      return wrap(j.error(), "attach " + rec.describe());
    }
  link_fd_ = *fd;
  attached_ = rec;
  bpf_log()->info("attached {} {}", CHAOS_CLS_PROG_NAME, rec.describe());
  return rec;
}

Result<AttachRecord> Classifier::attach_classic(int ifindex, const AttachOptions& opts,
                                                AttachRecord rec) {
  rec.mode = AttachMode::classic;
  auto plan = plan_classic_attach(ifindex, cfg_.direction, opts.classic_prio);
  if (!plan) return std::unexpected(plan.error());
  rec.prio = plan->prio;
  rec.handle = plan->handle;
  // Who owns a clsact made here: its own journal entry when there is a journal, else this record.
  const bool journaled_clsact = opts.clsact_journal.journal != nullptr;
  rec.created_clsact = !journaled_clsact && plan->create_clsact;
  const std::string self_ns = "/proc/self/fd/" + std::to_string(netns_fd_);
  auto roll_back = [&](const Error& e) -> std::unexpected<Error> {
    if (auto u = detach_classic_filter(self_ns, ifindex, cfg_.direction, rec.prio, rec.handle,
                                       /*created_clsact=*/false, rec.prog_id, rec.prog_name);
        !u)
      bpf_log()->error("roll back {}: {}", rec.describe(), u.error().text());
    if (auto c = clsact_.release(); !c) bpf_log()->error("roll back {}: {}", rec.describe(), c.error().text());
    return wrap(e, "attach " + rec.describe());
  };

  // The clsact: joined, or made, journaled as its own entry before that. The filter's intent comes
  // first in effect either way (nothing has changed when it cannot be written): inside acquire()
  // right before the clsact is made (one disk sync covers both intents), or right after a join.
  bool intended = false;
  auto intend_filter = [&]() -> Result<void> {
    intended = true;
    return opts.before_change ? opts.before_change(rec) : Result<void>{};
  };
  auto share = ClsactShare::acquire(ifindex, opts.netns_path, opts.clsact_journal, intend_filter);
  if (!share) return wrap(share.error(), "attach " + rec.describe());
  clsact_ = std::move(*share);
  if (!intended)
    if (auto j = intend_filter(); !j) return roll_back(j.error());
  if (!journaled_clsact) rec.created_clsact = clsact_.made_it();
  if (opts.before_change)
    if (auto j = opts.before_change(rec); !j) return roll_back(j.error());
  if (auto f = classic_add_filter(ifindex, cfg_.direction, prog_fd(), rec.prio, rec.handle,
                                  rec.prog_name);
      !f)
    return roll_back(f.error());
  if (opts.before_change)
    if (auto j = opts.before_change(rec); !j) return roll_back(j.error());
  attached_ = rec;
  bpf_log()->info("attached {} {}", CHAOS_CLS_PROG_NAME, rec.describe());
  return rec;
}

Result<void> Classifier::detach() {
  if (!attached_) return {};
  const AttachRecord rec = *attached_;
  if (rec.mode == AttachMode::tcx) {
    if (link_fd_ >= 0) {
      // Detach explicitly rather than only closing: a dup of the fd (fork) would keep it alive.
      if (int rc = bpf_link_detach(link_fd_); rc < 0 && rc != -ENOLINK && rc != -ENOENT)
        return fail_rc(rc, "detach " + rec.describe());
      ::close(link_fd_);
      link_fd_ = -1;
    }
  } else {
    // The filter only: the clsact goes with the last share of it, whichever filter that is.
    auto r = detach_classic_filter("/proc/self/fd/" + std::to_string(netns_fd_), rec.ifindex,
                                   rec.direction, rec.prio, rec.handle, /*created_clsact=*/false,
                                   rec.prog_id, rec.prog_name);
    if (!r) return r;
    // A clsact that cannot go now stays journaled (the run's end replays it); the filter is gone.
    if (auto c = clsact_.release(); !c) bpf_log()->warn("detach {}: {}", rec.describe(), c.error().text());
  }
  last_mode_ = rec.mode;
  attached_.reset();
  bpf_log()->info("detached {} {}", CHAOS_CLS_PROG_NAME, rec.describe());
  return {};
}

std::optional<AttachRecord> Classifier::release() {
  if (attached_) last_mode_ = attached_->mode;
  clsact_.forget();
  auto r = std::move(attached_);
  attached_.reset();
  return r;
}

}  // namespace chaos::kernel
