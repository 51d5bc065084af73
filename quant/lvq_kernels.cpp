// Picks the LVQ kernel variant for an instruction set. Built with baseline flags; the
// CPU checks are distance.cpp's, so LVQ and float distances always run the same ISA.
#include "quant/lvq_kernels.h"

#include "quant/distance.h"

namespace quiver::quant {

// Defined in quant/lvq_kernels_<isa>.cpp; constant-initialised tables, so reading one
// runs no code from its file.
namespace detail {
extern const LvqKernels lvq_scalar_kernels;
#if QUIVER_QUANT_HAVE_AVX512
extern const LvqKernels lvq_avx512_kernels;
#endif
#if QUIVER_QUANT_HAVE_AVX2
extern const LvqKernels lvq_avx2_kernels;
#endif
}  // namespace detail

const LvqKernels& lvq_kernels_for_isa(std::string_view isa) {
  const std::string_view checked = kernels_for_isa(isa).isa;  // throws unless runnable here
#if QUIVER_QUANT_HAVE_AVX512
  if (checked == detail::lvq_avx512_kernels.isa) return detail::lvq_avx512_kernels;
#endif
#if QUIVER_QUANT_HAVE_AVX2
  if (checked == detail::lvq_avx2_kernels.isa) return detail::lvq_avx2_kernels;
#endif
  return detail::lvq_scalar_kernels;
}

}  // namespace quiver::quant
