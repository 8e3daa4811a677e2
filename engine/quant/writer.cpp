// Output folder writer. Tensors are listed in model order and cut into shards greedily; each shard
// goes through the safetensors writer (temporary file + rename), so a killed job never leaves a
// truncated shard under its final name.
#include "quant/writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "quant/job_record.h"
#include "util/half.h"

namespace nibble::quant {
namespace fs = std::filesystem;
namespace {

const char* const kCopiedFiles[] = {"tokenizer.json",       "tokenizer_config.json", "generation_config.json",
                                    "chat_template.jinja",  "chat_template.json",    "special_tokens_map.json",
                                    "tokenizer.model",      "vocab.json",            "merges.txt",
                                    "added_tokens.json"};

struct Fp16Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<std::uint16_t> data;
};

Result<Fp16Tensor> to_fp16(const WeightSource& ws, const std::string& name, std::vector<std::int64_t> shape) {
  NIBBLE_ASSIGN_OR_RETURN(TensorView t, ws.dense(name, shape));
  Fp16Tensor out{name, shape, std::vector<std::uint16_t>(static_cast<std::size_t>(t.numel()))};
  for (std::size_t i = 0; i < out.data.size(); ++i) {
    const std::uint16_t h = fp32_to_fp16(t.f(i));
    if ((h & 0x7c00u) == 0x7c00u)
      return make_error(ErrorKind::unsupported, t.file, ": tensor '", name, "': element ", i, " (", t.f(i),
                        ") does not fit fp16, which EXL2 stores it as");
    out.data[i] = h;
  }
  return out;
}

Result<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::int64_t estimate_output_bytes(const ModelSpec& s, double bpw, int head_bits) {
  const std::int64_t H = s.hidden_size, I = s.intermediate_size;
  const std::int64_t per_layer = H * (s.q_dim() + 2 * s.kv_dim()) + s.q_dim() * H + 3 * H * I;
  const double decoder = static_cast<double>(per_layer) * s.n_layers * bpw / 8.0;
  const double head = static_cast<double>(H) * s.vocab_size * (head_bits + 1.0) / 8.0;
  const double dense = static_cast<double>(s.vocab_size) * H * 2.0 + static_cast<double>(H) * (2 * s.n_layers + 1) * 2.0;
  return static_cast<std::int64_t>(decoder + head + dense) + (1 << 20);
}

Result<std::vector<std::string>> write_exl2_folder(const WeightSource& ws, const OutputSpec& spec) {
  const ModelSpec& s = ws.spec();
  std::vector<Fp16Tensor> dense;
  NIBBLE_ASSIGN_OR_RETURN(auto embed, to_fp16(ws, "model.embed_tokens.weight", {s.vocab_size, s.hidden_size}));
  dense.push_back(std::move(embed));
  std::vector<SafetensorsFile> parts;
  std::vector<std::vector<std::size_t>> dense_of_layer(static_cast<std::size_t>(s.n_layers));
  for (int l = 0; l < s.n_layers; ++l) {
    std::vector<std::pair<const char*, std::int64_t>> norms = {{"input_layernorm.weight", s.hidden_size},
                                                               {"post_attention_layernorm.weight", s.hidden_size}};
    if (s.qk_norm) {
      norms.push_back({"self_attn.q_norm.weight", s.head_dim});
      norms.push_back({"self_attn.k_norm.weight", s.head_dim});
    }
    for (const auto& [suffix, n] : norms) {
      NIBBLE_ASSIGN_OR_RETURN(auto t, to_fp16(ws, WeightSource::layer_name(l, suffix), {n}));
      dense_of_layer[static_cast<std::size_t>(l)].push_back(dense.size());
      dense.push_back(std::move(t));
    }
  }
  NIBBLE_ASSIGN_OR_RETURN(auto final_norm, to_fp16(ws, "model.norm.weight", {s.hidden_size}));
  dense.push_back(std::move(final_norm));
  for (const auto& f : spec.layer_files) {
    NIBBLE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(f));
    parts.push_back(std::move(file));
  }
  NIBBLE_ASSIGN_OR_RETURN(auto head_file, SafetensorsFile::open(spec.head_file));
  parts.push_back(std::move(head_file));

  auto dense_tensor = [](const Fp16Tensor& t) {
    return TensorToWrite{t.name, DType::f16, t.shape,
                         std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(t.data.data()), t.data.size() * 2)};
  };
  auto file_tensor = [](const TensorView& v) {
    return TensorToWrite{v.name, v.dtype, v.shape, std::span<const std::uint8_t>(v.data, v.nbytes)};
  };
  std::vector<TensorToWrite> all;
  all.push_back(dense_tensor(dense.front()));
  for (int l = 0; l < s.n_layers; ++l) {
    for (std::size_t i : dense_of_layer[static_cast<std::size_t>(l)]) all.push_back(dense_tensor(dense[i]));
    for (const auto& v : parts[static_cast<std::size_t>(l)].tensors()) all.push_back(file_tensor(v));
  }
  all.push_back(dense_tensor(dense.back()));
  for (const auto& v : parts.back().tensors()) all.push_back(file_tensor(v));

  std::vector<std::vector<TensorToWrite>> shards(1);
  std::int64_t in_shard = 0;
  for (auto& t : all) {
    const auto n = static_cast<std::int64_t>(t.bytes.size());
    if (in_shard > 0 && in_shard + n > spec.shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(std::move(t));
    in_shard += n;
  }
  std::vector<std::string> written;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    if (shards.size() == 1) std::snprintf(name, sizeof name, "output.safetensors");
    else std::snprintf(name, sizeof name, "output-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    NIBBLE_TRY(write_safetensors((fs::path(spec.output_dir) / name).string(), shards[i]));
    written.push_back(name);
  }

  NIBBLE_ASSIGN_OR_RETURN(std::string config_text, read_all(ws.dir() + "/config.json"));
  auto config = nlohmann::ordered_json::parse(config_text, nullptr, false);
  if (!config.is_object()) return make_error(ErrorKind::format, ws.dir(), "/config.json: not a JSON object");
  config["quantization_config"] = spec.quantization_config;
  // The output always carries its own quantized lm_head, even when the source tied it to the embeddings.
  if (config.contains("tie_word_embeddings")) config["tie_word_embeddings"] = false;
  NIBBLE_TRY(write_text_atomic((fs::path(spec.output_dir) / "config.json").string(), config.dump(4) + "\n"));
  written.push_back("config.json");
  std::error_code ec;
  for (const char* name : kCopiedFiles) {
    const fs::path src = fs::path(ws.dir()) / name;
    if (!fs::is_regular_file(src, ec)) continue;
    NIBBLE_ASSIGN_OR_RETURN(std::string bytes, read_all(src.string()));
    NIBBLE_TRY(write_file_atomic((fs::path(spec.output_dir) / name).string(), bytes.data(), bytes.size()));
    written.push_back(name);
  }
  return written;
}

}  // namespace nibble::quant
