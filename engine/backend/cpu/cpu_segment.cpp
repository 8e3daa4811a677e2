// CpuSegment: loading weights from a WeightSource and running embed / layers / head.
#include "backend/cpu/cpu_segment.h"

#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_matmul.h"
#include "model/weight_source.h"
#include "util/half.h"

namespace nibble {
namespace {

Result<std::vector<float>> load_vector(const WeightSource& w, const std::string& name, int n) {
  NIBBLE_ASSIGN_OR_RETURN(TensorView t, w.dense(name, {n}));
  std::vector<float> out(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.f(i);
  return out;
}

}  // namespace

CpuSegment::CpuSegment(const ModelSpec& spec, const SegmentOptions& opts, ThreadPool& pool)
    : spec_(spec), opts_(opts), pool_(pool), rope_(rope_table(spec.rope, spec.head_dim)) {}

Result<std::unique_ptr<CpuSegment>> CpuSegment::create(const ModelSpec& spec, const WeightSource& weights,
                                                       const SegmentOptions& opts, const LoadProgressFn& progress,
                                                       ThreadPool& pool) {
  if (opts.first_layer < 0 || opts.last_layer > spec.n_layers || opts.first_layer > opts.last_layer)
    return make_error(ErrorKind::invalid_argument, "CPU segment: layer range [", opts.first_layer, ", ",
                      opts.last_layer, ") is outside the model's ", spec.n_layers, " layers");
  if (opts.kv_type == KvCacheType::fp16)
    return make_error(ErrorKind::unsupported, "CPU backend: the KV cache is fp32, q8 or q4 (fp16 maps to fp32)");
  if (opts.kv_type != KvCacheType::fp32 && spec.head_dim % 2 != 0)
    return make_error(ErrorKind::unsupported, "CPU backend: a q8/q4 KV cache needs an even head_dim");
  if (opts.max_rows <= 0 || opts.page_size <= 0 || opts.kv_pages < 0)
    return make_error(ErrorKind::invalid_argument, "CPU segment: max_rows, page_size and kv_pages must be positive");
  std::unique_ptr<CpuSegment> seg(new CpuSegment(spec, opts, pool));
  NIBBLE_TRY(seg->load(weights, progress));
  return seg;
}

Status CpuSegment::load(const WeightSource& w, const LoadProgressFn& progress) {
  const ModelSpec& s = spec_;
  const int H = s.hidden_size;
  const std::size_t total = static_cast<std::size_t>(opts_.last_layer - opts_.first_layer) + 2;
  std::size_t done = 0;
  auto step = [&]() -> Status {
    ++done;
    if (progress && !progress(done, total)) return make_error(ErrorKind::cancelled, "loading cancelled");
    return {};
  };

  const bool tied_head = opts_.has_head && s.tie_word_embeddings && !w.tensors().find("lm_head.weight") &&
                         !w.tensors().find("lm_head.q_weight") && !w.tensors().find("lm_head.qweight");
  if (opts_.has_embedding || tied_head) {
    NIBBLE_ASSIGN_OR_RETURN(LinearDesc e, w.linear("model.embed_tokens", H, s.vocab_size, false));
    NIBBLE_ASSIGN_OR_RETURN(embed_, cpu_matrix_from({&e}, pool_));
  }
  if (opts_.has_head) {
    NIBBLE_ASSIGN_OR_RETURN(final_norm_, load_vector(w, "model.norm.weight", H));
    if (tied_head) {
      head_ = &embed_;
    } else {
      NIBBLE_ASSIGN_OR_RETURN(LinearDesc h, w.head());
      NIBBLE_ASSIGN_OR_RETURN(head_own_, cpu_matrix_from({&h}, pool_));
      head_ = &head_own_;
    }
  }
  NIBBLE_TRY(step());

  const std::size_t kv_elems = static_cast<std::size_t>(opts_.kv_pages) * opts_.page_size * s.kv_dim();
  for (int l = opts_.first_layer; l < opts_.last_layer; ++l) {
    CpuLayer layer;
    auto name = [&](const char* suffix) { return WeightSource::layer_name(l, suffix); };
    NIBBLE_ASSIGN_OR_RETURN(layer.attn_norm, load_vector(w, name("input_layernorm.weight"), H));
    NIBBLE_ASSIGN_OR_RETURN(layer.mlp_norm, load_vector(w, name("post_attention_layernorm.weight"), H));
    if (s.qk_norm) {
      NIBBLE_ASSIGN_OR_RETURN(layer.q_norm, load_vector(w, name("self_attn.q_norm.weight"), s.head_dim));
      NIBBLE_ASSIGN_OR_RETURN(layer.k_norm, load_vector(w, name("self_attn.k_norm.weight"), s.head_dim));
    }
    NIBBLE_ASSIGN_OR_RETURN(auto q, w.linear(name("self_attn.q_proj"), H, s.q_dim(), s.qkv_bias));
    NIBBLE_ASSIGN_OR_RETURN(auto k, w.linear(name("self_attn.k_proj"), H, s.kv_dim(), s.qkv_bias));
    NIBBLE_ASSIGN_OR_RETURN(auto v, w.linear(name("self_attn.v_proj"), H, s.kv_dim(), s.qkv_bias));
    NIBBLE_ASSIGN_OR_RETURN(auto o, w.linear(name("self_attn.o_proj"), s.q_dim(), H, s.o_bias));
    NIBBLE_ASSIGN_OR_RETURN(auto gate, w.linear(name("mlp.gate_proj"), H, s.intermediate_size, s.mlp_bias));
    NIBBLE_ASSIGN_OR_RETURN(auto up, w.linear(name("mlp.up_proj"), H, s.intermediate_size, s.mlp_bias));
    NIBBLE_ASSIGN_OR_RETURN(auto down, w.linear(name("mlp.down_proj"), s.intermediate_size, H, s.mlp_bias));
    NIBBLE_ASSIGN_OR_RETURN(layer.qkv, cpu_matrix_from({&q, &k, &v}, pool_));
    NIBBLE_ASSIGN_OR_RETURN(layer.o, cpu_matrix_from({&o}, pool_));
    NIBBLE_ASSIGN_OR_RETURN(layer.gate_up, cpu_matrix_from({&gate, &up}, pool_));
    NIBBLE_ASSIGN_OR_RETURN(layer.down, cpu_matrix_from({&down}, pool_));
    layer.sliding_window = s.sliding_window.empty() ? 0 : s.sliding_window[static_cast<std::size_t>(l)];
    if (opts_.kv_type == KvCacheType::fp32) {
      layer.k_cache.assign(kv_elems, 0.0f);
      layer.v_cache.assign(kv_elems, 0.0f);
    } else {
      const int bits = opts_.kv_type == KvCacheType::q8 ? 8 : 4;
      const std::size_t rows = kv_elems / static_cast<std::size_t>(s.head_dim);
      const std::size_t groups = rows * static_cast<std::size_t>(s.head_dim / kv_group());
      layer.kq_cache.assign(bits == 8 ? kv_elems : kv_elems / 2, 0);
      layer.vq_cache.assign(layer.kq_cache.size(), 0);
      layer.k_scales.assign(bits == 8 ? groups : 2 * groups, 0.0f);
      layer.v_scales.assign(layer.k_scales.size(), 0.0f);
    }
    layers_.push_back(std::move(layer));
    NIBBLE_TRY(step());
  }

  const std::size_t rows = static_cast<std::size_t>(opts_.max_rows);
  hidden_.assign(rows * H, 0.0f);
  normed_.assign(rows * H, 0.0f);
  qkv_.assign(rows * static_cast<std::size_t>(s.q_dim() + 2 * s.kv_dim()), 0.0f);
  attn_.assign(rows * static_cast<std::size_t>(s.q_dim()), 0.0f);
  gate_up_.assign(rows * 2 * static_cast<std::size_t>(s.intermediate_size), 0.0f);
  act_.assign(rows * static_cast<std::size_t>(s.intermediate_size), 0.0f);
  cos_.assign(rows * static_cast<std::size_t>(s.head_dim / 2), 0.0f);
  sin_.assign(rows * static_cast<std::size_t>(s.head_dim / 2), 0.0f);
  return step();
}

Status CpuSegment::embed(const BatchPlan& plan) {
  if (embed_.N == 0 || !opts_.has_embedding) return make_error(ErrorKind::internal, "embed() on a segment without the embedding");
  const int H = spec_.hidden_size;
  if (plan.n_rows() > opts_.max_rows) return make_error(ErrorKind::invalid_argument, "step of ", plan.n_rows(), " rows exceeds ", opts_.max_rows);
  for (int r = 0; r < plan.n_rows(); ++r) {
    const std::int32_t id = plan.tokens[static_cast<std::size_t>(r)];
    if (id < 0 || id >= embed_.N)
      return make_error(ErrorKind::invalid_argument, "token id ", id, " is outside the vocabulary (", embed_.N, ")");
    float* dst = hidden_.data() + static_cast<std::size_t>(r) * H;
    const std::size_t base = static_cast<std::size_t>(id) * H;
    switch (embed_.type) {
      case CpuWeightType::f32: std::memcpy(dst, embed_.full.data() + base, sizeof(float) * H); break;
      case CpuWeightType::f16: fp16_to_fp32_n(embed_.half.data() + base, dst, static_cast<std::size_t>(H)); break;
      case CpuWeightType::bf16: bf16_to_fp32_n(embed_.half.data() + base, dst, static_cast<std::size_t>(H)); break;
    }
  }
  return {};
}

void CpuSegment::run_layer(CpuLayer& L, const BatchPlan& plan) {
  const ModelSpec& s = spec_;
  const int rows = plan.n_rows(), H = s.hidden_size, hd = s.head_dim, half = hd / 2;
  const int q_dim = s.q_dim(), kv_dim = s.kv_dim(), ld_qkv = q_dim + 2 * kv_dim;
  const float eps = static_cast<float>(s.rms_norm_eps);

  for (int r = 0; r < rows; ++r)
    cpu_rmsnorm(hidden_.data() + static_cast<std::size_t>(r) * H, L.attn_norm.data(), normed_.data() + static_cast<std::size_t>(r) * H, H, eps);
  cpu_matmul(L.qkv, {normed_.data(), H, qkv_.data(), ld_qkv, rows, false}, pool_);
  for (int r = 0; r < rows; ++r) {
    float* row = qkv_.data() + static_cast<std::size_t>(r) * ld_qkv;
    const float* c = cos_.data() + static_cast<std::size_t>(r) * half;
    const float* sn = sin_.data() + static_cast<std::size_t>(r) * half;
    for (int h = 0; h < s.n_heads + s.n_kv_heads; ++h) {
      float* x = row + static_cast<std::size_t>(h) * hd;  // q heads, then k heads
      if (!L.q_norm.empty()) cpu_rmsnorm(x, h < s.n_heads ? L.q_norm.data() : L.k_norm.data(), x, hd, eps);
      rope_apply(x, hd, c, sn);
    }
  }
  AttentionShape shape;
  shape.n_heads = s.n_heads;
  shape.n_kv_heads = s.n_kv_heads;
  shape.head_dim = hd;
  shape.page_size = plan.page_size;
  shape.sliding_window = L.sliding_window;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  CpuKvLayer kv;
  kv.k = L.k_cache.data();
  kv.v = L.v_cache.data();
  kv.kq = L.kq_cache.data();
  kv.vq = L.vq_cache.data();
  kv.ks = L.k_scales.data();
  kv.vs = L.v_scales.data();
  kv.bits = opts_.kv_type == KvCacheType::q8 ? 8 : opts_.kv_type == KvCacheType::q4 ? 4 : 32;
  kv.group = kv_group();
  cpu_attention(plan, shape, kv, qkv_.data(), ld_qkv, attn_.data(), pool_);
  cpu_matmul(L.o, {attn_.data(), q_dim, hidden_.data(), H, rows, true}, pool_);

  for (int r = 0; r < rows; ++r)
    cpu_rmsnorm(hidden_.data() + static_cast<std::size_t>(r) * H, L.mlp_norm.data(), normed_.data() + static_cast<std::size_t>(r) * H, H, eps);
  const int I = s.intermediate_size;
  cpu_matmul(L.gate_up, {normed_.data(), H, gate_up_.data(), 2 * I, rows, false}, pool_);
  cpu_swiglu(gate_up_.data(), act_.data(), rows, I);
  cpu_matmul(L.down, {act_.data(), I, hidden_.data(), H, rows, true}, pool_);
}

Status CpuSegment::run_layers(const BatchPlan& plan) {
  if (plan.n_rows() > opts_.max_rows) return make_error(ErrorKind::invalid_argument, "step of ", plan.n_rows(), " rows exceeds ", opts_.max_rows);
  if (plan.page_size != opts_.page_size) return make_error(ErrorKind::invalid_argument, "plan page size ", plan.page_size, " != ", opts_.page_size);
  if (layers_.empty()) return {};
  const int half = spec_.head_dim / 2;
  for (int r = 0; r < plan.n_rows(); ++r)
    rope_cos_sin(rope_, plan.positions[static_cast<std::size_t>(r)], cos_.data() + static_cast<std::size_t>(r) * half,
                 sin_.data() + static_cast<std::size_t>(r) * half);
  for (auto& layer : layers_) run_layer(layer, plan);
  return {};
}

Status CpuSegment::head(const BatchPlan& plan, float* logits) {
  if (!head_) return make_error(ErrorKind::internal, "head() on a segment without the head");
  const int H = spec_.hidden_size;
  const int n = static_cast<int>(plan.logit_rows.size());
  for (int i = 0; i < n; ++i) {
    const std::int32_t r = plan.logit_rows[static_cast<std::size_t>(i)];
    if (r < 0 || r >= plan.n_rows()) return make_error(ErrorKind::invalid_argument, "logit row ", r, " is not in the step");
    cpu_rmsnorm(hidden_.data() + static_cast<std::size_t>(r) * H, final_norm_.data(), normed_.data() + static_cast<std::size_t>(i) * H,
                H, static_cast<float>(spec_.rms_norm_eps));
  }
  cpu_matmul(*head_, {normed_.data(), H, logits, head_->N, n, false}, pool_);
  return {};
}

Status CpuSegment::hidden_to_host(float* dst, int rows) {
  if (rows < 0 || rows > opts_.max_rows) return make_error(ErrorKind::invalid_argument, "hidden_to_host: ", rows, " rows");
  std::memcpy(dst, hidden_.data(), sizeof(float) * static_cast<std::size_t>(rows) * spec_.hidden_size);
  return {};
}

Status CpuSegment::hidden_from_host(const float* src, int rows) {
  if (rows < 0 || rows > opts_.max_rows) return make_error(ErrorKind::invalid_argument, "hidden_from_host: ", rows, " rows");
  std::memcpy(hidden_.data(), src, sizeof(float) * static_cast<std::size_t>(rows) * spec_.hidden_size);
  return {};
}

Segment::MemoryUse CpuSegment::memory_use() const {
  MemoryUse m;
  m.weights = embed_.bytes() + head_own_.bytes() + final_norm_.size() * 4;
  for (const auto& l : layers_) {
    m.weights += l.qkv.bytes() + l.o.bytes() + l.gate_up.bytes() + l.down.bytes() +
                 (l.attn_norm.size() + l.mlp_norm.size() + l.q_norm.size() + l.k_norm.size()) * 4;
    m.kv_cache += (l.k_cache.size() + l.v_cache.size() + l.k_scales.size() + l.v_scales.size()) * 4 + l.kq_cache.size() +
                  l.vq_cache.size();
  }
  m.scratch = (hidden_.size() + normed_.size() + qkv_.size() + attn_.size() + gate_up_.size() + act_.size() +
               cos_.size() + sin_.size()) * 4;
  return m;
}

}  // namespace nibble
