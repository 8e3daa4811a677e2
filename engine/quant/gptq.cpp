// Hessian preparation and the GPTQ column loop on the CPU. The weight is held transposed and
// permuted (wt[k][n], row k = permuted input k) so that a column step touches contiguous memory
// and splits over output ranges with no shared writes: every output column's arithmetic runs in
// one fixed order on one thread, so results do not depend on the thread count.
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/linalg.h"
#include "quant/scale_search.h"
#include "util/half.h"

namespace nibble::quant {
float exl2_value(int q, int bits, float smax, int c) {
  const int zero = 1 << (bits - 1);
  const float s = smax * static_cast<float>((c + 1) * (c + 1)) / 256.0f;
  return static_cast<float>(q - zero) * s;
}

HessianOrder order_hessian(std::vector<double> diag) {
  HessianOrder o;
  const std::size_t K = diag.size();
  o.dead.assign(K, 0);
  for (std::size_t k = 0; k < K; ++k)
    if (!(diag[k] > 0.0)) {
      o.dead[k] = 1;
      diag[k] = 1.0;
    }
  o.perm.resize(K);
  std::iota(o.perm.begin(), o.perm.end(), 0);
  std::stable_sort(o.perm.begin(), o.perm.end(), [&](std::int32_t a, std::int32_t b) {
    return diag[static_cast<std::size_t>(a)] > diag[static_cast<std::size_t>(b)];
  });
  const double mean = K ? std::accumulate(diag.begin(), diag.end(), 0.0) / static_cast<double>(K) : 0.0;
  o.damp = kDampFraction * mean;
  o.diag = std::move(diag);
  return o;
}

Result<PreparedHessian> prepare_hessian(const Hessian& hs, ThreadPool& pool) {
  const int K = hs.K;
  const std::size_t Kz = static_cast<std::size_t>(K);
  std::vector<double> d0(Kz);
  for (std::size_t k = 0; k < Kz; ++k) d0[k] = hs.h[k * Kz + k];
  HessianOrder order = order_hessian(std::move(d0));
  PreparedHessian p;
  p.K = K;
  p.dead = std::move(order.dead);
  p.perm = std::move(order.perm);
  const std::vector<double>& diag = order.diag;
  double damp = order.damp;
  for (int attempt = 0; attempt < 5; ++attempt, damp *= 10.0) {
    std::vector<double> a(Kz * Kz);
    for (std::size_t i = 0; i < Kz; ++i) {
      const std::size_t pi = static_cast<std::size_t>(p.perm[i]);
      for (std::size_t j = 0; j < Kz; ++j) {
        const std::size_t pj = static_cast<std::size_t>(p.perm[j]);
        a[i * Kz + j] = (p.dead[pi] || p.dead[pj]) ? 0.0 : hs.h[pi * Kz + pj];
      }
      a[i * Kz + i] = diag[pi] + damp;
    }
    if (!cholesky_lower(a, K, pool)) continue;
    std::vector<double> inv = inverse_from_cholesky(a, K, pool);
    if (!cholesky_lower(inv, K, pool)) continue;
    // inv now holds lower L2 with L2 L2^T = H^-1; U = L2^T.
    p.hinv_u.assign(Kz * Kz, 0.0f);
    for (std::size_t i = 0; i < Kz; ++i)
      for (std::size_t j = i; j < Kz; ++j) p.hinv_u[i * Kz + j] = static_cast<float>(inv[j * Kz + i]);
    p.damp = damp;
    return p;
  }
  return make_error(ErrorKind::internal, "GPTQ: the Hessian (K = ", K, ") is not positive definite even with damping ", damp);
}

Result<GptqResult> gptq_quantize(const float* w, int N, int K, const PreparedHessian& ph, const GroupLayout& layout,
                                 ThreadPool& pool) {
  if (N <= 0 || N % 8 != 0) return make_error(ErrorKind::invalid_argument, "GPTQ: N = ", N, " is not a multiple of 8");
  if (ph.K != K) return make_error(ErrorKind::internal, "GPTQ: Hessian K ", ph.K, " != weight K ", K);
  if (std::accumulate(layout.rows.begin(), layout.rows.end(), 0) != K)
    return make_error(ErrorKind::invalid_argument, "GPTQ: group rows do not sum to K = ", K);
  const std::size_t Nz = static_cast<std::size_t>(N), Kz = static_cast<std::size_t>(K);
  const float* U = ph.hinv_u.data();

  std::vector<float> wt(Kz * Nz);
  for (std::size_t k = 0; k < Kz; ++k) {
    const std::size_t src = static_cast<std::size_t>(ph.perm[k]);
    float* row = wt.data() + k * Nz;
    if (ph.dead[src]) std::fill(row, row + Nz, 0.0f);
    else
      for (std::size_t n = 0; n < Nz; ++n) row[n] = w[n * Kz + src];
  }
  std::vector<float> importance(Kz);
  for (std::size_t k = 0; k < Kz; ++k) importance[k] = 1.0f / (U[k * Kz + k] * U[k * Kz + k]);

  GptqResult res;
  Exl2Unpacked& u = res.exl2;
  u.K = K;
  u.N = N;
  u.group_bits = layout.bits;
  u.group_rows = layout.rows;
  u.codes.assign(Kz * Nz, 0);
  u.scale_codes.assign(layout.bits.size() * Nz, 0);
  u.scale_max.assign(layout.bits.size(), 0);
  u.perm = ph.perm;
  std::vector<float> deq(Kz * Nz);  // permuted rows
  std::vector<float> err(static_cast<std::size_t>(kGptqBlock) * Nz);
  std::vector<double> loss_n(Nz, 0.0);

  auto on_group = [&](std::size_t g, int k0, int rows, int bits, int i1, int i2) -> Status {
    const std::size_t k0z = static_cast<std::size_t>(k0);
    const GroupScales sc = search_group_scales(wt.data() + k0z * Nz, rows, N, Nz, importance.data() + k0z, bits, pool);
    u.scale_max[g] = sc.smax;
    std::copy(sc.codes.begin(), sc.codes.end(), u.scale_codes.begin() + static_cast<std::ptrdiff_t>(g * Nz));
    const float smax = fp16_to_fp32(sc.smax);
    pool.parallel_for(Nz, 64, [&](std::size_t n0, std::size_t n1) {
      for (int k = k0; k < k0 + rows; ++k) {
        const std::size_t kz = static_cast<std::size_t>(k);
        float* row = wt.data() + kz * Nz;
        float* e = err.data() + static_cast<std::size_t>(k - i1) * Nz;
        const float d = U[kz * Kz + kz];
        for (std::size_t n = n0; n < n1; ++n) {
          const int q = quantize_code(row[n], sc.scale[n], bits);
          const float v = exl2_value(q, bits, smax, sc.codes[n]);
          u.codes[kz * Nz + n] = static_cast<std::uint8_t>(q);
          deq[kz * Nz + n] = v;
          e[n] = (row[n] - v) / d;
          loss_n[n] += static_cast<double>(e[n]) * e[n];
        }
        for (int j = k + 1; j < i2; ++j) {
          const float h = U[kz * Kz + static_cast<std::size_t>(j)];
          float* rj = wt.data() + static_cast<std::size_t>(j) * Nz;
          for (std::size_t n = n0; n < n1; ++n) rj[n] -= e[n] * h;
        }
      }
    });
    return {};
  };
  auto on_block = [&](int i1, int i2) -> Status {
    if (i2 == K) return {};
    pool.parallel_for(Kz - static_cast<std::size_t>(i2), 4, [&](std::size_t j0, std::size_t j1) {
      for (std::size_t j = static_cast<std::size_t>(i2) + j0; j < static_cast<std::size_t>(i2) + j1; ++j) {
        float* rj = wt.data() + j * Nz;
        for (int i = i1; i < i2; ++i) {
          const float h = U[static_cast<std::size_t>(i) * Kz + j];
          const float* e = err.data() + static_cast<std::size_t>(i - i1) * Nz;
          for (std::size_t n = 0; n < Nz; ++n) rj[n] -= e[n] * h;
        }
      }
    });
    return {};
  };
  NIBBLE_TRY(walk_gptq_groups(layout, K, on_group, on_block));
  res.weight.assign(Nz * Kz, 0.0f);
  for (std::size_t k = 0; k < Kz; ++k) {
    const std::size_t dst = static_cast<std::size_t>(ph.perm[k]);
    for (std::size_t n = 0; n < Nz; ++n) res.weight[n * Kz + dst] = deq[k * Nz + n];
  }
  res.loss = std::accumulate(loss_n.begin(), loss_n.end(), 0.0);
  return res;
}

}  // namespace nibble::quant
