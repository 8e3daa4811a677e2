// Dense double-precision linear algebra the GPTQ solver needs on the CPU: Cholesky factorization,
// the inverse from a Cholesky factor, and X^T X of an fp32 matrix accumulated into double.
// Row-major square matrices; threaded over rows with results independent of the thread count.
// Used by hessian.cpp and tests.
#pragma once

#include <cstdint>
#include <vector>

#include "util/thread_pool.h"

namespace nibble::quant {

// In place: the lower triangle of `a` ([n][n], symmetric) becomes L with a = L L^T; the strict
// upper triangle is zeroed. false when a pivot is not positive (a is not positive definite).
bool cholesky_lower(std::vector<double>& a, int n, ThreadPool& pool);

// (L L^T)^-1 from a lower Cholesky factor L: the full symmetric inverse, [n][n].
std::vector<double> inverse_from_cholesky(const std::vector<double>& L, int n, ThreadPool& pool);

// H += X^T X for X [rows][K] fp32 (row stride ldx); H is [K][K] double. The fp32 products run in
// fixed chunks of rows and are added in chunk order, so the sum does not depend on threading.
void add_gram(const float* x, std::int64_t rows, int K, int ldx, std::vector<double>& H, ThreadPool& pool);

}  // namespace nibble::quant
