// CudaSegment construction: device setup, weight upload (per layer, with progress and cancel),
// the KV cache, and one allocation plan for every scratch buffer a forward step needs.
#include "backend/cuda/cuda_segment.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>

#include "model/rope.h"
#include "model/weight_source.h"
#include "nibble_kernels/attention.h"
#include "util/half.h"

namespace nibble::cuda {
namespace {

Result<DeviceBuffer> upload_norm(const WeightSource& w, const std::string& name, int n) {
  NIBBLE_ASSIGN_OR_RETURN(TensorView t, w.dense(name, {n}));
  std::vector<std::uint16_t> h(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) h[i] = fp32_to_fp16(t.f(i));
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::allocate(h.size() * 2, name.c_str()));
  NIBBLE_TRY(b.upload(h.data(), h.size() * 2, 0, name.c_str()));
  return b;
}

std::size_t linear_bytes(const LinearDesc& d) {
  std::size_t t = d.weight.nbytes + d.exl2.q_weight.nbytes + d.gptq.qweight.nbytes;
  return t;
}

}  // namespace

CudaSegment::CudaSegment(int device, const ModelSpec& spec, const SegmentOptions& opts)
    : device_(device), spec_(spec), opts_(opts) {
  const int shards = std::max(1, opts.shards);
  heads_ = spec.n_heads / shards;
  kv_heads_ = spec.n_kv_heads / shards;
  qd_ = heads_ * spec.head_dim;
  kvd_ = kv_heads_ * spec.head_dim;
  inter_max_ = spec.intermediate_size;
}

CudaSegment::~CudaSegment() {
  cudaSetDevice(device_);
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (cublas_) cublasDestroy(cublas_);
  for (cudaEvent_t e : {deq_done_[0], deq_done_[1], gemm_done_[0], gemm_done_[1]})
    if (e) cudaEventDestroy(e);
  if (aux_) cudaStreamDestroy(aux_);
  if (stream_) cudaStreamDestroy(stream_);
}

Status CudaSegment::fail(Status s) {
  if (!s.ok() && s.error().kind == ErrorKind::device_lost) lost_ = true;
  return s;
}

Status CudaSegment::init_device() {
  NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(device_)), "selecting the GPU"));
  cudaDeviceProp props{};
  NIBBLE_TRY(check(static_cast<int>(cudaGetDeviceProperties(&props, device_)), "reading GPU properties"));
  if (props.major < 8 || (props.major == 8 && props.minor < 6))
    return make_error(ErrorKind::unsupported, props.name, " (compute capability ", props.major, ".", props.minor,
                      ") is older than the 8.6 Nibble's kernels need");
  sm_count_ = props.multiProcessorCount;
  NIBBLE_TRY(check(static_cast<int>(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)), "creating a stream"));
  NIBBLE_TRY(check(static_cast<int>(cudaStreamCreateWithFlags(&aux_, cudaStreamNonBlocking)), "creating a stream"));
  for (cudaEvent_t* e : {&deq_done_[0], &deq_done_[1], &gemm_done_[0], &gemm_done_[1]})
    NIBBLE_TRY(check(static_cast<int>(cudaEventCreateWithFlags(e, cudaEventDisableTiming)), "creating an event"));
  const cublasStatus_t st = cublasCreate(&cublas_);
  if (st != CUBLAS_STATUS_SUCCESS) return check(1000 + static_cast<int>(st), "creating the cuBLAS handle");
  return {};
}

Result<std::unique_ptr<CudaSegment>> CudaSegment::create(int device, const ModelSpec& spec, const WeightSource& weights,
                                                         const SegmentOptions& opts, const LoadProgressFn& progress) {
  if (opts.first_layer < 0 || opts.last_layer > spec.n_layers || opts.first_layer > opts.last_layer ||
      opts.max_rows <= 0 || opts.kv_pages <= 0 || opts.page_size <= 0)
    return make_error(ErrorKind::invalid_argument, "CUDA segment: bad layer range or sizes");
  const bool quant_cache = opts.kv_type == KvCacheType::q8 || opts.kv_type == KvCacheType::q4;
  if (quant_cache && !kernels::kv_quant_supports(spec.head_dim))
    return make_error(ErrorKind::unsupported, "CUDA backend: a ", opts.kv_type == KvCacheType::q8 ? "q8" : "q4",
                      " KV cache needs an even head_dim of at most 256 whose quantization group (32, or head_dim) is a "
                      "multiple of 8; this model's head_dim is ",
                      spec.head_dim, ": load it with the fp16 cache (--cache fp16)");
  if (opts.shards < 1 || opts.shard < 0 || opts.shard >= opts.shards)
    return make_error(ErrorKind::invalid_argument, "CUDA segment: share ", opts.shard, " of ", opts.shards);
  if (opts.shards > 1 && (spec.n_heads % opts.shards != 0 || spec.n_kv_heads % opts.shards != 0))
    return make_error(ErrorKind::unsupported, "tensor parallelism over ", opts.shards, " GPUs needs the attention heads (",
                      spec.n_heads, ") and KV heads (", spec.n_kv_heads, ") to divide evenly among them: use ",
                      "a GPU count that divides ", spec.n_kv_heads, ", or split the layers across the GPUs instead (--gpu-split)");
  std::unique_ptr<CudaSegment> s(new CudaSegment(device, spec, opts));
  if (!quant_cache) s->opts_.kv_type = KvCacheType::fp16;  // fp32 requests map to fp16 on the GPU
  NIBBLE_TRY(s->init_device());
  NIBBLE_TRY(s->load(weights, progress));
  NIBBLE_TRY(s->allocate_scratch());
  return s;
}

Status CudaSegment::load(const WeightSource& w, const LoadProgressFn& progress) {
  const ModelSpec& sp = spec_;
  const int hidden = sp.hidden_size, inter = sp.intermediate_size;
  struct Pending {
    std::string prefix;
    int K, N;
    bool bias;
  };
  // Total bytes for progress: every linear of our layers (+ head and embedding).
  std::size_t total = 0, done = 0;
  const char* names[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  auto shape_of = [&](int j, int& K, int& N, bool& bias) {
    switch (j) {
      case 0: K = hidden; N = sp.q_dim(); bias = sp.qkv_bias; break;
      case 1: K = hidden; N = sp.kv_dim(); bias = sp.qkv_bias; break;
      case 2: K = hidden; N = sp.kv_dim(); bias = sp.qkv_bias; break;
      case 3: K = sp.q_dim(); N = hidden; bias = sp.o_bias; break;
      case 4: K = hidden; N = inter; bias = sp.mlp_bias; break;
      case 5: K = hidden; N = inter; bias = sp.mlp_bias; break;
      default: K = inter; N = hidden; bias = sp.mlp_bias; break;
    }
  };
  for (int l = opts_.first_layer; l < opts_.last_layer; ++l)
    for (int j = 0; j < 7; ++j) {
      int K, N;
      bool b;
      shape_of(j, K, N, b);
      NIBBLE_ASSIGN_OR_RETURN(LinearDesc d, w.linear(WeightSource::layer_name(l, names[j]), K, N, b));
      total += linear_bytes(d) / static_cast<std::size_t>(j == 3 ? 1 : opts_.shards);
    }
  auto report = [&](std::size_t add) -> Status {
    done += add;
    if (progress && !progress(done, std::max(total, done)))
      return make_error(ErrorKind::cancelled, "loading cancelled");
    return {};
  };

  if (opts_.has_embedding || (opts_.has_head && sp.tie_word_embeddings)) {
    NIBBLE_ASSIGN_OR_RETURN(TensorView t, w.dense("model.embed_tokens.weight", {sp.vocab_size, hidden}));
    const std::size_t n = static_cast<std::size_t>(t.numel());
    std::vector<std::uint16_t> h;  // converted copy; fp16 tables go up straight from the file
    if (t.dtype != DType::f16) {
      h.resize(n);
      for (std::size_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(t.f(i));
    }
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer e, DeviceBuffer::allocate(n * 2, "embedding table"));
    NIBBLE_TRY(e.upload(h.empty() ? static_cast<const void*>(t.data) : h.data(), n * 2, 0, "embedding table"));
    embed_ = std::move(e);
    weight_bytes_ += embed_.size();
  }
  layers_.resize(static_cast<std::size_t>(opts_.last_layer - opts_.first_layer));
  for (int l = opts_.first_layer; l < opts_.last_layer; ++l) {
    CudaLayer& L = layers_[static_cast<std::size_t>(l - opts_.first_layer)];
    NIBBLE_ASSIGN_OR_RETURN(L.attn_norm, upload_norm(w, WeightSource::layer_name(l, "input_layernorm.weight"), hidden));
    NIBBLE_ASSIGN_OR_RETURN(L.mlp_norm, upload_norm(w, WeightSource::layer_name(l, "post_attention_layernorm.weight"), hidden));
    if (sp.qk_norm) {
      NIBBLE_ASSIGN_OR_RETURN(L.q_norm, upload_norm(w, WeightSource::layer_name(l, "self_attn.q_norm.weight"), sp.head_dim));
      NIBBLE_ASSIGN_OR_RETURN(L.k_norm, upload_norm(w, WeightSource::layer_name(l, "self_attn.k_norm.weight"), sp.head_dim));
    }
    DeviceLinear* dst[7] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
    LinearDesc d[7];
    bool uniform[7];
    for (int j = 0; j < 7; ++j) {
      int K, N;
      bool b;
      shape_of(j, K, N, b);
      NIBBLE_ASSIGN_OR_RETURN(d[j], w.linear(WeightSource::layer_name(l, names[j]), K, N, b));
      NIBBLE_ASSIGN_OR_RETURN(uniform[j], linear_uniform4(d[j]));
    }
    // Tensor parallelism: this GPU's heads of q/k/v, o_proj whole (it reads every head after the
    // all-gather), and a share of the MLP: the down matrix's permuted rows cut at group boundaries,
    // with gate/up producing exactly those intermediate columns, in that order.
    LinearShard share[7];
    const LinearShard* shard_of[7] = {};
    std::optional<QuantHost> down_host;
    int inter_l = inter;
    if (opts_.shards > 1) {
      const int r = opts_.shard;
      auto range = [](int a, int b) {
        std::vector<int> v(static_cast<std::size_t>(b - a));
        std::iota(v.begin(), v.end(), a);
        return v;
      };
      share[0].cols = range(r * qd_, (r + 1) * qd_);
      share[1].cols = share[2].cols = range(r * kvd_, (r + 1) * kvd_);
      std::vector<kernels::QGroup> groups;
      if (d[6].format == LinearFormat::exl2 || d[6].format == LinearFormat::gptq) {
        NIBBLE_ASSIGN_OR_RETURN(down_host, quant_host_layout(d[6]));
        groups = down_host->groups;
      }
      NIBBLE_ASSIGN_OR_RETURN(std::vector<int> cuts, shard_row_cuts(groups, inter, opts_.shards));
      share[6].k_begin = cuts[static_cast<std::size_t>(r)];
      share[6].k_end = cuts[static_cast<std::size_t>(r) + 1];
      share[6].bias = r == 0;
      std::vector<int> cols = range(share[6].k_begin, share[6].k_end);
      if (down_host)
        for (int& c : cols) c = down_host->perm[static_cast<std::size_t>(c)];
      share[4].cols = share[5].cols = std::move(cols);
      inter_l = share[6].k_end - share[6].k_begin;
      for (int j : {0, 1, 2, 4, 5, 6}) shard_of[j] = &share[j];
    }
    for (int j = 0; j < 7; ++j) {
      // Layers launched together share the GPU: q/k/v in one GEMV, gate/up in another; the uniform
      // 4-bit kernel's plan applies only when every layer of the launch takes it.
      const int launch_tiles = j < 3   ? gemv_tiles(qd_) + 2 * gemv_tiles(kvd_)
                               : j == 4 || j == 5 ? 2 * gemv_tiles(inter_l)
                                                  : gemv_tiles(d[j].N);
      const bool uniform_launch = j < 3 ? uniform[0] && uniform[1] && uniform[2]
                                  : j == 4 || j == 5 ? uniform[4] && uniform[5]
                                                     : uniform[j];
      if (j == 6 && down_host) {
        NIBBLE_ASSIGN_OR_RETURN(QuantHost part, shard_quant_host(*down_host, share[6]));
        down_host.reset();
        NIBBLE_ASSIGN_OR_RETURN(*dst[j], upload_quant(part, d[j].name, sm_count_, launch_tiles, uniform_launch));
      } else {
        NIBBLE_ASSIGN_OR_RETURN(*dst[j], upload_linear(d[j], sm_count_, launch_tiles, uniform_launch, shard_of[j]));
      }
      weight_bytes_ += dst[j]->bytes();
      NIBBLE_TRY(report(linear_bytes(d[j]) / static_cast<std::size_t>(j == 3 ? 1 : opts_.shards)));
    }
    if (L.gate.N != L.up.N || L.gate.N != L.down.K)
      return make_error(ErrorKind::internal, "layer ", l, ": MLP share shapes disagree");
    weight_bytes_ += L.attn_norm.size() + L.mlp_norm.size() + L.q_norm.size() + L.k_norm.size();
    L.sliding_window = l < static_cast<int>(sp.sliding_window.size()) ? sp.sliding_window[l] : 0;
    const std::size_t cache_rows = static_cast<std::size_t>(opts_.kv_pages) * opts_.page_size * kv_heads_;
    const std::size_t kv = cache_rows * kernels::kv_row_bytes(kv_type(), sp.head_dim);
    NIBBLE_ASSIGN_OR_RETURN(L.k_cache, DeviceBuffer::allocate(kv, "KV cache"));
    NIBBLE_ASSIGN_OR_RETURN(L.v_cache, DeviceBuffer::allocate(kv, "KV cache"));
    kv_bytes_ += 2 * kv;
    if (kv_type() != kernels::KvType::fp16) {
      const std::size_t sc = cache_rows * kernels::kv_row_scales(kv_type(), sp.head_dim) * 2;
      NIBBLE_ASSIGN_OR_RETURN(L.k_scales, DeviceBuffer::allocate(sc, "KV cache scales"));
      NIBBLE_ASSIGN_OR_RETURN(L.v_scales, DeviceBuffer::allocate(sc, "KV cache scales"));
      kv_bytes_ += 2 * sc;
    }
  }
  inter_max_ = 0;
  for (const auto& L : layers_) inter_max_ = std::max(inter_max_, L.gate.N);
  if (layers_.empty()) inter_max_ = inter;
  if (opts_.has_head) {
    NIBBLE_ASSIGN_OR_RETURN(final_norm_, upload_norm(w, "model.norm.weight", hidden));
    weight_bytes_ += final_norm_.size();
    NIBBLE_ASSIGN_OR_RETURN(LinearDesc hd, w.head());
    if (sp.tie_word_embeddings && hd.format == LinearFormat::f16 && embed_.data()) {
      head_.K = hidden;
      head_.N = sp.vocab_size;
      head_.dense.w = embed_.data();
      head_.dense.k = hidden;
      head_.dense.n = sp.vocab_size;
    } else {
      NIBBLE_ASSIGN_OR_RETURN(head_, upload_linear(hd, sm_count_));
      weight_bytes_ += head_.bytes();
    }
  }
  const RopeTable rt = rope_table(sp.rope, sp.head_dim);
  NIBBLE_ASSIGN_OR_RETURN(inv_freq_, DeviceBuffer::allocate(rt.inv_freq.size() * 4, "RoPE table"));
  NIBBLE_TRY(inv_freq_.upload(rt.inv_freq.data(), rt.inv_freq.size() * 4, 0, "RoPE table"));
  weight_bytes_ += inv_freq_.size();
  attn_factor_ = rt.attention_scaling;
  return report(0);
}

Status CudaSegment::allocate_scratch() {
  const ModelSpec& sp = spec_;
  bool wide = !opts_.has_head || (head_.quantized && kernels::qgemv_wide_rows(head_.quant));
  for (const auto& L : layers_)
    for (const DeviceLinear* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down})
      wide = wide && m->quantized && kernels::qgemv_wide_rows(m->quant);
  decode_rows_ = wide ? kMaxDecodeRows : kNarrowDecodeRows;
  const std::size_t rows = static_cast<std::size_t>(opts_.max_rows);
  const std::size_t hidden = sp.hidden_size, inter = static_cast<std::size_t>(inter_max_);
  const std::size_t qkv_w = static_cast<std::size_t>(qd_) + 2 * static_cast<std::size_t>(kvd_);
  max_pages_ = opts_.kv_pages;
  auto alloc = [&](DeviceBuffer& b, std::size_t bytes, const char* what) -> Status {
    NIBBLE_ASSIGN_OR_RETURN(b, DeviceBuffer::allocate(std::max<std::size_t>(bytes, 16), what));
    scratch_bytes_ += b.size();
    return {};
  };
  NIBBLE_TRY(alloc(hidden_, rows * hidden * 4, "hidden state"));
  NIBBLE_TRY(alloc(qkv_, rows * qkv_w * 4, "q/k/v scratch"));
  NIBBLE_TRY(alloc(attn_, rows * qd_ * 2, "attention output"));
  if (opts_.shards > 1) {
    NIBBLE_TRY(alloc(attn_all_, rows * sp.q_dim() * 2, "gathered attention output"));
    NIBBLE_TRY(alloc(attn_cat_, rows * sp.q_dim() * 2, "gathered attention output"));
    NIBBLE_TRY(alloc(partial_, rows * hidden * 4, "partial MLP sums"));
  }
  NIBBLE_TRY(alloc(act_, rows * inter * 2, "MLP activation"));
  // Prefill buffers wherever a step can outgrow the narrow GEMV limit: a tensor-parallel group
  // follows its first share's limit, which may be below this share's.
  const bool prefill = opts_.max_rows > kNarrowDecodeRows;
  if (prefill) {
    NIBBLE_TRY(alloc(normed_, rows * hidden * 2, "normalised input"));
    NIBBLE_TRY(alloc(gate_up_, rows * 2 * inter * 2, "gate/up scratch"));
  }
  // Dequantized weights for the widest fused GEMM (only quantized layers need it).
  bool any_quant = head_.quantized;
  for (const auto& L : layers_) any_quant = any_quant || L.q.quantized || L.gate.quantized || L.down.quantized || L.o.quantized;
  if (prefill && any_quant) {
    wscratch_elems_ = std::max({hidden * qkv_w, hidden * 2 * inter, static_cast<std::size_t>(sp.q_dim()) * hidden,
                                inter * hidden});
    NIBBLE_TRY(alloc(wscratch_[0], wscratch_elems_ * 2, "dequantized weight scratch"));
    NIBBLE_TRY(alloc(wscratch_[1], wscratch_elems_ * 2, "dequantized weight scratch"));
  } else if (head_.quantized) {
    wscratch_elems_ = hidden * 4096;
    NIBBLE_TRY(alloc(wscratch_[0], wscratch_elems_ * 2, "dequantized weight scratch"));
  }
  if (opts_.has_head) {
    NIBBLE_TRY(alloc(head_in_, rows * hidden * 4, "head input"));
    NIBBLE_TRY(alloc(logits_, rows * sp.vocab_size * 4, "logits"));
    NIBBLE_TRY(alloc(sample_params_, rows * sizeof(kernels::SampleRow), "sampler settings"));
    NIBBLE_TRY(alloc(sample_ids_, rows * 4, "sampled ids"));
  }
  // tokens, positions, row_seq, logit_rows, tables [rows][max_pages], then int4 tiles [rows].
  const std::size_t meta_ints = (rows * 4 + rows * static_cast<std::size_t>(max_pages_) + 3) / 4 * 4 + rows * 4;
  NIBBLE_TRY(alloc(meta_, meta_ints * 4, "step metadata"));
  NIBBLE_ASSIGN_OR_RETURN(meta_host_, PinnedBuffer::allocate(meta_ints * 4, "step metadata"));
  // A segment with a successor hands its hidden rows on: a pinned host bounce buffer for GPUs
  // that cannot reach each other (host memory, not counted as device memory).
  if (!opts_.has_head) {
    NIBBLE_ASSIGN_OR_RETURN(bounce_, PinnedBuffer::allocate(rows * hidden * 4, "hidden state hand-off"));
  }

  // Split-K workspace and tile counters for the widest fused GEMV (up to decode_rows_ rows a pass).
  std::size_t ws = 0, counters = 0;
  auto consider = [&](std::initializer_list<const DeviceLinear*> group, bool shared_counter) {
    kernels::QGemvArgs a;
    a.count = 0;
    for (const DeviceLinear* m : group)
      if (m->quantized) a.m[a.count++] = m->quant;
    if (a.count == 0) return;
    a.rows = std::min(opts_.max_rows, decode_rows_);
    a.output = shared_counter ? kernels::QGemvOutput::silu_mul : kernels::QGemvOutput::store_fp32;
    ws = std::max(ws, kernels::qgemv_workspace_floats(a));
    counters = std::max(counters, kernels::qgemv_counter_count(a) + 16);
  };
  for (const auto& L : layers_) {
    consider({&L.q, &L.k, &L.v}, false);
    consider({&L.o}, false);
    consider({&L.gate, &L.up}, true);
    consider({&L.down}, false);
  }
  if (opts_.has_head) consider({&head_}, false);
  NIBBLE_TRY(alloc(gemv_ws_, ws * 4, "GEMV workspace"));
  NIBBLE_TRY(alloc(gemv_counters_, counters * 4, "GEMV counters"));
  NIBBLE_TRY(check(static_cast<int>(cudaMemset(gemv_counters_.data(), 0, gemv_counters_.size())), "clearing counters"));
  NIBBLE_TRY(alloc(norm_stats_, 2u * kMaxDecodeRows * (sp.hidden_size / 32 + 1) * 4, "GEMV norm statistics"));
  const int capacity = opts_.kv_pages * opts_.page_size;
  const int decode_rows = std::min(opts_.max_rows, decode_rows_);
  NIBBLE_TRY(alloc(attn_ws_, kernels::attention_workspace_floats(decode_rows, heads_, sp.head_dim, capacity) * 4,
                   "attention workspace"));
  NIBBLE_TRY(alloc(attn_counters_, kernels::attention_counter_count(decode_rows, kv_heads_) * 4, "attention counters"));
  NIBBLE_TRY(check(static_cast<int>(cudaMemset(attn_counters_.data(), 0, attn_counters_.size())), "clearing counters"));
  // The fused decode kernel's layer table (plan.cpp counts kFusedLayerBytes per layer).
  static_assert(sizeof(kernels::FusedLayer) == 824, "plan.cpp's kFusedLayerBytes");
  NIBBLE_TRY(alloc(fused_table_, layers_.size() * sizeof(kernels::FusedLayer), "fused decode layer table"));
  return setup_fused();
}

namespace {

// Whether two device permutations of k entries are equal (nullptr: identity, which the loader
// stores for identity permutations); a failed read counts as different.
bool same_perm(const int* a, const int* b, int k) {
  if (a == b) return true;
  if (!a || !b) return false;
  std::vector<int> x(static_cast<std::size_t>(k)), y(static_cast<std::size_t>(k));
  if (cudaMemcpy(x.data(), a, x.size() * 4, cudaMemcpyDeviceToHost) != cudaSuccess) return false;
  if (cudaMemcpy(y.data(), b, y.size() * 4, cudaMemcpyDeviceToHost) != cudaSuccess) return false;
  return x == y;
}

}  // namespace

Status CudaSegment::setup_fused() {
  fused_ = false;
  // Opt-in while the fused kernel is slower than the per-kernel graph (docs/PERF.md).
  const char* env = std::getenv("NIBBLE_FUSED_DECODE");
  if (!env || env[0] != '1') return {};
  auto no = [&](const std::string& why) -> Status {
    return make_error(ErrorKind::unsupported, "NIBBLE_FUSED_DECODE=1, but this model cannot take the fused decode kernel: ", why);
  };
  const ModelSpec& sp = spec_;
  if (layers_.empty()) return {};  // nothing to fuse (a segment of only the embedding or head)
  if (opts_.shards != 1 || peer_collectives_) return no("tensor parallelism");
  if (kv_type() != kernels::KvType::fp16) return no("a quantized KV cache");
  if (sp.qk_norm) return no("per-head q/k norms");
  if (!kernels::fused_decode_device_ok(device_)) return no("the GPU is not compute capability 9.x");
  if (kernels::fused_decode_workspace_floats(heads_, kv_heads_, sp.head_dim, sm_count_) * 4 > attn_ws_.size() ||
      kernels::fused_decode_counter_count(kv_heads_) * 4 > norm_stats_.size())
    return no("the context is too short for the attention partials");
  std::vector<kernels::FusedLayer> fl;
  for (const CudaLayer& L : layers_) {
    for (const DeviceLinear* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down})
      if (!m->quantized) return no("a linear layer is not quantized");
    if (L.gate.N != inter_max_) return no("layers differ in intermediate size");
    kernels::FusedLayer f;
    f.q = L.q.quant;
    f.k = L.k.quant;
    f.v = L.v.quant;
    f.o = L.o.quant;
    f.gate = L.gate.quant;
    f.up = L.up.quant;
    f.down = L.down.quant;
    f.attn_norm = L.attn_norm.as<const __half>();
    f.mlp_norm = L.mlp_norm.as<const __half>();
    f.k_cache = L.k_cache.as<__half>();
    f.v_cache = L.v_cache.as<__half>();
    f.window = L.sliding_window;
    const int hidden = sp.hidden_size;
    const bool qkv_perm = same_perm(f.q.perm, f.k.perm, hidden) && same_perm(f.q.perm, f.v.perm, hidden);
    const bool gu_perm = same_perm(f.gate.perm, f.up.perm, hidden);
    std::string why;
    if (!kernels::fused_decode_layer_ok(f, hidden, L.gate.N, heads_, kv_heads_, sp.head_dim, qkv_perm, gu_perm, &why))
      return no(why);
    fl.push_back(f);
  }
  NIBBLE_TRY(check(static_cast<int>(cudaMemcpy(fused_table_.data(), fl.data(), fl.size() * sizeof(kernels::FusedLayer),
                                                cudaMemcpyHostToDevice)),
                   "uploading the fused decode layer table"));
  fused_ = true;
  return {};
}

kernels::KvType CudaSegment::kv_type() const {
  switch (opts_.kv_type) {
    case KvCacheType::q8: return kernels::KvType::q8;
    case KvCacheType::q4: return kernels::KvType::q4;
    default: return kernels::KvType::fp16;
  }
}

void CudaSegment::bind_kv(const CudaLayer& L, kernels::RopeKvArgs& r, kernels::AttentionArgs& at) const {
  r.kv_type = at.kv_type = kv_type();
  if (r.kv_type == kernels::KvType::fp16) {
    r.k_cache = L.k_cache.as<__half>();
    r.v_cache = L.v_cache.as<__half>();
    at.k_cache = r.k_cache;
    at.v_cache = r.v_cache;
  } else {
    r.k_codes = L.k_cache.as<unsigned char>();
    r.v_codes = L.v_cache.as<unsigned char>();
    r.k_scales = L.k_scales.as<__half>();
    r.v_scales = L.v_scales.as<__half>();
    at.k_codes = r.k_codes;
    at.v_codes = r.v_codes;
    at.k_scales = r.k_scales;
    at.v_scales = r.v_scales;
  }
}

Segment::MemoryUse CudaSegment::memory_use() const { return {weight_bytes_, kv_bytes_, scratch_bytes_}; }

}  // namespace nibble::cuda
