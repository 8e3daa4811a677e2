// Opening a model folder and handing out validated tensor views.
#include "model/weight_source.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace nibble {
namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Non-finite test over raw element bits: exponent all ones. Chunks are copied to an aligned local
// buffer so the loop vectorises whatever the tensor's alignment in the file.
template <class Bits>
std::int64_t first_non_finite(const std::uint8_t* data, std::size_t n, Bits exp_mask) {
  constexpr std::size_t kChunk = 4096;
  Bits buf[kChunk];
  for (std::size_t base = 0; base < n; base += kChunk) {
    const std::size_t m = std::min(kChunk, n - base);
    std::memcpy(buf, data + base * sizeof(Bits), m * sizeof(Bits));
    unsigned bad = 0;
    for (std::size_t i = 0; i < m; ++i) bad |= (buf[i] & exp_mask) == exp_mask;
    if (bad)
      for (std::size_t i = 0; i < m; ++i)
        if ((buf[i] & exp_mask) == exp_mask) return static_cast<std::int64_t>(base + i);
  }
  return -1;
}

void add_ids(const nlohmann::json& v, std::vector<int>& ids) {
  auto add = [&](const nlohmann::json& x) {
    if (!x.is_number_integer()) return;
    const int id = x.get<int>();
    for (int e : ids)
      if (e == id) return;
    ids.push_back(id);
  };
  if (v.is_array())
    for (const auto& x : v) add(x);
  else
    add(v);
}

const char* const kLinearSuffixes[] = {".weight", ".bias", ".q_weight", ".q_scale", ".q_scale_max", ".q_groups",
                                       ".q_invperm", ".q_perm", ".qweight", ".qzeros", ".scales", ".g_idx"};

}  // namespace

Status check_finite(const TensorView& t) {
  std::int64_t at = -1;
  const std::size_t n = static_cast<std::size_t>(t.numel());
  switch (t.dtype) {
    case DType::f32: at = first_non_finite<std::uint32_t>(t.data, n, 0x7f800000u); break;
    case DType::f16: at = first_non_finite<std::uint16_t>(t.data, n, 0x7c00u); break;
    case DType::bf16: at = first_non_finite<std::uint16_t>(t.data, n, 0x7f80u); break;
    default: return {};
  }
  if (at < 0) return {};
  return make_error(ErrorKind::format, t.file, ": tensor '", t.name, "': element ", at, " is ", t.f(static_cast<std::size_t>(at)),
                    " (NaN or infinity in the weights: the file is corrupt or was saved from a diverged model)");
}

std::string WeightSource::layer_name(int layer, const char* suffix) {
  return "model.layers." + std::to_string(layer) + "." + suffix;
}

Result<std::unique_ptr<WeightSource>> WeightSource::open(const std::string& path) {
  std::unique_ptr<WeightSource> ws(new WeightSource());
  NIBBLE_ASSIGN_OR_RETURN(ws->files_, locate_model_files(path));
  NIBBLE_ASSIGN_OR_RETURN(std::string config_text, read_file(ws->files_.config_path));
  NIBBLE_ASSIGN_OR_RETURN(ParsedSpec parsed, parse_model_spec(config_text, ws->files_.config_path));
  ws->spec_ = std::move(parsed.spec);

  const std::string gen_path = (std::filesystem::path(ws->files_.dir) / "generation_config.json").string();
  std::error_code ec;
  if (std::filesystem::is_regular_file(gen_path, ec)) {
    NIBBLE_ASSIGN_OR_RETURN(std::string gen_text, read_file(gen_path));
    auto gen = nlohmann::json::parse(gen_text, nullptr, false);
    if (gen.is_discarded() || !gen.is_object()) return make_error(ErrorKind::format, gen_path, ": not a JSON object");
    if (auto e = gen.find("eos_token_id"); e != gen.end()) add_ids(*e, ws->spec_.eos_ids);
  }

  NIBBLE_ASSIGN_OR_RETURN(ws->tensors_, TensorSet::open(ws->files_));
  if (parsed.needs_llama_proof) NIBBLE_TRY(ws->prove_llama(parsed.non_llama_keys));
  return ws;
}

Status WeightSource::prove_llama(const std::vector<std::string>& non_llama_keys) {
  const std::string arch = spec_.architecture_name.empty() ? spec_.model_type : spec_.architecture_name;
  auto refuse = [&](const std::string& why) {
    return make_error(ErrorKind::unsupported, files_.config_path, ": architecture '", arch,
                      "' is not supported (Nibble runs Llama, Mistral, Qwen2 and Qwen3, and other models only when "
                      "they are provably Llama-shaped): ", why);
  };
  if (!non_llama_keys.empty()) return refuse("config key '" + non_llama_keys.front() + "' has no Llama meaning");
  std::set<std::string> allowed = {"model.embed_tokens.weight", "model.norm.weight"};
  std::vector<std::string> linears = {"lm_head"};
  for (int l = 0; l < spec_.n_layers; ++l) {
    allowed.insert(layer_name(l, "input_layernorm.weight"));
    allowed.insert(layer_name(l, "post_attention_layernorm.weight"));
    allowed.insert(layer_name(l, "self_attn.rotary_emb.inv_freq"));
    for (const char* p : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
                          "mlp.up_proj", "mlp.down_proj"})
      linears.push_back(layer_name(l, p));
  }
  for (const auto& p : linears)
    for (const char* s : kLinearSuffixes) allowed.insert(p + s);
  for (const auto* t : tensors_.all())
    if (!allowed.count(t->name)) return refuse("tensor '" + t->name + "' has no place in a Llama model");
  const bool has_q = tensors_.find(layer_name(0, "self_attn.q_proj.weight")) ||
                     tensors_.find(layer_name(0, "self_attn.q_proj.q_weight")) ||
                     tensors_.find(layer_name(0, "self_attn.q_proj.qweight"));
  if (!tensors_.find("model.embed_tokens.weight") || !has_q) return refuse("the Llama tensors are missing");
  spec_.loaded_as_llama = true;
  return {};
}

Error WeightSource::missing(const std::string& name) const {
  return make_error(ErrorKind::format, files_.dir, ": tensor '", name, "' is missing (looked in ",
                    tensors_.files_description(), ")");
}

Result<TensorView> WeightSource::tensor(const std::string& name) const {
  const TensorView* t = tensors_.find(name);
  if (!t) return missing(name);
  return *t;
}

Result<TensorView> WeightSource::dense(const std::string& name, const std::vector<std::int64_t>& shape) const {
  NIBBLE_ASSIGN_OR_RETURN(TensorView t, tensor(name));
  if (!dtype_is_float(t.dtype))
    return make_error(ErrorKind::format, t.file, ": tensor '", name, "': dtype ", dtype_name(t.dtype), ", expected F16, BF16 or F32");
  if (t.shape != shape) {
    TensorView want;
    want.shape = shape;
    return make_error(ErrorKind::format, t.file, ": tensor '", name, "': shape ", t.shape_string(), ", expected ",
                      want.shape_string(), " from config.json");
  }
  NIBBLE_TRY(check_finite(t));
  return t;
}

Result<LinearDesc> WeightSource::linear(const std::string& prefix, int K, int N, bool bias) const {
  LinearDesc d;
  d.name = prefix;
  d.K = K;
  d.N = N;
  const TensorView* dense_w = tensors_.find(prefix + ".weight");
  const TensorView* exl2_w = tensors_.find(prefix + ".q_weight");
  const TensorView* gptq_w = tensors_.find(prefix + ".qweight");
  if ((dense_w != nullptr) + (exl2_w != nullptr) + (gptq_w != nullptr) > 1)
    return make_error(ErrorKind::format, files_.dir, ": layer '", prefix, "' has tensors of more than one format");
  if (dense_w) {
    switch (dense_w->dtype) {
      case DType::f32: d.format = LinearFormat::f32; break;
      case DType::f16: d.format = LinearFormat::f16; break;
      case DType::bf16: d.format = LinearFormat::bf16; break;
      default:
        return make_error(ErrorKind::format, dense_w->file, ": tensor '", dense_w->name, "': dtype ",
                          dtype_name(dense_w->dtype), " is not a weight dtype (F16, BF16, F32)");
    }
    d.weight = *dense_w;
  } else if (exl2_w) {
    d.format = LinearFormat::exl2;
    d.exl2.q_weight = *exl2_w;
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_scale, tensor(prefix + ".q_scale"));
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_scale_max, tensor(prefix + ".q_scale_max"));
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_groups, tensor(prefix + ".q_groups"));
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_invperm, tensor(prefix + ".q_invperm"));
  } else if (gptq_w) {
    d.format = LinearFormat::gptq;
    d.gptq.qweight = *gptq_w;
    NIBBLE_ASSIGN_OR_RETURN(d.gptq.qzeros, tensor(prefix + ".qzeros"));
    NIBBLE_ASSIGN_OR_RETURN(d.gptq.scales, tensor(prefix + ".scales"));
    if (const TensorView* g = tensors_.find(prefix + ".g_idx")) d.gptq.g_idx = *g;
    const int inferred = gptq_w->rank() == 2 ? static_cast<int>(gptq_w->shape[0] * 32 / K) : 0;
    d.gptq.bits = spec_.quant.bits > 0 ? spec_.quant.bits : inferred;
    if (spec_.quant.bits > 0 && inferred != spec_.quant.bits)
      return make_error(ErrorKind::format, gptq_w->file, ": tensor '", gptq_w->name, "': shape ", gptq_w->shape_string(),
                        " does not hold ", spec_.quant.bits, "-bit codes for K = ", K, " (quantization_config.bits)");
    d.gptq.v2 = spec_.quant.gptq_v2;
    d.gptq.group_size = spec_.quant.group_size;
  } else {
    return missing(prefix + ".weight");
  }
  if (bias) {
    NIBBLE_ASSIGN_OR_RETURN(TensorView b, tensor(prefix + ".bias"));
    d.bias = b;
  }
  NIBBLE_TRY(validate_linear(d));
  if (d.format <= LinearFormat::bf16) NIBBLE_TRY(check_finite(d.weight));
  if (d.format == LinearFormat::exl2) NIBBLE_TRY(check_finite(d.exl2.q_scale_max));
  if (d.format == LinearFormat::gptq) NIBBLE_TRY(check_finite(d.gptq.scales));
  if (d.bias) NIBBLE_TRY(check_finite(*d.bias));
  return d;
}

Result<LinearDesc> WeightSource::head() const {
  const bool own = tensors_.find("lm_head.weight") || tensors_.find("lm_head.q_weight") || tensors_.find("lm_head.qweight");
  if (own || !spec_.tie_word_embeddings) return linear("lm_head", spec_.hidden_size, spec_.vocab_size, false);
  return linear("model.embed_tokens", spec_.hidden_size, spec_.vocab_size, false);
}

}  // namespace nibble
