// Token selection on the GPU so only the chosen id crosses to the host: greedy (argmax, lowest id
// on ties) or sampling with temperature, top-k, top-p and min-p via the Gumbel-max trick over the
// kept tokens, with a counter-based random stream (rng.h) the CPU sampler shares. sampling.cu.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace nibble::kernels {

struct SampleRow {
  float temperature = 0.0f;  // <= 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  std::uint64_t seed = 0;
  std::uint64_t step = 0;    // position in the sequence's random stream
};

// logits: [rows, vocab] fp32 with row stride ld; params: [rows] on the device; out: [rows].
int sample_rows(const float* logits, int ld, int vocab, int rows, const SampleRow* params, int* out,
                cudaStream_t stream);

}  // namespace nibble::kernels
