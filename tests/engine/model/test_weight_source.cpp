// Loading bad model folders: each defect (missing tensor, wrong dtype or shape, NaN/inf in
// weights, config sizes contradicting the tensors, missing bias, unknown architectures) gives a
// typed error naming the file and the tensor; a provably Llama-shaped unknown architecture loads.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "../io/temp_dir.h"
#include "model/weight_source.h"
#include "nibble/model.h"
#include "tiny_model.h"

namespace nibble {
namespace {

Error open_error(test::TinyModel& m) {
  test::TempDir dir;
  m.write(dir.path());
  auto r = Model::load(dir.path());
  EXPECT_FALSE(r.ok());
  return r ? Error{} : r.error();
}

void expect_error(const Error& e, ErrorKind kind, const std::string& tensor, const std::string& file = "model.safetensors") {
  EXPECT_EQ(e.kind, kind) << e.to_string();
  EXPECT_NE(e.message.find(tensor), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(file), std::string::npos) << e.message;
}

TEST(WeightSource, TinyModelLoads) {
  test::TinyModel m;
  test::TempDir dir;
  m.write(dir.path());
  auto ws = WeightSource::open(dir.path());
  ASSERT_TRUE(ws) << ws.error().to_string();
  auto q = (*ws)->linear("model.layers.1.self_attn.q_proj", 64, 64, false);
  ASSERT_TRUE(q) << q.error().to_string();
  EXPECT_EQ(q->format, LinearFormat::f16);
  EXPECT_DOUBLE_EQ(q->bits_per_weight(), 16.0);
  auto model = Model::load(dir.path());
  ASSERT_TRUE(model) << model.error().to_string();
}

TEST(WeightSource, MissingTensor) {
  test::TinyModel m;
  m.tensors().erase("model.layers.1.mlp.up_proj.weight");
  expect_error(open_error(m), ErrorKind::format, "'model.layers.1.mlp.up_proj.weight'");
}

TEST(WeightSource, WrongShape) {
  test::TinyModel m;
  m.add_f16("model.layers.0.self_attn.k_proj.weight", {64, 64}, 0.1f);  // GQA says 32 rows
  const Error e = open_error(m);
  expect_error(e, ErrorKind::format, "'model.layers.0.self_attn.k_proj.weight'");
  EXPECT_NE(e.message.find("[32, 64]"), std::string::npos) << e.message;
}

TEST(WeightSource, WrongDtype) {
  test::TinyModel m;
  auto& t = m.tensors()["model.layers.0.input_layernorm.weight"];
  t.dtype = DType::i16;
  expect_error(open_error(m), ErrorKind::format, "'model.layers.0.input_layernorm.weight'");
  test::TinyModel w;
  w.tensors()["model.layers.1.mlp.down_proj.weight"].dtype = DType::i16;
  expect_error(open_error(w), ErrorKind::format, "'model.layers.1.mlp.down_proj.weight'");
}

TEST(WeightSource, NonFiniteWeights) {
  test::TinyModel m;
  m.set_f16("model.layers.1.self_attn.o_proj.weight", 77, NAN);
  const Error e = open_error(m);
  expect_error(e, ErrorKind::format, "'model.layers.1.self_attn.o_proj.weight'");
  EXPECT_NE(e.message.find("element 77"), std::string::npos) << e.message;
  test::TinyModel inf;
  inf.set_f16("model.embed_tokens.weight", 5, INFINITY);
  expect_error(open_error(inf), ErrorKind::format, "'model.embed_tokens.weight'");
  test::TinyModel norm;
  norm.set_f16("model.norm.weight", 0, -INFINITY);
  expect_error(open_error(norm), ErrorKind::format, "'model.norm.weight'");
}

TEST(WeightSource, ConfigContradictsTensors) {
  test::TinyModel m;
  m.config()["intermediate_size"] = 128;
  expect_error(open_error(m), ErrorKind::format, "mlp.gate_proj.weight");
  test::TinyModel missing;
  missing.config().erase("num_hidden_layers");
  expect_error(open_error(missing), ErrorKind::format, "num_hidden_layers", "config.json");
}

TEST(WeightSource, Qwen2NeedsItsBiases) {
  test::TinyModel m(2, "Qwen2ForCausalLM");
  expect_error(open_error(m), ErrorKind::format, "'model.layers.0.self_attn.q_proj.bias'");
}

TEST(WeightSource, UnknownArchitectures) {
  test::TinyModel extra(2, "FancyForCausalLM");
  extra.add_norm("model.layers.0.self_attn.q_norm.weight", 16);
  const Error e = open_error(extra);
  expect_error(e, ErrorKind::unsupported, "FancyForCausalLM", "config.json");
  EXPECT_NE(e.message.find("q_norm"), std::string::npos) << e.message;

  test::TinyModel granite(2, "GraniteForCausalLM");
  granite.config()["residual_multiplier"] = 0.22;
  EXPECT_NE(open_error(granite).message.find("residual_multiplier"), std::string::npos);
}

TEST(WeightSource, LlamaShapedUnknownArchitectureLoadsAsLlama) {
  test::TinyModel a(2, "LlamaForCausalLM", 5), b(2, "HomebrewForCausalLM", 5);
  b.config()["model_type"] = "homebrew";
  test::TempDir da, db;
  a.write(da.path());
  b.write(db.path());
  auto ma = Model::load(da.path());
  auto mb = Model::load(db.path());
  ASSERT_TRUE(ma && mb) << (mb ? "" : mb.error().to_string());
  EXPECT_TRUE((*mb)->info().loaded_as_llama);
  EXPECT_FALSE((*ma)->info().loaded_as_llama);
  const std::vector<std::int32_t> ids = {1, 5, 9, 100, 3};
  std::vector<float> la, lb;
  ASSERT_TRUE((*ma)->new_sequence()->append(ids, false, la).ok());
  ASSERT_TRUE((*mb)->new_sequence()->append(ids, false, lb).ok());
  EXPECT_EQ(la, lb);
}

TEST(WeightSource, TiedEmbeddingsServeAsTheHead) {
  test::TinyModel tied(2, "LlamaForCausalLM", 9), untied(2, "LlamaForCausalLM", 9);
  tied.tensors().erase("lm_head.weight");
  tied.config()["tie_word_embeddings"] = true;
  untied.tensors()["lm_head.weight"] = untied.tensors()["model.embed_tokens.weight"];
  test::TempDir dt, du;
  tied.write(dt.path());
  untied.write(du.path());
  auto mt = Model::load(dt.path());
  auto mu = Model::load(du.path());
  ASSERT_TRUE(mt && mu) << (mt ? "" : mt.error().to_string());
  const std::vector<std::int32_t> ids = {7, 8, 9};
  std::vector<float> lt, lu;
  ASSERT_TRUE((*mt)->new_sequence()->append(ids, true, lt).ok());
  ASSERT_TRUE((*mu)->new_sequence()->append(ids, true, lu).ok());
  EXPECT_EQ(lt, lu);
  EXPECT_EQ((*mt)->info().parameters + 128 * 64, (*mu)->info().parameters);
  test::TinyModel neither(2);
  neither.tensors().erase("lm_head.weight");
  expect_error(open_error(neither), ErrorKind::format, "'lm_head.weight'");
}

}  // namespace
}  // namespace nibble
