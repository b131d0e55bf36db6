// The stress kernels' fatbin, embedded into the binary at build time (nvcc, see CMakeLists.txt),
// and a reader for the fatbin container so the build can check what it holds without cuobjdump.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace chaos::gpu {

// The embedded fatbin; empty when the agent was built without nvcc.
std::span<const std::uint8_t> embedded_fatbin();
// True when the kernels are in this binary.
bool kernels_built();
// CUDA version of the toolkit that built them (13000 for 13.0); 0 without kernels. A driver must
// support at least this version to load the machine code and the PTX.
int kernels_cuda_version();
// Why there are no kernels, for plan(): "this agent was built without nvcc (...)".
std::string kernels_missing_reason();

struct FatbinImage {
  enum class Kind { ptx, elf } kind = Kind::elf;
  int arch = 0;                       // 80 for sm_80 / compute_80
  bool compressed = false;
  std::vector<std::string> kernels;   // ELF: FUNC symbols; PTX: .entry names
  std::string str() const;            // "sm_90 ELF: chaos_gpu_burn, ..." / "compute_90 PTX: ..."
};

// Parses a fatbin container (magic 0xBA55ED50) and the images in it: ELF symbol tables and
// PTX .entry directives. Compressed images are listed without kernels.
Result<std::vector<FatbinImage>> read_fatbin(std::span<const std::uint8_t> data);

// Checks that the fatbin has sm_80 and sm_90 machine code and compute_90 PTX, each with every
// kernel the fault launches. The error lists what is missing.
Result<void> check_fatbin(std::span<const std::uint8_t> data);

}  // namespace chaos::gpu
