// Source model reads for the quantizer.
#include "quant/source_model.h"

namespace nibble::quant {

Result<std::vector<LinearDesc>> block_linears(const WeightSource& ws, int layer, BlockKind kind) {
  const ModelSpec& s = ws.spec();
  const int H = s.hidden_size, I = s.intermediate_size;
  std::vector<LinearDesc> out;
  auto add = [&](int i, int K, int N, bool bias) -> Status {
    NIBBLE_ASSIGN_OR_RETURN(LinearDesc d, ws.linear(WeightSource::layer_name(layer, block_linear_suffix(kind, i)), K, N, bias));
    out.push_back(std::move(d));
    return {};
  };
  if (kind == BlockKind::attn) {
    NIBBLE_TRY(add(0, H, s.q_dim(), s.qkv_bias));
    NIBBLE_TRY(add(1, H, s.kv_dim(), s.qkv_bias));
    NIBBLE_TRY(add(2, H, s.kv_dim(), s.qkv_bias));
    NIBBLE_TRY(add(3, s.q_dim(), H, s.o_bias));
  } else {
    NIBBLE_TRY(add(0, H, I, s.mlp_bias));
    NIBBLE_TRY(add(1, H, I, s.mlp_bias));
    NIBBLE_TRY(add(2, I, H, s.mlp_bias));
  }
  return out;
}

Result<std::vector<float>> dense_f32(const WeightSource& ws, const std::string& name, std::int64_t n) {
  NIBBLE_ASSIGN_OR_RETURN(TensorView t, ws.dense(name, {n}));
  std::vector<float> out(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.f(i);
  return out;
}

Result<LayerWeights> load_layer_weights(const WeightSource& ws, int layer, ThreadPool& pool) {
  const ModelSpec& s = ws.spec();
  LayerWeights w;
  NIBBLE_ASSIGN_OR_RETURN(w.attn_norm, dense_f32(ws, WeightSource::layer_name(layer, "input_layernorm.weight"), s.hidden_size));
  NIBBLE_ASSIGN_OR_RETURN(w.mlp_norm,
                          dense_f32(ws, WeightSource::layer_name(layer, "post_attention_layernorm.weight"), s.hidden_size));
  if (s.qk_norm) {
    NIBBLE_ASSIGN_OR_RETURN(w.q_norm, dense_f32(ws, WeightSource::layer_name(layer, "self_attn.q_norm.weight"), s.head_dim));
    NIBBLE_ASSIGN_OR_RETURN(w.k_norm, dense_f32(ws, WeightSource::layer_name(layer, "self_attn.k_norm.weight"), s.head_dim));
  }
  w.sliding_window = s.sliding_window.empty() ? 0 : s.sliding_window[static_cast<std::size_t>(layer)];
  NIBBLE_ASSIGN_OR_RETURN(auto attn, block_linears(ws, layer, BlockKind::attn));
  NIBBLE_ASSIGN_OR_RETURN(auto mlp, block_linears(ws, layer, BlockKind::mlp));
  CpuMatrix* dst[] = {&w.q, &w.k, &w.v, &w.o, &w.gate, &w.up, &w.down};
  for (int i = 0; i < 7; ++i) {
    const LinearDesc& d = i < 4 ? attn[static_cast<std::size_t>(i)] : mlp[static_cast<std::size_t>(i - 4)];
    NIBBLE_ASSIGN_OR_RETURN(*dst[i], cpu_matrix_from({&d}, pool));
  }
  return w;
}

Result<std::vector<float>> linear_f32(const LinearDesc& d) {
  std::vector<float> out(static_cast<std::size_t>(d.N) * static_cast<std::size_t>(d.K));
  NIBBLE_TRY(dequantize_linear(d, out.data()));
  return out;
}

std::vector<float> linear_bias(const LinearDesc& d) {
  std::vector<float> b;
  if (!d.bias) return b;
  b.resize(static_cast<std::size_t>(d.N));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = d.bias->f(i);
  return b;
}

Result<std::vector<float>> embed_tokens(const WeightSource& ws, const std::vector<std::int32_t>& ids) {
  const ModelSpec& s = ws.spec();
  NIBBLE_ASSIGN_OR_RETURN(TensorView e, ws.dense("model.embed_tokens.weight", {s.vocab_size, s.hidden_size}));
  const std::size_t H = static_cast<std::size_t>(s.hidden_size);
  std::vector<float> x(ids.size() * H);
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const std::int32_t id = ids[t];
    if (id < 0 || id >= s.vocab_size)
      return make_error(ErrorKind::invalid_argument, "calibration token id ", id, " is outside the vocabulary (", s.vocab_size, ")");
    for (std::size_t i = 0; i < H; ++i) x[t * H + i] = e.f(static_cast<std::size_t>(id) * H + i);
  }
  return x;
}

}  // namespace nibble::quant
