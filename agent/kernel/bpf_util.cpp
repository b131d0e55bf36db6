#include "kernel/bpf_util.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>

#include "core/log.h"

namespace chaos::kernel {

namespace {

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[2048];
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  if (n < 0) return 0;
  std::string_view text(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return 0;
  static const auto log = logger("bpf");
  switch (level) {
    case LIBBPF_WARN: log->warn("{}", text); break;
    case LIBBPF_INFO: log->info("{}", text); break;
    default: log->debug("{}", text); break;
  }
  return n;
}

// 1 = yes, 0 = no, -1 = not probed yet.
std::atomic<int> g_tcx{-1};

bool probe_tcx_from_btf() {
  struct btf* btf = btf__load_vmlinux_btf();
  if (!btf) {
    logger("bpf")->debug("no kernel BTF to probe tcx with; auto attach will try it");
    return true;
  }
  bool found = false;
  int id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
  if (id > 0) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); ++i, ++e) {
      const char* name = btf__name_by_offset(btf, e->name_off);
      if (name && std::strcmp(name, "BPF_TCX_EGRESS") == 0) {
        found = e->val == static_cast<int>(kBpfTcxEgress);
        break;
      }
    }
  } else {
    found = true;  // an unexpected BTF shape: let the attach decide
  }
  btf__free(btf);
  return found;
}

}  // namespace

void route_libbpf_logs() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_print); });
}

std::uint64_t monotonic_now_ns() {
  struct timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

bool tcx_supported() {
  int v = g_tcx.load();
  if (v < 0) {
    int probed = probe_tcx_from_btf() ? 1 : 0;
    int expected = -1;
    g_tcx.compare_exchange_strong(expected, probed);
    v = g_tcx.load();
    logger("bpf")->debug("tcx {}", v ? "supported" : "not supported: classic tc attach only");
  }
  return v == 1;
}

void note_tcx_unsupported() { g_tcx.store(0); }

Result<BpfProgInfo> bpf_prog_info(int prog_fd) {
  struct bpf_prog_info info{};
  __u32 len = sizeof info;
  if (int rc = bpf_obj_get_info_by_fd(prog_fd, &info, &len); rc < 0)
    return fail_rc(rc, "read BPF program info (fd " + std::to_string(prog_fd) + ")");
  BpfProgInfo out;
  out.id = info.id;
  out.type = info.type;
  out.name.assign(info.name, strnlen(info.name, sizeof info.name));
  return out;
}

Result<BpfProgInfo> bpf_prog_info_by_id(std::uint32_t id) {
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return fail_rc(fd, "find BPF program id " + std::to_string(id));
  auto info = bpf_prog_info(fd);
  ::close(fd);
  return info;
}

Result<BpfLinkInfo> bpf_link_info(int link_fd) {
  struct bpf_link_info info{};
  __u32 len = sizeof info;
  if (int rc = bpf_obj_get_info_by_fd(link_fd, &info, &len); rc < 0)
    return fail_rc(rc, "read BPF link info (fd " + std::to_string(link_fd) + ")");
  BpfLinkInfo out;
  out.id = info.id;
  out.type = info.type;
  out.prog_id = info.prog_id;
  // The kernel's union member `tcx {__u32 ifindex; __u32 attach_type;}` is missing from
  // libbpf 1.1's uapi copy; it starts where every union member starts, as `netns` does.
  struct {
    __u32 ifindex;
    __u32 attach_type;
  } tcx{};
  static_assert(sizeof(info.netns) >= sizeof(tcx));
  std::memcpy(&tcx, &info.netns, sizeof tcx);
  if (out.type == kBpfLinkTypeTcx) {
    out.tcx_ifindex = tcx.ifindex;
    out.tcx_attach_type = tcx.attach_type;
  }
  return out;
}

}  // namespace chaos::kernel
