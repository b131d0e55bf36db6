// Small libbpf helpers shared by every BPF owner: logging, object info, feature probes.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace chaos::kernel {

// Routes libbpf's print callback into spdlog's "bpf" logger (warnings as warn, info as info,
// debug, i.e. verifier chatter, as debug). Idempotent and thread-safe; every loader calls it.
void route_libbpf_logs();

// CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads, so lease deadlines compare right.
std::uint64_t monotonic_now_ns();

// The kernel's enum bpf_attach_type values for tcx; Debian's libbpf 1.1 headers predate them.
inline constexpr std::uint32_t kBpfTcxIngress = 46;
inline constexpr std::uint32_t kBpfTcxEgress = 47;
inline constexpr std::uint32_t kBpfLinkTypeTcx = 11;

// Does the running kernel have tcx (BPF_TCX_* attach types)? Read once from the kernel's BTF
// (/sys/kernel/btf/vmlinux); when BTF cannot be read the answer is true, so that `auto` tries
// tcx and learns from the kernel's EINVAL instead. note_tcx_unsupported() records such a
// refusal for every later caller.
bool tcx_supported();
void note_tcx_unsupported();

struct BpfProgInfo {
  std::uint32_t id = 0;
  std::uint32_t type = 0;  // BPF_PROG_TYPE_*
  std::string name;        // at most 15 characters (BPF_OBJ_NAME_LEN - 1)
};
Result<BpfProgInfo> bpf_prog_info(int prog_fd);
// ENOENT when no program has that id (any more).
Result<BpfProgInfo> bpf_prog_info_by_id(std::uint32_t id);

struct BpfLinkInfo {
  std::uint32_t id = 0;
  std::uint32_t type = 0;  // BPF_LINK_TYPE_*
  std::uint32_t prog_id = 0;
  // tcx links only (type kBpfLinkTypeTcx): ifindex in the link's own namespace (0 once the
  // device is gone) and kBpfTcxIngress / kBpfTcxEgress.
  std::uint32_t tcx_ifindex = 0;
  std::uint32_t tcx_attach_type = 0;
};
Result<BpfLinkInfo> bpf_link_info(int link_fd);

}  // namespace chaos::kernel
