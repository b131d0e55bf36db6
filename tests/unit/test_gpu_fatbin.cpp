// The build's check of the embedded GPU kernels: the fatbin nvcc made holds sm_80 and sm_90
// machine code and compute_90 PTX, each with every kernel the gpu fault launches, and the bytes
// in the binary are that fatbin. The reader is also shown to reject what is missing or broken.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faults/gpu/fatbin.h"
#include "faults/gpu/kernel_abi.h"

namespace chaos::gpu {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// The fatbin nvcc wrote; CHAOS_GPU_FATBIN_FILE overrides it where the test runs away from its
// build tree (the device check's bundle).
const std::string kFatbinFile = std::getenv("CHAOS_GPU_FATBIN_FILE")
                                    ? std::getenv("CHAOS_GPU_FATBIN_FILE")
                                    : std::string(CHAOS_BINARY_DIR) + "/agent/faults/gpu/chaos_gpu_kernels.fatbin";

std::vector<std::uint8_t> embedded() {
  auto s = embedded_fatbin();
  return {s.begin(), s.end()};
}

// Rebuilds the container without the images `drop` says to drop.
template <class Drop>
std::vector<std::uint8_t> without(const std::vector<std::uint8_t>& fb, Drop drop) {
  std::uint16_t hs = 0;
  std::memcpy(&hs, fb.data() + 6, 2);
  std::vector<std::uint8_t> out(fb.begin(), fb.begin() + hs);
  std::uint64_t body = 0;
  std::memcpy(&body, fb.data() + 8, 8);
  for (std::size_t off = hs; off < hs + body;) {
    std::uint16_t kind = 0;
    std::uint32_t ehs = 0, arch = 0;
    std::uint64_t payload = 0;
    std::memcpy(&kind, fb.data() + off, 2);
    std::memcpy(&ehs, fb.data() + off + 4, 4);
    std::memcpy(&payload, fb.data() + off + 8, 8);
    std::memcpy(&arch, fb.data() + off + 28, 4);
    if (!drop(kind, arch)) out.insert(out.end(), fb.begin() + off, fb.begin() + off + ehs + payload);
    off += ehs + payload;
  }
  std::uint64_t nb = out.size() - hs;
  std::memcpy(out.data() + 8, &nb, 8);
  return out;
}

class Fatbin : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kernels_built()) GTEST_SKIP() << "no GPU kernels in this build: " << kernels_missing_reason();
  }
};

TEST_F(Fatbin, HoldsEveryKernelForSm80AndSm90PlusPtx) {
  auto ok = check_fatbin(embedded_fatbin());
  ASSERT_TRUE(ok) << ok.error().message;
  auto images = read_fatbin(embedded_fatbin());
  ASSERT_TRUE(images) << images.error().message;
  std::vector<std::string> listed;
  for (const auto& i : *images) listed.push_back(i.str());
  const std::string all = "chaos_gpu_burn, chaos_gpu_burn_tensor, chaos_gpu_clock";
  auto sorted = [](FatbinImage i) {
    std::sort(i.kernels.begin(), i.kernels.end());
    return i.str();
  };
  std::vector<std::string> got;
  for (const auto& i : *images) got.push_back(sorted(i));
  EXPECT_THAT(got, UnorderedElementsAre("sm_80 ELF: " + all, "sm_90 ELF: " + all, "compute_90 PTX: " + all));
  EXPECT_GE(kernels_cuda_version(), 11000);
}

TEST_F(Fatbin, EmbeddedBytesAreTheBuiltFatbinAndAligned) {
  std::ifstream in(kFatbinFile, std::ios::binary);
  ASSERT_TRUE(in) << kFatbinFile;
  std::vector<std::uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file, embedded());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(embedded_fatbin().data()) % 8, 0u)
      << "cuModuleLoadData reads the container in place";
}

TEST_F(Fatbin, MissingArchitectureIsReported) {
  auto fb = embedded();
  auto no90 = without(fb, [](std::uint16_t kind, std::uint32_t arch) { return kind == 2 && arch == 90; });
  auto r = check_fatbin(no90);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "fatbin: missing sm_90 machine code");
  auto noptx = without(fb, [](std::uint16_t kind, std::uint32_t) { return kind == 1; });
  r = check_fatbin(noptx);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "fatbin: missing compute_90 PTX");
}

TEST_F(Fatbin, MissingKernelIsReported) {
  auto fb = embedded();
  // Rename the tensor kernel's symbol in every image: same length, so offsets stay valid.
  const std::string from = CHAOS_GPU_KERNEL_BURN_TENSOR, to = "chaos_gpu_burn_tenzor";
  ASSERT_EQ(from.size(), to.size());
  for (auto it = fb.begin(); (it = std::search(it, fb.end(), from.begin(), from.end())) != fb.end();)
    it = std::copy(to.begin(), to.end(), it);
  auto r = check_fatbin(fb);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("sm_80 machine code lacks chaos_gpu_burn_tensor"));
  EXPECT_THAT(r.error().message, HasSubstr("sm_90 machine code lacks chaos_gpu_burn_tensor"));
  EXPECT_THAT(r.error().message, HasSubstr("compute_90 PTX lacks chaos_gpu_burn_tensor"));
}

TEST_F(Fatbin, BrokenContainersAreRejected) {
  auto fb = embedded();
  auto bad_magic = fb;
  bad_magic[0] ^= 0xff;
  EXPECT_EQ(read_fatbin(bad_magic).error().message, "not a fatbin (no 0xBA55ED50 magic)");
  std::vector<std::uint8_t> truncated(fb.begin(), fb.begin() + fb.size() / 2);
  EXPECT_THAT(read_fatbin(truncated).error().message, HasSubstr("fatbin header says"));
  EXPECT_FALSE(read_fatbin(std::vector<std::uint8_t>{}));
}

// Where the CUDA toolkit has cuobjdump (not in every install), NVIDIA's own reader must agree.
TEST_F(Fatbin, CuobjdumpAgrees) {
  const std::string cuobjdump = "/usr/local/cuda/bin/cuobjdump";
  if (access(cuobjdump.c_str(), X_OK) != 0) GTEST_SKIP() << cuobjdump << " not installed: checked by read_fatbin only";
  auto run = [](const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
    return out;
  };
  std::string elf = run(cuobjdump + " --list-elf " + kFatbinFile + " 2>&1");
  std::string ptx = run(cuobjdump + " --list-ptx " + kFatbinFile + " 2>&1");
  EXPECT_THAT(elf, HasSubstr("sm_80"));
  EXPECT_THAT(elf, HasSubstr("sm_90"));
  EXPECT_THAT(ptx, HasSubstr("sm_90"));
}

}  // namespace
}  // namespace chaos::gpu
