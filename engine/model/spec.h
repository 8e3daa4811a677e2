// ModelSpec: everything the forward pass needs to know about an architecture, read from
// config.json (both the classic and the transformers 5 conventions). Owns no weights; the tensor
// side is WeightSource's. Built by parse_model_spec; read by model/, the backends and the quantizer.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nibble/error.h"

namespace nibble {

enum class Architecture : std::uint8_t { llama, mistral, qwen2, qwen3 };
std::string_view architecture_family(Architecture a);  // "llama", "mistral", ...

enum class RopeType : std::uint8_t { standard, linear, llama3, yarn };  // "default" is `standard`
std::string_view rope_type_name(RopeType t);

struct RopeSpec {
  RopeType type = RopeType::standard;
  double theta = 10000.0;
  double factor = 1.0;                      // linear, llama3, yarn
  double low_freq_factor = 1.0;             // llama3
  double high_freq_factor = 4.0;            // llama3
  int original_max_positions = 0;           // llama3, yarn (yarn: defaults to max_positions)
  std::optional<double> attention_factor;   // yarn; absent: derived from factor/mscale
  double beta_fast = 32.0;                  // yarn
  double beta_slow = 1.0;                   // yarn
  std::optional<double> mscale;             // yarn
  std::optional<double> mscale_all_dim;     // yarn
  bool truncate = true;                     // yarn: floor/ceil the correction range
};

// quantization_config as far as loading needs it; tensor names decide the per-layer format.
struct QuantConfig {
  std::string method;        // "" (none), "gptq", "exl2"
  int bits = 0;              // gptq: 2/3/4/8
  int group_size = 0;        // gptq: rows per group, 0 = unknown (infer), -1 = one group
  bool gptq_v2 = false;      // zero points stored as is (checkpoint_format "gptq_v2")
  bool sym = true;
  bool desc_act = false;
};

struct ModelSpec {
  std::string architecture_name;  // config architectures[0], e.g. "LlamaForCausalLM"
  std::string model_type;         // config model_type
  Architecture arch = Architecture::llama;
  bool loaded_as_llama = false;   // an unknown architecture proven Llama-shaped (see WeightSource)

  int hidden_size = 0;
  int intermediate_size = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;               // explicit head_dim, else hidden_size / n_heads
  int vocab_size = 0;
  double rms_norm_eps = 1e-6;
  RopeSpec rope;
  int max_positions = 2048;       // max_position_embeddings

  bool tie_word_embeddings = false;
  bool qkv_bias = false;          // Qwen2 always; Llama/Qwen3 with attention_bias
  bool o_bias = false;            // Llama/Qwen3 with attention_bias
  bool mlp_bias = false;          // Llama mlp_bias
  bool qk_norm = false;           // Qwen3: per-head RMSNorm of q and k before RoPE
  std::vector<int> sliding_window;  // [n_layers]; 0 = full causal attention in that layer

  std::optional<int> bos_id;
  std::vector<int> eos_ids;       // config eos_token_id (+ generation_config.json, added by WeightSource)
  std::string dtype;              // "float16", "bfloat16", "float32" or "" (dtype / torch_dtype)
  QuantConfig quant;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

// Parses config.json text; `file` names it in errors. format: malformed or missing/contradictory
// sizes; unsupported: an architecture, activation, RoPE type or quantization method Nibble does not
// run. An architecture outside the known four is returned with `needs_llama_proof` set so the
// caller can check the tensors before accepting it as Llama (WeightSource does).
struct ParsedSpec {
  ModelSpec spec;
  bool needs_llama_proof = false;
  std::vector<std::string> non_llama_keys;  // config keys that no Llama config has (non-empty: refuse)
};
Result<ParsedSpec> parse_model_spec(std::string_view config_json, const std::string& file);

}  // namespace nibble
