// The gpu fault against the fake driver (CI has no GPU): the session's memory steps and SM load,
// every error path with its cleanup, the worker process (fork, lease, crash), and the fault's
// plan/apply/renew/sample/observe/revert with its journal entries and their undo.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/journal.h"
#include "faults/gpu/config.h"
#include "faults/gpu/fake_driver.h"
#include "faults/gpu/fatbin.h"
#include "faults/gpu/gpu_fault.h"
#include "faults/gpu/gpu_worker.h"
#include "faults/gpu/session.h"

namespace chaos::gpu {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::uint64_t MiB = 1ull << 20;
constexpr std::uint64_t GiB = 1ull << 30;

// Any bytes do for the fake; the real fatbin when this build has one.
const std::vector<std::uint8_t> kFakeImage{0x50, 0xed, 0x55, 0xba};
std::span<const std::uint8_t> image() {
  return kernels_built() ? embedded_fatbin() : std::span<const std::uint8_t>(kFakeImage);
}

SessionConfig memory_cfg(MemoryRequest req, std::uint64_t step = 2 * GiB) {
  SessionConfig c;
  c.memory = req;
  c.step_bytes = step;
  return c;
}

SessionConfig load_cfg(int sms, double duty, std::uint64_t period_ns = 20'000'000) {
  SessionConfig c;
  c.load_sms = true;
  c.sm = SmRequest{SmRequest::Mode::count, sms, 0};
  c.duty = duty;
  c.period_ns = period_ns;
  c.fatbin = image();
  c.sm_settle_ns = 200'000'000;
  return c;
}

FakeDriverConfig small_gpu(int sms = 8) {
  FakeDriverConfig f;
  f.gpus[0].sms = sms;
  return f;
}

// ---------------------------------------------------------------- session: memory

TEST(GpuSession, HoldsExactBytesInGranularitySteps) {
  auto drv = std::make_shared<FakeDriver>(FakeDriverConfig{});
  {
    GpuSession s(drv, memory_cfg({MemoryRequest::Mode::bytes, 5 * GiB, 0}));
    ASSERT_TRUE(s.open());
    auto r = s.hold_memory();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(s.report().bytes_target, 5 * GiB);
    EXPECT_EQ(s.report().bytes_held, 5 * GiB);
    EXPECT_EQ(s.report().steps, 3u);
    EXPECT_EQ(s.report().granularity, 2 * MiB);
    EXPECT_THAT(drv->create_sizes(), ElementsAre(2 * GiB, 2 * GiB, 1 * GiB));
    EXPECT_EQ(drv->bytes_memset(), 5 * GiB) << "every byte written once, so it is resident";
    EXPECT_EQ(drv->live().bytes_created, 5 * GiB);
    EXPECT_EQ(drv->live().mappings, 3u);
    EXPECT_EQ(drv->live().reservations, 1u) << "one address range for the whole target";
    ASSERT_TRUE(s.stop());
    EXPECT_TRUE(s.report().released);
    EXPECT_EQ(s.report().bytes_held, 5 * GiB) << "the report keeps what was held";
  }
  EXPECT_TRUE(drv->live().clean()) << drv->live().str();
}

TEST(GpuSession, FractionAndLeaveAreSizedOnTheGpu) {
  FakeDriverConfig f;
  f.gpus[0].total_bytes = 100 * GiB;
  f.gpus[0].free_bytes = 80 * GiB;
  {
    auto drv = std::make_shared<FakeDriver>(f);
    GpuSession s(drv, memory_cfg({MemoryRequest::Mode::fraction, 0, 0.5}));
    ASSERT_TRUE(s.open());
    ASSERT_TRUE(s.hold_memory());
    EXPECT_EQ(s.report().bytes_held, 50 * GiB);
  }
  {
    auto drv = std::make_shared<FakeDriver>(f);
    GpuSession s(drv, memory_cfg({MemoryRequest::Mode::leave, 10 * GiB, 0}));
    ASSERT_TRUE(s.open());
    ASSERT_TRUE(s.hold_memory());
    EXPECT_EQ(s.report().bytes_held, 70 * GiB);
    std::size_t free = 0, total = 0;
    drv->mem_get_info(&free, &total);
    EXPECT_EQ(free, 10 * GiB) << "leave: exactly that much stays free";
  }
}

TEST(GpuSession, GuardrailIsCheckedOnTheGpuToo) {
  auto drv = std::make_shared<FakeDriver>(FakeDriverConfig{});
  auto c = memory_cfg({MemoryRequest::Mode::fraction, 0, 0.9});
  c.max_memory_fraction = 0.5;
  GpuSession s(drv, c);
  ASSERT_TRUE(s.open());
  auto r = s.hold_memory();
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("GPU 0: memory: holding 126GiB (90% of 140GiB) is above the agent's "
                                           "max_gpu_memory_fraction 50%"));
  EXPECT_EQ(drv->calls("mem_create"), 0);
}

TEST(GpuSession, OutOfMemoryMidFillGivesEverythingBack) {
  auto drv = std::make_shared<FakeDriver>(FakeDriverConfig{}.fail("mem_create", kCuErrorOutOfMemory, 3));
  {
    GpuSession s(drv, memory_cfg({MemoryRequest::Mode::bytes, 6 * GiB, 0}));
    ASSERT_TRUE(s.open());
    auto r = s.hold_memory();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "GPU 0: cuMemCreate 2GiB at 4GiB of 6GiB: CUDA_ERROR_OUT_OF_MEMORY (out of memory)");
    EXPECT_EQ(r.error().code, ENOMEM);
    EXPECT_STREQ(s.report().error, r.error().message.c_str());
    EXPECT_EQ(s.report().cuda_error, kCuErrorOutOfMemory);
    EXPECT_EQ(s.report().bytes_held, 4 * GiB);
    ASSERT_TRUE(s.stop());
  }
  EXPECT_TRUE(drv->live().clean()) << drv->live().str();
}

// A failure at any step of the fill leaves nothing behind.
class GpuSessionFillFailure : public ::testing::TestWithParam<std::string> {};
TEST_P(GpuSessionFillFailure, CleansUp) {
  auto drv = std::make_shared<FakeDriver>(FakeDriverConfig{}.fail(GetParam(), kCuErrorUnknown, 2));
  {
    GpuSession s(drv, memory_cfg({MemoryRequest::Mode::bytes, 5 * GiB, 0}));
    ASSERT_TRUE(s.open());
    auto r = s.hold_memory();
    if (GetParam() == "mem_address_reserve" || GetParam() == "ctx_synchronize") {
      // Called once per fill: the second call never comes.
      ASSERT_TRUE(r) << r.error().message;
    } else {
      ASSERT_FALSE(r);
      EXPECT_THAT(r.error().message, HasSubstr("CUDA_ERROR_UNKNOWN"));
    }
  }
  EXPECT_TRUE(drv->live().clean()) << GetParam() << ": " << drv->live().str();
}
INSTANTIATE_TEST_SUITE_P(EveryStep, GpuSessionFillFailure,
                         ::testing::Values("mem_create", "mem_map", "mem_set_access", "memset_d8",
                                           "mem_address_reserve", "ctx_synchronize"));

TEST(GpuSession, FirstCallFailuresCleanUpToo) {
  for (std::string call : {"mem_address_reserve", "mem_create", "mem_map", "mem_set_access", "memset_d8",
                           "ctx_synchronize", "mem_granularity"}) {
    auto drv = std::make_shared<FakeDriver>(FakeDriverConfig{}.fail(call, kCuErrorUnknown, 1));
    {
      GpuSession s(drv, memory_cfg({MemoryRequest::Mode::bytes, 5 * GiB, 0}));
      ASSERT_TRUE(s.open());
      EXPECT_FALSE(s.hold_memory()) << call;
    }
    EXPECT_TRUE(drv->live().clean()) << call << ": " << drv->live().str();
  }
}

TEST(GpuSession, NoDeviceNoSuchDeviceNoVmm) {
  {
    FakeDriverConfig f;
    f.init_result = kCuErrorNoDevice;
    auto drv = std::make_shared<FakeDriver>(f);
    GpuSession s(drv, memory_cfg({MemoryRequest::Mode::bytes, GiB, 0}));
    auto r = s.open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "GPU 0: cuInit: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)");
  }
  {
    auto drv = std::make_shared<FakeDriver>(FakeDriverConfig{});
    auto c = memory_cfg({MemoryRequest::Mode::bytes, GiB, 0});
    c.device = 1;
    GpuSession s(drv, c);
    auto r = s.open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "GPU 1: no such GPU, this node has 1");
  }
  {
    FakeDriverConfig f;
    f.gpus[0].vmm = false;
    auto drv = std::make_shared<FakeDriver>(f);
    {
      GpuSession s(drv, memory_cfg({MemoryRequest::Mode::bytes, GiB, 0}));
      auto r = s.open();
      ASSERT_FALSE(r);
      EXPECT_THAT(r.error().message, HasSubstr("no virtual memory management"));
    }
    EXPECT_TRUE(drv->live().clean());
  }
  {
    FakeDriverConfig f;
    f.gpus[0].compute_mode = kComputeModeProhibited;
    auto drv = std::make_shared<FakeDriver>(f);
    GpuSession s(drv, memory_cfg({MemoryRequest::Mode::bytes, GiB, 0}));
    auto r = s.open();
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("cuDevicePrimaryCtxRetain: CUDA_ERROR_DEVICE_UNAVAILABLE"));
  }
}

// ---------------------------------------------------------------- session: SM load

TEST(GpuSession, PersistentLoadOnExactlyKSms) {
  auto drv = std::make_shared<FakeDriver>(small_gpu(8));
  {
    GpuSession s(drv, load_cfg(4, 1.0));
    ASSERT_TRUE(s.open());
    auto r = s.start_load(monotonic_ns() + 5'000'000'000ull);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(s.report().sm_target, 4);
    EXPECT_EQ(s.report().sm_busy, 4);
    EXPECT_THAT(s.report().sm_ids(), ElementsAre(0, 1, 2, 3));
    EXPECT_NE(s.report().clock_offset_ns, 0) << "the GPU clock was related to CLOCK_MONOTONIC";
    EXPECT_NEAR(static_cast<double>(s.report().clock_offset_ns), 1.7e18, 1e7);
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(s.tick(monotonic_ns()));
    s.refresh();
    EXPECT_EQ(drv->bursts_launched(), 1) << "100% is one launch that runs until the lease or stop";
    EXPECT_GT(drv->last_shared_bytes(), 228u * 1024 / 2) << "more than half an SM's shared memory: one block per SM";
    EXPECT_EQ(s.report().shared_bytes_per_block, 115 * 1024);
    EXPECT_NEAR(s.report().duty_achieved, 1.0, 0.01);
    ASSERT_TRUE(s.stop());
  }
  EXPECT_TRUE(drv->live().clean()) << drv->live().str();
}

// duty_achieved over n whole periods (the first burst's start to the last's) when b bursts were
// launched and k periods skipped: the fake's bursts run exactly on_ns = duty * period, and a period
// the host missed (the ticking thread not scheduled) holds no burst. So the duty is
// duty * (b - 1) / (b - 1 + k), give or take one period of launch lateness and one skip after the
// last burst: the test judges the measurement against the session's own counters, not against
// how well this machine kept up.
double duty_expected(double duty, std::uint64_t bursts, std::uint64_t skipped) {
  double launched = static_cast<double>(bursts) - 1;
  return launched <= 0 ? -1 : duty * launched / (launched + static_cast<double>(skipped));
}

TEST(GpuSession, DutyCycleIsMeasuredOnTheGpuClock) {
  auto drv = std::make_shared<FakeDriver>(small_gpu(8));
  GpuSession s(drv, load_cfg(3, 0.5, 20'000'000));
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.start_load(monotonic_ns() + 60'000'000'000ull));
  // 20 periods counted (launched or skipped) after the first burst, however long that takes.
  auto until = std::chrono::steady_clock::now() + 30s;
  while (s.report().bursts + s.report().bursts_skipped < 21 && std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(s.tick(monotonic_ns()));
    std::this_thread::sleep_for(1ms);
  }
  s.refresh();
  const auto& rep = s.report();
  ASSERT_GE(rep.bursts + rep.bursts_skipped, 21u) << "30 s for 20 periods of 20 ms";
  EXPECT_EQ(rep.sm_busy, 3);
  ASSERT_GE(rep.bursts, 2u) << "a launch follows every tick that finds the GPU idle";
  std::cout << "bursts " << rep.bursts << ", periods skipped (the host too slow) " << rep.bursts_skipped << ", duty "
            << rep.duty_achieved << "\n";
  // Never above the asked duty: no burst starts early and each runs exactly on_ns.
  EXPECT_LE(rep.duty_achieved, 0.5 + 0.02);
  // One period of 20+ is 5%; 0.05 also absorbs a launch preempted between its tick and the driver.
  EXPECT_NEAR(rep.duty_achieved, duty_expected(0.5, rep.bursts, rep.bursts_skipped), 0.05);
  EXPECT_LE(rep.duty_min, rep.duty_max);
  ASSERT_TRUE(s.stop());
}

TEST(GpuSession, SmIdsAreWhatTheBlocksSaw) {
  FakeDriverConfig f = small_gpu(6);
  f.gpus[0].sm_ids = {1, 3, 5, 7, 9, 11};  // %smid need not be dense
  auto drv = std::make_shared<FakeDriver>(f);
  GpuSession s(drv, load_cfg(3, 1.0));
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.start_load(monotonic_ns() + 5'000'000'000ull));
  EXPECT_THAT(s.report().sm_ids(), ElementsAre(1, 3, 5));
}

TEST(GpuSession, FewerSmsThanAskedIsAFailureNotAShortRun) {
  FakeDriverConfig f = small_gpu(8);
  f.gpus[0].sm_ids = {0, 1, 2};  // other work holds the rest
  auto drv = std::make_shared<FakeDriver>(f);
  {
    GpuSession s(drv, load_cfg(5, 1.0));
    ASSERT_TRUE(s.open());
    auto r = s.start_load(monotonic_ns() + 5'000'000'000ull);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "GPU 0: the load kernel claimed only 3 of 5 SMs within 200ms");
    ASSERT_TRUE(s.stop());
  }
  EXPECT_TRUE(drv->live().clean()) << drv->live().str();
}

TEST(GpuSession, MoreSmsThanTheGpuHasIsAnError) {
  auto drv = std::make_shared<FakeDriver>(small_gpu(8));
  GpuSession s(drv, load_cfg(9, 1.0));
  ASSERT_TRUE(s.open());
  auto r = s.start_load(monotonic_ns() + 5'000'000'000ull);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "GPU 0: sm.count 9: the GPU has only 8 SMs");
  EXPECT_EQ(drv->calls("launch_kernel"), 0);
}

TEST(GpuSession, KernelFailureWhileRunningIsReported) {
  auto drv = std::make_shared<FakeDriver>(small_gpu(8).fail("stream_query", kCuErrorLaunchFailed, 3));
  {
    GpuSession s(drv, load_cfg(2, 0.5));
    ASSERT_TRUE(s.open());
    ASSERT_TRUE(s.start_load(monotonic_ns() + 5'000'000'000ull));
    Result<void> r;
    for (int i = 0; i < 10 && r; ++i) r = s.tick(monotonic_ns());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "GPU 0: the SM load kernel failed (cuStreamQuery): CUDA_ERROR_LAUNCH_FAILED (unspecified launch failure)");
    EXPECT_EQ(s.report().cuda_error, kCuErrorLaunchFailed);
  }
  EXPECT_TRUE(drv->live().clean()) << drv->live().str();
}

TEST(GpuSession, LaunchAndLoadFailures) {
  {
    FakeDriverConfig f = small_gpu(8);
    f.gpus[0].cc_major = 7;
    f.gpus[0].cc_minor = 5;
    auto drv = std::make_shared<FakeDriver>(f);
    {
      GpuSession s(drv, load_cfg(2, 1.0));
      ASSERT_TRUE(s.open());
      auto r = s.start_load(monotonic_ns() + 1'000'000'000ull);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().message,
                "GPU 0: cuModuleLoadData (stress kernels): CUDA_ERROR_NO_BINARY_FOR_GPU (fake driver error)");
    }
    EXPECT_TRUE(drv->live().clean()) << drv->live().str();
  }
  {
    // launch 1-5 calibrate the clock, 6 is the first burst.
    auto drv = std::make_shared<FakeDriver>(small_gpu(8).fail("launch_kernel", kCuErrorInvalidValue, 6));
    {
      GpuSession s(drv, load_cfg(2, 1.0));
      ASSERT_TRUE(s.open());
      auto r = s.start_load(monotonic_ns() + 1'000'000'000ull);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().message, "GPU 0: launch chaos_gpu_burn: CUDA_ERROR_INVALID_VALUE (fake driver error)");
    }
    EXPECT_TRUE(drv->live().clean()) << drv->live().str();
  }
  {
    auto drv = std::make_shared<FakeDriver>(small_gpu(8));
    auto c = load_cfg(2, 1.0);
    c.fatbin = {};
    GpuSession s(drv, c);
    ASSERT_TRUE(s.open());
    auto r = s.start_load(monotonic_ns() + 1'000'000'000ull);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("this build has no GPU kernels"));
  }
}

TEST(GpuSession, KernelsStopAtTheLeaseDeadlineInHostMemory) {
  auto drv = std::make_shared<FakeDriver>(small_gpu(8));
  GpuSession s(drv, load_cfg(2, 1.0));
  ASSERT_TRUE(s.open());
  // 1 s: the kernel must still be running when start_load returns, however slowly it got there.
  const std::uint64_t deadline = monotonic_ns() + 1'000'000'000ull;
  ASSERT_TRUE(s.start_load(deadline));
  EXPECT_EQ(drv->stream_query(nullptr), kCuErrorNotReady);
  while (monotonic_ns() < deadline + 50'000'000ull) std::this_thread::sleep_for(10ms);
  // Nobody renewed: the (simulated) kernel saw the deadline pass and returned.
  EXPECT_EQ(drv->stream_query(nullptr), kCuSuccess);
  ASSERT_TRUE(s.tick(monotonic_ns()));
  EXPECT_EQ(s.report().relaunches, 0u) << "past the deadline nothing is started again";
}

// ---------------------------------------------------------------- the worker process

struct SpawnedWorker {
  SharedPage<WorkerPage> page;
  std::optional<Worker> worker;
};

// The default lease is long: tests that stop the worker themselves must not race its lapse.
SpawnedWorker spawn(const SessionConfig& cfg, FakeDriverConfig fake, std::uint64_t lease_ns = 60'000'000'000ull) {
  SpawnedWorker w;
  w.page = std::move(*SharedPage<WorkerPage>::create());
  WorkerParams p;
  p.session = cfg;
  p.status_interval_ns = 10'000'000;
  p.driver = [fake]() -> Result<std::shared_ptr<CudaDriver>> { return std::make_shared<FakeDriver>(fake); };
  WorkerOptions o;
  o.name = "chaos-gpu-test";
  o.deadline_ns = monotonic_ns() + lease_ns;
  WorkerPage* page = w.page.get();
  auto spawned = Worker::spawn(o, [page, p](WorkerControl& ctl) { return run_gpu_worker(ctl, page, p); });
  EXPECT_TRUE(spawned) << spawned.error().message;
  w.worker.emplace(std::move(*spawned));
  EXPECT_TRUE(w.worker->release());
  return w;
}

// Both waits return as soon as the worker gets there: long timeouts cost nothing when it does.
WorkerSnapshot wait_phase(const SpawnedWorker& w, std::initializer_list<WorkerPhase> phases,
                          std::chrono::milliseconds timeout = 30s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto s = read_page(w.page.get());
    for (auto p : phases)
      if (s.phase == p) return s;
    if (std::chrono::steady_clock::now() > until) return s;
    std::this_thread::sleep_for(2ms);
  }
}

int wait_exit(SpawnedWorker& w, std::chrono::milliseconds timeout = 30s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!w.worker->poll() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
  EXPECT_TRUE(w.worker->exited()) << "worker still running";
  return w.worker->status().value_or(-1);
}

TEST(GpuWorker, HoldsLoadsReportsAndStopsOnRequest) {
  SessionConfig c = load_cfg(4, 1.0);
  c.memory = MemoryRequest{MemoryRequest::Mode::bytes, 3 * GiB, 0};
  auto w = spawn(c, small_gpu(8));
  auto s = wait_phase(w, {WorkerPhase::running, WorkerPhase::failed});
  ASSERT_EQ(s.phase, WorkerPhase::running) << s.report.error;
  EXPECT_EQ(s.report.bytes_held, 3 * GiB);
  EXPECT_EQ(s.report.sm_busy, 4);
  EXPECT_TRUE(process_alive(w.worker->identity()));
  w.worker->request_stop();
  int st = wait_exit(w);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == kWorkerExitStopped) << describe_wait_status(st);
  s = read_page(w.page.get());
  EXPECT_EQ(s.phase, WorkerPhase::stopped);
  EXPECT_TRUE(s.report.released);
}

TEST(GpuWorker, StopsByItselfWhenTheLeaseLapses) {
  // 2 s: long enough to reach running after the fork on a loaded machine.
  const std::uint64_t lease = 2'000'000'000ull, spawned_at = monotonic_ns();
  auto w = spawn(load_cfg(2, 1.0), small_gpu(8), lease);
  ASSERT_EQ(wait_phase(w, {WorkerPhase::running}).phase, WorkerPhase::running);
  int st = wait_exit(w, 30s);  // nobody renews
  ASSERT_TRUE(w.worker->exited());
  const std::uint64_t gone_at = monotonic_ns();
  EXPECT_GE(gone_at, spawned_at + lease) << "it ended before its lease did";
  // And soon after it: a worker that ignored its lease would run until this test killed it.
  EXPECT_LT(gone_at, spawned_at + lease + 10'000'000'000ull);
  // Either it noticed and gave everything back, or the lease timer's SIGKILL got there first;
  // both end the load, and the driver frees whatever a killed process held.
  EXPECT_TRUE((WIFEXITED(st) && WEXITSTATUS(st) == kWorkerExitExpired) ||
              (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
      << describe_wait_status(st);
}

TEST(GpuWorker, DriverMissingInTheChildIsReported) {
  SpawnedWorker w;
  w.page = std::move(*SharedPage<WorkerPage>::create());
  WorkerParams p;
  p.session = memory_cfg({MemoryRequest::Mode::bytes, GiB, 0});
  p.driver = []() -> Result<std::shared_ptr<CudaDriver>> { return fail("no NVIDIA driver (libcuda.so.1 not found)"); };
  WorkerOptions o;
  o.name = "chaos-gpu-test";
  o.deadline_ns = monotonic_ns() + 5'000'000'000ull;
  WorkerPage* page = w.page.get();
  w.worker.emplace(std::move(*Worker::spawn(o, [page, p](WorkerControl& ctl) { return run_gpu_worker(ctl, page, p); })));
  ASSERT_TRUE(w.worker->release());
  int st = wait_exit(w);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == kWorkerExitFailed);
  auto s = read_page(w.page.get());
  EXPECT_EQ(s.phase, WorkerPhase::failed);
  EXPECT_STREQ(s.report.error, "no NVIDIA driver (libcuda.so.1 not found)");
}

TEST(GpuWorker, ACrashIsSeenAsACrash) {
  auto w = spawn(load_cfg(2, 0.5), small_gpu(8).crash("stream_query", 5));
  int st = wait_exit(w);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) << describe_wait_status(st);
}

TEST(GpuWorker, ProbeDescribesTheGpusOrSaysWhyNot) {
  FakeDriverConfig f;
  f.gpus.push_back(FakeGpu{});
  f.gpus[1].name = "Fake A100";
  f.gpus[1].sms = 108;
  f.gpus[1].cc_major = 8;
  f.gpus[1].pci_bus_id = "0000:3b:00.0";
  auto p = probe_gpus([f]() -> Result<std::shared_ptr<CudaDriver>> { return std::make_shared<FakeDriver>(f); });
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->driver, "fake");
  EXPECT_EQ(p->driver_version, 13000);
  EXPECT_TRUE(p->green_contexts);
  ASSERT_EQ(p->gpus.size(), 2u);
  EXPECT_EQ(p->gpus[1].name, "Fake A100");
  EXPECT_EQ(p->gpus[1].sm_total, 108);
  EXPECT_EQ(p->gpus[1].pci_bus_id, "0000:3b:00.0");
  EXPECT_EQ(p->gpus[0].total_bytes, 140 * GiB);

  f.init_result = kCuErrorNoDevice;
  auto none = probe_gpus([f]() -> Result<std::shared_ptr<CudaDriver>> { return std::make_shared<FakeDriver>(f); });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "no usable NVIDIA GPU: cuInit: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)");

  auto crash = probe_gpus([]() -> Result<std::shared_ptr<CudaDriver>> {
    return std::make_shared<FakeDriver>(FakeDriverConfig{}.crash("init"));
  });
  ASSERT_FALSE(crash);
  EXPECT_EQ(crash.error().message, "gpu: the GPU probe process died (killed by SIGABRT) before it could report");
}

TEST(GpuWorker, TheRealDriverIsAbsentHereAndSaysSo) {
  if (access("/dev/nvidiactl", F_OK) == 0) GTEST_SKIP() << "this machine has an NVIDIA driver";
  auto d = load_cuda_driver();
  if (d) GTEST_SKIP() << "libcuda.so.1 is installed here";
  EXPECT_EQ(d.error().message, "no NVIDIA driver (libcuda.so.1 not found)");
  auto n = load_nvml();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().message, "NVML not available (libnvidia-ml.so.1 not found)");
}

// The toolkit's stub libcuda.so exports the real driver's symbols (and fails every call): every
// entry point the agent resolves by name, versioned ones included, must be there.
TEST(GpuDriver, EveryEntryPointResolvesInTheToolkitStub) {
  const std::string stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  if (access(stub.c_str(), R_OK) != 0) GTEST_SKIP() << stub << " not installed (no CUDA toolkit)";
  // Only ever in children: the stub's soname is libcuda.so.1, and once loaded it would stand in
  // for the driver for the rest of this process.
  pid_t c = fork();
  if (c == 0) {
    auto d = load_cuda_driver(stub);
    if (!d) _exit(2);
    if ((*d)->describe() != stub) _exit(3);
    if (!(*d)->has_green_contexts()) _exit(4);  // CUDA 12.4+ exports cuGreenCtxCreate
    if ((*d)->init() == kCuSuccess) _exit(5);   // the stub initialises nothing
    _exit(0);
  }
  int st = 0;
  ASSERT_EQ(waitpid(c, &st, 0), c);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << describe_wait_status(st);
  // Through the probe, as plan() sees it: a clear error, no crash.
  auto p = probe_gpus([stub] { return load_cuda_driver(stub); });
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message,
            "cuDriverGetVersion: CUDA_ERROR_STUB_LIBRARY (the toolkit's stub libcuda was loaded, not an NVIDIA driver)");
}

// ---------------------------------------------------------------- the fault

struct FaultRig {
  std::string dir;
  std::unique_ptr<Journal> journal;
  AgentConfig config;
  std::shared_ptr<FakeNvml> nvml = std::make_shared<FakeNvml>();
  FakeDriverConfig fake = small_gpu(8);

  FaultRig() {
    dir = (std::filesystem::temp_directory_path() / ("chaos-gpu-test-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(counter()++)))
              .string();
    journal = std::move(*Journal::open(dir));
    config.lease = 2s;
  }
  ~FaultRig() { std::filesystem::remove_all(dir); }
  static int& counter() {
    static int n = 0;
    return n;
  }

  std::unique_ptr<GpuFault> make(const std::string& yaml_like_json) {
    auto spec = std::make_shared<GpuSpec>();
    auto j = nlohmann::json::parse(yaml_like_json);
    if (j.contains("devices")) {
      if (j["devices"] == "all") spec->all_devices = true;
      else spec->devices = j["devices"].get<std::vector<int>>();
    }
    if (j.contains("memory")) spec->memory = MemoryRequest::from_json(j["memory"]);
    if (j.contains("sm")) spec->sm = SmRequest::from_json(j["sm"]);
    if (j.contains("utilization")) spec->utilization = Percent{j["utilization"].get<double>()};
    if (j.contains("tensor")) spec->tensor = j["tensor"].get<bool>();
    if (j.contains("period_ms")) spec->period = std::chrono::milliseconds(j["period_ms"].get<int>());
    GpuFaultOptions o;
    FakeDriverConfig f = fake;
    o.driver = [f]() -> Result<std::shared_ptr<CudaDriver>> { return std::make_shared<FakeDriver>(f); };
    auto n = nvml;
    o.nvml = [n]() -> Result<std::shared_ptr<Nvml>> { return std::shared_ptr<Nvml>(n); };
    o.fatbin = image();
    o.kernels_cuda_version = 13000;
    o.setup_timeout = 5s;
    o.stop_timeout = 5s;
    o.status_interval_ns = 10'000'000;
    o.sm_settle_ns = 300'000'000;
    FaultContext ctx{&config, journal.get(), "run-1", nullptr};
    return std::make_unique<GpuFault>("gpu-test", spec, ctx, o);
  }
};

TEST(GpuFaultPlan, LinesNameWhatWouldBeTouched) {
  FaultRig rig;
  rig.nvml->gpus[0].processes = {{4242, 8 * GiB}};
  auto f = rig.make(R"({"devices":[0],"memory":{"bytes":68719476736},"sm":{"count":4},"utilization":80})");
  auto plan = f->plan();
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->size(), 5u);
  EXPECT_EQ((*plan)[0], "gpu: driver fake, CUDA 13.0, NVIDIA 580.159.03; green contexts available (not needed: "
                        "SMs are chosen by %smid)");
  EXPECT_EQ((*plan)[1], "GPU 0 (Fake H200): 0000:19:00.0, compute 9.0, 8 SMs, 140GiB (1GiB in use), compute mode "
                        "default");
  EXPECT_EQ((*plan)[2], "GPU 0 (Fake H200): hold 64GiB of HBM (45.7%) in a worker process, in 2GiB VMM steps, "
                        "each written once so it is resident");
  EXPECT_EQ((*plan)[3], "GPU 0 (Fake H200): keep 4 of 8 SMs busy at 80.0% duty (100ms period) with FMA load, "
                        "stopping by itself at the lease deadline");
  EXPECT_EQ((*plan)[4], std::string("GPU 0 (Fake H200): shared with 1 other process (pid 4242 (8GiB)): ") +
                            kTimeSliceNote);
  EXPECT_TRUE(rig.journal->outstanding().empty()) << "planning changes nothing";
}

TEST(GpuFaultPlan, NoDriverOnThisMachine) {
  if (access("/dev/nvidiactl", F_OK) == 0 || load_cuda_driver()) GTEST_SKIP() << "this machine has an NVIDIA driver";
  FaultRig rig;
  auto spec = std::make_shared<GpuSpec>();
  spec->devices = {0};
  spec->memory = MemoryRequest{MemoryRequest::Mode::bytes, GiB, 0};
  FaultContext ctx{&rig.config, rig.journal.get(), "run-1", nullptr};
  GpuFault real("g", spec, ctx, GpuFaultOptions{});  // the real factories
  auto p = real.plan();
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "gpu: no NVIDIA driver (libcuda.so.1 not found)");
  EXPECT_TRUE(rig.journal->outstanding().empty());
}

TEST(GpuFaultPlan, ClearErrors) {
  auto plan_error = [](FaultRig& rig, const std::string& spec) {
    auto f = rig.make(spec);
    auto p = f->plan();
    return p ? std::string("(planned)") : p.error().message;
  };
  {
    FaultRig rig;
    rig.fake.driver_version = 12040;
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"sm":{"count":1}})"),
              "gpu: NVIDIA driver too old: it supports CUDA 12.4; the stress kernels were built with CUDA 13.0 and "
              "need a driver for CUDA 13.0 or newer");
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"bytes":1024}})"), "(planned)");
    rig.fake.driver_version = 10020;
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"bytes":1024}})"),
              "gpu: NVIDIA driver too old: it supports CUDA 10.2; holding memory needs a driver for CUDA 11.0 or "
              "newer (virtual memory management)");
  }
  {
    FaultRig rig;
    rig.fake.init_result = kCuErrorNoDevice;
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"bytes":1024}})"),
              "gpu: no usable NVIDIA GPU: cuInit: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)");
  }
  {
    FaultRig rig;
    EXPECT_EQ(plan_error(rig, R"({"devices":[0, 2],"memory":{"bytes":1024}})"),
              "gpu: devices: GPU 2 does not exist; this node has 1 (0: Fake H200)");
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"sm":{"count":9}})"),
              "gpu: GPU 0 (Fake H200): sm.count 9: the GPU has only 8 SMs");
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"bytes":161061273600}})"),
              "gpu: GPU 0 (Fake H200): memory.bytes 150GiB: does not fit, the GPU has 139GiB free of 140GiB");
    GpuConfig caps;
    caps.max_memory_fraction = 0.5;
    set_config(rig.config, caps);
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"fraction":0.9}})"),
              "gpu: GPU 0 (Fake H200): memory: holding 126GiB (90% of 140GiB) is above the agent's "
              "max_gpu_memory_fraction 50%");
  }
  {
    FaultRig rig;
    rig.nvml->gpus[0].mig = true;
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"bytes":1024}})"),
              "gpu: GPU 0 (Fake H200) has MIG enabled: the gpu fault needs a whole GPU (disable MIG on it or pick "
              "another)");
  }
  {
    FaultRig rig;
    rig.fake.gpus[0].compute_mode = kComputeModeExclusiveProcess;
    rig.nvml->gpus[0].processes = {{77, 0}};
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"bytes":1024}})"),
              "gpu: GPU 0 (Fake H200) is in compute mode exclusive-process and pid 77 already uses it");
  }
  {
    FaultRig rig;
    rig.fake.gpus[0].cc_major = 7;
    rig.fake.gpus[0].cc_minor = 5;
    rig.fake.gpus[0].name = "Tesla T4";
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"utilization":50})"),
              "gpu: GPU 0 (Tesla T4) is compute capability 7.5: the SM load kernels need 8.0 or newer");
    EXPECT_EQ(plan_error(rig, R"({"devices":[0],"memory":{"bytes":1024}})"), "(planned)");
  }
}

TEST(GpuFaultPlan, WithoutKernelsOnlyMemoryWorks) {
  FaultRig rig;
  auto spec = std::make_shared<GpuSpec>();
  spec->devices = {0};
  spec->sm = SmRequest{SmRequest::Mode::count, 1, 0};
  GpuFaultOptions o;
  FakeDriverConfig fake = rig.fake;
  o.driver = [fake]() -> Result<std::shared_ptr<CudaDriver>> { return std::make_shared<FakeDriver>(fake); };
  o.nvml = [n = rig.nvml]() -> Result<std::shared_ptr<Nvml>> { return std::shared_ptr<Nvml>(n); };
  o.fatbin = {};
  o.no_kernels_reason = "this agent was built without the GPU stress kernels: nvcc was not found at build time";
  FaultContext ctx{&rig.config, rig.journal.get(), "run-1", nullptr};
  GpuFault f("g", spec, ctx, o);
  auto p = f.plan();
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message,
            "gpu: this agent was built without the GPU stress kernels: nvcc was not found at build time; sm, "
            "utilization and tensor need the kernels (memory-only faults work without them)");
  auto mem = std::make_shared<GpuSpec>();
  mem->devices = {0};
  mem->memory = MemoryRequest{MemoryRequest::Mode::bytes, GiB, 0};
  GpuFault g("g", mem, ctx, o);
  EXPECT_TRUE(g.plan());
}

TEST(GpuFault, ApplyHoldRevertWithJournal) {
  FaultRig rig;
  rig.nvml->gpus[0].telemetry.temperature_c = 61;
  rig.nvml->gpus[0].telemetry.throttle_reasons = 0x4;
  rig.nvml->gpus[0].pending_xids = {79};
  auto f = rig.make(R"({"devices":[0],"memory":{"bytes":4294967296},"sm":{"count":4},"utilization":50,"period_ms":20})");
  ASSERT_TRUE(f->plan());
  auto r = f->apply();
  ASSERT_TRUE(r) << r.error().message;

  auto ws = f->workers();
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_TRUE(process_alive(ws[0]));
  auto out = rig.journal->outstanding();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, "gpu-worker");
  EXPECT_TRUE(out[0].applied);
  EXPECT_EQ(out[0].undo["pid"].get<int>(), ws[0].pid);
  EXPECT_EQ(out[0].undo["start_time"].get<std::uint64_t>(), ws[0].start_time);
  EXPECT_EQ(out[0].undo["device"].get<int>(), 0);

  // 1 s of renewals (50 periods of 20 ms): enough whole periods for the duty check below however
  // the worker was scheduled.
  for (auto until = std::chrono::steady_clock::now() + 1s; std::chrono::steady_clock::now() < until;) {
    ASSERT_TRUE(f->renew(monotonic_ns() + 2'000'000'000ull));
    std::this_thread::sleep_for(10ms);
  }
  auto s = f->sample();
  ASSERT_EQ(s["gpus"].size(), 1u);
  EXPECT_EQ(s["gpus"][0]["memory_held_bytes"], 4 * GiB);
  EXPECT_EQ(s["gpus"][0]["sms_busy"], 4);
  EXPECT_EQ(s["gpus"][0]["nvml"]["temperature_c"], 61);
  EXPECT_EQ(s["gpus"][0]["nvml"]["throttle"], nlohmann::json({"sw_power_cap"}));
  EXPECT_EQ(s["gpus"][0]["nvml"]["xid"], nlohmann::json({79}));

  ASSERT_TRUE(f->revert());
  EXPECT_FALSE(process_alive(ws[0]));
  EXPECT_TRUE(rig.journal->outstanding().empty());
  ASSERT_TRUE(f->revert()) << "revert is idempotent";

  auto o = f->observe();
  const auto& g = o["gpus"][0];
  EXPECT_EQ(g["requested"]["memory_bytes"], 4 * GiB);
  EXPECT_EQ(g["achieved"]["memory_bytes"], 4 * GiB);
  EXPECT_EQ(g["requested"]["sms"], 4);
  EXPECT_EQ(g["achieved"]["sms"], 4);
  EXPECT_EQ(g["achieved"]["sm_ids"], nlohmann::json({0, 1, 2, 3}));
  // The worker's own counters say how many periods it saw and missed (see duty_expected).
  const auto bursts = g["achieved"]["bursts"].get<std::uint64_t>(),
             skipped = g["achieved"]["bursts_skipped"].get<std::uint64_t>();
  std::cout << "worker: bursts " << bursts << ", periods skipped (the host too slow) " << skipped << ", duty "
            << g["achieved"]["duty"] << "\n";
  ASSERT_GE(bursts + skipped, 7u) << "the worker ticked fewer than 6 periods after its first burst in 1 s";
  EXPECT_LE(g["achieved"]["duty"].get<double>(), 0.5 + 0.02);
  EXPECT_NEAR(g["achieved"]["duty"].get<double>(), duty_expected(0.5, bursts, skipped), 0.1);
  EXPECT_EQ(g["worker_ended"], "exited 0");
  EXPECT_EQ(g["telemetry"]["xid"], nlohmann::json({79}));
  EXPECT_EQ(o["note"], kTimeSliceNote);
  EXPECT_FALSE(g.contains("error"));
}

TEST(GpuFault, OutOfMemoryAtApplyIsAFailureAndLeavesNothing) {
  FaultRig rig;
  rig.fake.fail("mem_create", kCuErrorOutOfMemory, 2);
  auto f = rig.make(R"({"devices":[0],"memory":{"bytes":6442450944}})");
  ASSERT_TRUE(f->plan());
  auto r = f->apply();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "gpu: GPU 0: cuMemCreate 2GiB at 2GiB of 6GiB: CUDA_ERROR_OUT_OF_MEMORY (out of memory)");
  for (const auto& w : f->workers()) EXPECT_FALSE(process_alive(w));
  EXPECT_TRUE(rig.journal->outstanding().empty());
  EXPECT_FALSE(f->observe()["ok"].get<bool>());
}

TEST(GpuFault, AWorkerCrashFailsTheRunHonestly) {
  FaultRig rig;
  rig.fake.crash("stream_query", 40);
  auto f = rig.make(R"({"devices":[0],"sm":{"count":2},"utilization":50,"period_ms":20})");
  ASSERT_TRUE(f->plan());
  ASSERT_TRUE(f->apply());
  // Until the worker reaches its 40th stream_query, however slowly it is scheduled.
  Result<void> r;
  for (auto until = std::chrono::steady_clock::now() + 30s; r && std::chrono::steady_clock::now() < until;) {
    r = f->renew(monotonic_ns() + 2'000'000'000ull);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_FALSE(r) << "a dead worker must fail renew()";
  EXPECT_THAT(r.error().message, HasSubstr("GPU 0: worker died (killed by SIGABRT"));
  ASSERT_TRUE(f->revert());
  EXPECT_TRUE(rig.journal->outstanding().empty());
  auto o = f->observe();
  EXPECT_FALSE(o["ok"].get<bool>());
  EXPECT_THAT(o["gpus"][0]["error"].get<std::string>(), HasSubstr("killed by SIGABRT"));
}

TEST(GpuFault, JournalUndoKillsAWorkerLeftBehind) {
  FaultRig rig;
  auto f = rig.make(R"({"devices":[0],"memory":{"bytes":1073741824},"sm":{"count":1}})");
  ASSERT_TRUE(f->plan());
  ASSERT_TRUE(f->apply());
  auto out = rig.journal->outstanding();
  ASSERT_EQ(out.size(), 1u);
  auto id = f->workers()[0];

  // A start time that does not match names another process: never touched.
  auto wrong = out[0].undo;
  wrong["start_time"] = id.start_time + 1;
  ASSERT_TRUE(undo_gpu_worker(wrong));
  EXPECT_TRUE(process_alive(id));

  // What recovery does after the agent died: the undo alone, from the journal's data.
  UndoRegistry undo;
  undo.add(kWorkerJournalKind, undo_gpu_worker);
  auto rep = recover(*rig.journal, undo);
  EXPECT_EQ(rep.reverted, 1);
  EXPECT_EQ(rep.failed, 0);
  EXPECT_FALSE(process_alive(id));
  EXPECT_TRUE(rig.journal->outstanding().empty());
  ASSERT_TRUE(undo_gpu_worker(out[0].undo)) << "undo of a worker already gone succeeds";

  // The fault itself still reverts cleanly (its worker is gone).
  auto r = f->revert();
  EXPECT_TRUE(r) << r.error().message;
  EXPECT_EQ(f->observe()["gpus"][0]["worker_ended"], "killed by SIGKILL");
}

TEST(GpuFault, UndoOnlyEverKillsTheSameProcess) {
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  ProcessIdentity id{child, *proc_start_time(child)};
  nlohmann::json undo = id.to_json();
  undo["start_time"] = id.start_time + 7;
  ASSERT_TRUE(undo_gpu_worker(undo));
  EXPECT_EQ(waitpid(child, nullptr, WNOHANG), 0) << "a mismatched start time must not be killed";
  undo["start_time"] = id.start_time;
  ASSERT_TRUE(undo_gpu_worker(undo));
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

TEST(GpuFault, AllDevicesGetOneWorkerEach) {
  FaultRig rig;
  rig.fake.gpus.push_back(rig.fake.gpus[0]);
  rig.fake.gpus[1].pci_bus_id = "0000:3b:00.0";
  rig.nvml->gpus.push_back(FakeNvmlGpu{});
  rig.nvml->gpus[1].pci_bus_id = "0000:3b:00.0";
  auto f = rig.make(R"({"devices":"all","memory":{"fraction":0.5}})");
  ASSERT_TRUE(f->plan());
  ASSERT_TRUE(f->apply());
  EXPECT_EQ(f->workers().size(), 2u);
  EXPECT_EQ(rig.journal->outstanding().size(), 2u);
  ASSERT_TRUE(f->renew(monotonic_ns() + 2'000'000'000ull));
  ASSERT_TRUE(f->revert());
  auto o = f->observe();
  EXPECT_TRUE(o["ok"].get<bool>()) << o.dump(2);
  EXPECT_EQ(o["gpus"][1]["achieved"]["memory_bytes"], 70 * GiB);
}

}  // namespace
}  // namespace chaos::gpu
