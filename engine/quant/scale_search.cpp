// Group scale search. The clipping grid spans t = 0.6 .. z/(z-1) times amax/z (z = 2^(bits-1)):
// the top keeps the largest positive value unclipped on the asymmetric code range, the bottom
// clips up to 40%. The maximum is then tried at four fractions of the largest column optimum,
// because the quadratic code grid is 12% coarse near its top and a lower maximum often fits the
// columns' optima better; each column takes the best of the codes around its optimum.
#include "quant/scale_search.h"

#include <algorithm>
#include <cmath>

#include "util/half.h"

namespace nibble::quant {
namespace {

constexpr int kClipSteps = 16;
constexpr float kClipMin = 0.6f;
constexpr float kMaxFractions[] = {1.0f, 0.96f, 0.92f, 0.88f};

// Importance-weighted squared rounding error of one column (contiguous rows) under scale s. The
// same rounding as quantize_code, written branch-free over four partial sums so that it
// vectorizes; it only ranks scales, the solver rounds with quantize_code itself.
float column_error(const float* col, int rows, const float* imp, float s, int bits) {
  const float zero = static_cast<float>(1 << (bits - 1)), lo = -zero, hi = zero - 1.0f;
  float acc[4] = {0, 0, 0, 0};
  int r = 0;
  for (; r + 4 <= rows; r += 4)
    for (int l = 0; l < 4; ++l) {
      const float v = col[r + l];
      const float t = std::min(hi, std::max(lo, v / s));
      const float q = static_cast<float>(static_cast<int>(t + (t >= 0.0f ? 0.5f : -0.5f)));
      const float d = v - q * s;
      acc[l] += imp[r + l] * d * d;
    }
  for (; r < rows; ++r) {
    const float v = col[r];
    const float t = std::min(hi, std::max(lo, v / s));
    const float q = static_cast<float>(static_cast<int>(t + (t >= 0.0f ? 0.5f : -0.5f)));
    const float d = v - q * s;
    acc[0] += imp[r] * d * d;
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

float code_scale(float smax, int c) { return smax * static_cast<float>((c + 1) * (c + 1)) / 256.0f; }

}  // namespace

GroupScales search_group_scales(const float* wt, int rows, int N, std::size_t ld, const float* imp, int bits,
                                ThreadPool& pool) {
  const float zero = static_cast<float>(1 << (bits - 1));
  const float t_max = zero / (zero - 1.0f);
  std::vector<float> best(static_cast<std::size_t>(N), 0.0f);
  const std::size_t n_total = static_cast<std::size_t>(N), rz = static_cast<std::size_t>(rows);
  const std::size_t grain = std::max<std::size_t>(16, static_cast<std::size_t>(4096 / std::max(1, rows)));
  // The group transposed to [N][rows] so that each column's rows are contiguous.
  std::vector<float> cols(n_total * rz);
  pool.parallel_for(n_total, grain, [&](std::size_t n0, std::size_t n1) {
    for (std::size_t r = 0; r < rz; ++r)
      for (std::size_t n = n0; n < n1; ++n) cols[n * rz + r] = wt[r * ld + n];
  });
  pool.parallel_for(n_total, grain, [&](std::size_t n0, std::size_t n1) {
    for (std::size_t n = n0; n < n1; ++n) {
      const float* col = cols.data() + n * rz;
      float amax = 0.0f;
      for (int r = 0; r < rows; ++r) amax = std::max(amax, std::fabs(col[r]));
      if (amax == 0.0f) continue;
      float best_err = INFINITY, best_s = amax / zero;
      for (int i = 0; i < kClipSteps; ++i) {
        const float t = kClipMin + (t_max - kClipMin) * static_cast<float>(i) / (kClipSteps - 1);
        const float s = amax / zero * t;
        const float e = column_error(col, rows, imp, s, bits);
        if (e < best_err) {
          best_err = e;
          best_s = s;
        }
      }
      best[n] = best_s;
    }
  });
  const float top = *std::max_element(best.begin(), best.end());
  GroupScales out;
  out.codes.assign(n_total, 15);
  out.scale.assign(n_total, 0.0f);
  if (!(top > 0.0f)) return out;

  // For each candidate maximum, every column's best code and the summed error.
  const int n_max = static_cast<int>(std::size(kMaxFractions));
  std::vector<std::uint16_t> smax_bits(static_cast<std::size_t>(n_max));
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n_max) * n_total);
  std::vector<float> errs(static_cast<std::size_t>(n_max) * n_total);
  for (int m = 0; m < n_max; ++m) {
    std::uint16_t h = fp32_to_fp16(top * kMaxFractions[m]);
    if (fp16_to_fp32(h) <= 0.0f) h = 1;  // the smallest subnormal: never a zero maximum for live weights
    smax_bits[static_cast<std::size_t>(m)] = h;
  }
  pool.parallel_for(n_total, grain, [&](std::size_t n0, std::size_t n1) {
    for (int m = 0; m < n_max; ++m) {
      const float smax = fp16_to_fp32(smax_bits[static_cast<std::size_t>(m)]);
      for (std::size_t n = n0; n < n1; ++n) {
        const std::size_t at = static_cast<std::size_t>(m) * n_total + n;
        const int c0 = std::clamp(static_cast<int>(std::lround(16.0 * std::sqrt(best[n] / smax))) - 1, 0, 15);
        float best_err = INFINITY;
        int best_c = c0;
        for (int c = std::max(0, c0 - 2); c <= std::min(15, c0 + 1); ++c) {
          const float e = column_error(cols.data() + n * rz, rows, imp, code_scale(smax, c), bits);
          if (e < best_err) {
            best_err = e;
            best_c = c;
          }
        }
        codes[at] = static_cast<std::uint8_t>(best_c);
        errs[at] = best_err;
      }
    }
  });
  int best_m = 0;
  double best_total = INFINITY;
  for (int m = 0; m < n_max; ++m) {
    double total = 0;
    for (std::size_t n = 0; n < n_total; ++n) total += errs[static_cast<std::size_t>(m) * n_total + n];
    if (total < best_total) {
      best_total = total;
      best_m = m;
    }
  }
  out.smax = smax_bits[static_cast<std::size_t>(best_m)];
  const float smax = fp16_to_fp32(out.smax);
  for (std::size_t n = 0; n < n_total; ++n) {
    out.codes[n] = codes[static_cast<std::size_t>(best_m) * n_total + n];
    out.scale[n] = code_scale(smax, out.codes[n]);
  }
  return out;
}

}  // namespace nibble::quant
