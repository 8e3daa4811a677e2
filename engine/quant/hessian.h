// The input Hessian of a linear layer (H = sum over calibration tokens of x x^T, shared by every
// linear reading the same input: q/k/v, gate/up) and its preparation for GPTQ: dead inputs,
// act-order permutation by the diagonal, damping, and the upper Cholesky factor of H^-1.
// Used by the measurement, the quantization pass and the head; the math runs behind QuantCompute.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "nibble/error.h"

namespace nibble::quant {

struct Hessian {
  int K = 0;
  std::vector<double> h;    // [K][K] symmetric, sum of x x^T (the CPU's accumulator)
  std::int64_t tokens = 0;  // rows accumulated
  std::shared_ptr<void> device;  // a device implementation's accumulator (h is then left as it was)
};

// Fraction of the mean diagonal added to the diagonal before factorizing (raised tenfold while
// the factorization fails, at most four times).
inline constexpr double kDampFraction = 0.01;

struct PreparedHessian {
  int K = 0;
  std::vector<std::int32_t> perm;   // [K] permuted row k -> original input row (diagonal descending)
  std::vector<std::uint8_t> dead;   // [K] by original row: never seen a non-zero input (weights zeroed)
  std::vector<float> hinv_u;        // [K][K] row-major, upper U with U^T U = (P H P^T + damp I)^-1
  double damp = 0;                  // the damping that factorized
  std::shared_ptr<void> device;     // a device implementation's U (hinv_u is then empty)
};

}  // namespace nibble::quant
