// inv_freq per RoPE type. Every step mirrors transformers' fp32 tensor expression, including the
// float rounding of Python scalars that meet float32 tensors, so the tables match bit for bit
// up to the last ulp of pow().
#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace nibble {
namespace {

// base ** (arange(0, dim, 2).float() / dim), one fp32 element.
float pos_freq(double base, int i, int dim) {
  const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
  return static_cast<float>(std::pow(static_cast<double>(static_cast<float>(base)), static_cast<double>(e)));
}

double yarn_mscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

double yarn_correction_dim(double rotations, int dim, double base, double max_pos) {
  return (dim * std::log(max_pos / (rotations * 2.0 * M_PI))) / (2.0 * std::log(base));
}

}  // namespace

RopeTable rope_table(const RopeSpec& r, int dim) {
  RopeTable t;
  const int half = dim / 2;
  t.inv_freq.resize(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) t.inv_freq[i] = 1.0f / pos_freq(r.theta, i, dim);

  switch (r.type) {
    case RopeType::standard:
      break;
    case RopeType::linear:
      for (auto& f : t.inv_freq) f /= static_cast<float>(r.factor);
      break;
    case RopeType::llama3: {
      const float factor = static_cast<float>(r.factor);
      const float lo = static_cast<float>(r.low_freq_factor), hi = static_cast<float>(r.high_freq_factor);
      const float old_ctx = static_cast<float>(r.original_max_positions);
      const float low_wavelen = static_cast<float>(r.original_max_positions / r.low_freq_factor);
      const float high_wavelen = static_cast<float>(r.original_max_positions / r.high_freq_factor);
      for (auto& f : t.inv_freq) {
        const float wavelen = static_cast<float>(2.0 * M_PI) / f;
        float scaled = wavelen > low_wavelen ? f / factor : f;
        const float smooth = (old_ctx / wavelen - lo) / (hi - lo);
        const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
        const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
        f = medium ? smoothed : scaled;
      }
      break;
    }
    case RopeType::yarn: {
      const double factor = r.factor;
      double attn;
      if (r.attention_factor) attn = *r.attention_factor;
      else if (r.mscale && r.mscale_all_dim && *r.mscale != 0.0 && *r.mscale_all_dim != 0.0)
        attn = yarn_mscale(factor, *r.mscale) / yarn_mscale(factor, *r.mscale_all_dim);
      else attn = yarn_mscale(factor, 1.0);
      t.attention_scaling = static_cast<float>(attn);

      double low = yarn_correction_dim(r.beta_fast, dim, r.theta, r.original_max_positions);
      double high = yarn_correction_dim(r.beta_slow, dim, r.theta, r.original_max_positions);
      if (r.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;
      const float flow = static_cast<float>(low), span = static_cast<float>(high - low);
      for (int i = 0; i < half; ++i) {
        const float pf = pos_freq(r.theta, i, dim);
        const float extrap = 1.0f / pf;
        const float interp = 1.0f / (static_cast<float>(factor) * pf);
        const float ramp = std::clamp((static_cast<float>(i) - flow) / span, 0.0f, 1.0f);
        const float extrap_factor = 1.0f - ramp;
        t.inv_freq[i] = interp * (1.0f - extrap_factor) + extrap * extrap_factor;
      }
      break;
    }
  }
  return t;
}

void rope_cos_sin(const RopeTable& t, int position, float* cos, float* sin) {
  const float p = static_cast<float>(position);
  const std::size_t half = t.inv_freq.size();
  for (std::size_t i = 0; i < half; ++i) {
    const float angle = t.inv_freq[i] * p;
    cos[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * t.attention_scaling;
    sin[i] = static_cast<float>(std::sin(static_cast<double>(angle))) * t.attention_scaling;
  }
}

void rope_apply(float* x, int head_dim, const float* cos, const float* sin) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

}  // namespace nibble
