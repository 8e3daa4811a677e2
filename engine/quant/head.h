// The output head: GPTQ of lm_head (or of the tied embeddings, written as lm_head) from the final
// normed hidden states, choosing among the head mixes of --head-bits the one with the smallest
// GPTQ loss whose stored size stays within head_bits + 0.75 bpw; and the calibration perplexity of
// a head over final hidden states. Called by the orchestration after the last layer.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "quant/quantize_block.h"

namespace nibble::quant {

// Headroom over head_bits for the head's stored size (scales, tables and a wider part on top).
inline constexpr double kHeadHeadroom = 0.75;

struct HeadResult {
  QuantizedLinear linear;
  std::vector<std::pair<std::string, double>> tried;  // mix name -> GPTQ loss
};

// normed: [tokens][hidden], the final RMSNorm of the quantized model's last hidden states.
Result<HeadResult> quantize_head(QuantCompute& qc, const WeightSource& ws, const float* normed, std::int64_t tokens,
                                 int head_bits, const std::atomic<bool>* cancel);

// exp(mean NLL) of ids[t + 1] given logits of normed[t] within each row of `length` tokens,
// over `seqs` rows; head: [vocab][hidden].
double calibration_perplexity(QuantCompute& qc, const CpuMatrix& head, const float* normed, const std::int32_t* ids,
                              int seqs, int length);

}  // namespace nibble::quant
