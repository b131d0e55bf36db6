// vm_bpf_probe: a small libbpf client that runs inside the vm tier's guest (Debian's 6.1 kernel) to
// prove what the agent relies on there: BPF loads, a classic tc (clsact + cls_bpf) attach takes
// effect and outlives the process, and tcx links are refused (tcx arrived in 6.6). It is built like
// the agent (C++23, Debian's libbpf, libstdc++), so running it in the guest also proves that the
// guest userspace the harness builds can run the project's binaries.
//
//   vm_bpf_probe attach-drop IFNAME   classic tc: clsact + a direct-action program that drops every
//                                     packet on IFNAME's ingress; prints the program id
//   vm_bpf_probe detach IFNAME        removes the clsact qdisc (and with it the filter)
//   vm_bpf_probe tcx IFNAME           tries a tcx egress link; exit 0 attached, 3 refused with
//                                     EINVAL (kernel without tcx), 1 any other failure
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

// Not in Debian 12's uapi headers: tcx is newer than them. Values from linux/bpf.h (6.6+).
constexpr int kBpfTcxEgress = 47;

// r0 = verdict; exit. Raw instructions keep the probe free of clang/skeleton build steps.
int load_verdict_prog(int verdict) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0,
       .imm = verdict},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  char log[4096] = {};
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_level = 1, .log_size = sizeof log, .log_buf = log);
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "vm_probe", "GPL", insns, 2, &opts);
  if (fd < 0) std::fprintf(stderr, "bpf_prog_load: %s (verifier: %s)\n", std::strerror(-fd), log);
  return fd;
}

unsigned ifindex_of(const char* name) {
  unsigned idx = if_nametoindex(name);
  if (idx == 0) std::fprintf(stderr, "no interface %s: %s\n", name, std::strerror(errno));
  return idx;
}

int attach_drop(const char* ifname) {
  unsigned idx = ifindex_of(ifname);
  if (idx == 0) return 1;
  int prog = load_verdict_prog(TC_ACT_SHOT);
  if (prog < 0) return 1;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(idx), .attach_point = BPF_TC_INGRESS);
  int rc = bpf_tc_hook_create(&hook);
  if (rc < 0 && rc != -EEXIST) {
    std::fprintf(stderr, "bpf_tc_hook_create(%s): %s\n", ifname, std::strerror(-rc));
    return 1;
  }
  LIBBPF_OPTS(bpf_tc_opts, tc, .prog_fd = prog, .handle = 1, .priority = 1);
  rc = bpf_tc_attach(&hook, &tc);
  if (rc < 0) {
    std::fprintf(stderr, "bpf_tc_attach(%s): %s\n", ifname, std::strerror(-rc));
    return 1;
  }
  std::printf("attached prog id %u to %s ingress (classic tc)\n", tc.prog_id, ifname);
  return 0;
}

int detach(const char* ifname) {
  unsigned idx = ifindex_of(ifname);
  if (idx == 0) return 1;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(idx),
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int rc = bpf_tc_hook_destroy(&hook);
  if (rc < 0) {
    std::fprintf(stderr, "bpf_tc_hook_destroy(%s): %s\n", ifname, std::strerror(-rc));
    return 1;
  }
  std::printf("removed clsact from %s\n", ifname);
  return 0;
}

int tcx(const char* ifname) {
  unsigned idx = ifindex_of(ifname);
  if (idx == 0) return 1;
  int prog = load_verdict_prog(TC_ACT_OK);
  if (prog < 0) return 1;
  int link = bpf_link_create(prog, static_cast<int>(idx), static_cast<bpf_attach_type>(kBpfTcxEgress),
                             nullptr);
  if (link >= 0) {
    std::printf("tcx: attached (link fd %d); detaches when this process exits\n", link);
    return 0;
  }
  if (link == -EINVAL) {
    std::printf("tcx: refused with EINVAL (kernel without tcx)\n");
    return 3;
  }
  std::fprintf(stderr, "tcx: bpf_link_create: %s\n", std::strerror(-link));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s attach-drop|detach|tcx IFNAME\n", argv[0]);
    return 2;
  }
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  std::string_view cmd = argv[1];
  if (cmd == "attach-drop") return attach_drop(argv[2]);
  if (cmd == "detach") return detach(argv[2]);
  if (cmd == "tcx") return tcx(argv[2]);
  std::fprintf(stderr, "unknown command %s\n", argv[1]);
  return 2;
}
