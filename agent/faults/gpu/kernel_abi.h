// Shared between the stress kernels (kernels.cu, compiled by nvcc) and the host code that
// launches them and reads what they report. Fixed-width types only; the layout is the contract.
#pragma once

#include <stdint.h>

// Slots for %smid values. H100/H200 report %nsmid well below this.
#define CHAOS_GPU_MAX_SM 1024

// Host-mapped (cuMemHostAlloc DEVICEMAP): the host writes, the kernels read.
struct ChaosGpuControl {
  uint64_t deadline_gt;  // %globaltimer value after which every kernel returns (the lease)
  uint32_t stop;         // nonzero: return now
  uint32_t reserved;
  uint64_t clock_gt;     // written by chaos_gpu_clock: %globaltimer when it ran
};

// Host-mapped, one per %smid. Only the block that owns an SM writes its slot, under a seqlock
// (seq odd while writing) so the host never reads a half-updated slot.
struct ChaosGpuSmSlot {
  uint32_t seq;
  uint32_t bursts;         // completed bursts on this SM
  uint64_t busy_ns;        // on-time on this SM: completed bursts plus the running one
  uint64_t first_gt;       // start of the first burst on this SM
  uint64_t last_start_gt;  // start of the running (or last) burst
  uint64_t last_busy_ns;   // on-time of the running (or last) burst
  uint64_t heartbeat_gt;   // last time the owning block looked at the clock
  uint32_t nsmid;          // %nsmid as the block saw it
  uint32_t reserved;
};

// The single by-value parameter of chaos_gpu_burn / chaos_gpu_burn_tensor.
struct ChaosGpuBurnParams {
  uint64_t control;   // device address of the host-mapped ChaosGpuControl
  uint64_t slots;     // device address of the host-mapped ChaosGpuSmSlot[CHAOS_GPU_MAX_SM]
  uint64_t claim;     // device memory, uint32_t[CHAOS_GPU_MAX_SM]: last burst seq that claimed the SM
  uint64_t chosen;    // device memory, uint32_t[CHAOS_GPU_MAX_SM]: 1 when the SM is one of the K
  uint64_t selected;  // device memory, unsigned long long: SMs chosen so far (may run past K)
  uint64_t sink;      // device memory, float: keeps the arithmetic from being optimised away
  uint64_t on_ns;     // on-time of one burst; UINT64_MAX: until the deadline or stop
  uint32_t want_sms;  // K
  uint32_t seq;       // burst sequence number, from 1
};

#define CHAOS_GPU_BURN_THREADS 256
#define CHAOS_GPU_KERNEL_BURN "chaos_gpu_burn"
#define CHAOS_GPU_KERNEL_BURN_TENSOR "chaos_gpu_burn_tensor"
#define CHAOS_GPU_KERNEL_CLOCK "chaos_gpu_clock"
