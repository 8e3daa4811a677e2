// config.json -> ModelSpec: both RoPE conventions (classic top-level keys and transformers 5
// rope_parameters/dtype), the four architectures' quirks, and typed errors for missing or
// contradictory sizes and unsupported settings.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "model/spec.h"

namespace nibble {
namespace {

std::string base(const std::string& extra, const std::string& arch = "LlamaForCausalLM") {
  return R"({"architectures":[")" + arch + R"("],"hidden_size":256,"intermediate_size":512,)"
         R"("num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":2,"vocab_size":1000)" +
         (extra.empty() ? "" : "," + extra) + "}";
}

ModelSpec parse_ok(const std::string& text) {
  auto r = parse_model_spec(text, "config.json");
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().to_string());
  return r ? r->spec : ModelSpec{};
}

Error parse_fail(const std::string& text) {
  auto r = parse_model_spec(text, "config.json");
  EXPECT_FALSE(r.ok()) << text;
  return r ? Error{} : r.error();
}

TEST(Spec, DemoModelConfig) {
  std::ifstream in(std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m/config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const ModelSpec s = parse_ok(ss.str());
  EXPECT_EQ(s.arch, Architecture::llama);
  EXPECT_EQ(s.hidden_size, 384);
  EXPECT_EQ(s.intermediate_size, 1024);
  EXPECT_EQ(s.n_layers, 8);
  EXPECT_EQ(s.n_heads, 6);
  EXPECT_EQ(s.n_kv_heads, 2);
  EXPECT_EQ(s.head_dim, 64);
  EXPECT_EQ(s.vocab_size, 4096);
  EXPECT_DOUBLE_EQ(s.rms_norm_eps, 1e-5);
  EXPECT_EQ(s.rope.type, RopeType::standard);
  EXPECT_EQ(s.rope.theta, 10000.0);
  EXPECT_EQ(s.dtype, "float16");
  EXPECT_EQ(s.max_positions, 2048);
  EXPECT_FALSE(s.tie_word_embeddings);
  EXPECT_EQ(s.bos_id, 0);
  EXPECT_EQ(s.eos_ids, std::vector<int>{2});
}

TEST(Spec, ClassicRopeKeys) {
  const ModelSpec s = parse_ok(base(R"("rope_theta":500000.0,"torch_dtype":"bfloat16","rope_scaling":)"
                                    R"({"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,)"
                                    R"("original_max_position_embeddings":8192})"));
  EXPECT_EQ(s.rope.theta, 500000.0);
  EXPECT_EQ(s.rope.type, RopeType::llama3);
  EXPECT_EQ(s.rope.factor, 8.0);
  EXPECT_EQ(s.rope.original_max_positions, 8192);
  EXPECT_EQ(s.dtype, "bfloat16");
  const ModelSpec legacy = parse_ok(base(R"("rope_scaling":{"type":"linear","factor":2.0})"));
  EXPECT_EQ(legacy.rope.type, RopeType::linear);
  EXPECT_EQ(legacy.rope.factor, 2.0);
}

TEST(Spec, TransformersFiveRopeParameters) {
  const ModelSpec s = parse_ok(base(R"("dtype":"float16","rope_theta":10000.0,"max_position_embeddings":131072,)"
                                    R"("rope_parameters":{"rope_type":"yarn","rope_theta":1000000.0,"factor":4.0,)"
                                    R"("original_max_position_embeddings":32768,"beta_fast":16})"));
  EXPECT_EQ(s.rope.theta, 1000000.0);  // rope_parameters wins, as in transformers
  EXPECT_EQ(s.rope.type, RopeType::yarn);
  EXPECT_EQ(s.rope.factor, 4.0);
  EXPECT_EQ(s.rope.original_max_positions, 32768);
  EXPECT_EQ(s.rope.beta_fast, 16.0);
  EXPECT_EQ(s.rope.beta_slow, 1.0);
  EXPECT_EQ(s.dtype, "float16");
  const ModelSpec d = parse_ok(base(R"("rope_parameters":{"rope_type":"default","rope_theta":1000000.0})"));
  EXPECT_EQ(d.rope.theta, 1000000.0);
}

TEST(Spec, ArchitectureQuirks) {
  const ModelSpec q2 = parse_ok(base(R"("use_sliding_window":true,"sliding_window":4096,"max_window_layers":2)",
                                     "Qwen2ForCausalLM"));
  EXPECT_EQ(q2.arch, Architecture::qwen2);
  EXPECT_TRUE(q2.qkv_bias);
  EXPECT_FALSE(q2.o_bias);
  EXPECT_EQ(q2.sliding_window, (std::vector<int>{0, 0, 4096, 4096}));
  const ModelSpec q2_off = parse_ok(base(R"("use_sliding_window":false,"sliding_window":4096)", "Qwen2ForCausalLM"));
  EXPECT_EQ(q2_off.sliding_window, (std::vector<int>{0, 0, 0, 0}));

  const ModelSpec q3 = parse_ok(base(R"("head_dim":128,"attention_bias":false)", "Qwen3ForCausalLM"));
  EXPECT_TRUE(q3.qk_norm);
  EXPECT_EQ(q3.head_dim, 128);  // explicit, not hidden / heads
  EXPECT_EQ(q3.q_dim(), 1024);
  EXPECT_FALSE(q3.qkv_bias);

  const ModelSpec m = parse_ok(base(R"("sliding_window":4096)", "MistralForCausalLM"));
  EXPECT_EQ(m.sliding_window, (std::vector<int>{4096, 4096, 4096, 4096}));
  const ModelSpec m0 = parse_ok(base(R"("sliding_window":null)", "MistralForCausalLM"));
  EXPECT_EQ(m0.sliding_window, (std::vector<int>{0, 0, 0, 0}));

  const ModelSpec lt = parse_ok(base(R"("sliding_window":128,"layer_types":["full_attention","sliding_attention",)"
                                     R"("full_attention","sliding_attention"])", "Qwen3ForCausalLM"));
  EXPECT_EQ(lt.sliding_window, (std::vector<int>{0, 128, 0, 128}));

  const ModelSpec llama = parse_ok(base(R"("attention_bias":true,"mlp_bias":true,"tie_word_embeddings":true,"eos_token_id":[1,2])"));
  EXPECT_TRUE(llama.qkv_bias && llama.o_bias && llama.mlp_bias && llama.tie_word_embeddings);
  EXPECT_EQ(llama.eos_ids, (std::vector<int>{1, 2}));
  EXPECT_EQ(llama.head_dim, 32);
}

TEST(Spec, MissingAndContradictorySizes) {
  auto missing = parse_fail(R"({"architectures":["LlamaForCausalLM"],"intermediate_size":512,"num_hidden_layers":4,)"
                            R"("num_attention_heads":8,"vocab_size":1000})");
  EXPECT_EQ(missing.kind, ErrorKind::format);
  EXPECT_NE(missing.message.find("config.json"), std::string::npos);
  EXPECT_NE(missing.message.find("hidden_size"), std::string::npos);

  auto gqa = parse_fail(base(R"("num_key_value_heads":3)"));
  EXPECT_EQ(gqa.kind, ErrorKind::format);
  EXPECT_NE(gqa.message.find("num_key_value_heads"), std::string::npos);

  auto heads = parse_fail(base(R"("num_attention_heads":7,"num_key_value_heads":7)"));
  EXPECT_NE(heads.message.find("not divisible"), std::string::npos) << heads.message;

  EXPECT_EQ(parse_fail(base(R"("head_dim":63)")).kind, ErrorKind::format);
  EXPECT_EQ(parse_fail(base(R"("hidden_size":-4)")).kind, ErrorKind::format);
  EXPECT_EQ(parse_fail(base(R"("vocab_size":"big")")).kind, ErrorKind::format);
  EXPECT_EQ(parse_fail(base(R"("rope_scaling":{"rope_type":"llama3","factor":8.0})")).kind, ErrorKind::format);
  EXPECT_EQ(parse_fail(base(R"("layer_types":["full_attention"])")).kind, ErrorKind::format);
  EXPECT_EQ(parse_fail("{not json").kind, ErrorKind::format);
  EXPECT_EQ(parse_fail("[]").kind, ErrorKind::format);
}

TEST(Spec, UnsupportedSettings) {
  EXPECT_EQ(parse_fail(base(R"("rope_scaling":{"rope_type":"dynamic","factor":2.0})")).kind, ErrorKind::unsupported);
  EXPECT_EQ(parse_fail(base(R"("hidden_act":"gelu")")).kind, ErrorKind::unsupported);
  EXPECT_EQ(parse_fail(base(R"("quantization_config":{"quant_method":"awq"})")).kind, ErrorKind::unsupported);
  EXPECT_EQ(parse_fail(base(R"("partial_rotary_factor":0.5)")).kind, ErrorKind::unsupported);
}

TEST(Spec, QuantizationConfig) {
  const ModelSpec g = parse_ok(base(R"("quantization_config":{"quant_method":"gptq","bits":4,"group_size":128,)"
                                    R"("desc_act":true,"sym":false,"checkpoint_format":"gptq_v2"})"));
  EXPECT_EQ(g.quant.method, "gptq");
  EXPECT_EQ(g.quant.bits, 4);
  EXPECT_EQ(g.quant.group_size, 128);
  EXPECT_TRUE(g.quant.gptq_v2);
  EXPECT_TRUE(g.quant.desc_act);
  EXPECT_FALSE(g.quant.sym);
  const ModelSpec e = parse_ok(base(R"("quantization_config":{"quant_method":"exl2","bits":4.0})"));
  EXPECT_EQ(e.quant.method, "exl2");
}

TEST(Spec, UnknownArchitectureNeedsProof) {
  auto r = parse_model_spec(base(R"("embedding_multiplier":12.0)", "GraniteForCausalLM"), "config.json");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->needs_llama_proof);
  EXPECT_EQ(r->non_llama_keys, std::vector<std::string>{"embedding_multiplier"});
  auto plain = parse_model_spec(base("", "MyLlamaForCausalLM"), "config.json");
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->needs_llama_proof);
  EXPECT_TRUE(plain->non_llama_keys.empty());
  EXPECT_EQ(parse_fail(R"({"hidden_size":4})").kind, ErrorKind::format);  // names no architecture
  const Error gemma = parse_fail(base(R"("hidden_act":"gelu_pytorch_tanh")", "GemmaForCausalLM"));
  EXPECT_EQ(gemma.kind, ErrorKind::unsupported);
  EXPECT_NE(gemma.message.find("GemmaForCausalLM"), std::string::npos) << gemma.message;
}

}  // namespace
}  // namespace nibble
