// Q8/Q4 KV cache on the CUDA backend. Kernel level: random K/V appended through the RoPE + KV
// append kernel into a quantized paged cache (odd head counts, GQA groups, head_dim 64/80/128,
// shuffled pages, rows on page boundaries), then the split-K, serial and tensor-core attention
// kernels read it back; the codes and scales must be the CPU backend's (kv_store_row), and the
// outputs (NaN-poisoned before every launch) must match the CPU backend's attention over the same
// cache type tightly and the fp16 cache loosely. Model level: ppl_raw of dictlm-16m with q8/q4
// caches within 1%/3% of the fp16 cache on cuda:0, and close to the CPU backend's q8/q4 numbers.
// Each test skips with a visible reason without a CUDA device.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "../engine/model/ref_util.h"
#include "backend/batch.h"
#include "backend/cpu/cpu_ops.h"
#include "gpu_test_util.h"
#include "io/text_file.h"
#include "nibble/bench.h"
#include "nibble/plan.h"
#include "nibble/tokenizer.h"
#include "nibble_kernels/attention.h"
#include "nibble_kernels/kv_cache.h"
#include "nibble_kernels/ops.h"
#include "util/thread_pool.h"

namespace nibble {
namespace {

using gpu_test::Dev;
using kernels::KvType;

const char* type_name(KvType t) { return t == KvType::q8 ? "q8" : t == KvType::q4 ? "q4" : "fp16"; }

struct Shape {
  int heads, kv_heads, head_dim, page_size;
  std::vector<int> prompt_len;  // per sequence: prefilled in step 1, then one decode row in step 2
};

// One step's rows: sequences' rows are contiguous; qkv [rows][q | k | v] fp32.
struct Step {
  std::vector<int> positions, row_seq;
  std::vector<float> qkv;
  int rows() const { return static_cast<int>(positions.size()); }
};

// Everything one cache type needs on the GPU for a shape: the pools and the attention outputs.
struct GpuCache {
  KvType type;
  std::size_t code_bytes, scale_halves;
  Dev<std::uint8_t> k, v;     // fp16 values (fp16) or codes
  Dev<std::uint16_t> ks, vs;  // fp16 scales (q8/q4)
  GpuCache(KvType t, std::size_t cache_rows, int hd)
      : type(t),
        code_bytes(cache_rows * kernels::kv_row_bytes(t, hd)),
        scale_halves(cache_rows * std::max<std::size_t>(1, kernels::kv_row_scales(t, hd))),
        k(code_bytes),
        v(code_bytes),
        ks(scale_halves),
        vs(scale_halves) {}  // all poisoned (0xff: NaN scales, code 0xff)
  void bind(kernels::RopeKvArgs& r, kernels::AttentionArgs& a) const {
    r.kv_type = a.kv_type = type;
    if (type == KvType::fp16) {
      r.k_cache = reinterpret_cast<__half*>(k.p);
      r.v_cache = reinterpret_cast<__half*>(v.p);
      a.k_cache = r.k_cache;
      a.v_cache = r.v_cache;
    } else {
      r.k_codes = k.p;
      r.v_codes = v.p;
      r.k_scales = reinterpret_cast<__half*>(ks.p);
      r.v_scales = reinterpret_cast<__half*>(vs.p);
      a.k_codes = r.k_codes;
      a.v_codes = r.v_codes;
      a.k_scales = r.k_scales;
      a.v_scales = r.v_scales;
    }
  }
};

// Outputs of the attention kernels for one step ([rows][heads * head_dim] as float).
struct KernelOut {
  std::vector<float> split, serial, prefill;  // prefill empty when the head dim has no tensor-core kernel
};

class QuantCase {
 public:
  QuantCase(const Shape& s, std::mt19937& rng) : s_(s) {
    qd_ = s.heads * s.head_dim;
    kvd_ = s.kv_heads * s.head_dim;
    width_ = qd_ + 2 * kvd_;
    const int seqs = static_cast<int>(s.prompt_len.size());
    for (int L : s.prompt_len) max_pages_ = std::max(max_pages_, L / s.page_size + 1);  // + the decode row
    n_pages_ = max_pages_ * seqs + 3;
    std::vector<int> ids(static_cast<std::size_t>(n_pages_));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    tables_.assign(static_cast<std::size_t>(seqs) * max_pages_, 0);
    for (std::size_t i = 0; i < tables_.size(); ++i) tables_[i] = ids[i];
    // Step 1: every sequence's prompt; step 2: one decode row per sequence.
    for (int sq = 0; sq < seqs; ++sq)
      for (int p = 0; p < s.prompt_len[static_cast<std::size_t>(sq)]; ++p) {
        prefill_.positions.push_back(p);
        prefill_.row_seq.push_back(sq);
      }
    for (int sq = 0; sq < seqs; ++sq) {
      decode_.positions.push_back(s.prompt_len[static_cast<std::size_t>(sq)]);
      decode_.row_seq.push_back(sq);
    }
    for (Step* st : {&prefill_, &decode_}) {
      st->qkv = gpu_test::random_floats(rng, static_cast<std::size_t>(st->rows()) * width_, 1.0f);
      // K and V with a per-dimension offset (as real keys have), so q4's minimum matters.
      for (int r = 0; r < st->rows(); ++r)
        for (int i = 0; i < 2 * kvd_; ++i)
          st->qkv[static_cast<std::size_t>(r) * width_ + qd_ + i] += 0.5f * static_cast<float>((i * 7) % 5) - 1.0f;
    }
  }

  std::size_t cache_rows() const { return static_cast<std::size_t>(n_pages_) * s_.page_size * s_.kv_heads; }

  // The CPU backend on the same steps: cpu_attention appends with kv_store_row and attends.
  void run_cpu(int bits, std::vector<std::uint8_t>& kq, std::vector<std::uint8_t>& vq, std::vector<float>& ks,
               std::vector<float>& vs, std::vector<float>& out_prefill, std::vector<float>& out_decode) {
    const int hd = s_.head_dim, group = kernels::kv_quant_group(hd);
    kq.assign(cache_rows() * static_cast<std::size_t>(bits == 8 ? hd : hd / 2), 0);
    vq.assign(kq.size(), 0);
    ks.assign(cache_rows() * static_cast<std::size_t>(hd / group) * (bits == 8 ? 1 : 2), 0.0f);
    vs.assign(ks.size(), 0.0f);
    CpuKvLayer kv;
    kv.kq = kq.data();
    kv.vq = vq.data();
    kv.ks = ks.data();
    kv.vs = vs.data();
    kv.bits = bits;
    kv.group = group;
    AttentionShape shape;
    shape.n_heads = s_.heads;
    shape.n_kv_heads = s_.kv_heads;
    shape.head_dim = hd;
    shape.page_size = s_.page_size;
    shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    ThreadPool pool(2);
    for (int which = 0; which < 2; ++which) {
      const Step& st = which == 0 ? prefill_ : decode_;
      std::vector<std::int32_t> tokens(static_cast<std::size_t>(st.rows()), 0), positions(st.positions.begin(), st.positions.end());
      BatchPlan plan;
      plan.tokens = tokens;
      plan.positions = positions;
      plan.page_size = s_.page_size;
      for (int r = 0; r < st.rows();) {
        int e = r;
        while (e < st.rows() && st.row_seq[static_cast<std::size_t>(e)] == st.row_seq[static_cast<std::size_t>(r)]) ++e;
        SeqEntry se;
        se.token_begin = r;
        se.n_tokens = e - r;
        se.pos_begin = st.positions[static_cast<std::size_t>(r)];
        se.pages = std::span<const std::int32_t>(tables_.data() + static_cast<std::size_t>(st.row_seq[static_cast<std::size_t>(r)]) * max_pages_,
                                                 static_cast<std::size_t>(max_pages_));
        plan.seqs.push_back(se);
        r = e;
      }
      std::vector<float>& out = which == 0 ? out_prefill : out_decode;
      out.assign(static_cast<std::size_t>(st.rows()) * qd_, 0.0f);
      cpu_attention(plan, shape, kv, st.qkv.data(), width_, out.data(), pool);
    }
  }

  // Append (identity rotation: zero inverse frequencies, so the CPU sees the same K) and the
  // attention kernels for both steps on one cache.
  void run_gpu(GpuCache& cache, KernelOut& prefill, KernelOut& decode) {
    const int hd = s_.head_dim;
    Dev<int> tables(tables_);
    Dev<float> inv(std::vector<float>(static_cast<std::size_t>(hd / 2), 0.0f));
    for (int which = 0; which < 2; ++which) {
      const Step& st = which == 0 ? prefill_ : decode_;
      KernelOut& ko = which == 0 ? prefill : decode;
      const int rows = st.rows();
      Dev<float> qkv(st.qkv);
      Dev<int> pos(st.positions), rs(st.row_seq);
      kernels::RopeKvArgs r;
      kernels::AttentionArgs a;
      cache.bind(r, a);
      r.q = qkv.p;
      r.k = qkv.p + qd_;
      r.v = qkv.p + qd_ + kvd_;
      r.ldq = r.ldk = r.ldv = width_;
      r.rows = rows;
      r.heads = s_.heads;
      r.kv_heads = s_.kv_heads;
      r.head_dim = hd;
      r.rotary_dim = hd;
      r.inv_freq = inv.p;
      r.positions = pos.p;
      r.row_seq = rs.p;
      r.block_tables = tables.p;
      r.max_pages = max_pages_;
      r.page_size = s_.page_size;
      ASSERT_EQ(kernels::rope_kv_append(r, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      int max_ctx = 0;
      for (int p : st.positions) max_ctx = std::max(max_ctx, p + 1);
      Dev<std::uint16_t> out(static_cast<std::size_t>(rows) * qd_);
      Dev<float> ws(kernels::attention_workspace_floats(rows, s_.heads, hd, max_ctx));
      Dev<unsigned> counters(kernels::attention_counter_count(rows, s_.kv_heads), false);
      CUDA_OK(cudaMemset(counters.p, 0, counters.n * 4));
      a.q = qkv.p;
      a.ldq = width_;
      a.out = reinterpret_cast<__half*>(out.p);
      a.ldo = qd_;
      a.rows = rows;
      a.heads = s_.heads;
      a.kv_heads = s_.kv_heads;
      a.head_dim = hd;
      a.page_size = s_.page_size;
      a.max_pages = max_pages_;
      a.positions = pos.p;
      a.row_seq = rs.p;
      a.block_tables = tables.p;
      a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
      a.max_context = max_ctx;
      a.workspace = ws.p;
      a.counters = counters.p;
      CUDA_OK(cudaMemset(out.p, 0xff, out.n * 2));
      ASSERT_EQ(kernels::attention_rows(a, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ko.split = gpu_test::halves_to_float(out.get());
      CUDA_OK(cudaMemset(out.p, 0xff, out.n * 2));
      ASSERT_EQ(kernels::attention_rows_serial(a, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ko.serial = gpu_test::halves_to_float(out.get());
      ko.prefill.clear();
      if (kernels::attention_prefill_supports(hd)) {
        std::vector<int4> tiles;
        for (int t = 0; t < rows;) {
          int e = t;
          while (e < rows && st.row_seq[static_cast<std::size_t>(e)] == st.row_seq[static_cast<std::size_t>(t)] && e - t < 64) ++e;
          tiles.push_back(make_int4(t, e - t, st.row_seq[static_cast<std::size_t>(t)], 0));
          t = e;
        }
        Dev<int4> td(tiles);
        CUDA_OK(cudaMemset(out.p, 0xff, out.n * 2));
        ASSERT_EQ(kernels::attention_prefill(a, td.p, static_cast<int>(tiles.size()), nullptr), 0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        ko.prefill = gpu_test::halves_to_float(out.get());
      }
    }
  }

  // Cache rows this case wrote (both steps), for the code comparison.
  std::vector<std::size_t> written_rows() const {
    std::vector<std::size_t> out;
    for (const Step* st : {&prefill_, &decode_})
      for (int r = 0; r < st->rows(); ++r) {
        const int p = st->positions[static_cast<std::size_t>(r)], sq = st->row_seq[static_cast<std::size_t>(r)];
        const std::size_t page = static_cast<std::size_t>(tables_[static_cast<std::size_t>(sq) * max_pages_ + p / s_.page_size]);
        for (int h = 0; h < s_.kv_heads; ++h)
          out.push_back((page * s_.page_size + static_cast<std::size_t>(p % s_.page_size)) * s_.kv_heads + h);
      }
    return out;
  }

  const Shape& shape() const { return s_; }

 private:
  Shape s_;
  int qd_ = 0, kvd_ = 0, width_ = 0, max_pages_ = 0, n_pages_ = 0;
  std::vector<int> tables_;
  Step prefill_, decode_;
};

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

void check_shape(const Shape& shape, std::mt19937& rng) {
  QuantCase c(shape, rng);
  const int hd = shape.head_dim, group = kernels::kv_quant_group(hd);
  SCOPED_TRACE("heads " + std::to_string(shape.heads) + "/" + std::to_string(shape.kv_heads) + " head_dim " +
               std::to_string(hd) + " page " + std::to_string(shape.page_size));
  GpuCache fp16(KvType::fp16, c.cache_rows(), hd);
  KernelOut f_pre, f_dec;
  c.run_gpu(fp16, f_pre, f_dec);
  if (testing::Test::HasFatalFailure()) return;
  for (KvType type : {KvType::q8, KvType::q4}) {
    SCOPED_TRACE(type_name(type));
    const int bits = type == KvType::q8 ? 8 : 4;
    GpuCache gq(type, c.cache_rows(), hd);
    KernelOut g_pre, g_dec;
    c.run_gpu(gq, g_pre, g_dec);
    if (testing::Test::HasFatalFailure()) return;
    std::vector<std::uint8_t> kq, vq;
    std::vector<float> ks, vs, cpu_pre, cpu_dec;
    c.run_cpu(bits, kq, vq, ks, vs, cpu_pre, cpu_dec);

    // Codes and scales of every written row: the CPU backend's rule, scales rounded to fp16.
    const auto gk = gq.k.get(), gv = gq.v.get();
    const auto gks = gq.ks.get(), gvs = gq.vs.get();
    const std::size_t row_bytes = kernels::kv_row_bytes(type, hd), row_scales = kernels::kv_row_scales(type, hd);
    std::size_t codes = 0, equal = 0, off_by_more = 0, scale_bad = 0;
    for (std::size_t row : c.written_rows()) {
      for (std::size_t b = 0; b < row_bytes; ++b) {
        for (int kv = 0; kv < 2; ++kv) {
          const std::uint8_t g = (kv == 0 ? gk : gv)[row * row_bytes + b], w = (kv == 0 ? kq : vq)[row * row_bytes + b];
          const int n = bits == 8 ? 1 : 2;
          for (int part = 0; part < n; ++part) {
            const int gc = bits == 8 ? static_cast<std::int8_t>(g) : (g >> (4 * part)) & 15;
            const int wc = bits == 8 ? static_cast<std::int8_t>(w) : (w >> (4 * part)) & 15;
            ++codes;
            equal += gc == wc;
            off_by_more += std::abs(gc - wc) > 1;
          }
        }
      }
      for (std::size_t i = 0; i < row_scales; ++i) {
        scale_bad += gks[row * row_scales + i] != fp32_to_fp16(ks[row * row_scales + i]);
        scale_bad += gvs[row * row_scales + i] != fp32_to_fp16(vs[row * row_scales + i]);
      }
    }
    EXPECT_EQ(off_by_more, 0u) << "codes further than one step from the CPU backend's";
    EXPECT_GE(static_cast<double>(equal), 0.999 * static_cast<double>(codes)) << equal << " of " << codes << " codes equal";
    EXPECT_EQ(scale_bad, 0u) << "scales differing from the CPU backend's (rounded to fp16); group " << group;

    // Outputs: tight against the CPU backend's attention over the same cache type, loose against
    // the fp16 cache, and nearer the former (the cache really is quantized).
    const double loose = type == KvType::q8 ? 2e-2 : 0.15;
    auto compare = [&](const std::vector<float>& got, const std::vector<float>& cpu, const std::vector<float>& f16,
                       double tight, const char* what) {
      const double e_cpu = gpu_test::rel_l2(got, to_double(cpu));
      const double e_f16 = gpu_test::rel_l2(got, to_double(f16));
      std::printf("  %s %-22s vs cpu %s %.2e, vs fp16 cache %.2e\n", type_name(type), what, type_name(type), e_cpu, e_f16);
      EXPECT_LT(e_cpu, tight) << what;
      EXPECT_LT(e_f16, loose) << what;
      EXPECT_LT(e_cpu, 0.5 * e_f16) << what;
    };
    compare(g_pre.split, cpu_pre, f_pre.split, 3e-3, "prefill split-K");
    compare(g_pre.serial, cpu_pre, f_pre.serial, 3e-3, "prefill serial");
    if (!g_pre.prefill.empty()) compare(g_pre.prefill, cpu_pre, f_pre.prefill, 5e-3, "prefill tensor-core");
    compare(g_dec.split, cpu_dec, f_dec.split, 3e-3, "decode split-K");
    compare(g_dec.serial, cpu_dec, f_dec.serial, 3e-3, "decode serial");
  }
}

TEST(KvQuantGpu, AppendAndAttentionMatchTheCpuBackend) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(61);
  check_shape({7, 7, 64, 16, {1, 16, 70, 33}}, rng);    // odd head count; a decode row opens a page
  check_shape({15, 5, 128, 32, {64, 3, 130}}, rng);     // GQA group 3 over 5 kv heads
  check_shape({9, 3, 80, 16, {41, 17}}, rng);           // head_dim 80: one group per row, no tensor-core kernel
  check_shape({6, 2, 64, 64, {300}}, rng);              // dictlm shape, several split-K chunks
}

// Shapes the quantized kernels cannot take are refused, not run.
TEST(KvQuantGpu, UnsupportedShapesAreRefused) {
  NIBBLE_REQUIRE_GPU();
  EXPECT_FALSE(kernels::kv_quant_supports(63));   // odd
  EXPECT_FALSE(kernels::kv_quant_supports(36));   // group 36 is not a multiple of 8
  EXPECT_FALSE(kernels::kv_quant_supports(288));  // over 256
  EXPECT_TRUE(kernels::kv_quant_supports(64));
  EXPECT_TRUE(kernels::kv_quant_supports(80));
  Dev<float> x(64);
  Dev<int> idx(4);
  Dev<std::uint8_t> codes(64);
  Dev<std::uint16_t> scales(16);
  kernels::RopeKvArgs r;
  r.q = x.p;
  r.k = x.p;
  r.v = x.p;
  r.inv_freq = x.p;
  r.positions = r.row_seq = r.block_tables = idx.p;
  r.ldq = r.ldk = r.ldv = 36;
  r.rows = 1;
  r.heads = r.kv_heads = 1;
  r.head_dim = r.rotary_dim = 36;
  r.max_pages = r.page_size = 1;
  r.kv_type = KvType::q4;
  r.k_codes = r.v_codes = codes.p;
  r.k_scales = r.v_scales = reinterpret_cast<__half*>(scales.p);
  EXPECT_EQ(kernels::rope_kv_append(r, nullptr), static_cast<int>(cudaErrorInvalidValue));
  r.k_codes = nullptr;
  r.head_dim = r.rotary_dim = 32;
  EXPECT_EQ(kernels::rope_kv_append(r, nullptr), static_cast<int>(cudaErrorInvalidValue)) << "missing code pool";
}

LoadOptions gpu_options(KvCacheMode mode) {
  LoadOptions o;
  o.device = "cuda:0";
  o.context = 4096;
  o.max_batch_tokens = 512;
  o.kv_cache = mode;
  return o;
}

std::vector<std::int32_t> corpus_ids() {
  auto tok = Tokenizer::load(demo_model_dir());
  EXPECT_TRUE(tok) << tok.error().to_string();
  auto text = read_text_file(std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/heldout_raw.txt.gz");
  EXPECT_TRUE(text);
  if (!tok || !text) return {};
  auto ids = (*tok)->encode(*text, false);
  EXPECT_TRUE(ids);
  return ids ? *ids : std::vector<std::int32_t>{};
}

double ppl(const LoadOptions& o, const std::vector<std::int32_t>& ids, int windows) {
  auto model = load_demo_model(o);
  EXPECT_TRUE(model) << model.error().to_string();
  if (!model) return 0;
  auto r = perplexity_windows(**model, ids, windows, 512);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? r->perplexity : 0;
}

// The acceptance bound on the full protocol (64 windows of 512): q8 within 1%, q4 within 3% of
// the fp16 cache, all on cuda:0; and the memory the quantized caches take.
TEST(KvQuantGpu, PerplexityWithinBoundsOfTheFp16Cache) {
  NIBBLE_REQUIRE_GPU();
  const auto ids = corpus_ids();
  ASSERT_GE(ids.size(), 64u * 512);
  const double fp16 = ppl(gpu_options(KvCacheMode::fp16), ids, 64);
  const double q8 = ppl(gpu_options(KvCacheMode::q8), ids, 64);
  const double q4 = ppl(gpu_options(KvCacheMode::q4), ids, 64);
  std::printf("cuda ppl_raw (64 windows of 512): fp16 cache %.4f, q8 %.4f (%+.3f%%), q4 %.4f (%+.3f%%)\n", fp16, q8,
              100 * (q8 / fp16 - 1), q4, 100 * (q4 / fp16 - 1));
  EXPECT_NEAR(fp16, 21.8757, 21.8757 * 0.003);  // transformers' ppl_raw (as CudaModel.PerplexityWithinBounds)
  EXPECT_NEAR(q8, fp16, fp16 * 0.01);
  EXPECT_NEAR(q4, fp16, fp16 * 0.03);
  EXPECT_NE(q4, fp16);  // the cache really is quantized

  // KV bytes as the backend counts them and as the memory plan predicts them: q8 one byte + a
  // 2-byte scale per 32 values (17/32 of fp16), q4 half a byte + 4 bytes per 32 values (5/16).
  std::size_t kv[3] = {};
  for (KvCacheMode mode : {KvCacheMode::fp16, KvCacheMode::q8, KvCacheMode::q4}) {
    auto m = load_demo_model(gpu_options(mode));
    ASSERT_TRUE(m) << m.error().to_string();
    const auto use = (*m)->memory_use();
    ASSERT_EQ(use.size(), 1u);
    kv[static_cast<int>(mode)] = use[0].kv_cache;
    PlanOptions po;
    po.context = 4096;
    po.max_batch_tokens = 512;
    po.kv_cache = mode;
    auto plan = plan_memory(demo_model_dir(), po);
    ASSERT_TRUE(plan) << plan.error().to_string();
    EXPECT_EQ(use[0].kv_cache, plan->cuda.kv_cache) << kv_cache_mode_name(mode);
    EXPECT_TRUE(plan->cuda_supports_cache);
  }
  EXPECT_EQ(kv[1] * 32, kv[0] * 17);
  EXPECT_EQ(kv[2] * 16, kv[0] * 5);
}

// The same cache type on both backends gives the same model: ppl_raw on 3 windows within 0.5%
// (q8) / 1% (q4) of the CPU backend's; over 100 teacher-forced decode steps the CUDA logits stay
// close to the CPU backend's with the same cache type, and (q4, where the quantization noise is far
// above the backends' rounding differences) nearer to them than to the CPU backend's fp32 cache.
TEST(KvQuantGpu, MatchesTheCpuBackendWithTheSameCacheType) {
  NIBBLE_REQUIRE_GPU();
  const auto ids = corpus_ids();
  ASSERT_GE(ids.size(), 3u * 512);
  LoadOptions cpu_plain;
  cpu_plain.context = 1024;
  auto plain = load_demo_model(cpu_plain);
  ASSERT_TRUE(plain) << plain.error().to_string();
  for (KvCacheMode mode : {KvCacheMode::q8, KvCacheMode::q4}) {
    const bool q8 = mode == KvCacheMode::q8;
    LoadOptions co = cpu_plain;
    co.kv_cache = mode;
    const double cpu = ppl(co, ids, 3);
    const double gpu = ppl(gpu_options(mode), ids, 3);
    std::printf("ppl_raw (3 windows of 512) %s cache: cuda %.4f, cpu %.4f (%+.3f%%)\n", kv_cache_mode_name(mode), gpu, cpu,
                100 * (gpu / cpu - 1));
    EXPECT_NEAR(gpu, cpu, cpu * (q8 ? 0.005 : 0.01)) << kv_cache_mode_name(mode);

    auto g = load_demo_model(gpu_options(mode));
    auto c = load_demo_model(co);
    ASSERT_TRUE(g && c);
    auto sg = (*g)->new_sequence();
    auto sc = (*c)->new_sequence();
    auto sp = (*plain)->new_sequence();
    const std::vector<std::int32_t> prompt(ids.begin(), ids.begin() + 100);
    std::vector<float> lg, lc, lp;
    ASSERT_TRUE(sg->append(prompt, false, lg).ok());
    ASSERT_TRUE(sc->append(prompt, false, lc).ok());
    ASSERT_TRUE(sp->append(prompt, false, lp).ok());
    const int vocab = (*g)->vocab_size();
    double worst = 0, sum_same = 0, sum_plain = 0;
    int agree = 0, steps = 0;
    for (std::size_t i = 100; i < 200; ++i, ++steps) {
      const std::int32_t tok = ids[i];
      ASSERT_TRUE(sg->append(std::span<const std::int32_t>(&tok, 1), false, lg).ok());
      ASSERT_TRUE(sc->append(std::span<const std::int32_t>(&tok, 1), false, lc).ok());
      ASSERT_TRUE(sp->append(std::span<const std::int32_t>(&tok, 1), false, lp).ok());
      const double e = rel_l2(lg.data(), lc.data(), vocab);
      worst = std::max(worst, e);
      sum_same += e;
      sum_plain += rel_l2(lg.data(), lp.data(), vocab);
      agree += argmax_of(lg.data(), vocab) == argmax_of(lc.data(), vocab);
    }
    std::printf("%s cache, 100 decode steps: cuda vs cpu %s worst rel L2 %.2e mean %.2e (vs cpu fp32 cache mean %.2e), "
                "argmax agreement %d/%d\n",
                kv_cache_mode_name(mode), kv_cache_mode_name(mode), worst, sum_same / steps, sum_plain / steps, agree, steps);
    // A q4 code on a rounding boundary may land one step apart (fp16 on the GPU, fp32 on the CPU) and
    // the difference carries through the following steps: on the H200 the worst step is 4.7e-2 with a
    // mean of 2.1e-2, against 4.4e-2 between the q4 and fp32 caches; the mean check below carries the claim.
    EXPECT_LT(worst, q8 ? 1e-2 : 8e-2) << kv_cache_mode_name(mode);
    EXPECT_GE(agree, steps - (q8 ? 3 : 5)) << kv_cache_mode_name(mode);
    if (!q8) {
      EXPECT_LT(sum_same, 0.7 * sum_plain) << "the CUDA q4 cache is not the CPU backend's q4 cache";
    }
  }
}

// A q8/q4 cache the CUDA kernels cannot hold (head_dim 36: its one group of 36 values is not a
// multiple of 8) is a typed error at load that names head_dim and the way out; the memory plan
// says the same. The demo model (head_dim 64) loads with both.
TEST(KvQuantGpu, UnsupportedHeadDimIsATypedErrorAtLoad) {
  NIBBLE_REQUIRE_GPU();
  for (KvCacheMode mode : {KvCacheMode::q8, KvCacheMode::q4}) {
    auto m = load_demo_model(gpu_options(mode));
    EXPECT_TRUE(m) << kv_cache_mode_name(mode) << ": " << m.error().to_string();
  }
  const std::filesystem::path base =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const std::string dir = (base / ("nibble-kvq-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  SyntheticShape shape;
  shape.hidden = 1152;  // 32 heads of 36 (the synthetic writer wants multiples of 128)
  shape.intermediate = 128;
  shape.layers = 1;
  shape.heads = 32;
  shape.kv_heads = 8;
  shape.vocab = 256;
  shape.max_positions = 256;
  ASSERT_TRUE(write_synthetic_model(dir, shape, SyntheticFormat::fp16).ok());
  for (KvCacheMode mode : {KvCacheMode::q8, KvCacheMode::q4}) {
    LoadOptions o = gpu_options(mode);
    o.context = 256;
    o.max_batch_tokens = 64;
    auto m = Model::load(dir, o);
    ASSERT_FALSE(m) << kv_cache_mode_name(mode);
    EXPECT_EQ(m.error().kind, ErrorKind::unsupported) << m.error().to_string();
    EXPECT_NE(m.error().message.find("head_dim is 36"), std::string::npos) << m.error().message;
    EXPECT_NE(m.error().message.find("--cache fp16"), std::string::npos) << m.error().message;
    PlanOptions po;
    po.context = 256;
    po.kv_cache = mode;
    auto plan = plan_memory(dir, po);
    ASSERT_TRUE(plan) << plan.error().to_string();
    EXPECT_FALSE(plan->cuda_supports_cache) << kv_cache_mode_name(mode);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nibble
