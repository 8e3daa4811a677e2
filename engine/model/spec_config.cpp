// config.json -> ModelSpec. JSON access goes through small typed readers that name the file and
// the key in every error; nlohmann exceptions stay inside this file.
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "model/spec.h"
#include "model/spec_rope_config.h"

namespace nibble {
namespace {

using json = nlohmann::json;

Error bad(const std::string& file, const std::string& what) {
  return make_error(ErrorKind::format, file, ": ", what);
}

// Integer key in [lo, hi]; absent or null -> fallback (nullopt fallback = required).
Result<int> get_int(const json& j, const std::string& file, const char* key, std::optional<int> fallback,
                    long long lo, long long hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (!fallback) return bad(file, std::string("missing required '") + key + "'");
    return *fallback;
  }
  long long v;
  if (it->is_number_integer()) v = it->get<long long>();
  else if (it->is_number_unsigned()) v = static_cast<long long>(std::min<unsigned long long>(it->get<unsigned long long>(), 1ull << 62));
  else return bad(file, std::string("'") + key + "' must be an integer");
  if (v < lo || v > hi)
    return bad(file, std::string("'") + key + "' = " + std::to_string(v) + " is out of range [" + std::to_string(lo) +
                         ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

Result<bool> get_bool(const json& j, const std::string& file, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return bad(file, std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

Result<double> get_double(const json& j, const std::string& file, const char* key, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) return bad(file, std::string("'") + key + "' must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) return bad(file, std::string("'") + key + "' is not finite");
  return v;
}

// Token ids: an int, a list of ints, or null.
Result<std::vector<int>> get_ids(const json& j, const std::string& file, const char* key) {
  std::vector<int> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  auto one = [&](const json& v) -> Status {
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > (1 << 30))
      return bad(file, std::string("'") + key + "' must hold non-negative token ids");
    out.push_back(static_cast<int>(v.get<long long>()));
    return {};
  };
  if (it->is_array()) {
    for (const auto& v : *it) NIBBLE_TRY(one(v));
  } else {
    NIBBLE_TRY(one(*it));
  }
  return out;
}

// Keys a LlamaConfig (or any PretrainedConfig) may carry; anything else may change the math.
const std::set<std::string>& llama_config_keys() {
  static const std::set<std::string> keys = {
      "architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
      "num_attention_heads", "num_key_value_heads", "hidden_act", "max_position_embeddings", "initializer_range",
      "rms_norm_eps", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "pretraining_tp",
      "tie_word_embeddings", "rope_theta", "rope_scaling", "rope_parameters", "attention_bias", "attention_dropout",
      "mlp_bias", "head_dim", "torch_dtype", "dtype", "transformers_version", "_name_or_path", "quantization_config",
      "auto_map", "return_dict", "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16",
      "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder",
      "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder", "max_length", "min_length",
      "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k",
      "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
      "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
      "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
      "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "finetuning_task", "id2label",
      "label2id", "tokenizer_class", "prefix", "sep_token_id", "decoder_start_token_id", "task_specific_params",
      "problem_type", "use_return_dict", "layer_types"};
  return keys;
}

Status read_quant(const json& j, const std::string& file, QuantConfig& q) {
  auto it = j.find("quantization_config");
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_object()) return bad(file, "'quantization_config' must be an object");
  const auto& qc = *it;
  auto m = qc.find("quant_method");
  if (m == qc.end() || !m->is_string()) return bad(file, "quantization_config has no 'quant_method'");
  q.method = m->get<std::string>();
  if (q.method == "exl2") return {};
  if (q.method != "gptq")
    return make_error(ErrorKind::unsupported, file, ": quantization method '", q.method,
                      "' is not supported (Nibble runs EXL2 and GPTQ)");
  NIBBLE_ASSIGN_OR_RETURN(q.bits, get_int(qc, file, "bits", 4, 2, 8));
  NIBBLE_ASSIGN_OR_RETURN(q.group_size, get_int(qc, file, "group_size", 0, -1, 1 << 20));
  NIBBLE_ASSIGN_OR_RETURN(q.sym, get_bool(qc, file, "sym", true));
  NIBBLE_ASSIGN_OR_RETURN(q.desc_act, get_bool(qc, file, "desc_act", false));
  for (const char* key : {"checkpoint_format", "format"}) {
    auto f = qc.find(key);
    if (f != qc.end() && f->is_string() && f->get<std::string>() == "gptq_v2") q.gptq_v2 = true;
  }
  return {};
}

Status read_sliding(const json& j, const std::string& file, ModelSpec& s) {
  s.sliding_window.assign(static_cast<std::size_t>(s.n_layers), 0);
  NIBBLE_ASSIGN_OR_RETURN(int window, get_int(j, file, "sliding_window", 0, 0, 1 << 30));
  auto lt = j.find("layer_types");
  if (lt != j.end() && !lt->is_null()) {
    if (!lt->is_array() || lt->size() != static_cast<std::size_t>(s.n_layers))
      return bad(file, "'layer_types' must list one entry per layer (" + std::to_string(s.n_layers) + ")");
    for (int i = 0; i < s.n_layers; ++i) {
      const auto& t = (*lt)[static_cast<std::size_t>(i)];
      const std::string name = t.is_string() ? t.get<std::string>() : "";
      if (name == "full_attention") continue;
      if (name != "sliding_attention")
        return make_error(ErrorKind::unsupported, file, ": layer type '", name, "' of layer ", i, " is not supported");
      if (window <= 0) return bad(file, "layer " + std::to_string(i) + " uses sliding attention but 'sliding_window' is not set");
      s.sliding_window[static_cast<std::size_t>(i)] = window;
    }
    return {};
  }
  if (window <= 0) return {};
  if (s.arch == Architecture::mistral) {
    std::fill(s.sliding_window.begin(), s.sliding_window.end(), window);
  } else if (s.arch == Architecture::qwen2 || s.arch == Architecture::qwen3) {
    NIBBLE_ASSIGN_OR_RETURN(bool use, get_bool(j, file, "use_sliding_window", false));
    NIBBLE_ASSIGN_OR_RETURN(int from, get_int(j, file, "max_window_layers", 28, 0, 1 << 20));
    if (use)
      for (int i = from; i < s.n_layers; ++i) s.sliding_window[static_cast<std::size_t>(i)] = window;
  }
  return {};
}

Result<ParsedSpec> parse_object(const json& j, const std::string& file) {
  if (!j.is_object()) return bad(file, "not a JSON object");
  ParsedSpec out;
  ModelSpec& s = out.spec;
  if (auto mt = j.find("model_type"); mt != j.end() && mt->is_string()) s.model_type = mt->get<std::string>();
  auto ar = j.find("architectures");
  if (ar != j.end() && ar->is_array() && !ar->empty() && (*ar)[0].is_string()) s.architecture_name = (*ar)[0].get<std::string>();
  struct Known { const char* name; const char* model_type; Architecture arch; };
  static const Known known[] = {{"LlamaForCausalLM", "llama", Architecture::llama},
                                {"MistralForCausalLM", "mistral", Architecture::mistral},
                                {"Qwen2ForCausalLM", "qwen2", Architecture::qwen2},
                                {"Qwen3ForCausalLM", "qwen3", Architecture::qwen3}};
  bool found = false;
  for (const auto& k : known) {
    if (s.architecture_name == k.name || (s.architecture_name.empty() && s.model_type == k.model_type)) {
      s.arch = k.arch;
      if (s.architecture_name.empty()) s.architecture_name = k.name;
      found = true;
    }
  }
  if (!found) {
    if (s.architecture_name.empty() && s.model_type.empty())
      return bad(file, "names no architecture ('architectures' and 'model_type' are missing)");
    out.needs_llama_proof = true;
    s.arch = Architecture::llama;
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!llama_config_keys().count(it.key())) out.non_llama_keys.push_back(it.key());
  }

  NIBBLE_ASSIGN_OR_RETURN(s.hidden_size, get_int(j, file, "hidden_size", std::nullopt, 1, 1 << 17));
  NIBBLE_ASSIGN_OR_RETURN(s.intermediate_size, get_int(j, file, "intermediate_size", std::nullopt, 1, 1 << 20));
  NIBBLE_ASSIGN_OR_RETURN(s.n_layers, get_int(j, file, "num_hidden_layers", std::nullopt, 1, 1024));
  NIBBLE_ASSIGN_OR_RETURN(s.n_heads, get_int(j, file, "num_attention_heads", std::nullopt, 1, 1024));
  NIBBLE_ASSIGN_OR_RETURN(s.n_kv_heads, get_int(j, file, "num_key_value_heads", s.n_heads, 1, 1024));
  NIBBLE_ASSIGN_OR_RETURN(s.vocab_size, get_int(j, file, "vocab_size", std::nullopt, 1, 1 << 24));
  NIBBLE_ASSIGN_OR_RETURN(s.max_positions, get_int(j, file, "max_position_embeddings", 2048, 1, 1 << 30));
  if (s.n_kv_heads > s.n_heads || s.n_heads % s.n_kv_heads != 0)
    return bad(file, "num_attention_heads (" + std::to_string(s.n_heads) + ") is not a multiple of num_key_value_heads (" +
                         std::to_string(s.n_kv_heads) + ")");
  auto hd = j.find("head_dim");
  if (hd == j.end() || hd->is_null()) {
    if (s.hidden_size % s.n_heads != 0)
      return bad(file, "hidden_size (" + std::to_string(s.hidden_size) + ") is not divisible by num_attention_heads (" +
                           std::to_string(s.n_heads) + ") and there is no head_dim");
    s.head_dim = s.hidden_size / s.n_heads;
  } else {
    NIBBLE_ASSIGN_OR_RETURN(s.head_dim, get_int(j, file, "head_dim", std::nullopt, 2, 1024));
  }
  if (s.head_dim % 2 != 0) return bad(file, "head_dim " + std::to_string(s.head_dim) + " is odd (RoPE needs pairs)");

  NIBBLE_ASSIGN_OR_RETURN(s.rms_norm_eps, get_double(j, file, "rms_norm_eps", 1e-6));
  if (!(s.rms_norm_eps > 0.0 && s.rms_norm_eps < 1.0)) return bad(file, "'rms_norm_eps' must be in (0, 1)");
  NIBBLE_ASSIGN_OR_RETURN(s.tie_word_embeddings, get_bool(j, file, "tie_word_embeddings", false));

  auto act = j.find("hidden_act");
  const std::string act_name = (act != j.end() && act->is_string()) ? act->get<std::string>() : "silu";
  if (act_name != "silu" && act_name != "swish") {
    if (out.needs_llama_proof)
      return make_error(ErrorKind::unsupported, file, ": architecture '", s.architecture_name.empty() ? s.model_type : s.architecture_name,
                        "' is not supported (its hidden_act '", act_name, "' is not Llama's silu)");
    return make_error(ErrorKind::unsupported, file, ": hidden_act '", act_name, "' is not supported (Nibble runs SwiGLU/silu MLPs)");
  }

  NIBBLE_ASSIGN_OR_RETURN(bool attention_bias, get_bool(j, file, "attention_bias", false));
  NIBBLE_ASSIGN_OR_RETURN(s.mlp_bias, get_bool(j, file, "mlp_bias", false));
  switch (s.arch) {
    case Architecture::llama: s.qkv_bias = s.o_bias = attention_bias; break;
    case Architecture::mistral: s.mlp_bias = false; break;
    case Architecture::qwen2: s.qkv_bias = true; s.mlp_bias = false; break;
    case Architecture::qwen3: s.qkv_bias = s.o_bias = attention_bias; s.qk_norm = true; s.mlp_bias = false; break;
  }

  NIBBLE_TRY(read_rope_config(j, file, s));
  NIBBLE_TRY(read_sliding(j, file, s));

  NIBBLE_ASSIGN_OR_RETURN(auto bos, get_ids(j, file, "bos_token_id"));
  if (!bos.empty()) s.bos_id = bos.front();
  NIBBLE_ASSIGN_OR_RETURN(s.eos_ids, get_ids(j, file, "eos_token_id"));
  for (const char* key : {"dtype", "torch_dtype"}) {
    auto d = j.find(key);
    if (d != j.end() && d->is_string()) {
      s.dtype = d->get<std::string>();
      break;
    }
  }
  NIBBLE_TRY(read_quant(j, file, s.quant));
  return out;
}

}  // namespace

std::string_view architecture_family(Architecture a) {
  switch (a) {
    case Architecture::llama: return "llama";
    case Architecture::mistral: return "mistral";
    case Architecture::qwen2: return "qwen2";
    case Architecture::qwen3: return "qwen3";
  }
  return "?";
}

Result<ParsedSpec> parse_model_spec(std::string_view config_json, const std::string& file) {
  json j = json::parse(config_json.begin(), config_json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(file, "is not well-formed JSON");
  try {
    return parse_object(j, file);
  } catch (const std::exception& e) {
    return bad(file, e.what());
  }
}

}  // namespace nibble
