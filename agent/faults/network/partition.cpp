#include "faults/network/partition.h"

#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "core/log.h"
#include "faults/network/target_plan.h"
#include "kernel/bpf_util.h"
#include "kernel/cgroup.h"
#include "kernel/netns.h"
#include "kernel/netstat.h"

namespace chaos::network {

using kernel::AttachMode;
using kernel::Classifier;
using kernel::ClassifierAction;
using kernel::TcDirection;

kernel::ClassifierConfig classifier_config(const NetworkSpec& spec, TcDirection dir, ClassifierAction action,
                                           std::uint64_t cgroup_id) {
  kernel::ClassifierConfig c;
  c.action = action;
  c.direction = dir;
  c.protocol = static_cast<kernel::ClassifierProtocol>(spec.match.protocol);
  c.ports = spec.match.ports;
  c.cidrs = spec.match.cidrs;
  c.cgroup_id = dir == TcDirection::egress ? cgroup_id : 0;
  return c;
}

Result<void> attach_journaled(Classifier& cls, int ifindex, const std::string& netns_path, AttachMode mode,
                              const FaultContext& ctx, std::uint64_t& journal_seq) {
  kernel::AttachOptions opts;
  opts.mode = mode;
  opts.netns_path = netns_path;
  opts.clsact_journal = {ctx.journal, ctx.run_id};
  nlohmann::json last;
  opts.before_change = [&](const kernel::AttachRecord& rec) -> Result<void> {
    auto now = rec.to_json();
    if (journal_seq == 0) {
      auto seq = ctx.journal->intend(ctx.run_id, kernel::kClassifierJournalKind, now);
      if (!seq) return std::unexpected(seq.error());
      journal_seq = *seq;
      last = now;
      return {};
    }
    if (now == last) return {};
    // A change the undo depends on (clsact ownership, filter handle) must be on disk before the
    // next kernel change; a link id is a detail the undo can do without (it finds links by
    // program id too), so it need not wait for the disk.
    auto strip = [](nlohmann::json j) {
      j.erase("link_id");
      return j;
    };
    bool durable = strip(now) != strip(last);
    last = now;
    return ctx.journal->applied(journal_seq, now, durable);
  };
  auto guard = NetnsGuard::enter(netns_path);
  if (!guard) return std::unexpected(guard.error());
  auto rec = cls.attach(ifindex, opts);
  if (!rec) return std::unexpected(rec.error());
  return {};
}

Result<void> detach_journaled(Classifier& cls, const FaultContext& ctx, std::uint64_t& journal_seq) {
  auto r = cls.detach();
  if (!r) return r;
  if (journal_seq != 0) {
    if (auto j = ctx.journal->reverted(journal_seq); !j) return j;
    journal_seq = 0;
  }
  return {};
}

namespace {


class PartitionFault : public Fault {
 public:
  PartitionFault(const FaultEntry& e, const FaultContext& ctx)
      : entry_(e), spec_(*std::static_pointer_cast<const NetworkSpec>(e.spec)), ctx_(ctx) {}
  ~PartitionFault() override { (void)revert(); }

  Result<std::vector<std::string>> plan() override {
    auto t = resolve_classifier_target(spec_, *ctx_.config);
    if (!t) return std::unexpected(t.error());
    where_ = t->where;
    mode_ = t->mode;
    std::vector<std::string> lines;
    // Loading is the preflight: the verifier accepts the program on this kernel, nothing is attached.
    for (auto d : t->dirs) {
      auto cfg = classifier_config(spec_, d, kernel::ClassifierAction::drop, t->cgroup_id);
      if (auto v = kernel::validate(cfg); !v) return std::unexpected(v.error());
      auto cls = Classifier::load(cfg);
      if (!cls) return wrap(cls.error(), "load the classifier");
      parts_.push_back(Part{d, std::move(*cls), 0});
      lines.push_back(std::string("drop ") + kernel::tc_direction_name(d) + " packets matching " +
                      spec_.to_json()["match"].dump() + " on " + where_.interface + " (ifindex " +
                      std::to_string(where_.ifindex) + ") in " + where_.target.netns.describe + " [" +
                      kernel::attach_mode_name(mode_) + " attach]");
    }
    return lines;
  }

  Result<void> apply() override {
    kernel_ = kernel::NetCounterDelta(where_.target.netns.path);
    kernel_.start();
    auto deadline = kernel::monotonic_now_ns() + static_cast<std::uint64_t>(ctx_.config->lease.count());
    for (auto& p : parts_) {
      if (auto r = p.cls->set_lease_deadline(deadline); !r) return r;
      if (auto r = attach_journaled(*p.cls, where_.ifindex, where_.target.netns.path, mode_, ctx_, p.seq); !r)
        return wrap(r.error(), std::string("attach ") + kernel::tc_direction_name(p.dir));
      ctx_.log->info("run {} fault {}: {}", ctx_.run_id, entry_.name, p.cls->attachment()->describe());
    }
    return {};
  }

  Result<void> renew(std::uint64_t deadline) override {
    for (auto& p : parts_)
      if (auto r = p.cls->set_lease_deadline(deadline); !r) return r;
    return {};
  }

  Result<void> revert() override {
    kernel_.freeze();
    Result<void> first{};
    for (auto& p : parts_) {
      if (!p.cls) continue;
      auto r = detach_journaled(*p.cls, ctx_, p.seq);
      if (!r && first) first = r;
    }
    return first;
  }

  nlohmann::json sample() override {
    nlohmann::json s = nlohmann::json::object();
    for (auto& p : parts_)
      if (p.cls->attachment()) s[kernel::tc_direction_name(p.dir)] = p.cls->stats_json("dropped");
    if (auto k = kernel_.delta(); !k.is_null()) s["kernel"] = k;
    return s;
  }

  nlohmann::json observe() const override {
    nlohmann::json o{{"action", "partition"}, {"interface", where_.interface}, {"netns", where_.target.netns.describe}};
    // The namespace's TCP/UDP counters, from apply to revert: how far the damage spread.
    if (auto k = kernel_.result(); !k.is_null()) o["kernel"] = k;
    for (auto& p : parts_)
      if (auto j = p.cls ? p.cls->report_json("dropped") : nullptr; !j.is_null()) o[kernel::tc_direction_name(p.dir)] = j;
    return o;
  }

 private:
  struct Part {
    TcDirection dir;
    std::unique_ptr<Classifier> cls;
    std::uint64_t seq = 0;
  };
  FaultEntry entry_;
  NetworkSpec spec_;
  FaultContext ctx_;
  ResolvedInterface where_;
  AttachMode mode_ = AttachMode::automatic;
  std::vector<Part> parts_;
  kernel::NetCounterDelta kernel_;
};

}  // namespace

Result<std::unique_ptr<Fault>> make_partition(const FaultEntry& entry, const FaultContext& ctx) {
  return std::unique_ptr<Fault>(new PartitionFault(entry, ctx));
}

}  // namespace chaos::network
