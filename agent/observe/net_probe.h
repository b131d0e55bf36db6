// The probes whose sample is one request from a NetTarget's network namespace (http, tcp,
// prometheus): one OpenLoopProbe body, so each kind says only how to make one request and how
// its plan line begins.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/units.h"
#include "kernel/target.h"
#include "observe/open_loop.h"

namespace chaos {

// Spec: a ProbeSpec with a `NetTarget target` member.
//   once(spec, timeout): one request, in the calling thread's namespace (latency and verdict set;
//     the start time is the probe's to stamp).
//   describe(spec): the head of the plan line ("GET http://198.18.0.20:8080/"); " every 100ms
//     (timeout 1s) from <namespace>" is added.
//   what: what a request is called in the saturation message ("requests", "connections").
template <class Spec>
struct NetProbeKind {
  const char* name;
  ProbeSpecParser parse;
  ProbeSample (*once)(const Spec&, Duration);
  std::string (*describe)(const Spec&);
  const char* what;
};

template <class Spec>
class NetProbe : public OpenLoopProbe {
 public:
  NetProbe(const ProbeEntry& e, const NetProbeKind<Spec>& k)
      : OpenLoopProbe(e.interval, k.what), entry_(e), spec_(*std::static_pointer_cast<const Spec>(e.spec)), kind_(k) {}
  ~NetProbe() override { stop(); }

  Result<std::vector<std::string>> plan() override {
    auto ns = resolve_net_target(spec_.target);
    if (!ns) return std::unexpected(ns.error());
    set_netns(ns->netns.path);
    return std::vector<std::string>{kind_.describe(spec_) + " every " + format_duration(entry_.interval) +
                                    " (timeout " + format_duration(entry_.timeout) + ") from " +
                                    ns->netns.describe};
  }

 private:
  // Open loop (OpenLoopProbe): a request starts every interval whether or not earlier ones have
  // answered, on a short-lived thread inside the target namespace.
  void fire(Duration t) override {
    ProbeSample s = kind_.once(spec_, entry_.timeout);
    s.t = t;
    record(s);
  }

  ProbeEntry entry_;
  Spec spec_;
  NetProbeKind<Spec> kind_;
};

template <class Spec>
ProbeKind net_probe_kind(const NetProbeKind<Spec>& k) {
  return ProbeKind{k.name, k.parse, [k](const ProbeEntry& e) -> Result<std::unique_ptr<Probe>> {
                     return std::unique_ptr<Probe>(new NetProbe<Spec>(e, k));
                   }};
}

}  // namespace chaos
