// Picks the distance kernel variant for the running CPU. Built with baseline flags:
// nothing from an ISA-specific file runs until its requirements are confirmed here.
#include "quant/distance.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <string>

#include "quiver/error.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace quiver::quant {

// Defined in quant/distance_<isa>.cpp, each compiled only on its architecture. They are
// constant-initialised tables: reading one runs no code from its file.
namespace detail {
#if QUIVER_QUANT_HAVE_AVX512
extern const DistanceKernels avx512_kernels;
#endif
#if QUIVER_QUANT_HAVE_AVX2
extern const DistanceKernels avx2_kernels;
#endif
#if QUIVER_QUANT_HAVE_SSE4
extern const DistanceKernels sse4_kernels;
#endif
#if QUIVER_QUANT_HAVE_NEON
extern const DistanceKernels neon_kernels;
#endif
}  // namespace detail

namespace {

constexpr std::array<std::string_view, 5> kKnownIsas = {"avx512", "avx2", "sse4", "neon", "scalar"};

#if defined(__x86_64__) || defined(_M_X64)

struct X86Features {
  bool sse4 = false;
  bool avx2 = false;
  bool avx512 = false;
};

// XCR0 says which register states the OS saves on context switch. A CPU may have AVX
// while the OS (or a hypervisor) leaves it disabled; such code would then fault.
std::uint64_t read_xcr0() {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

// Each variant needs every extension its file is compiled with (see quant/CMakeLists.txt).
X86Features detect_x86() {
  X86Features f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return f;
  const auto has = [](unsigned reg, int bit) { return ((reg >> bit) & 1u) != 0; };
  f.sse4 = has(ecx, 0) && has(ecx, 9) && has(ecx, 19) && has(ecx, 20);  // SSE3 SSSE3 SSE4.1 SSE4.2
  const bool fma = has(ecx, 12);
  const bool osxsave = has(ecx, 27);
  const bool avx = has(ecx, 28);
  const bool f16c = has(ecx, 29);
  if (!(osxsave && avx && fma && f16c && f.sse4)) return f;

  const std::uint64_t xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE + AVX
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  f.avx2 = ymm_state && has(ebx, 5);
  f.avx512 = f.avx2 && zmm_state && has(ebx, 16) && has(ebx, 17) && has(ebx, 30) &&
             has(ebx, 31);  // F DQ BW VL
  return f;
}

#endif

// Best first; scalar last.
std::vector<const DistanceKernels*> detect_supported() {
  std::vector<const DistanceKernels*> out;
#if defined(__x86_64__) || defined(_M_X64)
  [[maybe_unused]] const X86Features f = detect_x86();
#if QUIVER_QUANT_HAVE_AVX512
  if (f.avx512) out.push_back(&detail::avx512_kernels);
#endif
#if QUIVER_QUANT_HAVE_AVX2
  if (f.avx2) out.push_back(&detail::avx2_kernels);
#endif
#if QUIVER_QUANT_HAVE_SSE4
  if (f.sse4) out.push_back(&detail::sse4_kernels);
#endif
#endif
#if QUIVER_QUANT_HAVE_NEON
  out.push_back(&detail::neon_kernels);  // Advanced SIMD is mandatory on AArch64
#endif
  out.push_back(&scalar_kernels());
  return out;
}

const std::vector<const DistanceKernels*>& supported() {
  static const std::vector<const DistanceKernels*> list = detect_supported();
  return list;
}

std::string supported_names() {
  std::string names;
  for (const DistanceKernels* k : supported()) {
    if (!names.empty()) names += ", ";
    names += k->isa;
  }
  return names;
}

const DistanceKernels& find(std::string_view isa, std::string_view source) {
  for (const DistanceKernels* k : supported()) {
    if (isa == k->isa) return *k;
  }
  std::string message = std::string(source) + " '" + std::string(isa) + "' ";
  bool known = false;
  for (std::string_view name : kKnownIsas) known = known || name == isa;
  message += known ? "is not supported by this CPU or build" : "is not an instruction set quiver knows";
  message += "; expected one of: " + supported_names();
  throw InvalidArgument(message);
}

const DistanceKernels& choose() {
  const char* requested = std::getenv("QUIVER_ISA");
  if (requested == nullptr || *requested == '\0') return *supported().front();
  return find(requested, "QUIVER_ISA");
}

}  // namespace

const DistanceKernels& kernels() {
  // If QUIVER_ISA is bad the initialisation throws and is retried (and throws) next call.
  static const DistanceKernels& chosen = choose();
  return chosen;
}

std::vector<const DistanceKernels*> supported_kernels() { return supported(); }

const DistanceKernels& kernels_for_isa(std::string_view isa) { return find(isa, "instruction set"); }

void normalize(std::span<float> v) {
  double sum = 0.0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum == 0.0) return;
  const double scale = 1.0 / std::sqrt(sum);
  for (float& x : v) x = static_cast<float>(x * scale);
}

}  // namespace quiver::quant
