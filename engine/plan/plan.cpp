// The memory plan: the allocation arithmetic of CpuSegment::load and CudaSegment::load /
// allocate_scratch / upload_linear, run over the tensor headers instead of the bytes.
#include "nibble/plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "formats/exl2.h"
#include "formats/gptq.h"
#include "model/layout_options.h"
#include "model/weight_source.h"

namespace nibble {
namespace {

constexpr int kTileN = 128;          // GEMV column tile (backend/cuda)
constexpr int kMaxDecodeRows = 32;    // CudaSegment::kMaxDecodeRows (also the widest qgemv pass)
constexpr int kNarrowDecodeRows = 8;  // CudaSegment::kNarrowDecodeRows
constexpr int kAttnChunk = 64;       // attention_rows key chunk
constexpr std::size_t kSampleRowBytes = 32;  // kernels::SampleRow
constexpr std::size_t kFusedLayerBytes = 824;  // kernels::FusedLayer (CudaSegment::allocate_scratch asserts it)
constexpr std::size_t kQGroupBytes = 16;     // kernels::QGroup
constexpr int kMaxSplitK = 1024, kMaxSplitGroups = 128, kMaxSplitWords = 128;
constexpr int kMaxSplitKUniform4 = 4096;
// An allowance for what the CUDA runtime takes besides our buffers: the context (a few hundred MiB
// on current drivers), the cuBLAS handle and workspace, graph pools and cudaMalloc rounding.
// GpuMemoryPlan (test_gpu) prints the measured gap (cudaMemGetInfo during a load minus our counters).
constexpr std::size_t kCudaRuntimeOverhead = 600ull << 20;

std::size_t at_least16(std::size_t b) { return std::max<std::size_t>(b, 16); }
int round_up(int v, int m) { return (v + m - 1) / m * m; }

struct Group {
  int k_rows, bits;
};

// Whether the groups take the uniform 4-bit GEMV (kernels::qgemv_uniform4; groups are in order).
bool uniform4(const std::vector<Group>& groups) {
  if (groups.empty()) return false;
  const int rows0 = groups[0].k_rows;
  if (rows0 < 32 || (rows0 & (rows0 - 1)) != 0) return false;
  for (const auto& g : groups)
    if (g.bits != 4 || g.k_rows != rows0) return false;
  return true;
}

// Number of split-K ranges kernels::qgemv_plan_splits makes (the same rule, on the host).
int split_count(const std::vector<Group>& groups, int launch_tiles, int sm_count, bool uniform_launch) {
  const int g_count = static_cast<int>(groups.size());
  if (g_count == 0) return 0;
  if (uniform_launch && uniform4(groups)) {
    const long total_rows = static_cast<long>(g_count) * groups[0].k_rows;
    long want = std::max(1, sm_count) * 3L / std::max(1, launch_tiles);
    want = std::min<long>(want, std::max<long>(1, (total_rows + 512) / 1024));
    want = std::max<long>(want, (total_rows + kMaxSplitKUniform4 - 1) / kMaxSplitKUniform4);
    want = std::clamp<long>(want, 1, g_count);
    const long per = (g_count + want - 1) / want;
    return static_cast<int>((g_count + per - 1) / per);
  }
  long total_rows = 0, total_words = 0;
  for (const auto& g : groups) {
    total_rows += g.k_rows;
    total_words += static_cast<long>(g.k_rows) * g.bits / 32;
  }
  const int target_blocks = std::max(1, sm_count) * 2;
  long want = (target_blocks + std::max(1, launch_tiles) - 1) / std::max(1, launch_tiles);
  want = std::min<long>(want, std::max<long>(1, total_rows / 256));
  want = std::max<long>(want, (total_rows + kMaxSplitK - 1) / kMaxSplitK);
  want = std::clamp<long>(want, 1, g_count);
  long per_split = (total_words + want - 1) / want;
  const long gw0 = static_cast<long>(groups[0].k_rows) * groups[0].bits / 32;
  bool same = gw0 > 0;
  for (const auto& g : groups) same = same && static_cast<long>(g.k_rows) * g.bits / 32 == gw0;
  if (same) per_split = (per_split + gw0 - 1) / gw0 * gw0;
  int begin = 0, count = 0, k_len = 0;
  long words = 0;
  for (int g = 0; g < g_count; ++g) {
    const long gw = static_cast<long>(groups[g].k_rows) * groups[g].bits / 32;
    if (g > begin && (words + gw > per_split || words + gw > kMaxSplitWords || k_len + groups[g].k_rows > kMaxSplitK ||
                      g - begin >= kMaxSplitGroups)) {
      ++count;
      begin = g;
      words = 0;
      k_len = 0;
    }
    words += gw;
    k_len += groups[g].k_rows;
  }
  return count + 1;
}

// One linear layer as the CUDA backend uploads it.
struct CudaLinear {
  bool quantized = false;
  bool uniform4 = false;  // takes the uniform 4-bit GEMV
  int n_pad = 0;
  int splits = 0;
  int k = 0, groups = 0;
  std::size_t bytes = 0;
};

// A linear layer's LinearDesc from the headers (WeightSource::linear without the value scan).
Result<LinearDesc> describe_linear(const WeightSource& w, const std::string& prefix, int K, int N, bool bias) {
  const TensorSet& t = w.tensors();
  LinearDesc d;
  d.name = prefix;
  d.K = K;
  d.N = N;
  auto need = [&](const std::string& name) -> Result<TensorView> { return w.tensor(name); };
  if (const TensorView* dense = t.find(prefix + ".weight")) {
    d.format = dense->dtype == DType::f16    ? LinearFormat::f16
               : dense->dtype == DType::bf16 ? LinearFormat::bf16
                                             : LinearFormat::f32;
    d.weight = *dense;
  } else if (const TensorView* q = t.find(prefix + ".q_weight")) {
    d.format = LinearFormat::exl2;
    d.exl2.q_weight = *q;
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_scale, need(prefix + ".q_scale"));
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_scale_max, need(prefix + ".q_scale_max"));
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_groups, need(prefix + ".q_groups"));
    NIBBLE_ASSIGN_OR_RETURN(d.exl2.q_invperm, need(prefix + ".q_invperm"));
  } else if (const TensorView* g = t.find(prefix + ".qweight")) {
    d.format = LinearFormat::gptq;
    d.gptq.qweight = *g;
    NIBBLE_ASSIGN_OR_RETURN(d.gptq.qzeros, need(prefix + ".qzeros"));
    NIBBLE_ASSIGN_OR_RETURN(d.gptq.scales, need(prefix + ".scales"));
    if (const TensorView* gi = t.find(prefix + ".g_idx")) d.gptq.g_idx = *gi;
    const QuantConfig& qc = w.spec().quant;
    d.gptq.bits = qc.bits > 0 ? qc.bits : (g->rank() == 2 ? static_cast<int>(g->shape[0] * 32 / K) : 0);
    d.gptq.v2 = qc.gptq_v2;
    d.gptq.group_size = qc.group_size;
  } else {
    NIBBLE_TRY(need(prefix + ".weight"));  // the not-found error naming the files
  }
  if (bias) {
    NIBBLE_ASSIGN_OR_RETURN(TensorView b, need(prefix + ".bias"));
    d.bias = b;
  }
  NIBBLE_TRY(validate_linear(d));
  return d;
}

// Bytes of upload_linear(d) and the quantized layout's split plan (sm_count SMs, launched with
// `launch_tiles` column tiles in all, every layer of the launch uniform 4-bit or not).
Result<CudaLinear> cuda_linear(const LinearDesc& d, int sm_count, int launch_tiles, bool uniform_launch = true) {
  CudaLinear L;
  const std::size_t bias = d.bias ? static_cast<std::size_t>(d.N) * 2 : 0;
  if (d.format != LinearFormat::exl2 && d.format != LinearFormat::gptq) {
    L.bytes = static_cast<std::size_t>(d.K) * d.N * 2 + bias;
    return L;
  }
  L.quantized = true;
  L.n_pad = round_up(d.N, kTileN);
  std::vector<Group> groups;
  std::size_t words = 0, scales = 0;
  bool identity = true;
  if (d.format == LinearFormat::exl2) {
    NIBBLE_ASSIGN_OR_RETURN(std::vector<Exl2Group> g, exl2_groups(d));
    for (const auto& e : g) groups.push_back({e.k_rows, e.bits});
    words = static_cast<std::size_t>(d.exl2.q_weight.shape[0]);
    scales = g.size() * (L.n_pad / 8) * 4 + (g.size() + 7) / 8 * 16;  // q_scale + q_scale_max (16-byte blocks)
    for (int i = 0; i < d.K && identity; ++i) identity = d.exl2.q_invperm.i32(static_cast<std::size_t>(i)) == i;
  } else {
    const GptqTensors& t = d.gptq;
    NIBBLE_ASSIGN_OR_RETURN(int gs, gptq_group_size(d));
    NIBBLE_ASSIGN_OR_RETURN(std::vector<int> rows_of, gptq_group_rows(d));
    const int G = static_cast<int>(rows_of.size());
    for (int k = 1; k < d.K && identity; ++k) identity = gptq_group_of(d, gs, k) >= gptq_group_of(d, gs, k - 1);
    std::size_t kept = 0;
    for (int r : rows_of)
      if (r > 0) {
        groups.push_back({r, t.bits});
        words += static_cast<std::size_t>(r) * t.bits / 32;
        ++kept;
      }
    // Zero points: symmetric files (every zero at 2^(bits-1)) upload no zeros buffer.
    const std::uint32_t zmask = (1u << t.bits) - 1u;
    const std::uint32_t mid = 1u << (t.bits - 1);
    const std::size_t zwords = static_cast<std::size_t>(t.qzeros.shape[1]);
    bool symmetric = true;
    for (int g = 0; g < G && symmetric; ++g) {
      if (rows_of[static_cast<std::size_t>(g)] == 0) continue;
      for (int n = 0; n < d.N && symmetric; ++n) {
        const std::size_t bit = static_cast<std::size_t>(n) * t.bits;
        std::uint32_t v = t.qzeros.u32(static_cast<std::size_t>(g) * zwords + (bit >> 5)) >> (bit & 31);
        if ((bit & 31) + t.bits > 32) v |= t.qzeros.u32(static_cast<std::size_t>(g) * zwords + (bit >> 5) + 1) << (32 - (bit & 31));
        symmetric = ((v & zmask) + (t.v2 ? 0u : 1u)) == mid;
      }
    }
    scales = kept * L.n_pad * 2 * (symmetric ? 1 : 2);
  }
  L.uniform4 = uniform4(groups);
  L.k = d.K;
  L.groups = static_cast<int>(groups.size());
  L.splits = split_count(groups, launch_tiles > 0 ? launch_tiles : L.n_pad / kTileN, sm_count, uniform_launch);
  L.bytes = words * L.n_pad * 4 + scales + groups.size() * kQGroupBytes + static_cast<std::size_t>(L.splits) * 8 +
            (identity ? 0 : static_cast<std::size_t>(d.K) * 4) + bias;
  return L;
}

// Bytes of a CpuMatrix fused from `parts` (fp16/bf16 kept when every part has that dtype, else fp32).
std::size_t cpu_matrix_bytes(std::initializer_list<const LinearDesc*> parts) {
  bool all_f16 = true, all_bf16 = true, any_bias = false;
  std::size_t n = 0, k = 0;
  for (const LinearDesc* p : parts) {
    all_f16 &= p->format == LinearFormat::f16;
    all_bf16 &= p->format == LinearFormat::bf16;
    any_bias |= p->bias.has_value();
    n += static_cast<std::size_t>(p->N);
    k = static_cast<std::size_t>(p->K);
  }
  return n * k * (all_f16 || all_bf16 ? 2 : 4) + (any_bias ? n * 4 : 0);
}

}  // namespace

std::size_t kv_pool_bytes(KvLayout layout, std::size_t positions, int kv_heads, int head_dim) {
  const std::size_t values = positions * static_cast<std::size_t>(kv_heads) * head_dim;
  const int group = head_dim % 32 == 0 ? 32 : head_dim;
  const std::size_t groups = values / static_cast<std::size_t>(group);
  switch (layout) {
    case KvLayout::fp16: return values * 2;
    case KvLayout::fp32: return values * 4;
    case KvLayout::q8: return values + groups * 4;
    case KvLayout::q4: return values / 2 + groups * 8;
    case KvLayout::q8h: return values + groups * 2;
    case KvLayout::q4h: return values / 2 + groups * 4;
  }
  return 0;
}

const char* kv_cache_mode_name(KvCacheMode mode) {
  switch (mode) {
    case KvCacheMode::fp16: return "fp16";
    case KvCacheMode::q8: return "q8";
    case KvCacheMode::q4: return "q4";
  }
  return "fp16";
}

bool parse_kv_cache_mode(const std::string& name, KvCacheMode& out) {
  if (name == "fp16") out = KvCacheMode::fp16;
  else if (name == "q8") out = KvCacheMode::q8;
  else if (name == "q4") out = KvCacheMode::q4;
  else return false;
  return true;
}

// Per-layer byte counts and scratch inputs, independent of context, batch and cache settings.
struct MemoryPlanner::Costs {
  std::string dir;
  ModelSpec spec;
  std::size_t file_tensor_bytes = 0;
  struct Layer {
    std::size_t cuda_weights = 0, cpu_weights = 0;
    bool quantized = false;
    std::size_t gemv_ws = 0, gemv_counters = 0;  // the widest fused launch of this layer (ws per row)
    bool wide = false;  // every linear takes the uniform 4-bit kernels (9-32 decode rows as GEMVs)
  };
  std::vector<Layer> layers;
  std::size_t cuda_embed = 0, cpu_embed = 0;     // embedding table (first segment)
  std::size_t cuda_head = 0;                     // lm_head upload (0 when it shares the fp16 embedding)
  bool cuda_head_quantized = false;
  bool cuda_head_wide = false;
  std::size_t cuda_head_ws = 0, cuda_head_counters = 0;
  std::size_t cpu_head = 0;                      // head matrix the CPU builds when not tied, or tied without the embedding
  bool cpu_tied = false;
};

namespace {

// GEMV workspace floats per row and counters of one fused launch (CudaSegment::allocate_scratch's
// consider(); the segment multiplies by its decode rows): the split partials of the 1-8 row plan,
// or those of the 9-32 row (wide) plan with the staged fp16 activations, whichever is larger.
void launch_scratch(std::initializer_list<const CudaLinear*> group, bool silu, int sm_count, std::size_t& ws,
                    std::size_t& counters) {
  std::size_t w_floats = 0, c = 0, pads = 0;
  int i = 0, tiles = 0;
  bool any = false, wide = true;
  for (const CudaLinear* m : group) {
    if (!m->quantized) continue;
    any = true;
    w_floats += static_cast<std::size_t>(m->splits) * m->n_pad;
    pads += static_cast<std::size_t>(m->n_pad);
    tiles += m->n_pad / kTileN;
    wide = wide && m->uniform4;
    if (!(silu && i == 1)) c += static_cast<std::size_t>(m->n_pad / kTileN);
    ++i;
  }
  if (!any) return;
  if (wide) {  // kernels::detail::wide_plan: two blocks per SM, equal group ranges, at most 16
    const CudaLinear* m0 = *group.begin();
    const int splits = std::clamp(2 * std::max(1, sm_count) / std::max(1, tiles), 1, std::min(m0->groups, 16));
    w_floats = std::max(w_floats, static_cast<std::size_t>(splits) * pads + static_cast<std::size_t>(i) * m0->k / 2);
  }
  ws = std::max(ws, w_floats);
  counters = std::max(counters, c + 16);
}

}  // namespace

Result<MemoryPlanner> MemoryPlanner::open(const std::string& model_path, int sm_count) {
  NIBBLE_ASSIGN_OR_RETURN(auto weights, WeightSource::open(model_path));
  return from_weights(*weights, sm_count);
}

Result<MemoryPlanner> MemoryPlanner::from_weights(const WeightSource& w, int sm_count) {
  const ModelSpec& s = w.spec();
  auto c = std::make_shared<Costs>();
  c->dir = w.dir();
  c->spec = s;
  c->file_tensor_bytes = w.tensors().total_bytes();
  const int H = s.hidden_size, I = s.intermediate_size;
  const char* names[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  for (int l = 0; l < s.n_layers; ++l) {
    Costs::Layer L;
    LinearDesc d[7];
    CudaLinear cl[7];
    const int Ks[7] = {H, H, H, s.q_dim(), H, H, I};
    const int Ns[7] = {s.q_dim(), s.kv_dim(), s.kv_dim(), H, I, I, H};
    const bool bias[7] = {s.qkv_bias, s.qkv_bias, s.qkv_bias, s.o_bias, s.mlp_bias, s.mlp_bias, s.mlp_bias};
    for (int j = 0; j < 7; ++j) {
      NIBBLE_ASSIGN_OR_RETURN(d[j], describe_linear(w, WeightSource::layer_name(l, names[j]), Ks[j], Ns[j], bias[j]));
      const int tiles = j < 3 ? (s.q_dim() + 127) / 128 + 2 * ((s.kv_dim() + 127) / 128)
                        : j == 4 || j == 5 ? 2 * ((I + 127) / 128)
                                           : (Ns[j] + 127) / 128;
      NIBBLE_ASSIGN_OR_RETURN(cl[j], cuda_linear(d[j], sm_count, tiles));
    }
    // A fused launch (q/k/v, gate/up) takes the uniform 4-bit plan only when all its layers do.
    const bool qkv_uniform = cl[0].uniform4 && cl[1].uniform4 && cl[2].uniform4;
    const bool mlp_uniform = cl[4].uniform4 && cl[5].uniform4;
    L.wide = true;
    for (int j = 0; j < 7; ++j) L.wide = L.wide && cl[j].quantized && cl[j].uniform4;
    for (int j = 0; j < 7; ++j) {
      const bool fused_uniform = j < 3 ? qkv_uniform : j == 4 || j == 5 ? mlp_uniform : true;
      if (!fused_uniform && cl[j].uniform4) {
        const int tiles = j < 3 ? (s.q_dim() + 127) / 128 + 2 * ((s.kv_dim() + 127) / 128) : 2 * ((I + 127) / 128);
        NIBBLE_ASSIGN_OR_RETURN(cl[j], cuda_linear(d[j], sm_count, tiles, false));
      }
      L.cuda_weights += cl[j].bytes;
      L.quantized = L.quantized || cl[j].quantized;
    }
    launch_scratch({&cl[0], &cl[1], &cl[2]}, false, sm_count, L.gemv_ws, L.gemv_counters);
    launch_scratch({&cl[3]}, false, sm_count, L.gemv_ws, L.gemv_counters);
    launch_scratch({&cl[4], &cl[5]}, true, sm_count, L.gemv_ws, L.gemv_counters);
    launch_scratch({&cl[6]}, false, sm_count, L.gemv_ws, L.gemv_counters);
    const std::size_t norms = 2 * static_cast<std::size_t>(H) + (s.qk_norm ? 2 * static_cast<std::size_t>(s.head_dim) : 0);
    L.cuda_weights += norms * 2;
    L.cpu_weights = norms * 4 + cpu_matrix_bytes({&d[0], &d[1], &d[2]}) + cpu_matrix_bytes({&d[3]}) +
                    cpu_matrix_bytes({&d[4], &d[5]}) + cpu_matrix_bytes({&d[6]});
    c->layers.push_back(L);
  }
  NIBBLE_ASSIGN_OR_RETURN(LinearDesc e, describe_linear(w, "model.embed_tokens", H, s.vocab_size, false));
  c->cpu_embed = cpu_matrix_bytes({&e});
  c->cuda_embed = static_cast<std::size_t>(s.vocab_size) * H * 2;
  const bool own_head = w.tensors().find("lm_head.weight") || w.tensors().find("lm_head.q_weight") ||
                        w.tensors().find("lm_head.qweight");
  NIBBLE_ASSIGN_OR_RETURN(LinearDesc hd, own_head || !s.tie_word_embeddings
                                             ? describe_linear(w, "lm_head", H, s.vocab_size, false)
                                             : Result<LinearDesc>(e));
  if (!(s.tie_word_embeddings && hd.format == LinearFormat::f16)) {
    NIBBLE_ASSIGN_OR_RETURN(CudaLinear ch, cuda_linear(hd, sm_count, 0));
    c->cuda_head = ch.bytes;
    c->cuda_head_quantized = ch.quantized;
    c->cuda_head_wide = ch.quantized && ch.uniform4;
    launch_scratch({&ch}, false, sm_count, c->cuda_head_ws, c->cuda_head_counters);
  }
  c->cpu_tied = s.tie_word_embeddings && !own_head;
  c->cpu_head = cpu_matrix_bytes({&hd});
  MemoryPlanner p;
  p.costs_ = std::move(c);
  return p;
}

namespace {

// What a context, batch and cache choice fix for every segment.
struct SegmentInputs {
  int kv_pages = 0;
  std::size_t positions = 0;
  std::size_t gpu_layer_kv = 0, cpu_layer_kv = 0;  // K + V of one layer
};

SegmentInputs segment_inputs(const ModelSpec& s, const PlanOptions& o) {
  SegmentInputs in;
  const int context = o.context > 0 ? o.context : std::min(s.max_positions, 8192);
  in.kv_pages = (context + o.page_size - 1) / o.page_size;
  in.positions = static_cast<std::size_t>(in.kv_pages) * o.page_size;
  const KvLayout gpu_kv = o.kv_cache == KvCacheMode::q8   ? KvLayout::q8h
                          : o.kv_cache == KvCacheMode::q4 ? KvLayout::q4h
                                                          : KvLayout::fp16;
  const KvLayout cpu_kv = o.kv_cache == KvCacheMode::q8   ? KvLayout::q8
                          : o.kv_cache == KvCacheMode::q4 ? KvLayout::q4
                                                          : KvLayout::fp32;
  in.gpu_layer_kv = 2 * kv_pool_bytes(gpu_kv, in.positions, s.n_kv_heads, s.head_dim);
  in.cpu_layer_kv = 2 * kv_pool_bytes(cpu_kv, in.positions, s.n_kv_heads, s.head_dim);
  return in;
}

// The bytes CudaSegment::load + allocate_scratch and CpuSegment::load allocate for one segment.
// `shards` > 1: one GPU's share under tensor parallelism (its heads and about 1/shards of the
// intermediate columns, cut at the group boundary nearest 1/shards: up to half a group, 64, more)
// for the CUDA scratch.
SegmentMemory segment_bytes(const MemoryPlanner::Costs& c, const PlanOptions& o, const SegmentInputs& in, int first,
                            int last, bool embedding, bool head, int shards = 1) {
  const ModelSpec& s = c.spec;
  const int H = s.hidden_size;
  const int I = shards > 1 ? std::min(s.intermediate_size, (s.intermediate_size + shards - 1) / shards + 64) : s.intermediate_size;
  const int heads = s.n_heads / shards, kv_heads = s.n_kv_heads / shards;
  const std::size_t q_dim = static_cast<std::size_t>(heads) * s.head_dim;
  const std::size_t rows = static_cast<std::size_t>(o.max_batch_tokens);
  const std::size_t qkv_w = q_dim + 2 * static_cast<std::size_t>(kv_heads) * s.head_dim;
  MemorySplit cu, cp;
  std::size_t ws = 0, counters = 0;
  bool any_quant = false;
  // CudaSegment::decode_rows(): 32 when every linear of the segment and its head are uniform 4-bit.
  bool wide = !head || c.cuda_head_wide;
  for (int l = first; l < last; ++l) wide = wide && c.layers[static_cast<std::size_t>(l)].wide;
  const std::size_t decode_limit = wide ? kMaxDecodeRows : kNarrowDecodeRows;
  if (embedding) cp.weights += c.cpu_embed;
  if (embedding || (head && s.tie_word_embeddings)) cu.weights += c.cuda_embed;
  for (int l = first; l < last; ++l) {
    const MemoryPlanner::Costs::Layer& L = c.layers[static_cast<std::size_t>(l)];
    cu.weights += L.cuda_weights;
    cp.weights += L.cpu_weights;
    any_quant = any_quant || L.quantized;
    ws = std::max(ws, L.gemv_ws);
    counters = std::max(counters, L.gemv_counters);
    cu.kv_cache += in.gpu_layer_kv;
    cp.kv_cache += in.cpu_layer_kv;
  }
  if (head) {
    cu.weights += static_cast<std::size_t>(H) * 2 + c.cuda_head;  // final norm + head
    ws = std::max(ws, c.cuda_head_ws);
    counters = std::max(counters, c.cuda_head_counters);
    cp.weights += static_cast<std::size_t>(H) * 4;
    if (!c.cpu_tied || !embedding) cp.weights += c.cpu_head;  // head_own_, or the embedding built for a tied head
  }
  cu.weights += static_cast<std::size_t>(s.head_dim / 2) * 4;  // RoPE inverse frequencies
  const bool head_quant = head && c.cuda_head_quantized;

  // CUDA scratch (CudaSegment::allocate_scratch, every buffer at least 16 bytes).
  cu.scratch += at_least16(rows * H * 4) + at_least16(rows * qkv_w * 4) + at_least16(rows * q_dim * 2) +
                at_least16(rows * I * 2);
  const bool prefill = o.max_batch_tokens > kNarrowDecodeRows;  // as CudaSegment::allocate_scratch
  if (prefill) cu.scratch += at_least16(rows * H * 2) + at_least16(rows * 2 * I * 2);
  if (prefill && (any_quant || head_quant)) {
    const std::size_t elems = std::max({static_cast<std::size_t>(H) * qkv_w, static_cast<std::size_t>(H) * 2 * I,
                                        static_cast<std::size_t>(s.q_dim()) * H, static_cast<std::size_t>(I) * H});
    cu.scratch += 2 * at_least16(elems * 2);
  } else if (head_quant) {
    cu.scratch += at_least16(static_cast<std::size_t>(H) * 4096 * 2);
  }
  if (head)
    cu.scratch += at_least16(rows * H * 4) + at_least16(rows * s.vocab_size * 4) + at_least16(rows * kSampleRowBytes) +
                  at_least16(rows * 4);
  const std::size_t meta_ints = (rows * 4 + rows * static_cast<std::size_t>(in.kv_pages) + 3) / 4 * 4 + rows * 4;
  cu.scratch += at_least16(meta_ints * 4);
  const std::size_t decode_rows = std::min<std::size_t>(rows, decode_limit);
  cu.scratch += at_least16(ws * decode_rows * 4) + at_least16(counters * 4);
  cu.scratch += at_least16(2u * kMaxDecodeRows * (static_cast<std::size_t>(H) / 32 + 1) * 4);
  cu.scratch += at_least16(decode_rows * heads * (in.positions / kAttnChunk + 1) * (s.head_dim + 2) * 4);
  cu.scratch += at_least16(decode_rows * kv_heads * 4);
  cu.scratch += at_least16(static_cast<std::size_t>(last - first) * kFusedLayerBytes);

  // CPU scratch (CpuSegment::load).
  cp.scratch += rows * (2 * static_cast<std::size_t>(H) + qkv_w + s.q_dim() + 3 * static_cast<std::size_t>(I) +
                        static_cast<std::size_t>(s.head_dim / 2) * 2) * 4;
  return {cu, cp};
}

void add(MemorySplit& to, const MemorySplit& x) {
  to.weights += x.weights;
  to.kv_cache += x.kv_cache;
  to.scratch += x.scratch;
}

}  // namespace

int MemoryPlanner::layers() const { return costs_ ? costs_->spec.n_layers : 0; }
int MemoryPlanner::max_positions() const { return costs_ ? costs_->spec.max_positions : 0; }

SegmentMemory MemoryPlanner::segment(const PlanOptions& o, int first, int last, bool embedding, bool head) const {
  if (!costs_) return {};
  first = std::clamp(first, 0, costs_->spec.n_layers);
  last = std::clamp(last, first, costs_->spec.n_layers);
  return segment_bytes(*costs_, o, segment_inputs(costs_->spec, o), first, last, embedding, head);
}

MemorySplit MemoryPlanner::tensor_parallel_share(const PlanOptions& o, int shards, int shard) const {
  if (!costs_ || shards < 1) return {};
  const Costs& c = *costs_;
  const ModelSpec& s = c.spec;
  const SegmentInputs in = segment_inputs(s, o);
  // The whole model's CUDA bytes (the embedding on every share, the head on share 0), then the
  // layers' weights and KV cache replaced by this share's part: o_proj whole, the rest divided.
  MemorySplit m = segment_bytes(c, o, in, 0, s.n_layers, true, shard == 0, shards).cuda;
  const double hd = s.hidden_size, qd = s.q_dim(), kvd = s.kv_dim(), inter = s.intermediate_size;
  const double o_part = qd * hd / (2.0 * hd * qd + 2.0 * hd * kvd + 3.0 * hd * inter);
  std::size_t layer_weights = 0;
  for (const Costs::Layer& L : c.layers) layer_weights += L.cuda_weights;
  const double n = static_cast<double>(shards);
  m.weights = m.weights - layer_weights +
              static_cast<std::size_t>(static_cast<double>(layer_weights) * ((1.0 - o_part) / n + o_part));
  m.kv_cache = static_cast<std::size_t>(std::ceil(static_cast<double>(m.kv_cache) / n));
  // The gathered attention rows (two copies) and the partial MLP sums.
  const std::size_t rows = static_cast<std::size_t>(o.max_batch_tokens);
  m.scratch += 2 * at_least16(rows * static_cast<std::size_t>(s.q_dim()) * 2) + at_least16(rows * static_cast<std::size_t>(s.hidden_size) * 4);
  return m;
}

Result<MemoryPlan> MemoryPlanner::plan(const PlanOptions& o) const {
  if (!costs_) return make_error(ErrorKind::invalid_argument, "memory plan: no model (MemoryPlanner::open first)");
  const Costs& c = *costs_;
  const ModelSpec& s = c.spec;
  NIBBLE_TRY(
      check_layout_options("memory plan", o.max_batch_tokens, o.page_size, o.context, o.split_layers, s.n_layers));

  MemoryPlan p;
  p.model_path = c.dir;
  p.page_size = o.page_size;
  p.max_batch_tokens = o.max_batch_tokens;
  p.kv_cache = o.kv_cache;
  const SegmentInputs in = segment_inputs(s, o);
  p.kv_pages = in.kv_pages;
  p.context = p.kv_pages * o.page_size;
  p.file_tensor_bytes = c.file_tensor_bytes;
  // The CUDA q8/q4 caches take an even head_dim <= 256 whose group (32, or head_dim) is a
  // multiple of 8 (nibble_kernels/kv_cache.h, kv_quant_supports).
  const int kv_group = s.head_dim % 32 == 0 ? 32 : s.head_dim;
  p.cuda_supports_cache =
      o.kv_cache == KvCacheMode::fp16 || (s.head_dim % 2 == 0 && s.head_dim <= 256 && kv_group % 8 == 0);
  p.cuda_runtime_overhead = kCudaRuntimeOverhead;
  const std::size_t positions = in.positions;
  p.cuda_kv_bytes_per_token = static_cast<double>(s.n_layers) * static_cast<double>(in.gpu_layer_kv) / static_cast<double>(positions);
  p.cpu_kv_bytes_per_token = static_cast<double>(s.n_layers) * static_cast<double>(in.cpu_layer_kv) / static_cast<double>(positions);

  const std::size_t rows = static_cast<std::size_t>(o.max_batch_tokens);
  std::vector<int> bounds = {0};
  bounds.insert(bounds.end(), o.split_layers.begin(), o.split_layers.end());
  bounds.push_back(s.n_layers);
  for (std::size_t si = 0; si + 1 < bounds.size(); ++si) {
    const SegmentMemory m = segment_bytes(c, o, in, bounds[si], bounds[si + 1], si == 0, si + 2 == bounds.size());
    add(p.cuda, m.cuda);
    add(p.cpu, m.cpu);
  }

  // Verdicts. The longest context: KV pages plus what grows with the context in scratch (the
  // decode attention workspace and the block tables), up to the model's max positions.
  const std::size_t segments = bounds.size() - 1;
  bool wide = c.cuda_head_wide;
  for (const auto& L : c.layers) wide = wide && L.wide;
  const double decode_rows =
      static_cast<double>(std::min<std::size_t>(rows, wide ? kMaxDecodeRows : kNarrowDecodeRows));
  const double per_token = p.cuda_kv_bytes_per_token +
                           static_cast<double>(segments) * (decode_rows * s.n_heads * (s.head_dim + 2) * 4 / kAttnChunk +
                                                            static_cast<double>(rows) * 4 / o.page_size);
  const double grows = per_token * static_cast<double>(p.context);
  const double fixed = static_cast<double>(p.cuda.total() + p.cuda_runtime_overhead) - grows;
  for (std::size_t cap : o.gpu_memory_bytes) {
    GpuFit f;
    f.capacity_bytes = cap;
    f.needed_bytes = p.cuda.total() + p.cuda_runtime_overhead;
    f.fits = f.needed_bytes <= cap;
    f.headroom_bytes = f.fits ? cap - f.needed_bytes : 0;
    if (static_cast<double>(cap) > fixed && per_token > 0) {
      const double tokens = std::min((static_cast<double>(cap) - fixed) / per_token, static_cast<double>(s.max_positions));
      f.max_context = static_cast<int>(tokens) / o.page_size * o.page_size;
    }
    p.gpus.push_back(f);
  }
  return p;
}

Result<MemoryPlan> plan_memory(const std::string& model_path, const PlanOptions& o) {
  NIBBLE_ASSIGN_OR_RETURN(MemoryPlanner planner, MemoryPlanner::open(model_path, o.gpu_sm_count));
  return planner.plan(o);
}

}  // namespace nibble
