// Synthetic model folders for benchmarks: a Llama config plus random weights written as one
// safetensors shard per layer (and one for embedding/norm/head) with an index, generated with a
// fast counter-based generator in parallel so a 7B-shaped model takes seconds.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "nibble/bench.h"
#include "util/half.h"

namespace nibble {
namespace {

namespace fs = std::filesystem;

std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Fills n 64-bit words from (seed, stream) in parallel.
void fill_random(std::uint64_t* out, std::size_t n, std::uint64_t seed) {
  const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([=] {
      const std::size_t b = n * t / threads, e = n * (t + 1) / threads;
      for (std::size_t i = b; i < e; ++i) out[i] = mix(seed ^ mix(i));
    });
  for (auto& th : pool) th.join();
}

struct Blob {
  std::vector<std::uint8_t> bytes;
  TensorToWrite tensor(const std::string& name, DType dt, std::vector<std::int64_t> shape) const {
    return {name, dt, std::move(shape), std::span<const std::uint8_t>(bytes.data(), bytes.size())};
  }
};

Blob random_bytes(std::size_t bytes, std::uint64_t seed) {
  Blob b;
  b.bytes.resize((bytes + 7) / 8 * 8);
  fill_random(reinterpret_cast<std::uint64_t*>(b.bytes.data()), b.bytes.size() / 8, seed);
  b.bytes.resize(bytes);
  return b;
}

// fp16 values ~ N(0, sd) from random words (sum of 4 uniforms, rescaled), or a constant.
Blob halves(std::size_t n, double sd, std::uint64_t seed, double constant = NAN) {
  Blob b;
  b.bytes.resize(n * 2);
  auto* h = reinterpret_cast<std::uint16_t*>(b.bytes.data());
  if (!std::isnan(constant)) {
    std::fill(h, h + n, fp32_to_fp16(static_cast<float>(constant)));
    return b;
  }
  std::vector<std::uint64_t> r(n);
  fill_random(r.data(), n, seed);
  const double k = sd * std::sqrt(3.0);  // uniform(-1,1)*sqrt(3) has sd 1
  for (std::size_t i = 0; i < n; ++i) {
    const double u = (static_cast<double>(r[i] >> 11) / 9007199254740992.0) * 2.0 - 1.0;
    h[i] = fp32_to_fp16(static_cast<float>(u * k));
  }
  return b;
}

struct LinearBlobs {
  std::vector<Blob> blobs;
  std::vector<TensorToWrite> tensors;
};

// EXL2 `bits` per weight: groups of 128 rows, the first ones at ceil(bits), the rest at floor(bits)
// (widths must not increase along K), as many high groups as bring the mean to `bits`.
void add_linear(LinearBlobs& out, const std::string& prefix, int K, int N, SyntheticFormat f, std::uint64_t seed,
                double bits = 4.0) {
  const int G = K / 128;
  // Spans are set in finish(), once the blob vector stops moving.
  auto push = [&](Blob b, const std::string& name, DType dt, std::vector<std::int64_t> shape) {
    out.blobs.push_back(std::move(b));
    out.tensors.push_back({name, dt, std::move(shape), {}});
  };
  if (f == SyntheticFormat::fp16) {
    push(halves(static_cast<std::size_t>(K) * N, 0.02, seed), prefix + ".weight", DType::f16, {N, K});
    return;
  }
  if (f == SyntheticFormat::exl2) {
    const int hi = static_cast<int>(std::ceil(bits - 1e-9)), lo = static_cast<int>(std::floor(bits + 1e-9));
    const int hi_groups = hi == lo ? G : static_cast<int>(std::lround((bits - lo) * G));
    auto width = [&](int g) { return g < hi_groups ? hi : lo; };
    std::size_t rows = 0;
    for (int g = 0; g < G; ++g) rows += static_cast<std::size_t>(width(g)) * 4;  // 128 * bits / 32
    push(random_bytes(rows * N * 4, seed), prefix + ".q_weight", DType::i32, {static_cast<std::int64_t>(rows), N});
    push(random_bytes(static_cast<std::size_t>(G) * (N / 8) * 4, seed + 1), prefix + ".q_scale", DType::i32, {G, N / 8});
    push(halves(static_cast<std::size_t>(G), 0, 0, 0.002), prefix + ".q_scale_max", DType::f16, {G});
    Blob groups;
    groups.bytes.resize(static_cast<std::size_t>(G) * 4);
    auto* g16 = reinterpret_cast<std::int16_t*>(groups.bytes.data());
    for (int g = 0, row = 0; g < G; ++g) {
      g16[2 * g] = static_cast<std::int16_t>(width(g));
      g16[2 * g + 1] = static_cast<std::int16_t>(row);
      row += width(g) * 4;
    }
    push(std::move(groups), prefix + ".q_groups", DType::i16, {2 * G});
    Blob inv;
    inv.bytes.resize(static_cast<std::size_t>(K) * 4);
    auto* p = reinterpret_cast<std::int32_t*>(inv.bytes.data());
    for (int k = 0; k < K; ++k) p[k] = k;
    push(std::move(inv), prefix + ".q_invperm", DType::i32, {K});
    return;
  }
  push(random_bytes(static_cast<std::size_t>(K / 8) * N * 4, seed), prefix + ".qweight", DType::i32, {K / 8, N});
  Blob zeros;
  zeros.bytes.assign(static_cast<std::size_t>(G) * (N / 8) * 4, 0x77);  // v1 stores z - 1 = 7
  push(std::move(zeros), prefix + ".qzeros", DType::i32, {G, N / 8});
  push(halves(static_cast<std::size_t>(G) * N, 0, 0, 0.0005), prefix + ".scales", DType::f16, {G, N});
}

void finish(LinearBlobs& lb) {
  for (std::size_t i = 0; i < lb.tensors.size(); ++i)
    lb.tensors[i].bytes = std::span<const std::uint8_t>(lb.blobs[i].bytes.data(), lb.blobs[i].bytes.size());
}

}  // namespace

const char* synthetic_format_name(SyntheticFormat f) {
  switch (f) {
    case SyntheticFormat::exl2: return "exl2";
    case SyntheticFormat::gptq: return "gptq";
    default: return "fp16";
  }
}

Status write_synthetic_model(const std::string& dir, const SyntheticShape& s, SyntheticFormat f, std::uint64_t seed) {
  if (s.hidden % 128 != 0 || s.intermediate % 128 != 0 || s.heads <= 0 || s.kv_heads <= 0 || s.heads % s.kv_heads != 0 ||
      s.hidden % s.heads != 0 || s.layers <= 0 || s.vocab % 8 != 0)
    return make_error(ErrorKind::invalid_argument, "synthetic model: sizes must be multiples of 128 (vocab of 8)");
  if (!(s.exl2_bits >= 2.0 && s.exl2_bits <= 6.0))
    return make_error(ErrorKind::invalid_argument, "synthetic model: EXL2 bits must be in [2, 6]");
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
    return make_error(ErrorKind::invalid_argument, dir, ": folder exists and is not empty");
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorKind::io, dir, ": cannot create folder: ", ec.message());

  nlohmann::json cfg = {
      {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", s.hidden},
      {"intermediate_size", s.intermediate}, {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
      {"num_key_value_heads", s.kv_heads}, {"vocab_size", s.vocab}, {"max_position_embeddings", s.max_positions},
      {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"hidden_act", "silu"}, {"tie_word_embeddings", false},
      {"torch_dtype", "float16"}, {"bos_token_id", 1}, {"eos_token_id", 2}};
  if (f == SyntheticFormat::exl2)
    cfg["quantization_config"] = {{"quant_method", "exl2"}, {"bits", s.exl2_bits}, {"head_bits", 4}};
  if (f == SyntheticFormat::gptq)
    cfg["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 128}, {"sym", true}, {"desc_act", false}};
  {
    std::ofstream out(fs::path(dir) / "config.json");
    out << cfg.dump(2);
    if (!out) return make_error(ErrorKind::io, dir, "/config.json: write failed");
  }
  nlohmann::json weight_map = nlohmann::json::object();
  const int shards = s.layers + 1;
  auto shard_name = [&](int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i + 1, shards);
    return std::string(buf);
  };
  for (int l = 0; l < s.layers; ++l) {
    LinearBlobs lb;
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const int hd = s.hidden / s.heads;
    const std::uint64_t base = seed * 1000003ull + static_cast<std::uint64_t>(l) * 64;
    add_linear(lb, p + "self_attn.q_proj", s.hidden, s.hidden, f, base + 1, s.exl2_bits);
    add_linear(lb, p + "self_attn.k_proj", s.hidden, s.kv_heads * hd, f, base + 5, s.exl2_bits);
    add_linear(lb, p + "self_attn.v_proj", s.hidden, s.kv_heads * hd, f, base + 9, s.exl2_bits);
    add_linear(lb, p + "self_attn.o_proj", s.hidden, s.hidden, f, base + 13, s.exl2_bits);
    add_linear(lb, p + "mlp.gate_proj", s.hidden, s.intermediate, f, base + 17, s.exl2_bits);
    add_linear(lb, p + "mlp.up_proj", s.hidden, s.intermediate, f, base + 21, s.exl2_bits);
    add_linear(lb, p + "mlp.down_proj", s.intermediate, s.hidden, f, base + 25, s.exl2_bits);
    lb.blobs.push_back(halves(static_cast<std::size_t>(s.hidden), 0, 0, 1.0));
    lb.tensors.push_back({p + "input_layernorm.weight", DType::f16, {s.hidden}, {}});
    lb.blobs.push_back(halves(static_cast<std::size_t>(s.hidden), 0, 0, 1.0));
    lb.tensors.push_back({p + "post_attention_layernorm.weight", DType::f16, {s.hidden}, {}});
    finish(lb);
    NIBBLE_TRY(write_safetensors((fs::path(dir) / shard_name(l)).string(), lb.tensors, {{"format", "pt"}}));
    for (const auto& t : lb.tensors) weight_map[t.name] = shard_name(l);
  }
  LinearBlobs lb;
  lb.blobs.push_back(halves(static_cast<std::size_t>(s.vocab) * s.hidden, 0.02, seed + 77));
  lb.tensors.push_back({"model.embed_tokens.weight", DType::f16, {s.vocab, s.hidden}, {}});
  lb.blobs.push_back(halves(static_cast<std::size_t>(s.hidden), 0, 0, 1.0));
  lb.tensors.push_back({"model.norm.weight", DType::f16, {s.hidden}, {}});
  add_linear(lb, "lm_head", s.hidden, s.vocab, f, seed + 99);
  finish(lb);
  NIBBLE_TRY(write_safetensors((fs::path(dir) / shard_name(s.layers)).string(), lb.tensors, {{"format", "pt"}}));
  for (const auto& t : lb.tensors) weight_map[t.name] = shard_name(s.layers);
  std::ofstream idx(fs::path(dir) / "model.safetensors.index.json");
  idx << nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}}.dump(1);
  if (!idx) return make_error(ErrorKind::io, dir, "/model.safetensors.index.json: write failed");
  return {};
}

}  // namespace nibble
