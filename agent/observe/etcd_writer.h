// The etcdWriter probe: puts keys with sequence numbers at a fixed rate (the entry's interval)
// through etcd's JSON gateway, recording each put's latency and error like any probe, and,
// after the run, reads every acknowledged write back from every member.
//
//   steadyState:
//     - name: writes
//       interval: 50ms             # one put every 50ms, open loop
//       timeout: 500ms             # a put not acknowledged by then is an error (and "ambiguous")
//       checkIn: [before, after]
//       tolerance: {maxErrorRate: 0%}
//       etcdWriter:
//         endpoints: [http://198.18.0.31:2379, http://198.18.0.32:2379, http://198.18.0.33:2379]
//         lab: client              # netns | pid | lab: where the writes come from (none: the host)
//         prefix: /chaos-agent/writer/   # keys are PREFIX<token>/<seq, 10 digits>
//         readBack: true           # the consistency check (default true)
//         readBackTimeout: 10s     # how long one member may stay unreadable after the run
//         cleanup: true            # delete the probe's keys after the check (default true)
//
// Like a real client it fails over: a put that fails moves the writer on to the next endpoint.
// The read-back is linearizable through each member's own client URL (a read index from the
// leader, then that member's store once it has applied that far), so a member that merely lags
// is waited for, and a write missing there is missing from that member's state machine.
#pragma once

#include <string>
#include <vector>

#include "core/net_target.h"
#include "observe/etcd_client.h"
#include "observe/probe.h"

namespace chaos {

struct EtcdWriterSpec : ProbeSpec {
  std::vector<etcd::EtcdUrl> endpoints;
  NetTarget target;
  std::string prefix = "/chaos-agent/writer/";
  bool read_back = true;
  Duration read_back_timeout{std::chrono::seconds(10)};
  bool cleanup = true;
  nlohmann::json to_json() const override;
};

std::shared_ptr<const ProbeSpec> parse_etcd_writer_probe(MapReader& r);
ProbeKind etcd_writer_probe_kind();

// The consistency check's arithmetic, separate from the I/O (unit-tested).
struct ReadBackInput {
  std::vector<std::uint64_t> acknowledged;  // sequence numbers etcd acknowledged
  std::vector<std::uint64_t> ambiguous;     // sent, never answered (may or may not be there)
  // Per member: its name and the (seq, value) pairs read back, or the error that prevented it.
  struct Member {
    std::string name;
    bool read = false;
    std::string error;
    std::vector<std::pair<std::uint64_t, std::string>> found;
  };
  std::vector<Member> members;
};
// {"acknowledged", "ambiguous", "ambiguousPresent", "lost", "lostSeqs" (first 20), "unexpected",
//  "perMember": {name: {found, missing, wrongValue, ambiguousFound, unexpected}}, "violations": [...]}.
// Jepsen's rule: every acknowledged write must be on every member with its value (else it is
// lost); an indeterminate write (sent, never answered) may be present or absent; anything present
// must have been sent, with the value sent (else it is unexpected). A member that could not be
// read at all is a violation of its own.
nlohmann::json evaluate_read_back(const ReadBackInput& in);

// The value the writer stores for a sequence number.
std::string etcd_writer_value(std::uint64_t seq);

}  // namespace chaos
