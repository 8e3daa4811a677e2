// Reading the fp16/bf16 input model one piece at a time for the quantizer: a decoder layer's
// linears and norms, the embedding rows of calibration tokens, the final norm and the head.
// Owns no file (the WeightSource does). Used by the measurement, quantization and head stages.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "model/weight_source.h"
#include "quant/candidates.h"
#include "quant/layer_eval.h"

namespace nibble::quant {

// The source linears of one block, in block_linear_suffix order.
Result<std::vector<LinearDesc>> block_linears(const WeightSource& ws, int layer, BlockKind kind);

// The layer's weights as stored (fp16/bf16 kept, fp32 otherwise) plus its norms.
Result<LayerWeights> load_layer_weights(const WeightSource& ws, int layer, ThreadPool& pool);

// [N][K] fp32 of a source linear and its bias ([N] fp32, empty when none).
Result<std::vector<float>> linear_f32(const LinearDesc& d);
std::vector<float> linear_bias(const LinearDesc& d);

// x: [ids.size()][hidden] fp32 embedding rows.
Result<std::vector<float>> embed_tokens(const WeightSource& ws, const std::vector<std::int32_t>& ids);

// A float tensor as fp32 (norm weights).
Result<std::vector<float>> dense_f32(const WeightSource& ws, const std::string& name, std::int64_t n);

}  // namespace nibble::quant
