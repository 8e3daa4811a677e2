// ModelInfo: walks every linear layer once and summarises formats per layer type.
#include "model/model_info.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "formats/exl2.h"

namespace nibble {
namespace {

struct TypeAcc {
  std::set<std::string> formats;
  std::set<int> exl2_bits;
  std::string gptq_detail;
  double bits = 0;
  double weights = 0;
  std::int64_t params = 0;
  int count = 0;
  int order = 0;
};

Status add_linear(std::map<std::string, TypeAcc>& acc, const std::string& type, const LinearDesc& d) {
  auto& a = acc[type];
  if (a.count == 0) a.order = static_cast<int>(acc.size());
  const double weights = static_cast<double>(d.K) * d.N;
  a.formats.insert(std::string(linear_format_name(d.format)));
  a.bits += d.bits_per_weight() * weights;
  a.weights += weights;
  a.params += static_cast<std::int64_t>(d.K) * d.N + (d.bias ? d.N : 0);
  a.count += 1;
  if (d.format == LinearFormat::exl2) {
    NIBBLE_ASSIGN_OR_RETURN(auto groups, exl2_groups(d));
    for (const auto& g : groups) a.exl2_bits.insert(g.bits);
  }
  if (d.format == LinearFormat::gptq) {
    std::ostringstream s;
    s << d.gptq.bits << "-bit";
    if (d.gptq.scales.rank() == 2 && d.gptq.scales.shape[0] > 0) s << " g" << d.K / d.gptq.scales.shape[0];
    if (d.gptq.g_idx) s << " g_idx";
    s << (d.gptq.v2 ? " v2" : " v1");
    a.gptq_detail = s.str();
  }
  return {};
}

}  // namespace

Result<ModelInfo> build_model_info(const WeightSource& w) {
  const ModelSpec& s = w.spec();
  ModelInfo info;
  info.path = w.dir();
  info.architecture = s.architecture_name;
  info.model_type = s.model_type;
  info.family = std::string(architecture_family(s.arch));
  info.loaded_as_llama = s.loaded_as_llama;
  info.layers = s.n_layers;
  info.hidden_size = s.hidden_size;
  info.intermediate_size = s.intermediate_size;
  info.heads = s.n_heads;
  info.kv_heads = s.n_kv_heads;
  info.head_dim = s.head_dim;
  info.vocab_size = s.vocab_size;
  info.context_length = s.max_positions;
  for (int win : s.sliding_window) info.sliding_window = std::max(info.sliding_window, win);
  info.rms_norm_eps = s.rms_norm_eps;
  std::ostringstream rope;
  rope << rope_type_name(s.rope.type) << ", theta " << s.rope.theta;
  if (s.rope.type != RopeType::standard) rope << ", factor " << s.rope.factor;
  info.rope = rope.str();
  info.dtype = s.dtype;
  info.quant_method = s.quant.method;
  info.tied_embeddings = s.tie_word_embeddings;
  info.bos_id = s.bos_id;
  info.eos_ids = s.eos_ids;
  info.weight_bytes = w.tensors().total_bytes();
  info.weight_files = w.tensors().files_description();

  std::map<std::string, TypeAcc> acc;
  const int H = s.hidden_size;
  NIBBLE_ASSIGN_OR_RETURN(auto embed, w.linear("model.embed_tokens", H, s.vocab_size, false));
  NIBBLE_TRY(add_linear(acc, "embed_tokens", embed));
  std::int64_t norms = H;  // final norm
  if (auto t = w.dense("model.norm.weight", {H}); !t) return t.error();
  struct Lin { const char* name; int K; int N; bool bias; };
  const Lin lins[] = {{"self_attn.q_proj", H, s.q_dim(), s.qkv_bias},   {"self_attn.k_proj", H, s.kv_dim(), s.qkv_bias},
                      {"self_attn.v_proj", H, s.kv_dim(), s.qkv_bias},  {"self_attn.o_proj", s.q_dim(), H, s.o_bias},
                      {"mlp.gate_proj", H, s.intermediate_size, s.mlp_bias}, {"mlp.up_proj", H, s.intermediate_size, s.mlp_bias},
                      {"mlp.down_proj", s.intermediate_size, H, s.mlp_bias}};
  for (int l = 0; l < s.n_layers; ++l) {
    for (const char* norm : {"input_layernorm.weight", "post_attention_layernorm.weight"}) {
      auto t = w.dense(WeightSource::layer_name(l, norm), {H});
      if (!t) return t.error();
      norms += H;
    }
    if (s.qk_norm)
      for (const char* norm : {"self_attn.q_norm.weight", "self_attn.k_norm.weight"}) {
        auto t = w.dense(WeightSource::layer_name(l, norm), {s.head_dim});
        if (!t) return t.error();
        norms += s.head_dim;
      }
    for (const auto& lin : lins) {
      NIBBLE_ASSIGN_OR_RETURN(auto d, w.linear(WeightSource::layer_name(l, lin.name), lin.K, lin.N, lin.bias));
      NIBBLE_TRY(add_linear(acc, lin.name, d));
    }
  }
  const bool own_head = w.tensors().find("lm_head.weight") || w.tensors().find("lm_head.q_weight") ||
                        w.tensors().find("lm_head.qweight");
  if (own_head || !s.tie_word_embeddings) {
    NIBBLE_ASSIGN_OR_RETURN(auto head, w.head());
    NIBBLE_TRY(add_linear(acc, "lm_head", head));
  }

  std::vector<std::pair<int, std::string>> order;
  for (const auto& [name, a] : acc) order.push_back({a.order, name});
  std::sort(order.begin(), order.end());
  info.parameters = norms;
  for (const auto& [o, name] : order) {
    const TypeAcc& a = acc[name];
    LayerTypeInfo t;
    t.name = name;
    if (a.formats.size() == 1) {
      t.format = *a.formats.begin();
    } else {
      t.format = "mixed:";
      for (const auto& f : a.formats) t.format += " " + f;
    }
    t.params = a.params;
    t.count = a.count;
    t.bits_per_weight = a.weights > 0 ? a.bits / a.weights : 0;
    if (!a.exl2_bits.empty()) {
      for (auto it = a.exl2_bits.rbegin(); it != a.exl2_bits.rend(); ++it) t.detail += (t.detail.empty() ? "" : "/") + std::to_string(*it);
      t.detail += "-bit groups";
    }
    if (!a.gptq_detail.empty()) t.detail = a.gptq_detail;
    info.parameters += a.params;
    info.layer_types.push_back(std::move(t));
  }
  return info;
}

Result<ModelInfo> inspect_model(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(auto ws, WeightSource::open(path));
  return build_model_info(*ws);
}

}  // namespace nibble
