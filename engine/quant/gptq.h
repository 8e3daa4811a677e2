// The GPTQ solver for one EXL2 linear on the CPU: walks the act-order permuted columns in lazy
// blocks of 128, picks each group's scales by search (scale_search.h) when it reaches the group,
// rounds, and feeds the rounding error forward through the Cholesky factor of H^-1. Produces the
// exact EXL2 contents (codes, scale codes, scale maxima, permutation) and the dequantized weight
// the file will load as. Used through QuantCompute by the measurement, quantization and head.
#pragma once

#include <memory>
#include <vector>

#include "formats/exl2.h"
#include "nibble/error.h"
#include "quant/candidates.h"
#include "quant/hessian.h"
#include "util/thread_pool.h"

namespace nibble::quant {

struct GptqResult {
  Exl2Unpacked exl2;          // what exl2_pack takes (codes along the permuted K)
  std::vector<float> weight;  // [N][K] fp32 dequantized, original input order: what a loader computes
  double loss = 0;            // sum over outputs and inputs of (w - q)^2 / U[k][k]^2 (GPTQ's proxy)
  // A device implementation's copy of `weight` ([N][K] fp32), set as CpuMatrix::device by callers
  // that hand the weight back to the same implementation; null on the CPU.
  std::shared_ptr<void> device_weight;
};

// What GPTQ takes from H's diagonal before factorizing: dead inputs (diagonal not > 0, counted as
// 1 from then on), the act-order permutation (diagonal descending, stable) and the first damping.
struct HessianOrder {
  std::vector<std::int32_t> perm;
  std::vector<std::uint8_t> dead;
  std::vector<double> diag;  // with dead entries set to 1
  double damp = 0;           // kDampFraction * mean(diag)
};
HessianOrder order_hessian(std::vector<double> diag);

// The lazy-update block of the GPTQ column loop (rows of the permuted K), on every device.
inline constexpr int kGptqBlock = 128;

// The GPTQ loop's order over a layout, shared by the CPU and CUDA solvers: blocks of kGptqBlock
// permuted rows; inside each, its groups in order (on_group(g, k0, rows, bits, block_begin,
// block_end)), then on_block(block_begin, block_end). Both return Status; the walk stops at the
// first error, and a group straddling a block boundary is an internal error.
template <class OnGroup, class OnBlock>
Status walk_gptq_groups(const GroupLayout& layout, int K, OnGroup&& on_group, OnBlock&& on_block) {
  std::size_t g = 0;
  int k0 = 0;
  for (int b0 = 0; b0 < K; b0 += kGptqBlock) {
    const int b1 = K < b0 + kGptqBlock ? K : b0 + kGptqBlock;
    while (k0 < b1) {
      const int rows = layout.rows[g];
      if (k0 + rows > b1) return make_error(ErrorKind::internal, "GPTQ: group ", g, " straddles a block boundary");
      NIBBLE_TRY(on_group(g, k0, rows, layout.bits[g], b0, b1));
      k0 += rows;
      ++g;
    }
    NIBBLE_TRY(on_block(b0, b1));
  }
  return {};
}

// Prepares H for GPTQ (see PreparedHessian); internal error only if damping never factorizes.
Result<PreparedHessian> prepare_hessian(const Hessian& h, ThreadPool& pool);

// w: [N][K] fp32 row-major (nn.Linear), not modified. invalid_argument when N is not a multiple
// of 8 or the layout does not sum to K.
Result<GptqResult> gptq_quantize(const float* w, int N, int K, const PreparedHessian& ph, const GroupLayout& layout,
                                 ThreadPool& pool);

// The fp32 value a loader computes for code q of width `bits` with scale code c under maximum
// smax (fp16 bits): (q - 2^(bits-1)) * smax * (c + 1)^2 / 256, in that order.
float exl2_value(int q, int bits, float smax, int c);

}  // namespace nibble::quant
