// RoPE + KV append and attention over a paged cache against double-precision references: random
// page assignment, GQA groups, sliding windows, long contexts (several key chunks), both the
// split-K (decode) and the serial (prefill) kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>

#include "gpu_test_util.h"
#include "model/rope.h"
#include "nibble_kernels/attention.h"
#include "nibble_kernels/ops.h"

namespace nibble {
namespace {

using gpu_test::Dev;

struct Case {
  int heads, kv_heads, head_dim, page_size, window;
  std::vector<int> seq_len;  // cached keys per sequence (each row attends to its own seq)
};

void run_case(const Case& c, std::mt19937& rng) {
  const int seqs = static_cast<int>(c.seq_len.size());
  const int kvd = c.kv_heads * c.head_dim, qd = c.heads * c.head_dim;
  int max_pages = 0, pages_total = 0;
  for (int L : c.seq_len) max_pages = std::max(max_pages, (L + c.page_size - 1) / c.page_size);
  pages_total = max_pages * seqs + 3;
  std::vector<int> page_ids(pages_total);
  std::iota(page_ids.begin(), page_ids.end(), 0);
  std::shuffle(page_ids.begin(), page_ids.end(), rng);
  std::vector<int> tables(static_cast<std::size_t>(seqs) * max_pages, 0);
  for (int s = 0, next = 0; s < seqs; ++s)
    for (int p = 0; p < max_pages; ++p) tables[s * max_pages + p] = page_ids[next++];
  // Cache filled with random fp16 K/V.
  const std::size_t cache_elems = static_cast<std::size_t>(pages_total) * c.page_size * kvd;
  auto kc = gpu_test::random_halves(rng, cache_elems, 1.0f), vc = gpu_test::random_halves(rng, cache_elems, 1.0f);
  // One query row per sequence at its last position, plus extra rows at earlier positions.
  std::vector<int> positions, row_seq;
  for (int s = 0; s < seqs; ++s) {
    positions.push_back(c.seq_len[s] - 1);
    row_seq.push_back(s);
    if (c.seq_len[s] > 3) {
      positions.push_back(c.seq_len[s] / 2);
      row_seq.push_back(s);
    }
  }
  const int rows = static_cast<int>(positions.size());
  auto q = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * qd, 1.0f);
  const float scale = 1.0f / std::sqrt(float(c.head_dim));
  auto slot = [&](int s, int p) {
    return (static_cast<std::size_t>(tables[s * max_pages + p / c.page_size]) * c.page_size + p % c.page_size) * kvd;
  };
  std::vector<double> ref(static_cast<std::size_t>(rows) * qd);
  const int group = c.heads / c.kv_heads;
  for (int r = 0; r < rows; ++r) {
    const int pos = positions[r], s = row_seq[r];
    const int start = c.window > 0 ? std::max(0, pos - c.window + 1) : 0;
    for (int h = 0; h < c.heads; ++h) {
      const int kvh = h / group;
      std::vector<double> sc;
      double m = -1e300;
      for (int p = start; p <= pos; ++p) {
        double d = 0;
        for (int i = 0; i < c.head_dim; ++i)
          d += double(q[r * qd + h * c.head_dim + i]) * fp16_to_fp32(kc[slot(s, p) + kvh * c.head_dim + i]);
        sc.push_back(d * scale);
        m = std::max(m, sc.back());
      }
      double l = 0;
      for (auto& v : sc) l += (v = std::exp(v - m));
      for (int i = 0; i < c.head_dim; ++i) {
        double o = 0;
        for (int p = start; p <= pos; ++p) o += sc[p - start] * fp16_to_fp32(vc[slot(s, p) + kvh * c.head_dim + i]);
        ref[r * qd + h * c.head_dim + i] = o / l;
      }
    }
  }
  Dev<std::uint16_t> kd(kc), vd(vc), out(static_cast<std::size_t>(rows) * qd);
  Dev<float> qdv(q);
  Dev<int> pd(positions), rs(row_seq), td(tables);
  int max_ctx = *std::max_element(c.seq_len.begin(), c.seq_len.end());
  Dev<float> ws(kernels::attention_workspace_floats(rows, c.heads, c.head_dim, max_ctx));
  Dev<unsigned> counters(kernels::attention_counter_count(rows, c.kv_heads), false);
  cudaMemset(counters.p, 0, counters.n * 4);
  kernels::AttentionArgs a;
  a.q = qdv.p;
  a.ldq = qd;
  a.out = reinterpret_cast<__half*>(out.p);
  a.ldo = qd;
  a.k_cache = reinterpret_cast<const __half*>(kd.p);
  a.v_cache = reinterpret_cast<const __half*>(vd.p);
  a.rows = rows;
  a.heads = c.heads;
  a.kv_heads = c.kv_heads;
  a.head_dim = c.head_dim;
  a.page_size = c.page_size;
  a.max_pages = max_pages;
  a.positions = pd.p;
  a.row_seq = rs.p;
  a.block_tables = td.p;
  a.window = c.window;
  a.scale = scale;
  a.max_context = max_ctx;
  a.workspace = ws.p;
  a.counters = counters.p;
  // Head dims 64/128/256 take the tensor-core kernel unless NIBBLE_ATTN_SCALAR=1; both are held
  // to the reference.
  for (const char* scalar : {"0", "1"}) {
    setenv("NIBBLE_ATTN_SCALAR", scalar, 1);
    for (int twice = 0; twice < 2; ++twice) {  // counters must be left zeroed for the next launch
      cudaMemset(out.p, 0xff, out.n * 2);
      ASSERT_EQ(kernels::attention_rows(a, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(out.get()), ref), 2e-3)
          << "split-K, NIBBLE_ATTN_SCALAR=" << scalar << ", run " << twice << ", head_dim " << c.head_dim;
    }
  }
  unsetenv("NIBBLE_ATTN_SCALAR");
  cudaMemset(out.p, 0xff, out.n * 2);
  ASSERT_EQ(kernels::attention_rows_serial(a, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(out.get()), ref), 2e-3) << "serial";
  if (kernels::attention_prefill_supports(c.head_dim)) {
    // Tiles: the rows of each sequence (adjacent in this case), at most the kernel's tile rows;
    // both tile sizes forced (128-row blocks where the GPU and head dim take them).
    for (const char* forced : {"64", "128"}) {
      setenv("NIBBLE_ATTN_PREFILL_ROWS", forced, 1);
      const int tile_rows = kernels::attention_prefill_tile_rows(c.head_dim, kernels::KvType::fp16, rows, c.heads);
      std::vector<int4> tiles;
      for (int r = 0; r < rows;) {
        int e = r;
        while (e < rows && row_seq[e] == row_seq[r] && e - r < tile_rows) ++e;
        tiles.push_back(make_int4(r, e - r, row_seq[r], 0));
        r = e;
      }
      Dev<int4> td4(tiles);
      cudaMemset(out.p, 0xff, out.n * 2);
      ASSERT_EQ(kernels::attention_prefill(a, td4.p, static_cast<int>(tiles.size()), nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(out.get()), ref), 4e-3)
          << "tensor-core prefill, " << tile_rows << "-row tiles, head_dim " << c.head_dim;
    }
    unsetenv("NIBBLE_ATTN_PREFILL_ROWS");
  }
}

// A full prompt chunk: 200 consecutive rows of one sequence (positions 0..199, several tiles).
TEST(Attention, PrefillChunkMatchesSerial) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(33);
  for (int hd : {64, 128}) {
    const int heads = 8, kv_heads = 2, page = 16, rows = 200, kvd = kv_heads * hd, qd = heads * hd;
    const int max_pages = (rows + page - 1) / page;
    std::vector<int> tables(max_pages);
    for (int i = 0; i < max_pages; ++i) tables[i] = (i * 5 + 3) % max_pages;
    auto kc = gpu_test::random_halves(rng, static_cast<std::size_t>(max_pages) * page * kvd, 1.0f);
    auto vc = gpu_test::random_halves(rng, kc.size(), 1.0f);
    auto q = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * qd, 1.0f);
    std::vector<int> positions(rows), row_seq(rows, 0);
    for (int r = 0; r < rows; ++r) positions[r] = r;
    Dev<std::uint16_t> kd(kc), vd(vc), o1(static_cast<std::size_t>(rows) * qd), o2(static_cast<std::size_t>(rows) * qd);
    Dev<float> qv(q);
    Dev<int> pd(positions), rs(row_seq), tb(tables);
    kernels::AttentionArgs a;
    a.q = qv.p;
    a.ldq = qd;
    a.ldo = qd;
    a.k_cache = reinterpret_cast<const __half*>(kd.p);
    a.v_cache = reinterpret_cast<const __half*>(vd.p);
    a.rows = rows;
    a.heads = heads;
    a.kv_heads = kv_heads;
    a.head_dim = hd;
    a.page_size = page;
    a.max_pages = max_pages;
    a.positions = pd.p;
    a.row_seq = rs.p;
    a.block_tables = tb.p;
    a.scale = 1.0f / std::sqrt(float(hd));
    a.max_context = rows;
    a.out = reinterpret_cast<__half*>(o1.p);
    ASSERT_EQ(kernels::attention_rows_serial(a, nullptr), 0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto f1 = gpu_test::halves_to_float(o1.get());
    std::vector<double> r1(f1.begin(), f1.end());
    a.out = reinterpret_cast<__half*>(o2.p);
    // The prompt kernel at both tile sizes (128 where the GPU and head dim take it) against `ref`.
    auto prompt_matches = [&](const std::vector<double>& ref, const char* what) {
      for (const char* forced : {"64", "128"}) {
        setenv("NIBBLE_ATTN_PREFILL_ROWS", forced, 1);
        const int tile_rows = kernels::attention_prefill_tile_rows(hd, kernels::KvType::fp16, rows, heads);
        std::vector<int4> tiles;
        for (int r = 0; r < rows; r += tile_rows) tiles.push_back(make_int4(r, std::min(tile_rows, rows - r), 0, 0));
        Dev<int4> tt(tiles);
        o2.poison();
        ASSERT_EQ(kernels::attention_prefill(a, tt.p, static_cast<int>(tiles.size()), nullptr), 0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(o2.get()), ref), 4e-3)
            << what << ", head_dim " << hd << ", " << tile_rows << "-row tiles";
      }
      unsetenv("NIBBLE_ATTN_PREFILL_ROWS");
    };
    prompt_matches(r1, "fp32 q");
    // fp16 q rows (the prompt path's layout when the q/k/v GEMM writes fp16): against the serial
    // kernel on the same values in fp32.
    std::vector<std::uint16_t> qh(q.size());
    std::vector<float> qr(q.size());
    for (std::size_t i = 0; i < q.size(); ++i) {
      qh[i] = fp32_to_fp16(q[i]);
      qr[i] = fp16_to_fp32(qh[i]);
    }
    Dev<float> qrd(qr);
    Dev<std::uint16_t> qhd(qh);
    a.q = qrd.p;
    a.out = reinterpret_cast<__half*>(o1.p);
    ASSERT_EQ(kernels::attention_rows_serial(a, nullptr), 0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto f3 = gpu_test::halves_to_float(o1.get());
    std::vector<double> r3(f3.begin(), f3.end());
    a.q = nullptr;
    a.q16 = reinterpret_cast<const __half*>(qhd.p);
    a.out = reinterpret_cast<__half*>(o2.p);
    prompt_matches(r3, "fp16 q");
  }
}

TEST(Attention, PagedGqaWindowsAndLongContexts) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(31);
  run_case({6, 2, 64, 64, 0, {1, 5, 64, 65, 300}}, rng);     // dictlm shape
  run_case({32, 32, 128, 16, 0, {1000, 7}}, rng);            // Llama-2 7B, 16 chunks
  run_case({28, 4, 128, 64, 0, {129, 2048}}, rng);           // group of 7
  run_case({8, 8, 64, 32, 100, {250, 99, 1}}, rng);          // sliding window
  run_case({16, 2, 256, 64, 0, {70}}, rng);                  // head_dim 256, group 8
  run_case({32, 2, 128, 16, 0, {17, 130, 700}}, rng);        // group of 16 (the largest)
  run_case({12, 4, 96, 32, 0, {1, 90, 200}}, rng);           // head_dim 96: the scalar kernel
}

// Few rows take blocks of 8 heads, 64 rows or more one block per row: both, with head_dim 64 and
// 128 and a partial rotary dimension (dims past it copied unrotated into the cache). The device's
// sincosf and the host's may differ in the last bit at large angles, so rotated K is held to fp16
// rounding plus that angle error (which can be several fp16 units where x0 c - x1 s cancels); V
// and the unrotated dims are exact.
// fp16_rows: the prompt path's fp16 q/k/v rows (RopeKvArgs::q16): the reference starts from the
// same fp16 values, and rotated q is held to the K bound (it is rounded to fp16 as well).
void run_rope_case(int rows, int heads, int kv_heads, int hd, int rotary, std::mt19937& rng, bool fp16_rows = false) {
  const int page = 16;
  RopeSpec spec;
  spec.theta = 10000.0;
  const RopeTable table = rope_table(spec, rotary);
  const int qd = heads * hd, kvd = kv_heads * hd, width = qd + 2 * kvd;
  auto qkv = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * width, 1.0f);
  std::vector<std::uint16_t> qkv_h;
  if (fp16_rows) {
    for (float& v : qkv) {
      qkv_h.push_back(fp32_to_fp16(v));
      v = fp16_to_fp32(qkv_h.back());
    }
  }
  std::vector<int> positions(rows), row_seq(rows);
  const int fixed[4] = {0, 17, 300, 4095};
  for (int r = 0; r < rows; ++r) {
    positions[r] = r < 4 ? fixed[r] : 1000 + 7 * r;
    row_seq[r] = r < 2 ? 0 : 1;
  }
  const int max_pages = 256;
  std::vector<int> tables(2 * max_pages);
  for (int i = 0; i < 2 * max_pages; ++i) tables[i] = (i * 37) % (2 * max_pages);
  Dev<float> d(fp16_rows ? std::vector<float>(1) : qkv);
  Dev<std::uint16_t> dh(fp16_rows ? qkv_h : std::vector<std::uint16_t>(1));
  Dev<int> pd(positions), rs(row_seq), td(tables);
  Dev<float> inv(table.inv_freq);
  const std::size_t cache = static_cast<std::size_t>(2 * max_pages) * page * kvd;
  Dev<std::uint16_t> kc(std::vector<std::uint16_t>(cache, 0x7e00)), vc(std::vector<std::uint16_t>(cache, 0x7e00));
  kernels::RopeKvArgs a;
  if (fp16_rows) {
    __half* h = reinterpret_cast<__half*>(dh.p);
    a.q16 = h;
    a.k16 = h + qd;
    a.v16 = h + qd + kvd;
  } else {
    a.q = d.p;
    a.k = d.p + qd;
    a.v = d.p + qd + kvd;
  }
  a.ldq = a.ldk = a.ldv = width;
  a.rows = rows;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.head_dim = hd;
  a.rotary_dim = rotary;
  a.inv_freq = inv.p;
  a.positions = pd.p;
  a.row_seq = rs.p;
  a.block_tables = td.p;
  a.max_pages = max_pages;
  a.page_size = page;
  a.k_cache = reinterpret_cast<__half*>(kc.p);
  a.v_cache = reinterpret_cast<__half*>(vc.p);
  ASSERT_EQ(kernels::rope_kv_append(a, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto got_q = fp16_rows ? gpu_test::halves_to_float(dh.get()) : d.get();
  const auto kh = kc.get(), vh = vc.get();
  std::vector<float> cs(rotary / 2), sn(rotary / 2);
  for (int r = 0; r < rows; ++r) {
    rope_cos_sin(table, positions[r], cs.data(), sn.data());
    std::vector<float> row(qkv.begin() + r * width, qkv.begin() + (r + 1) * width);
    for (int h = 0; h < heads; ++h) rope_apply(row.data() + h * hd, rotary, cs.data(), sn.data());
    for (int h = 0; h < kv_heads; ++h) rope_apply(row.data() + qd + h * hd, rotary, cs.data(), sn.data());
    const std::string where = std::to_string(rows) + " rows, hd " + std::to_string(hd) + ", row " + std::to_string(r);
    for (int i = 0; i < qd; ++i) {
      const float tol = fp16_rows ? 5e-4f * std::fabs(row[i]) + 2e-6f : 2e-5f * (1 + std::fabs(row[i]));
      ASSERT_NEAR(got_q[r * width + i], row[i], tol) << where << ", " << i;
    }
    const int p = positions[r];
    const std::size_t slot = (static_cast<std::size_t>(tables[row_seq[r] * max_pages + p / page]) * page + p % page) * kvd;
    for (int i = 0; i < kvd; ++i) {
      const std::uint16_t want_k = fp32_to_fp16(row[qd + i]);
      if (i % hd < rotary)
        ASSERT_NEAR(fp16_to_fp32(kh[slot + i]), row[qd + i], 5e-4f * std::fabs(row[qd + i]) + 2e-6f) << where << ", " << i;
      else
        ASSERT_EQ(kh[slot + i], want_k) << where << ", " << i;
      ASSERT_EQ(vh[slot + i], fp32_to_fp16(row[qd + kvd + i])) << where << ", " << i;
    }
  }
}

TEST(RopeKv, RotatesLikeTheCpuAndFillsTheRightSlots) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(32);
  run_rope_case(4, 6, 2, 64, 64, rng);
  run_rope_case(80, 6, 2, 64, 64, rng);
  run_rope_case(80, 12, 4, 128, 128, rng);  // 16 heads in one block per row
  run_rope_case(5, 12, 4, 128, 64, rng);
  run_rope_case(70, 6, 2, 128, 64, rng);
  // A rotary dimension that is not a multiple of 8 takes the scalar path (others the 16-byte one).
  run_rope_case(3, 6, 2, 64, 20, rng);
  run_rope_case(70, 6, 2, 64, 20, rng);
  // fp16 prompt rows: both block shapes, a partial rotary dimension; the 16-byte one-block-a-row
  // kernel (64+ rows, full rotary dimension a multiple of 16) with heads of 128 and 64, with GQA,
  // a head dim of 80 and a row whose units do not fill the last batch of the block.
  run_rope_case(80, 12, 4, 128, 128, rng, true);
  run_rope_case(5, 6, 2, 64, 64, rng, true);
  run_rope_case(70, 6, 2, 128, 64, rng, true);
  run_rope_case(64, 32, 8, 128, 128, rng, true);
  run_rope_case(96, 6, 2, 64, 64, rng, true);
  run_rope_case(65, 5, 1, 80, 80, rng, true);
  run_rope_case(67, 40, 40, 128, 128, rng, true);
}

TEST(RopeKv, Fp16RowsNeedTheirLayout) {
  NIBBLE_REQUIRE_GPU();
  kernels::RopeKvArgs a;
  Dev<std::uint16_t> rows(std::vector<std::uint16_t>(4096, 0));
  Dev<std::uint16_t> cache(std::vector<std::uint16_t>(4096, 0));
  Dev<float> inv(std::vector<float>(64, 0.01f));
  Dev<int> ints(std::vector<int>(64, 0));
  __half* h = reinterpret_cast<__half*>(rows.p);
  a.q16 = h;
  a.k16 = h + 128;
  a.v16 = h + 192;
  a.ldq = a.ldk = a.ldv = 256;
  a.rows = 1;
  a.heads = 2;
  a.kv_heads = 1;
  a.head_dim = 64;
  a.rotary_dim = 64;
  a.inv_freq = inv.p;
  a.positions = a.row_seq = a.block_tables = ints.p;
  a.max_pages = 1;
  a.page_size = 16;
  a.k_cache = a.v_cache = reinterpret_cast<__half*>(cache.p);
  EXPECT_EQ(kernels::rope_kv_append(a, nullptr), 0);
  kernels::RopeKvArgs b = a;
  b.rotary_dim = 20;  // the 16-byte path only
  EXPECT_NE(kernels::rope_kv_append(b, nullptr), 0);
  b = a;
  b.ldq = b.ldk = b.ldv = 258;
  EXPECT_NE(kernels::rope_kv_append(b, nullptr), 0);
  b = a;
  b.kv_type = kernels::KvType::q8;
  EXPECT_NE(kernels::rope_kv_append(b, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace nibble
