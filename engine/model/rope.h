// RoPE tables computed exactly as transformers computes them (fp32 tensor arithmetic in the same
// order) for the default, linear, llama3 and yarn types. Owns no per-position cache; backends
// build their own from these. Used by the CPU backend and, through the same table, the CUDA backend.
#pragma once

#include <vector>

#include "model/spec.h"

namespace nibble {

struct RopeTable {
  std::vector<float> inv_freq;    // [head_dim / 2] radians per position
  float attention_scaling = 1.0f; // multiplies cos and sin (yarn's attention factor; 1 otherwise)
};

RopeTable rope_table(const RopeSpec& rope, int head_dim);

// cos/sin for one position: angle_i = fp32(inv_freq[i] * position), then scaled.
// cos, sin: [head_dim / 2] each.
void rope_cos_sin(const RopeTable& table, int position, float* cos, float* sin);

// Rotates one head in place with the half-split (rotate_half) layout transformers uses:
// x[i] and x[i + d/2] form pair i. x: [head_dim] fp32; cos, sin: [head_dim / 2].
void rope_apply(float* x, int head_dim, const float* cos, const float* sin);

}  // namespace nibble
