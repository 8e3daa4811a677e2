// Layer pieces over calibration rows. Work runs in chunks of whole sequences (at most kChunkTokens
// tokens) so the q/k/v and gate/up scratch stays bounded whatever the number of rows; attention
// uses the CPU backend's paged kernel with one page per sequence (page size = length).
#include "quant/layer_eval.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_matmul.h"
#include "backend/cpu/cpu_ops.h"

namespace nibble::quant {
namespace {

constexpr std::int64_t kChunkTokens = 8192;

}  // namespace

CpuMatrix cpu_matrix_f32(std::vector<float> weight, int N, int K, std::vector<float> bias) {
  CpuMatrix m;
  m.type = CpuWeightType::f32;
  m.N = N;
  m.K = K;
  m.full = std::move(weight);
  m.bias = std::move(bias);
  return m;
}

LayerEvaluator::LayerEvaluator(const ModelSpec& spec, int length, ThreadPool& pool)
    : spec_(spec), length_(length), pool_(pool) {
  const RopeTable table = rope_table(spec.rope, spec.head_dim);
  const std::size_t half = static_cast<std::size_t>(spec.head_dim / 2);
  cos_.resize(static_cast<std::size_t>(length) * half);
  sin_.resize(cos_.size());
  for (int p = 0; p < length; ++p)
    rope_cos_sin(table, p, cos_.data() + static_cast<std::size_t>(p) * half, sin_.data() + static_cast<std::size_t>(p) * half);
}

void LayerEvaluator::rmsnorm(const float* x, const std::vector<float>& norm, std::int64_t tokens, float* out) const {
  const int H = spec_.hidden_size;
  const float eps = static_cast<float>(spec_.rms_norm_eps);
  pool_.parallel_for(static_cast<std::size_t>(tokens), 64, [&](std::size_t t0, std::size_t t1) {
    for (std::size_t t = t0; t < t1; ++t)
      cpu_rmsnorm(x + t * static_cast<std::size_t>(H), norm.data(), out + t * static_cast<std::size_t>(H), H, eps);
  });
}

void LayerEvaluator::linear(const CpuMatrix& w, const float* x, std::int64_t tokens, float* y, bool accumulate) const {
  for (std::int64_t t0 = 0; t0 < tokens; t0 += kChunkTokens) {
    MatmulArgs a;
    a.x = x + static_cast<std::size_t>(t0) * static_cast<std::size_t>(w.K);
    a.ldx = w.K;
    a.y = y + static_cast<std::size_t>(t0) * static_cast<std::size_t>(w.N);
    a.ldy = w.N;
    a.M = static_cast<int>(std::min(kChunkTokens, tokens - t0));
    a.accumulate = accumulate;
    cpu_matmul(w, a, pool_);
  }
}

void LayerEvaluator::swiglu(const CpuMatrix& gate, const CpuMatrix& up, const float* normed, std::int64_t tokens,
                            float* act) const {
  const int H = spec_.hidden_size, I = gate.N;
  std::vector<float> gu;
  for (std::int64_t t0 = 0; t0 < tokens; t0 += kChunkTokens) {
    const int m = static_cast<int>(std::min(kChunkTokens, tokens - t0));
    gu.resize(static_cast<std::size_t>(m) * 2 * static_cast<std::size_t>(I));
    const float* x = normed + static_cast<std::size_t>(t0) * static_cast<std::size_t>(H);
    cpu_matmul(gate, {x, H, gu.data(), 2 * I, m, false}, pool_);
    cpu_matmul(up, {x, H, gu.data() + I, 2 * I, m, false}, pool_);
    cpu_swiglu(gu.data(), act + static_cast<std::size_t>(t0) * static_cast<std::size_t>(I), m, I);
  }
}

void LayerEvaluator::attention_core(const CpuMatrix& q, const CpuMatrix& k, const CpuMatrix& v,
                                    const LayerWeights& norms, const float* normed, int seqs, float* attn) const {
  const ModelSpec& s = spec_;
  const int H = s.hidden_size, hd = s.head_dim, half = hd / 2, L = length_;
  const int q_dim = s.q_dim(), kv_dim = s.kv_dim(), ld = q_dim + 2 * kv_dim;
  const float eps = static_cast<float>(s.rms_norm_eps);
  const int chunk = static_cast<int>(std::max<std::int64_t>(1, kChunkTokens / L));
  std::vector<float> qkv, kc, vc;
  std::vector<std::int32_t> tokens, positions, pages;
  for (int s0 = 0; s0 < seqs; s0 += chunk) {
    const int cs = std::min(chunk, seqs - s0);
    const int m = cs * L;
    const float* x = normed + static_cast<std::size_t>(s0) * static_cast<std::size_t>(L) * static_cast<std::size_t>(H);
    qkv.resize(static_cast<std::size_t>(m) * static_cast<std::size_t>(ld));
    cpu_matmul(q, {x, H, qkv.data(), ld, m, false}, pool_);
    cpu_matmul(k, {x, H, qkv.data() + q_dim, ld, m, false}, pool_);
    cpu_matmul(v, {x, H, qkv.data() + q_dim + kv_dim, ld, m, false}, pool_);
    pool_.parallel_for(static_cast<std::size_t>(m), 64, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        float* row = qkv.data() + r * static_cast<std::size_t>(ld);
        const std::size_t pos = r % static_cast<std::size_t>(L);
        const float* c = cos_.data() + pos * static_cast<std::size_t>(half);
        const float* sn = sin_.data() + pos * static_cast<std::size_t>(half);
        for (int h = 0; h < s.n_heads + s.n_kv_heads; ++h) {
          float* xh = row + static_cast<std::size_t>(h) * hd;
          if (!norms.q_norm.empty()) cpu_rmsnorm(xh, h < s.n_heads ? norms.q_norm.data() : norms.k_norm.data(), xh, hd, eps);
          rope_apply(xh, hd, c, sn);
        }
      }
    });
    tokens.assign(static_cast<std::size_t>(m), 0);
    positions.resize(static_cast<std::size_t>(m));
    pages.resize(static_cast<std::size_t>(cs));
    BatchPlan plan;
    for (int i = 0; i < cs; ++i) {
      pages[static_cast<std::size_t>(i)] = i;
      SeqEntry e;
      e.token_begin = i * L;
      e.n_tokens = L;
      e.pos_begin = 0;
      e.pages = std::span<const std::int32_t>(pages.data() + i, 1);
      plan.seqs.push_back(e);
    }
    for (int r = 0; r < m; ++r) positions[static_cast<std::size_t>(r)] = r % L;
    plan.tokens = tokens;
    plan.positions = positions;
    plan.page_size = L;
    kc.resize(static_cast<std::size_t>(m) * static_cast<std::size_t>(kv_dim));
    vc.resize(kc.size());
    AttentionShape shape;
    shape.n_heads = s.n_heads;
    shape.n_kv_heads = s.n_kv_heads;
    shape.head_dim = hd;
    shape.page_size = L;
    shape.sliding_window = norms.sliding_window;
    shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    cpu_attention(plan, shape, {kc.data(), vc.data()}, qkv.data(), ld,
                  attn + static_cast<std::size_t>(s0) * static_cast<std::size_t>(L) * static_cast<std::size_t>(q_dim), pool_);
  }
}

}  // namespace nibble::quant
