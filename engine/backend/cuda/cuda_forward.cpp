// CudaSegment forward paths. Decode (<= decode_rows() rows): fused GEMV kernels (RMSNorm in the
// prologue, residual add / SiLU-gate in the epilogue) and split-K attention, captured once per
// (rows, context bucket) as a CUDA graph and replayed. Prefill: RMSNorm, dequantize + cuBLAS GEMM,
// attention per row. Hidden-state hand-off to the next segment (same GPU, peer, or host
// bounce). Step metadata (positions, block tables) lives in device memory so graphs
// stay valid across steps.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "backend/cuda/cuda_segment.h"
#include "nibble_kernels/attention.h"
#include "nibble_kernels/dequant.h"
#include "nibble_kernels/gemm.h"
#include "nibble_kernels/ops.h"

namespace nibble::cuda {
namespace {

using kernels::QGemvOutput;

struct MetaView {
  int* tokens;
  int* positions;
  int* row_seq;
  int* logit_rows;
  int* tables;
  int4* tiles;  // prefill attention tiles {row_begin, rows, seq, 0}
};

MetaView meta_view(void* base, int max_rows, int max_pages) {
  int* p = static_cast<int*>(base);
  const std::size_t tiles_at = (4 * static_cast<std::size_t>(max_rows) + static_cast<std::size_t>(max_rows) * max_pages + 3) / 4 * 4;
  return {p, p + max_rows, p + 2 * max_rows, p + 3 * max_rows, p + 4 * max_rows, reinterpret_cast<int4*>(p + tiles_at)};
}

}  // namespace

int context_bucket(int needed, int capacity) {
  int b = 256;
  while (b < needed) b *= 2;
  return std::min(b, capacity);
}

Result<int> CudaSegment::upload_plan(const BatchPlan& plan, bool tokens, bool logit_rows) {
  const int rows = plan.n_rows();
  if (rows <= 0 || rows > opts_.max_rows)
    return make_error(ErrorKind::invalid_argument, "forward step of ", rows, " rows (this segment takes 1..",
                      opts_.max_rows, ")");
  if (static_cast<int>(plan.seqs.size()) > opts_.max_rows)
    return make_error(ErrorKind::invalid_argument, "too many sequences in one step");
  const MetaView h = meta_view(meta_host_.data(), opts_.max_rows, max_pages_);
  int max_pos = 0;
  for (int r = 0; r < rows; ++r) {
    h.positions[r] = plan.positions[static_cast<std::size_t>(r)];
    max_pos = std::max(max_pos, h.positions[r]);
    if (tokens) h.tokens[r] = plan.tokens[static_cast<std::size_t>(r)];
  }
  const int capacity = opts_.kv_pages * opts_.page_size;
  if (max_pos >= capacity)
    return make_error(ErrorKind::invalid_argument, "position ", max_pos, " is past the KV cache capacity ", capacity);
  for (std::size_t s = 0; s < plan.seqs.size(); ++s) {
    const SeqEntry& e = plan.seqs[s];
    const int needed = (e.pos_begin + e.n_tokens + opts_.page_size - 1) / opts_.page_size;
    if (static_cast<int>(e.pages.size()) < needed || static_cast<int>(e.pages.size()) > max_pages_)
      return make_error(ErrorKind::invalid_argument, "sequence ", s, " has ", e.pages.size(), " pages for ",
                        e.pos_begin + e.n_tokens, " positions");
    int* row = h.tables + s * static_cast<std::size_t>(max_pages_);
    for (std::size_t i = 0; i < e.pages.size(); ++i) {
      if (e.pages[i] < 0 || e.pages[i] >= opts_.kv_pages)
        return make_error(ErrorKind::invalid_argument, "page id ", e.pages[i], " out of range");
      row[i] = e.pages[i];
    }
    for (int r = e.token_begin; r < e.token_begin + e.n_tokens; ++r) h.row_seq[r] = static_cast<int>(s);
  }
  if (logit_rows)
    for (std::size_t i = 0; i < plan.logit_rows.size(); ++i) h.logit_rows[i] = plan.logit_rows[i];
  n_tiles_ = 0;
  if (rows > decode_rows_) {
    const int tile_rows = kernels::attention_prefill_tile_rows(spec_.head_dim, kv_type(), rows, heads_);
    for (std::size_t s = 0; s < plan.seqs.size(); ++s) {
      const SeqEntry& e = plan.seqs[s];
      for (int r = 0; r < e.n_tokens; r += tile_rows)
        h.tiles[n_tiles_++] = int4{e.token_begin + r, std::min(tile_rows, e.n_tokens - r), static_cast<int>(s), 0};
    }
  }
  // One copy of the used prefix of the metadata block (tables last).
  const std::size_t bytes = (4 * static_cast<std::size_t>(opts_.max_rows) + plan.seqs.size() * max_pages_) * 4;
  NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(meta_.data(), meta_host_.data(), bytes, cudaMemcpyHostToDevice,
                                                        stream_)),
                        "uploading step metadata")));
  if (n_tiles_ > 0) {
    const MetaView d = meta_view(meta_.data(), opts_.max_rows, max_pages_);
    NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(d.tiles, h.tiles, sizeof(int4) * n_tiles_, cudaMemcpyHostToDevice,
                                                          stream_)),
                          "uploading step metadata")));
  }
  return max_pos + 1;
}

Status CudaSegment::gemv(const DeviceLinear* const* mats, int count, const void* x, int ldx, bool rmsnorm_input,
                         const DeviceBuffer* norm, QGemvOutput output, void* const* outs, const int* lds, int rows,
                         float* ss_out, const float* ss_in) {
  bool all_quant = true, all_dense = true;
  for (int i = 0; i < count; ++i) {
    all_quant = all_quant && mats[i]->quantized;
    all_dense = all_dense && !mats[i]->quantized;
  }
  if (!all_quant && !all_dense) {
    // Mixed formats in one fused group: run each matrix alone (a silu pair must match).
    if (output == QGemvOutput::silu_mul) return make_error(ErrorKind::unsupported, "gate/up projections in different formats");
    for (int i = 0; i < count; ++i) NIBBLE_TRY(gemv(mats + i, 1, x, ldx, rmsnorm_input, norm, output, outs + i, lds + i, rows));
    return {};
  }
  const auto input = rmsnorm_input ? kernels::QGemvInput::fp32_rmsnorm : kernels::QGemvInput::fp16;
  const __half* nw = norm ? norm->as<const __half>() : nullptr;
  const float eps = static_cast<float>(spec_.rms_norm_eps);
  if (all_quant) {
    kernels::QGemvArgs a;
    a.count = count;
    for (int i = 0; i < count; ++i) {
      a.m[i] = mats[i]->quant;
      a.target[i] = {outs[i], lds[i]};
    }
    a.input = input;
    a.output = output;
    a.x = x;
    a.ldx = ldx;
    a.norm_weight = nw;
    a.norm_eps = eps;
    a.rows = rows;
    a.workspace = gemv_ws_.as<float>();
    a.counters = gemv_counters_.as<unsigned>();
    a.ss_out = ss_out;
    a.ss_in = ss_in;
    return check(kernels::qgemv(a, stream_), "quantized GEMV");
  }
  kernels::DGemvArgs a;
  a.count = count;
  for (int i = 0; i < count; ++i) {
    a.m[i] = mats[i]->dense;
    a.target[i] = {outs[i], lds[i]};
  }
  a.input = input;
  a.output = output;
  a.x = x;
  a.ldx = ldx;
  a.norm_weight = nw;
  a.norm_eps = eps;
  a.rows = rows;
  return check(kernels::dgemv(a, stream_), "dense GEMV");
}

Status CudaSegment::enqueue_decode_layers(int rows, int context) {
  if (rows == 1 && fused_) {
    const ModelSpec& sp = spec_;
    const MetaView m = meta_view(meta_.data(), opts_.max_rows, max_pages_);
    kernels::FusedDecodeArgs a;
    a.layers = fused_table_.as<const kernels::FusedLayer>();
    a.n_layers = static_cast<int>(layers_.size());
    a.hidden = sp.hidden_size;
    a.inter = inter_max_;
    a.heads = heads_;
    a.kv_heads = kv_heads_;
    a.head_dim = sp.head_dim;
    a.eps = static_cast<float>(sp.rms_norm_eps);
    a.inv_freq = inv_freq_.as<const float>();
    a.attn_factor = attn_factor_;
    a.scale = 1.0f / std::sqrt(static_cast<float>(sp.head_dim));
    a.h = hidden_.as<float>();
    a.qkv = qkv_.as<float>();
    a.attn = attn_.as<__half>();
    a.act = act_.as<__half>();
    a.positions = m.positions;
    a.row_seq = m.row_seq;
    a.block_tables = m.tables;
    a.max_pages = max_pages_;
    a.page_size = opts_.page_size;
    a.workspace = attn_ws_.as<float>();
    a.counters = norm_stats_.as<unsigned>();
    return check(kernels::fused_decode(a, sm_count_, stream_), "fused decode step");
  }
  for (std::size_t li = 0; li < layers_.size(); ++li) {
    NIBBLE_TRY(decode_attention(li, rows, context));
    NIBBLE_TRY(decode_mlp(li, rows));
  }
  return {};
}

namespace {

bool all_quantized(std::initializer_list<const DeviceLinear*> ms) {
  for (const DeviceLinear* x : ms)
    if (!x->quantized) return false;
  return true;
}

}  // namespace

bool CudaSegment::prefill_qkv_fp16(const CudaLayer& L) const {
  const ModelSpec& sp = spec_;
  auto has_bias = [](const DeviceLinear& m) { return (m.quantized ? m.quant.bias : m.dense.bias) != nullptr; };
  return kv_type() == kernels::KvType::fp16 && !sp.qk_norm && !has_bias(L.q) && !has_bias(L.k) && !has_bias(L.v) &&
         kernels::attention_prefill_supports(sp.head_dim) && sp.head_dim % 8 == 0 && (qd_ + 2 * kvd_) % 4 == 0 &&
         qd_ % 4 == 0 && kvd_ % 4 == 0;
}

// Per-head q/k norms (Qwen3), RoPE + the KV append of this share's heads, and the attention
// arguments both paths share (the caller adds the context bound and launches).
Status CudaSegment::rope_kv_and_attention_args(const CudaLayer& L, int rows, kernels::AttentionArgs& at, bool qkv16) {
  const ModelSpec& sp = spec_;
  const int qkv_w = qd_ + 2 * kvd_;
  float* qkv = qkv_.as<float>();
  __half* qkv_h = qkv_.as<__half>();
  const MetaView m = meta_view(meta_.data(), opts_.max_rows, max_pages_);
  if (sp.qk_norm) {  // fp32 rows only: prefill_qkv_fp16 excludes q/k norms
    const float eps = static_cast<float>(sp.rms_norm_eps);
    NIBBLE_TRY(check(kernels::head_rms_norm(qkv, qkv_w, heads_, sp.head_dim, L.q_norm.as<const __half>(), eps, rows, stream_), "q norm"));
    NIBBLE_TRY(check(kernels::head_rms_norm(qkv + qd_, qkv_w, kv_heads_, sp.head_dim, L.k_norm.as<const __half>(), eps, rows, stream_), "k norm"));
  }
  kernels::RopeKvArgs r;
  if (qkv16) {
    r.q16 = qkv_h;
    r.k16 = qkv_h + qd_;
    r.v16 = qkv_h + qd_ + kvd_;
  } else {
    r.q = qkv;
    r.k = qkv + qd_;
    r.v = qkv + qd_ + kvd_;
  }
  r.ldq = r.ldk = r.ldv = qkv_w;
  r.rows = rows;
  r.heads = heads_;
  r.kv_heads = kv_heads_;
  r.head_dim = sp.head_dim;
  r.rotary_dim = sp.head_dim;
  r.inv_freq = inv_freq_.as<const float>();
  r.attn_factor = attn_factor_;
  r.positions = m.positions;
  r.row_seq = m.row_seq;
  r.block_tables = m.tables;
  r.max_pages = max_pages_;
  r.page_size = opts_.page_size;
  bind_kv(L, r, at);
  NIBBLE_TRY(check(kernels::rope_kv_append(r, stream_), "RoPE and KV append"));
  if (qkv16) at.q16 = qkv_h;
  else at.q = qkv;
  at.ldq = qkv_w;
  at.out = attn_.as<__half>();
  at.ldo = qd_;
  at.rows = rows;
  at.heads = heads_;
  at.kv_heads = kv_heads_;
  at.head_dim = sp.head_dim;
  at.page_size = opts_.page_size;
  at.max_pages = max_pages_;
  at.positions = m.positions;
  at.row_seq = m.row_seq;
  at.block_tables = m.tables;
  at.window = L.sliding_window;
  at.scale = 1.0f / std::sqrt(static_cast<float>(sp.head_dim));
  return {};
}

// q/k/v GEMV (RMSNorm in), RoPE + KV append and attention over this share's heads into attn_.
Status CudaSegment::decode_attention(std::size_t li, int rows, int context) {
  const ModelSpec& sp = spec_;
  const int hidden = sp.hidden_size, qd = qd_, kvd = kvd_;
  const int qkv_w = qd + 2 * kvd;
  CudaLayer& L = layers_[li];
  float* h = hidden_.as<float>();
  float* qkv = qkv_.as<float>();
  // RMSNorm statistics handed from the residual-adding GEMV (o, down) to the next normalising one
  // (gate/up, the next layer's q/k/v) when both are quantized; otherwise each GEMV computes its own.
  // Under tensor parallelism the down GEMV leaves a partial sum, so q/k/v computes its own.
  float* const stats_attn = norm_stats_.as<float>();
  const bool stats_in = li > 0 && hidden % 32 == 0 && opts_.shards == 1 && layers_[li - 1].down.quantized &&
                        all_quantized({&L.q, &L.k, &L.v});
  const DeviceLinear* qkv_m[3] = {&L.q, &L.k, &L.v};
  void* qkv_out[3] = {qkv, qkv + qd, qkv + qd + kvd};
  const int qkv_ld[3] = {qkv_w, qkv_w, qkv_w};
  NIBBLE_TRY(gemv(qkv_m, 3, h, hidden, true, &L.attn_norm, QGemvOutput::store_fp32, qkv_out, qkv_ld, rows, nullptr,
                  stats_in ? stats_attn : nullptr));
  kernels::AttentionArgs at;
  NIBBLE_TRY(rope_kv_and_attention_args(L, rows, at));
  at.max_context = context;
  at.workspace = attn_ws_.as<float>();
  at.counters = attn_counters_.as<unsigned>();
  return check(kernels::attention_rows(at, stream_), "attention");
}

const __half* CudaSegment::o_input(int rows, int& ld) {
  ld = spec_.q_dim();
  if (opts_.shards == 1) return attn_.as<const __half>();
  if (peer_collectives_) return attn_cat_.as<const __half>();  // the peer all-gather writes whole rows
  if (rows == 1) return attn_all_.as<const __half>();  // [shards][1][q_dim / shards] is already one row
  return attn_cat_.as<const __half>();
}

// o GEMV (+ residual), gate/up GEMV (RMSNorm in, SiLU-gated product out), down GEMV (+ residual;
// under tensor parallelism share 0 adds its partial sum to the residual and the others store
// theirs, so the all-reduce that follows leaves the residual + every share's sum on each GPU).
Status CudaSegment::decode_mlp(std::size_t li, int rows) {
  const ModelSpec& sp = spec_;
  const int hidden = sp.hidden_size;
  CudaLayer& L = layers_[li];
  const int inter = L.gate.N;
  float* h = hidden_.as<float>();
  float* const stats_attn = norm_stats_.as<float>();
  float* const stats_mlp = stats_attn + static_cast<std::size_t>(kMaxDecodeRows) * (hidden / 32 + 1);
  const bool stats_ok = hidden % 32 == 0 && rows <= decode_rows_;
  if (opts_.shards > 1 && rows > 1 && !peer_collectives_)
    NIBBLE_TRY(check(kernels::interleave_chunks_f16(attn_all_.as<const __half>(), opts_.shards, rows, qd_,
                                                    attn_cat_.as<__half>(), sp.q_dim(), stream_),
                     "gathering attention heads"));
  int o_ld = 0;
  const __half* o_x = o_input(rows, o_ld);
  const DeviceLinear* o_m[1] = {&L.o};
  void* h_out[1] = {h};
  const int h_ld[1] = {hidden};
  const bool mlp_stats = stats_ok && L.o.quantized && all_quantized({&L.gate, &L.up});
  NIBBLE_TRY(gemv(o_m, 1, o_x, o_ld, false, nullptr, QGemvOutput::add_fp32, h_out, h_ld, rows,
                  mlp_stats ? stats_mlp : nullptr));
  const DeviceLinear* gu_m[2] = {&L.gate, &L.up};
  void* gu_out[2] = {act_.data(), act_.data()};
  const int gu_ld[2] = {inter, inter};
  NIBBLE_TRY(gemv(gu_m, 2, h, hidden, true, &L.mlp_norm, QGemvOutput::silu_mul, gu_out, gu_ld, rows, nullptr,
                  mlp_stats ? stats_mlp : nullptr));
  const DeviceLinear* d_m[1] = {&L.down};
  const bool stats_out = stats_ok && L.down.quantized && opts_.shards == 1;
  if (peer_collectives_) {  // every share stores its partial sum; the peer all-reduce adds them to h
    void* p_out[1] = {partial_.data()};
    return gemv(d_m, 1, act_.data(), inter, false, nullptr, QGemvOutput::store_fp32, p_out, h_ld, rows);
  }
  const QGemvOutput down_out = opts_.shard == 0 ? QGemvOutput::add_fp32 : QGemvOutput::store_fp32;
  return gemv(d_m, 1, act_.data(), inter, false, nullptr, down_out, h_out, h_ld, rows, stats_out ? stats_attn : nullptr);
}

Status CudaSegment::gemm(const DeviceLinear& w, const __half* a, int lda, int rows, void* c, int ldc, bool c_fp32,
                         float beta, int) {
  kernels::GemmArgs g;
  g.m = rows;
  g.n = w.N;
  g.k = w.K;
  g.a = a;
  g.lda = lda;
  g.c = c;
  g.ldc = ldc;
  g.c_fp32 = c_fp32;
  g.beta = beta;
  if (!w.quantized) {
    g.b = static_cast<const __half*>(w.dense.w);
    g.ldb = w.K;
    g.b_is_nk = true;
    NIBBLE_TRY(check(kernels::gemm_f16(cublas_, g, stream_), "GEMM"));
    if (w.dense.bias && c_fp32) NIBBLE_TRY(check(kernels::add_bias_f32(static_cast<float*>(c), ldc, rows, w.N, w.dense.bias, stream_), "bias"));
    return {};
  }
  // Dequantize column blocks that fit the scratch, one GEMM per block.
  const int block_cols = static_cast<int>(std::min<std::size_t>(w.N, wscratch_elems_ / static_cast<std::size_t>(w.K)));
  if (block_cols <= 0) return make_error(ErrorKind::internal, "dequantization scratch too small");
  for (int n0 = 0; n0 < w.N; n0 += block_cols) {
    const int nc = std::min(block_cols, w.N - n0);
    NIBBLE_TRY(check(kernels::qmatrix_dequant_f16(w.quant, n0, nc, wscratch_[0].as<__half>(), nc, 0, stream_), "dequantize"));
    kernels::GemmArgs b = g;
    b.n = nc;
    b.b = wscratch_[0].as<const __half>();
    b.ldb = nc;
    b.b_is_nk = false;
    b.c = c_fp32 ? static_cast<void*>(static_cast<float*>(c) + n0) : static_cast<void*>(static_cast<__half*>(c) + n0);
    NIBBLE_TRY(check(kernels::gemm_f16(cublas_, b, stream_), "GEMM"));
  }
  if (w.quant.bias && c_fp32) NIBBLE_TRY(check(kernels::add_bias_f32(static_cast<float*>(c), ldc, rows, w.N, w.quant.bias, stream_), "bias"));
  return {};
}

bool CudaSegment::PrefillGemm::quantized() const {
  for (int i = 0; i < count; ++i)
    if (!m[i]->quantized) return false;
  return true;
}

int CudaSegment::PrefillGemm::n_total() const {
  int n = 0;
  for (int i = 0; i < count; ++i) n += m[i]->N;
  return n;
}

// GEMM p of the prefill step: layer p / 4, product p % 4 (q/k/v, o, gate/up, down).
CudaSegment::PrefillGemm CudaSegment::prefill_point(int p) {
  const ModelSpec& sp = spec_;
  const int hidden = sp.hidden_size;
  CudaLayer& L = layers_[static_cast<std::size_t>(p / 4)];
  const int inter = L.gate.N;
  PrefillGemm g;
  switch (p % 4) {
    case 0:
      g.m[0] = &L.q; g.m[1] = &L.k; g.m[2] = &L.v; g.count = 3;
      g.a = normed_.as<const __half>(); g.lda = hidden; g.c = qkv_.data(); g.ldc = qd_ + 2 * kvd_;
      g.c_fp32 = !prefill_qkv_fp16(L);
      break;
    case 1: {
      int ld = 0;
      g.m[0] = &L.o; g.count = 1; g.a = o_input(kMaxDecodeRows + 1, ld);  // prefill rows: the interleaved copy
      g.lda = ld; g.c = hidden_.as<float>(); g.ldc = hidden; g.beta = 1.0f;
      break;
    }
    case 2:
      g.m[0] = &L.gate; g.m[1] = &L.up; g.count = 2;
      g.a = normed_.as<const __half>(); g.lda = hidden; g.c = gate_up_.data(); g.c_fp32 = false; g.ldc = 2 * inter;
      break;
    default:
      // Tensor parallelism: share 0 adds its partial sum to the residual, the others store theirs.
      g.m[0] = &L.down; g.count = 1; g.a = act_.as<const __half>(); g.lda = inter; g.c = hidden_.as<float>(); g.ldc = hidden;
      g.beta = opts_.shard == 0 ? 1.0f : 0.0f;
      if (peer_collectives_) {  // every share stores its partial sum; the peer all-reduce adds them
        g.c = partial_.as<float>();
        g.beta = 0.0f;
      }
      break;
  }
  return g;
}

// Quantized weights are dequantized on the auxiliary stream one GEMM ahead, into the scratch
// buffer the GEMM before last has finished with, so dequantization (memory-bound) overlaps the
// tensor-core GEMMs (compute-bound) instead of adding to them.
Status CudaSegment::prefill_dequant(int p) {
  if (p >= 4 * static_cast<int>(layers_.size())) return {};
  const PrefillGemm g = prefill_point(p);
  if (!g.quantized()) return {};
  if (p >= 2) NIBBLE_TRY(check(static_cast<int>(cudaStreamWaitEvent(aux_, gemm_done_[p % 2], 0)), "stream order"));
  __half* buf = wscratch_[p % 2].as<__half>();
  const int nt = g.n_total();
  int off = 0;
  for (int i = 0; i < g.count; ++i) {
    NIBBLE_TRY(check(kernels::qmatrix_dequant_f16(g.m[i]->quant, 0, g.m[i]->N, buf, nt, off, aux_), "dequantize"));
    off += g.m[i]->N;
  }
  return check(static_cast<int>(cudaEventRecord(deq_done_[p % 2], aux_)), "stream order");
}

Status CudaSegment::prefill_gemm(int p, int rows) {
  const PrefillGemm g = prefill_point(p);
  // Column `off` of the output (fp32 or fp16 elements).
  auto out_at = [&](int off) -> void* {
    return g.c_fp32 ? static_cast<void*>(static_cast<float*>(g.c) + off) : static_cast<void*>(static_cast<__half*>(g.c) + off);
  };
  if (!g.quantized()) {
    int off = 0;
    for (int i = 0; i < g.count; ++i) {
      NIBBLE_TRY(gemm(*g.m[i], g.a, g.lda, rows, out_at(off), g.ldc, g.c_fp32, g.beta, 0));
      off += g.m[i]->N;
    }
    return {};
  }
  NIBBLE_TRY(check(static_cast<int>(cudaStreamWaitEvent(stream_, deq_done_[p % 2], 0)), "stream order"));
  kernels::GemmArgs a;
  a.m = rows;
  a.n = g.n_total();
  a.k = g.m[0]->K;
  a.a = g.a;
  a.lda = g.lda;
  a.b = wscratch_[p % 2].as<const __half>();
  a.ldb = a.n;
  a.c = g.c;
  a.c_fp32 = g.c_fp32;
  a.ldc = g.ldc;
  a.beta = g.beta;
  NIBBLE_TRY(check(kernels::gemm_f16(cublas_, a, stream_), "GEMM"));
  NIBBLE_TRY(check(static_cast<int>(cudaEventRecord(gemm_done_[p % 2], stream_)), "stream order"));
  if (!g.c_fp32) return {};  // fp16 outputs (gate/up): the SiLU product adds the biases
  int off = 0;
  for (int i = 0; i < g.count; ++i) {
    if (g.m[i]->quant.bias)
      NIBBLE_TRY(check(kernels::add_bias_f32(static_cast<float*>(g.c) + off, g.ldc, rows, g.m[i]->N, g.m[i]->quant.bias, stream_), "bias"));
    off += g.m[i]->N;
  }
  return {};
}

Status CudaSegment::prefill_begin() {
  // The auxiliary stream starts after everything already queued on the main stream.
  NIBBLE_TRY(check(static_cast<int>(cudaEventRecord(gemm_done_[0], stream_)), "stream order"));
  NIBBLE_TRY(check(static_cast<int>(cudaStreamWaitEvent(aux_, gemm_done_[0], 0)), "stream order"));
  return prefill_dequant(0);
}

Status CudaSegment::enqueue_prefill_layers(int rows) {
  NIBBLE_TRY(prefill_begin());
  for (std::size_t li = 0; li < layers_.size(); ++li) {
    NIBBLE_TRY(prefill_attention(li, rows));
    NIBBLE_TRY(prefill_mlp(li, rows));
  }
  return {};
}

// RMSNorm, q/k/v GEMM, RoPE + KV append and attention over this share's heads into attn_.
Status CudaSegment::prefill_attention(std::size_t li, int rows) {
  const ModelSpec& sp = spec_;
  const int hidden = sp.hidden_size;
  const float eps = static_cast<float>(sp.rms_norm_eps);
  float* h = hidden_.as<float>();
  __half* normed = normed_.as<__half>();
  const MetaView m = meta_view(meta_.data(), opts_.max_rows, max_pages_);
  CudaLayer& L = layers_[li];
  const int p0 = 4 * static_cast<int>(li);
  NIBBLE_TRY(check(kernels::rms_norm_f16(h, hidden, L.attn_norm.as<const __half>(), eps, rows, hidden, normed, hidden, stream_), "RMSNorm"));
  NIBBLE_TRY(prefill_dequant(p0 + 1));
  NIBBLE_TRY(prefill_gemm(p0, rows));
  kernels::AttentionArgs at;
  NIBBLE_TRY(rope_kv_and_attention_args(L, rows, at, prefill_qkv_fp16(L)));
  at.max_context = opts_.kv_pages * opts_.page_size;
  if (kernels::attention_prefill_supports(sp.head_dim)) return check(kernels::attention_prefill(at, m.tiles, n_tiles_, stream_), "attention");
  return check(kernels::attention_rows_serial(at, stream_), "attention");
}

// o GEMM (+ residual), RMSNorm, gate/up GEMM, SiLU product, down GEMM (+ residual, or this
// share's partial sum under tensor parallelism).
Status CudaSegment::prefill_mlp(std::size_t li, int rows) {
  const ModelSpec& sp = spec_;
  const int hidden = sp.hidden_size;
  const float eps = static_cast<float>(sp.rms_norm_eps);
  float* h = hidden_.as<float>();
  const __half* gu = gate_up_.as<const __half>();
  CudaLayer& L = layers_[li];
  const int inter = L.gate.N;
  const int p0 = 4 * static_cast<int>(li);
  if (opts_.shards > 1 && !peer_collectives_)
    NIBBLE_TRY(check(kernels::interleave_chunks_f16(attn_all_.as<const __half>(), opts_.shards, rows, qd_,
                                                    attn_cat_.as<__half>(), sp.q_dim(), stream_),
                     "gathering attention heads"));
  NIBBLE_TRY(prefill_dequant(p0 + 2));
  NIBBLE_TRY(prefill_gemm(p0 + 1, rows));
  NIBBLE_TRY(check(kernels::rms_norm_f16(h, hidden, L.mlp_norm.as<const __half>(), eps, rows, hidden, normed_.as<__half>(), hidden, stream_), "RMSNorm"));
  NIBBLE_TRY(prefill_dequant(p0 + 3));
  NIBBLE_TRY(prefill_gemm(p0 + 2, rows));
  auto bias_of = [](const DeviceLinear& m) { return m.quantized ? m.quant.bias : m.dense.bias; };
  NIBBLE_TRY(check(kernels::silu_mul_f16(gu, 2 * inter, gu + inter, 2 * inter, bias_of(L.gate), bias_of(L.up), rows, inter,
                                         act_.as<__half>(), inter, stream_),
                   "SiLU"));
  NIBBLE_TRY(prefill_dequant(p0 + 4));
  return prefill_gemm(p0 + 3, rows);
}

Status CudaSegment::embed(const BatchPlan& plan) {
  if (lost_) return make_error(ErrorKind::device_lost, "the GPU context was lost: reload the model");
  if (!opts_.has_embedding || !embed_.data()) return make_error(ErrorKind::internal, "embed() on a segment without the embedding");
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  for (std::int32_t id : plan.tokens)
    if (id < 0 || id >= spec_.vocab_size)
      return make_error(ErrorKind::invalid_argument, "token id ", id, " is outside the vocabulary (", spec_.vocab_size, ")");
  NIBBLE_ASSIGN_OR_RETURN(int ctx, upload_plan(plan, true, false));
  (void)ctx;
  const MetaView m = meta_view(meta_.data(), opts_.max_rows, max_pages_);
  return fail(check(kernels::embed_rows(embed_.data(), kernels::WeightType::fp16, spec_.vocab_size, spec_.hidden_size,
                                        m.tokens, plan.n_rows(), hidden_.as<float>(), stream_),
                    "embedding"));
}

Status CudaSegment::run_layers(const BatchPlan& plan) {
  if (lost_) return make_error(ErrorKind::device_lost, "the GPU context was lost: reload the model");
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  NIBBLE_ASSIGN_OR_RETURN(int needed, upload_plan(plan, false, false));
  const int rows = plan.n_rows();
  if (rows > decode_rows_) return fail(enqueue_prefill_layers(rows));
  const int context = context_bucket(needed, opts_.kv_pages * opts_.page_size);
  const auto key = std::make_pair(rows, context);
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    cudaGraph_t graph = nullptr;
    NIBBLE_TRY(fail(check(static_cast<int>(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal)), "graph capture")));
    Status enq = enqueue_decode_layers(rows, context);
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    if (!enq.ok()) {
      if (graph) cudaGraphDestroy(graph);
      return fail(enq);
    }
    NIBBLE_TRY(fail(check(static_cast<int>(end), "graph capture")));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    NIBBLE_TRY(fail(check(static_cast<int>(inst), "graph instantiation")));
    it = graphs_.emplace(key, exec).first;
  }
  return fail(check(static_cast<int>(cudaGraphLaunch(it->second, stream_)), "decode step"));
}

Status CudaSegment::enqueue_head(int n, float* out_logits) {
  const ModelSpec& sp = spec_;
  const int hidden = sp.hidden_size;
  const MetaView m = meta_view(meta_.data(), opts_.max_rows, max_pages_);
  NIBBLE_TRY(check(kernels::gather_rows_f32(hidden_.as<const float>(), hidden, m.logit_rows, n, hidden, head_in_.as<float>(), hidden, stream_), "gathering rows"));
  float* logits = logits_.as<float>();
  if (n <= decode_rows_) {
    const DeviceLinear* hm[1] = {&head_};
    void* outs[1] = {logits};
    const int lds[1] = {sp.vocab_size};
    NIBBLE_TRY(gemv(hm, 1, head_in_.data(), hidden, true, &final_norm_, QGemvOutput::store_fp32, outs, lds, n));
  } else {
    NIBBLE_TRY(check(kernels::rms_norm_f16(head_in_.as<const float>(), hidden, final_norm_.as<const __half>(),
                                           static_cast<float>(sp.rms_norm_eps), n, hidden, normed_.as<__half>(), hidden, stream_),
                     "final norm"));
    NIBBLE_TRY(gemm(head_, normed_.as<const __half>(), hidden, n, logits, sp.vocab_size, true, 0.0f, 0));
  }
  if (out_logits) {
    NIBBLE_TRY(check(static_cast<int>(cudaMemcpyAsync(out_logits, logits, static_cast<std::size_t>(n) * sp.vocab_size * 4,
                                                      cudaMemcpyDeviceToHost, stream_)),
                     "downloading logits"));
  }
  return {};
}

Status CudaSegment::head(const BatchPlan& plan, float* logits) {
  if (lost_) return make_error(ErrorKind::device_lost, "the GPU context was lost: reload the model");
  if (!opts_.has_head) return make_error(ErrorKind::internal, "head() on a segment without the head");
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  const int n = static_cast<int>(plan.logit_rows.size());
  if (n == 0) return {};
  if (n > opts_.max_rows) return make_error(ErrorKind::invalid_argument, "too many logit rows");
  for (std::int32_t r : plan.logit_rows)
    if (r < 0 || r >= plan.n_rows()) return make_error(ErrorKind::invalid_argument, "logit row ", r, " out of range");
  NIBBLE_TRY(upload_plan(plan, false, true));
  NIBBLE_TRY(fail(enqueue_head(n, logits)));
  return fail(check(static_cast<int>(cudaStreamSynchronize(stream_)), "forward step"));
}

Status CudaSegment::head_sample(const BatchPlan& plan, std::span<const DeviceSampling> sampling, std::int32_t* ids) {
  if (sampling.size() != plan.logit_rows.size())
    return make_error(ErrorKind::invalid_argument, "head_sample: ", sampling.size(), " sampler settings for ",
                      plan.logit_rows.size(), " rows");
  std::vector<kernels::SampleRow> rows(sampling.size());
  for (std::size_t i = 0; i < sampling.size(); ++i) {
    const DeviceSampling& d = sampling[i];
    rows[i].temperature = d.temperature;
    rows[i].top_k = d.top_k;
    rows[i].top_p = d.top_p;
    rows[i].min_p = d.min_p;
    rows[i].seed = d.seed;
    rows[i].step = d.step;
  }
  return head_sample(plan, rows.data(), ids);
}

Status CudaSegment::head_sample(const BatchPlan& plan, const kernels::SampleRow* params, std::int32_t* ids) {
  if (lost_) return make_error(ErrorKind::device_lost, "the GPU context was lost: reload the model");
  if (!opts_.has_head) return make_error(ErrorKind::internal, "head_sample() on a segment without the head");
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  const int n = static_cast<int>(plan.logit_rows.size());
  if (n == 0) return {};
  if (n > opts_.max_rows) return make_error(ErrorKind::invalid_argument, "too many logit rows");
  NIBBLE_TRY(upload_plan(plan, false, true));
  NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(sample_params_.data(), params, sizeof(kernels::SampleRow) * n,
                                                        cudaMemcpyHostToDevice, stream_)),
                        "uploading sampler settings")));
  NIBBLE_TRY(fail(enqueue_head(n, nullptr)));
  NIBBLE_TRY(fail(check(kernels::sample_rows(logits_.as<const float>(), spec_.vocab_size, spec_.vocab_size, n,
                                             sample_params_.as<const kernels::SampleRow>(), sample_ids_.as<int>(), stream_),
                        "sampling")));
  NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(ids, sample_ids_.data(), sizeof(int) * n, cudaMemcpyDeviceToHost, stream_)),
                        "downloading ids")));
  return fail(check(static_cast<int>(cudaStreamSynchronize(stream_)), "forward step"));
}

Status CudaSegment::hidden_to_host(float* dst, int rows) {
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(dst, hidden_.data(), static_cast<std::size_t>(rows) * spec_.hidden_size * 4,
                                                        cudaMemcpyDeviceToHost, stream_)),
                        "copying hidden state")));
  return fail(check(static_cast<int>(cudaStreamSynchronize(stream_)), "copying hidden state"));
}

Status CudaSegment::hidden_from_host(const float* src, int rows) {
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  if (rows > opts_.max_rows) return make_error(ErrorKind::invalid_argument, "too many rows");
  NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(hidden_.data(), src, static_cast<std::size_t>(rows) * spec_.hidden_size * 4,
                                                        cudaMemcpyHostToDevice, stream_)),
                        "copying hidden state")));
  return fail(check(static_cast<int>(cudaStreamSynchronize(stream_)), "copying hidden state"));
}

bool peer_access(int from, int to) {
  if (const char* off = std::getenv("NIBBLE_DISABLE_PEER"); off && off[0] == '1') return false;
  static std::mutex mu;
  static std::map<std::pair<int, int>, bool> known;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_pair(from, to);
  if (auto it = known.find(key); it != known.end()) return it->second;
  int can = 0;
  bool ok = cudaDeviceCanAccessPeer(&can, from, to) == cudaSuccess && can != 0;
  if (ok) {
    int current = 0;
    cudaGetDevice(&current);
    cudaSetDevice(from);
    const cudaError_t e = cudaDeviceEnablePeerAccess(to, 0);
    ok = e == cudaSuccess || e == cudaErrorPeerAccessAlreadyEnabled;
    cudaGetLastError();  // clears cudaErrorPeerAccessAlreadyEnabled
    cudaSetDevice(current);
  }
  cudaGetLastError();
  known[key] = ok;
  return ok;
}

Status CudaSegment::hidden_to_segment(Segment& next_segment, int rows) {
  auto* next = dynamic_cast<CudaSegment*>(&next_segment);
  if (!next) return make_error(ErrorKind::unsupported, "the next segment is not on a GPU");
  if (lost_) return make_error(ErrorKind::device_lost, "the GPU context was lost: reload the model");
  if (rows > opts_.max_rows || rows > next->opts_.max_rows) return make_error(ErrorKind::invalid_argument, "too many rows");
  const std::size_t bytes = static_cast<std::size_t>(rows) * spec_.hidden_size * 4;
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  if (next->device_ == device_) {
    NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(next->hidden_.data(), hidden_.data(), bytes,
                                                           cudaMemcpyDeviceToDevice, stream_)),
                          "handing the hidden state on")));
  } else if (peer_access(device_, next->device_)) {
    NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyPeerAsync(next->hidden_.data(), next->device_, hidden_.data(),
                                                               device_, bytes, stream_)),
                          "peer copy of the hidden state")));
  } else {
    if (bounce_.size() < bytes) return make_error(ErrorKind::internal, "no hand-off buffer on a segment with a successor");
    NIBBLE_TRY(fail(check(static_cast<int>(cudaMemcpyAsync(bounce_.data(), hidden_.data(), bytes, cudaMemcpyDeviceToHost,
                                                           stream_)),
                          "copying hidden state")));
    NIBBLE_TRY(fail(check(static_cast<int>(cudaStreamSynchronize(stream_)), "copying hidden state")));
    NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(next->device_)), "selecting the GPU"));
    NIBBLE_TRY(next->fail(check(static_cast<int>(cudaMemcpyAsync(next->hidden_.data(), bounce_.data(), bytes,
                                                                 cudaMemcpyHostToDevice, next->stream_)),
                                "copying hidden state")));
    return next->fail(check(static_cast<int>(cudaStreamSynchronize(next->stream_)), "copying hidden state"));
  }
  return fail(check(static_cast<int>(cudaStreamSynchronize(stream_)), "handing the hidden state on"));
}

}  // namespace nibble::cuda
