// TinyModel: writes a small random Llama-family model folder (config.json + model.safetensors)
// for loader and forward tests; tensors can be dropped or altered before writing to make bad files.
#pragma once

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "util/half.h"

namespace nibble::test {

struct TinyTensor {
  DType dtype = DType::f16;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

class TinyModel {
 public:
  // Llama-shaped: hidden 64, intermediate 96, heads 4 (kv 2, head_dim 16), vocab 128.
  explicit TinyModel(int layers = 2, std::string arch = "LlamaForCausalLM", unsigned seed = 1) : rng_(seed) {
    config_ = {{"architectures", {arch}}, {"model_type", "llama"}, {"hidden_size", 64}, {"intermediate_size", 96},
               {"num_hidden_layers", layers}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
               {"vocab_size", 128}, {"rms_norm_eps", 1e-5}, {"max_position_embeddings", 512},
               {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
               {"tie_word_embeddings", false}, {"eos_token_id", 2}, {"bos_token_id", 1}};
    add_f16("model.embed_tokens.weight", {128, 64}, 1.0f);
    add_f16("lm_head.weight", {128, 64}, 0.125f);
    add_norm("model.norm.weight", 64);
    for (int l = 0; l < layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      add_norm(p + "input_layernorm.weight", 64);
      add_norm(p + "post_attention_layernorm.weight", 64);
      add_f16(p + "self_attn.q_proj.weight", {64, 64}, 0.125f);
      add_f16(p + "self_attn.k_proj.weight", {32, 64}, 0.125f);
      add_f16(p + "self_attn.v_proj.weight", {32, 64}, 0.125f);
      add_f16(p + "self_attn.o_proj.weight", {64, 64}, 0.125f);
      add_f16(p + "mlp.gate_proj.weight", {96, 64}, 0.125f);
      add_f16(p + "mlp.up_proj.weight", {96, 64}, 0.125f);
      add_f16(p + "mlp.down_proj.weight", {64, 96}, 0.1f);
    }
  }

  nlohmann::json& config() { return config_; }
  std::map<std::string, TinyTensor>& tensors() { return tensors_; }

  void add_f16(const std::string& name, std::vector<std::int64_t> shape, float scale) {
    TinyTensor t{DType::f16, shape, {}};
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    std::normal_distribution<float> dist(0.0f, scale);
    t.bytes.resize(static_cast<std::size_t>(n) * 2);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint16_t h = fp32_to_fp16(dist(rng_));
      std::memcpy(t.bytes.data() + i * 2, &h, 2);
    }
    tensors_[name] = std::move(t);
  }
  void add_norm(const std::string& name, std::int64_t n) {
    TinyTensor t{DType::f16, {n}, std::vector<std::uint8_t>(static_cast<std::size_t>(n) * 2)};
    std::uniform_real_distribution<float> dist(0.8f, 1.2f);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint16_t h = fp32_to_fp16(dist(rng_));
      std::memcpy(t.bytes.data() + i * 2, &h, 2);
    }
    tensors_[name] = std::move(t);
  }
  // Sets element i of an f16 tensor.
  void set_f16(const std::string& name, std::size_t i, float v) {
    const std::uint16_t h = fp32_to_fp16(v);
    std::memcpy(tensors_.at(name).bytes.data() + i * 2, &h, 2);
  }

  void write(const std::string& dir) const {
    std::vector<TensorToWrite> ts;
    for (const auto& [name, t] : tensors_) ts.push_back({name, t.dtype, t.shape, t.bytes});
    auto st = write_safetensors(dir + "/model.safetensors", ts);
    if (!st.ok()) throw std::runtime_error(st.error().to_string());
    std::ofstream(dir + "/config.json") << config_.dump(1);
  }

 private:
  std::mt19937 rng_;
  nlohmann::json config_;
  std::map<std::string, TinyTensor> tensors_;
};

}  // namespace nibble::test
