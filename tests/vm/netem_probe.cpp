// netem_probe: the measuring tool of the netem vm tests (and bench/netem-fidelity.sh).
//
//   netem_probe server PORT...            UDP echo on every PORT (all addresses) until killed
//   netem_probe client HOST PORT COUNT INTERVAL_MS [WAIT_MS] [--raw] [--start-at MS]
//        COUNT probes, one every INTERVAL_MS, each stamped with CLOCK_MONOTONIC; replies are
//        collected while sending and for WAIT_MS (default 3000) after the last. Prints
//          RTT sent=N recv=R lost=L dup=D loss=P mean=.. sd=.. p50=.. p90=.. p99=.. min=.. max=..
//          kstamped=K umean=..
//        (milliseconds). The round trip is measured with kernel timestamps where the kernel gives
//        them (K probes): from the probe entering the packet scheduler to the reply's receive stamp,
//        minus the time the echo server held the request after its own receive stamp. Guest
//        scheduling noise (software emulation on a loaded host) stays out; umean is the plain
//        user-space mean for comparison. With --raw one line per probe before it: "S SEQ T_SEND_MS RTT_MS"
//        (RTT -1: no reply), T_SEND_MS counted from the first probe, whose CLOCK_MONOTONIC time
//        comes first as "T0 MS". --start-at: the first probe leaves at that CLOCK_MONOTONIC time
//        (ms; now if it has passed), so that flows started apart send at the same moments.
//   netem_probe qdump NETNS_PATH IFNAME   the interface's root qdisc as the kernel dumps it:
//        "kind=K handle=H parent=P options=HEX" (the byte-for-byte comparison of the
//        foreign-root test), or "none"
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/netlink.h"
#include "kernel/qdisc.h"

namespace {

constexpr std::uint32_t kMagic = 0xC4A05E70;

struct Probe {
  std::uint32_t magic;
  std::uint32_t seq;
  std::uint64_t sent_ns;
  std::uint64_t dwell_ns;  // the echo server: from the kernel's receive timestamp to its reply
};

std::uint64_t clock_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}
std::uint64_t now_ns() { return clock_ns(CLOCK_MONOTONIC); }
std::uint64_t ts_ns(const timespec& t) {
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_nsec);
}

int usage() {
  std::fprintf(stderr,
               "usage: netem_probe server PORT...\n"
               "       netem_probe client HOST PORT COUNT INTERVAL_MS [WAIT_MS] [--raw] [--start-at MS]\n"
               "       netem_probe qdump NETNS_PATH IFNAME\n");
  return 2;
}

int server(int argc, char** argv) {
  std::vector<pollfd> fds;
  for (int i = 0; i < argc; ++i) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[i])));
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("bind");
      return 1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    fds.push_back({fd, POLLIN, 0});
  }
  char buf[2048];
  char ctrl[256];
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    for (auto& p : fds) {
      if (!(p.revents & POLLIN)) continue;
      sockaddr_in from{};
      iovec iov{buf, sizeof buf};
      msghdr m{};
      m.msg_name = &from;
      m.msg_namelen = sizeof from;
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = ctrl;
      m.msg_controllen = sizeof ctrl;
      ssize_t n = recvmsg(p.fd, &m, 0);
      if (n <= 0) continue;
      // How long the request sat in this host after the kernel stamped it (the wake-up of this
      // process, mostly): the client subtracts it, so guest scheduling noise stays out of the RTT.
      std::uint64_t rx = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec t{};
          std::memcpy(&t, CMSG_DATA(c), sizeof t);
          rx = ts_ns(t);
        }
      if (n == sizeof(Probe)) {
        Probe pr{};
        std::memcpy(&pr, buf, sizeof pr);
        std::uint64_t now = clock_ns(CLOCK_REALTIME);
        pr.dwell_ns = rx && now > rx && now - rx < 10'000'000'000ull ? now - rx : 0;
        std::memcpy(buf, &pr, sizeof pr);
      }
      sendto(p.fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), m.msg_namelen);
    }
  }
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  double idx = q * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(idx)), hi = static_cast<std::size_t>(std::ceil(idx));
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

int client(int argc, char** argv) {
  if (argc < 4) return usage();
  const char* host = argv[0];
  int port = std::atoi(argv[1]);
  int count = std::atoi(argv[2]);
  double interval_ms = std::atof(argv[3]);
  int wait_ms = 3000;
  bool raw = false;
  std::uint64_t start_at = 0;
  for (int i = 4; i < argc; ++i) {
    if (std::strcmp(argv[i], "--raw") == 0) raw = true;
    else if (std::strcmp(argv[i], "--start-at") == 0 && i + 1 < argc)
      start_at = static_cast<std::uint64_t>(std::atof(argv[++i]) * 1e6);
    else wait_ms = std::atoi(argv[i]);
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("client socket");
    return 1;
  }
  // Kernel timestamps: when the probe entered the packet scheduler (before the tc hook and the
  // qdisc, so netem's delay is inside) and when the reply was received, both CLOCK_REALTIME.
  int tsflags = SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE |
                SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
  bool kts = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &tsflags, sizeof tsflags) == 0;
  std::vector<std::uint64_t> sent(static_cast<std::size_t>(count), 0);
  std::vector<std::uint64_t> tx_ts(static_cast<std::size_t>(count), 0);
  std::vector<double> rtt(static_cast<std::size_t>(count), -1);
  std::vector<double> urtt(static_cast<std::size_t>(count), -1);
  struct Rx {
    int seq;
    std::uint64_t rx_ts;
    std::uint64_t dwell;
  };
  std::vector<Rx> rx_kernel;
  int dup = 0;
  char ctrl[512];
  const std::uint64_t t0 = std::max(now_ns(), start_at);
  const auto interval = static_cast<std::uint64_t>(interval_ms * 1e6);
  auto drain_until = [&](std::uint64_t until) {
    for (;;) {
      std::uint64_t now = now_ns();
      if (now >= until) return;
      pollfd p{fd, POLLIN, 0};
      int ms = static_cast<int>((until - now + 999'999) / 1'000'000);
      if (poll(&p, 1, ms) <= 0) continue;
      if (p.revents & POLLERR) {  // a transmit timestamp on the error queue
        msghdr m{};
        m.msg_control = ctrl;
        m.msg_controllen = sizeof ctrl;
        if (recvmsg(fd, &m, MSG_ERRQUEUE) >= 0) {
          std::uint64_t ts = 0;
          long id = -1;
          for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
              scm_timestamping t{};
              std::memcpy(&t, CMSG_DATA(c), sizeof t);
              ts = ts_ns(t.ts[0]);
            } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) {
              sock_extended_err e{};
              std::memcpy(&e, CMSG_DATA(c), sizeof e);
              if (e.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && e.ee_info == SCM_TSTAMP_SCHED) id = e.ee_data;
            }
          }
          // The first stamp: the packet may pass more schedulers on its way (a bridge port in the
          // switch namespace, after the netem delay), each stamping it again with the same id.
          if (id >= 0 && id < count && ts && !tx_ts[static_cast<std::size_t>(id)]) tx_ts[static_cast<std::size_t>(id)] = ts;
        }
        if (!(p.revents & POLLIN)) continue;
      }
      Probe r{};
      iovec iov{&r, sizeof r};
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = ctrl;
      m.msg_controllen = sizeof ctrl;
      ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
      std::uint64_t at = now_ns();
      // A corrupted probe (netem corrupt) fails the magic or sequence check and is ignored.
      if (n != sizeof r || r.magic != kMagic || r.seq >= static_cast<std::uint32_t>(count) || sent[r.seq] != r.sent_ns)
        continue;
      if (urtt[r.seq] >= 0) {
        ++dup;
        continue;
      }
      urtt[r.seq] = static_cast<double>(at - r.sent_ns) / 1e6;
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
          scm_timestamping t{};
          std::memcpy(&t, CMSG_DATA(c), sizeof t);
          if (ts_ns(t.ts[0])) rx_kernel.push_back({static_cast<int>(r.seq), ts_ns(t.ts[0]), r.dwell_ns});
        }
    }
  };
  for (int i = 0; i < count; ++i) {
    drain_until(t0 + static_cast<std::uint64_t>(i) * interval);
    Probe p{kMagic, static_cast<std::uint32_t>(i), now_ns()};
    sent[static_cast<std::size_t>(i)] = p.sent_ns;
    (void)send(fd, &p, sizeof p, 0);
  }
  drain_until(now_ns() + static_cast<std::uint64_t>(wait_ms) * 1'000'000ull);
  // The network's round trip: kernel receive minus kernel send stamp, minus the server's dwell.
  // Without both kernel stamps, the user-space round trip.
  rtt = urtt;
  int kernel_stamped = 0;
  for (const auto& x : rx_kernel) {
    auto i = static_cast<std::size_t>(x.seq);
    if (!kts || !tx_ts[i] || x.rx_ts <= tx_ts[i]) continue;
    double k = static_cast<double>(x.rx_ts - tx_ts[i] - std::min(x.dwell, x.rx_ts - tx_ts[i])) / 1e6;
    rtt[i] = k;
    ++kernel_stamped;
  }
  double umean = 0;
  int un = 0;
  for (double v : urtt)
    if (v >= 0) umean += v, ++un;
  if (un) umean /= un;
  std::vector<double> got;
  // CLOCK_MONOTONIC of the first probe (the guest has no suspend: /proc/uptime's clock).
  if (raw) std::printf("T0 %.3f\n", static_cast<double>(t0) / 1e6);
  for (int i = 0; i < count; ++i) {
    if (raw)
      std::printf("S %d %.3f %.3f\n", i, static_cast<double>(sent[static_cast<std::size_t>(i)] - t0) / 1e6,
                  rtt[static_cast<std::size_t>(i)]);
    if (rtt[static_cast<std::size_t>(i)] >= 0) got.push_back(rtt[static_cast<std::size_t>(i)]);
  }
  double mean = 0, sd = 0;
  for (double v : got) mean += v;
  if (!got.empty()) mean /= static_cast<double>(got.size());
  for (double v : got) sd += (v - mean) * (v - mean);
  if (got.size() > 1) sd = std::sqrt(sd / static_cast<double>(got.size() - 1));
  double mn = got.empty() ? NAN : *std::min_element(got.begin(), got.end());
  double mx = got.empty() ? NAN : *std::max_element(got.begin(), got.end());
  std::printf("RTT sent=%d recv=%zu lost=%zu dup=%d loss=%.4f mean=%.3f sd=%.3f p50=%.3f p90=%.3f p99=%.3f min=%.3f max=%.3f kstamped=%d umean=%.3f\n",
              count, got.size(), static_cast<std::size_t>(count) - got.size(), dup,
              static_cast<double>(static_cast<std::size_t>(count) - got.size()) / count, mean, sd,
              percentile(got, 0.5), percentile(got, 0.9), percentile(got, 0.99), mn, mx, kernel_stamped, umean);
  return 0;
}

int qdump(int argc, char** argv) {
  if (argc < 2) return usage();
  auto nl = chaos::NetlinkSocket::open_in(argv[0]);
  if (!nl) {
    std::fprintf(stderr, "%s\n", nl.error().text().c_str());
    return 1;
  }
  auto idx = chaos::ifindex_by_name(*nl, argv[1]);
  auto sk = chaos::kernel::TcSocket::open_in(argv[0]);
  if (!idx || !sk) {
    std::fprintf(stderr, "qdump: cannot open %s in %s\n", argv[1], argv[0]);
    return 1;
  }
  auto root = sk->root_qdisc(*idx);
  if (!root) {
    std::fprintf(stderr, "%s\n", root.error().text().c_str());
    return 1;
  }
  if (!*root) {
    std::printf("none\n");
    return 0;
  }
  auto j = (*root)->to_json();
  std::printf("kind=%s handle=%s parent=%s options=%s\n", (*root)->kind.c_str(),
              chaos::kernel::format_tc_handle((*root)->handle).c_str(),
              chaos::kernel::format_tc_handle((*root)->parent).c_str(),
              j.contains("options") ? j["options"].get<std::string>().c_str() : "-");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  if (cmd == "server") return argc > 2 ? server(argc - 2, argv + 2) : usage();
  if (cmd == "client") return client(argc - 2, argv + 2);
  if (cmd == "qdump") return qdump(argc - 2, argv + 2);
  return usage();
}
