// Cholesky, inverse and Gram accumulation on the CPU. The Gram product reuses the backend's fp32
// matmul (X^T X = Xt Xt^T with Xt the transposed chunk): the AVX2 kernel is ~10x a plain loop on
// the dev VM, and it sums every output element in one fixed order whatever the thread count.
#include "quant/linalg.h"

#include <cmath>

#include "backend/cpu/cpu_matmul.h"

namespace nibble::quant {
namespace {

constexpr std::int64_t kGramChunk = 512;  // rows per fp32 partial product

double dot(const double* a, const double* b, int n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace

bool cholesky_lower(std::vector<double>& a, int n, ThreadPool& pool) {
  const std::size_t N = static_cast<std::size_t>(n);
  for (std::size_t j = 0; j < N; ++j) {
    double* rj = a.data() + j * N;
    const double d = rj[j] - dot(rj, rj, static_cast<int>(j));
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    const double ljj = std::sqrt(d);
    rj[j] = ljj;
    const std::size_t below = N - j - 1;
    auto col = [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = j + 1 + i0; i < j + 1 + i1; ++i) {
        double* ri = a.data() + i * N;
        ri[j] = (ri[j] - dot(ri, rj, static_cast<int>(j))) / ljj;
      }
    };
    if (below * j < 32768) col(0, below);
    else pool.parallel_for(below, 32, col);
  }
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t k = i + 1; k < N; ++k) a[i * N + k] = 0.0;
  return true;
}

std::vector<double> inverse_from_cholesky(const std::vector<double>& L, int n, ThreadPool& pool) {
  const std::size_t N = static_cast<std::size_t>(n);
  // Li = L^-1 (lower), column by column: L Li[:, c] = e_c. Stored transposed (row c = column c)
  // so that every column is contiguous.
  std::vector<double> li_t(N * N, 0.0);
  pool.parallel_for(N, 8, [&](std::size_t c0, std::size_t c1) {
    for (std::size_t c = c0; c < c1; ++c) {
      double* x = li_t.data() + c * N;
      x[c] = 1.0 / L[c * N + c];
      for (std::size_t i = c + 1; i < N; ++i) {
        const double* li = L.data() + i * N;
        double s = 0;
        for (std::size_t p = c; p < i; ++p) s += li[p] * x[p];
        x[i] = -s / li[i];
      }
    }
  });
  // H^-1 = Li^T Li: entry (i, j) = sum over p >= max(i, j) of Li[p][i] Li[p][j].
  std::vector<double> inv(N * N, 0.0);
  pool.parallel_for(N, 8, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i)
      for (std::size_t j = i; j < N; ++j) {
        const double* a = li_t.data() + i * N + j;
        const double* b = li_t.data() + j * N + j;
        const double v = dot(a, b, static_cast<int>(N - j));
        inv[i * N + j] = v;
      }
  });
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = 0; j < i; ++j) inv[i * N + j] = inv[j * N + i];
  return inv;
}

void add_gram(const float* x, std::int64_t rows, int K, int ldx, std::vector<double>& H, ThreadPool& pool) {
  const std::size_t Kz = static_cast<std::size_t>(K);
  CpuMatrix xt;
  xt.type = CpuWeightType::f32;
  xt.N = K;
  std::vector<float> part(Kz * Kz);
  for (std::int64_t r0 = 0; r0 < rows; r0 += kGramChunk) {
    const int m = static_cast<int>(std::min(kGramChunk, rows - r0));
    xt.K = m;
    xt.full.assign(Kz * static_cast<std::size_t>(m), 0.0f);
    for (int r = 0; r < m; ++r) {
      const float* src = x + static_cast<std::size_t>(r0 + r) * static_cast<std::size_t>(ldx);
      for (std::size_t k = 0; k < Kz; ++k) xt.full[k * static_cast<std::size_t>(m) + static_cast<std::size_t>(r)] = src[k];
    }
    MatmulArgs a;
    a.x = xt.full.data();
    a.ldx = m;
    a.y = part.data();
    a.ldy = K;
    a.M = K;
    cpu_matmul(xt, a, pool);
    for (std::size_t i = 0; i < Kz * Kz; ++i) H[i] += static_cast<double>(part[i]);
  }
}

}  // namespace nibble::quant
