// Stress kernels for the gpu fault. Built by nvcc into a fatbin (sm_80 and sm_90 machine code
// plus compute_90 PTX), embedded into the agent and loaded with cuModuleLoadData.
//
// One launch is a "burst": a grid of blocks, each of which reads %smid; the first block to land
// on an SM claims it, and only the claims of the K chosen SMs stay. The rest return at once, so
// exactly K distinct SMs spin. A burst ends after on_ns on the GPU clock (%globaltimer), when
// the host sets stop, or when the lease deadline in host-mapped memory has passed: a hung agent
// stops renewing it and the load stops by itself.
#include <mma.h>

#include "kernel_abi.h"

namespace {

__device__ __forceinline__ uint64_t global_timer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ unsigned sm_id() {
  unsigned s;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(s));
  return s;
}

__device__ __forceinline__ unsigned sm_id_limit() {
  unsigned s;
  asm volatile("mov.u32 %0, %%nsmid;" : "=r"(s));
  return s;
}

// Looking at host memory costs a PCIe round trip: do it this often, not every iteration.
constexpr uint64_t kControlPollNs = 250000;

__device__ void slot_begin(volatile ChaosGpuSmSlot* s) {
  s->seq = s->seq + 1;
  __threadfence_system();
}
__device__ void slot_end(volatile ChaosGpuSmSlot* s) {
  __threadfence_system();
  s->seq = s->seq + 1;
  __threadfence_system();
}

// Decides (thread 0) whether this block owns its SM for this burst.
__device__ bool claim_sm(const ChaosGpuBurnParams& p, unsigned sm) {
  if (sm >= CHAOS_GPU_MAX_SM) return false;
  unsigned* claim = reinterpret_cast<unsigned*>(p.claim);
  volatile unsigned* chosen = reinterpret_cast<volatile unsigned*>(p.chosen);
  if (atomicMax(&claim[sm], p.seq) >= p.seq) return false;  // another block of this burst has it
  if (chosen[sm]) return true;
  auto* selected = reinterpret_cast<unsigned long long*>(p.selected);
  if (atomicAdd(selected, 1ULL) < p.want_sms) {
    chosen[sm] = 1;
    return true;
  }
  return false;
}

template <bool kTensor>
__device__ void burn(const ChaosGpuBurnParams& p) {
  __shared__ int s_stay;
  __shared__ int s_done;
  __shared__ unsigned s_sm;
  const unsigned tid = threadIdx.x;
  if (tid == 0) {
    unsigned sm = sm_id();
    s_sm = sm;
    s_stay = claim_sm(p, sm) ? 1 : 0;
    s_done = 0;
  }
  __syncthreads();
  if (!s_stay) return;

  volatile ChaosGpuControl* ctl = reinterpret_cast<volatile ChaosGpuControl*>(p.control);
  volatile ChaosGpuSmSlot* slot = reinterpret_cast<volatile ChaosGpuSmSlot*>(p.slots) + s_sm;
  uint64_t t0 = 0, base = 0, last_poll = 0, deadline = 0;
  if (tid == 0) {
    t0 = global_timer();
    deadline = ctl->deadline_gt;
    base = slot->busy_ns;
    slot_begin(slot);
    if (slot->first_gt == 0) slot->first_gt = t0;
    slot->last_start_gt = t0;
    slot->last_busy_ns = 0;
    slot->heartbeat_gt = t0;
    slot->nsmid = sm_id_limit();
    slot_end(slot);
    last_poll = t0;
  }

  float a = 1.0f + tid * 1e-7f;
  const float b = 0.99999f, c = 1e-6f;

  using namespace nvcuda;
  __shared__ __align__(32) half s_tile[16 * 16];
  wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  if constexpr (kTensor) {
    for (unsigned i = tid; i < 16 * 16; i += blockDim.x) s_tile[i] = __float2half(1e-3f);
    __syncthreads();
    wmma::load_matrix_sync(fa, s_tile, 16);
    wmma::load_matrix_sync(fb, s_tile, 16);
    wmma::fill_fragment(acc, 0.0f);
  }

  for (;;) {
    if constexpr (kTensor) {
#pragma unroll
      for (int i = 0; i < 64; ++i) wmma::mma_sync(acc, fa, fb, acc);
    } else {
#pragma unroll 16
      for (int i = 0; i < 512; ++i) a = fmaf(a, b, c);
    }
    if (tid == 0) {
      uint64_t now = global_timer();
      bool done = p.on_ns != ~0ULL && now - t0 >= p.on_ns;
      if (now - last_poll >= kControlPollNs) {
        last_poll = now;
        deadline = ctl->deadline_gt;
        if (ctl->stop) done = true;
        slot_begin(slot);
        slot->busy_ns = base + (now - t0);
        slot->last_busy_ns = now - t0;
        slot->heartbeat_gt = now;
        slot_end(slot);
      }
      if (now >= deadline) done = true;
      if (done) s_done = 1;
    }
    __syncthreads();
    const int done = s_done;
    __syncthreads();
    if (done) break;
  }

  if (tid == 0) {
    uint64_t now = global_timer();
    slot_begin(slot);
    slot->busy_ns = base + (now - t0);
    slot->last_busy_ns = now - t0;
    slot->heartbeat_gt = now;
    slot->bursts = slot->bursts + 1;
    slot_end(slot);
  }
  if constexpr (kTensor) {
    if (acc.x[0] == -1.0f) *reinterpret_cast<float*>(p.sink) = acc.x[0];
  } else {
    if (a == -1.0f) *reinterpret_cast<float*>(p.sink) = a;
  }
}

}  // namespace

extern "C" __global__ void __launch_bounds__(CHAOS_GPU_BURN_THREADS)
    chaos_gpu_burn(ChaosGpuBurnParams p) {
  burn<false>(p);
}

extern "C" __global__ void __launch_bounds__(CHAOS_GPU_BURN_THREADS)
    chaos_gpu_burn_tensor(ChaosGpuBurnParams p) {
  burn<true>(p);
}

// Reads the GPU clock once, to relate %globaltimer to the host's CLOCK_MONOTONIC.
extern "C" __global__ void chaos_gpu_clock(uint64_t control) {
  reinterpret_cast<volatile ChaosGpuControl*>(control)->clock_gt = global_timer();
  __threadfence_system();
}
