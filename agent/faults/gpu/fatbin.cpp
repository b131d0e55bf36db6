#include "faults/gpu/fatbin.h"

#include <cstring>
#include <set>
#include <string_view>

#include "faults/gpu/kernel_abi.h"

#ifdef CHAOS_GPU_FATBIN_PATH
// The fatbin nvcc built, pulled into .rodata at assembly time. 64-byte alignment: the driver
// reads the container in place (cuModuleLoadData) and wants at least 8.
asm(".section .rodata.chaos_gpu_fatbin,\"a\",@progbits\n"
    ".balign 64\n"
    ".globl chaos_gpu_fatbin_start\n"
    ".hidden chaos_gpu_fatbin_start\n"
    "chaos_gpu_fatbin_start:\n"
    ".incbin \"" CHAOS_GPU_FATBIN_PATH "\"\n"
    ".globl chaos_gpu_fatbin_end\n"
    ".hidden chaos_gpu_fatbin_end\n"
    "chaos_gpu_fatbin_end:\n"
    ".previous\n");
extern "C" const std::uint8_t chaos_gpu_fatbin_start[];
extern "C" const std::uint8_t chaos_gpu_fatbin_end[];
#endif

namespace chaos::gpu {

std::span<const std::uint8_t> embedded_fatbin() {
#ifdef CHAOS_GPU_FATBIN_PATH
  return {chaos_gpu_fatbin_start, static_cast<std::size_t>(chaos_gpu_fatbin_end - chaos_gpu_fatbin_start)};
#else
  return {};
#endif
}

bool kernels_built() { return !embedded_fatbin().empty(); }

int kernels_cuda_version() {
#ifdef CHAOS_GPU_KERNELS_CUDA_VERSION
  return kernels_built() ? CHAOS_GPU_KERNELS_CUDA_VERSION : 0;
#else
  return 0;
#endif
}

std::string kernels_missing_reason() {
#ifdef CHAOS_GPU_NO_KERNELS_REASON
  return CHAOS_GPU_NO_KERNELS_REASON;
#else
  return "this agent was built without the GPU stress kernels";
#endif
}

std::string FatbinImage::str() const {
  std::string out = (kind == Kind::elf ? "sm_" : "compute_") + std::to_string(arch) +
                    (kind == Kind::elf ? " ELF" : " PTX") + (compressed ? " (compressed)" : "") + ":";
  for (std::size_t i = 0; i < kernels.size(); ++i) out += (i ? ", " : " ") + kernels[i];
  return out;
}

namespace {

template <class T>
bool load(std::span<const std::uint8_t> d, std::size_t off, T* out) {
  if (off > d.size() || d.size() - off < sizeof(T)) return false;
  std::memcpy(out, d.data() + off, sizeof(T));
  return true;
}

// FUNC symbols of a CUDA ELF (ELF64, little-endian).
Result<std::vector<std::string>> elf_functions(std::span<const std::uint8_t> elf) {
  if (elf.size() < 64 || std::memcmp(elf.data(), "\x7f" "ELF", 4) != 0 || elf[4] != 2 || elf[5] != 1)
    return fail("not a 64-bit little-endian ELF image");
  std::uint64_t shoff = 0;
  std::uint16_t shentsize = 0, shnum = 0;
  load(elf, 0x28, &shoff);
  load(elf, 0x3a, &shentsize);
  load(elf, 0x3c, &shnum);
  if (shentsize < 64 || shoff == 0 || shoff + std::uint64_t(shnum) * shentsize > elf.size())
    return fail("ELF section headers out of bounds");
  struct Sec {
    std::uint32_t type = 0, link = 0;
    std::uint64_t offset = 0, size = 0, entsize = 0;
  };
  auto section = [&](std::size_t i) {
    Sec s;
    std::size_t base = shoff + i * shentsize;
    load(elf, base + 4, &s.type);
    load(elf, base + 0x18, &s.offset);
    load(elf, base + 0x20, &s.size);
    load(elf, base + 0x28, &s.link);
    load(elf, base + 0x38, &s.entsize);
    return s;
  };
  std::vector<std::string> out;
  for (std::size_t i = 0; i < shnum; ++i) {
    Sec sym = section(i);
    if (sym.type != 2 /* SHT_SYMTAB */) continue;
    if (sym.link >= shnum || sym.entsize < 24 || sym.offset + sym.size > elf.size())
      return fail("ELF symbol table out of bounds");
    Sec str = section(sym.link);
    if (str.offset + str.size > elf.size()) return fail("ELF string table out of bounds");
    for (std::uint64_t e = 0; e + sym.entsize <= sym.size; e += sym.entsize) {
      std::uint32_t name = 0;
      std::uint8_t info = 0;
      load(elf, sym.offset + e, &name);
      load(elf, sym.offset + e + 4, &info);
      if ((info & 0xf) != 2 /* STT_FUNC */ || name >= str.size) continue;
      const char* p = reinterpret_cast<const char*>(elf.data() + str.offset + name);
      out.emplace_back(p, strnlen(p, str.size - name));
    }
  }
  return out;
}

std::vector<std::string> ptx_entries(std::string_view ptx) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; (pos = ptx.find(".entry ", pos)) != std::string_view::npos;) {
    pos += 7;
    std::size_t end = ptx.find_first_of("( \t\n", pos);
    if (end == std::string_view::npos) break;
    out.emplace_back(ptx.substr(pos, end - pos));
  }
  return out;
}

}  // namespace

Result<std::vector<FatbinImage>> read_fatbin(std::span<const std::uint8_t> d) {
  std::uint32_t magic = 0;
  std::uint16_t version = 0, header_size = 0;
  std::uint64_t body_size = 0;
  if (!load(d, 0, &magic) || magic != 0xBA55ED50u) return fail("not a fatbin (no 0xBA55ED50 magic)");
  load(d, 4, &version);
  load(d, 6, &header_size);
  load(d, 8, &body_size);
  if (header_size < 16 || header_size + body_size > d.size())
    return fail("fatbin header says " + std::to_string(header_size + body_size) + " bytes, have " +
                std::to_string(d.size()));
  std::vector<FatbinImage> images;
  std::size_t off = header_size, end = header_size + body_size;
  while (off < end) {
    std::uint16_t kind = 0;
    std::uint32_t ehs = 0, arch = 0;
    std::uint64_t payload = 0, flags = 0, uncompressed = 0;
    if (!load(d, off, &kind) || !load(d, off + 4, &ehs) || !load(d, off + 8, &payload) ||
        !load(d, off + 28, &arch) || !load(d, off + 40, &flags))
      return fail("fatbin image header at " + std::to_string(off) + " is truncated");
    load(d, off + 56, &uncompressed);
    if (ehs < 48 || off + ehs + payload > end)
      return fail("fatbin image at " + std::to_string(off) + " runs past the container");
    FatbinImage img;
    img.arch = static_cast<int>(arch);
    if (kind == 1) img.kind = FatbinImage::Kind::ptx;
    else if (kind == 2) img.kind = FatbinImage::Kind::elf;
    else return fail("fatbin image at " + std::to_string(off) + " has unknown kind " + std::to_string(kind));
    // Bit 0x2000 marks a compressed payload (nvcc's default for PTX); so does a nonzero
    // uncompressed size.
    img.compressed = (flags & 0x2000) != 0 || uncompressed != 0;
    auto body = d.subspan(off + ehs, payload);
    if (!img.compressed) {
      if (img.kind == FatbinImage::Kind::elf) {
        auto fns = elf_functions(body);
        if (!fns) return wrap(fns.error(), "fatbin sm_" + std::to_string(arch) + " image");
        img.kernels = *fns;
      } else {
        img.kernels = ptx_entries(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
      }
    }
    images.push_back(std::move(img));
    off += ehs + payload;
  }
  return images;
}

Result<void> check_fatbin(std::span<const std::uint8_t> data) {
  auto images = read_fatbin(data);
  if (!images) return std::unexpected(images.error());
  const char* kernels[] = {CHAOS_GPU_KERNEL_BURN, CHAOS_GPU_KERNEL_BURN_TENSOR, CHAOS_GPU_KERNEL_CLOCK};
  struct Want {
    FatbinImage::Kind kind;
    int arch;
  } wants[] = {{FatbinImage::Kind::elf, 80}, {FatbinImage::Kind::elf, 90}, {FatbinImage::Kind::ptx, 90}};
  std::string missing;
  for (const auto& w : wants) {
    const FatbinImage* found = nullptr;
    for (const auto& img : *images)
      if (img.kind == w.kind && img.arch == w.arch) found = &img;
    std::string what = (w.kind == FatbinImage::Kind::elf ? "sm_" : "compute_") + std::to_string(w.arch) +
                       (w.kind == FatbinImage::Kind::elf ? " machine code" : " PTX");
    if (!found) {
      missing += (missing.empty() ? "" : "; ") + what;
      continue;
    }
    if (found->compressed) {
      missing += (missing.empty() ? "" : "; ") + what + " is compressed (build with --no-compress)";
      continue;
    }
    std::set<std::string> have(found->kernels.begin(), found->kernels.end());
    for (const char* k : kernels)
      if (!have.count(k)) missing += (missing.empty() ? "" : "; ") + what + " lacks " + k;
  }
  if (!missing.empty()) return fail("fatbin: missing " + missing);
  return {};
}

}  // namespace chaos::gpu
