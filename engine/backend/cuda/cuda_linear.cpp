// Conversion of file layouts (dense, EXL2, GPTQ) into the kernels' device layouts, and upload.
#include "backend/cuda/cuda_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <thread>

#include "formats/exl2.h"
#include "formats/gptq.h"
#include "util/half.h"

namespace nibble::cuda {
namespace {

constexpr int kTileN = 128;

int round_up(int v, int m) { return (v + m - 1) / m * m; }

int unit_codes(int bits) {
  switch (bits) {
    case 2: return 16;
    case 3: return 32;
    case 4: return 8;
    case 5: return 32;
    case 6: return 16;
    case 8: return 4;
    default: return 0;
  }
}

Result<std::vector<std::uint16_t>> to_fp16(const TensorView& t) {
  std::vector<std::uint16_t> out(static_cast<std::size_t>(t.numel()));
  if (t.dtype == DType::f16) {
    std::memcpy(out.data(), t.data, out.size() * 2);
    return out;
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float v = t.f(i);
    if (std::isfinite(v) && std::fabs(v) > 65504.0f)
      return make_error(ErrorKind::unsupported, t.file, ": tensor '", t.name, "' element ", i, " (", v,
                        ") is outside the fp16 range the CUDA kernels use");
    out[i] = fp32_to_fp16(v);
  }
  return out;
}

Result<QuantHost> exl2_host(const LinearDesc& d) {
  NIBBLE_ASSIGN_OR_RETURN(std::vector<Exl2Group> groups, exl2_groups(d));
  QuantHost h;
  h.K = d.K;
  h.N = d.N;
  h.n_pad = round_up(d.N, kTileN);
  const auto& e = d.exl2;
  const std::size_t words = static_cast<std::size_t>(e.q_weight.shape[0]);
  h.q_words = words;
  if (d.N == h.n_pad) {
    h.q_weight_src = e.q_weight.data;  // already [words, n_pad]: uploaded from the file's bytes
  } else {
    h.q_weight.assign(words * h.n_pad, 0u);
    for (std::size_t r = 0; r < words; ++r)
      std::memcpy(&h.q_weight[r * h.n_pad], e.q_weight.data + r * d.N * 4, static_cast<std::size_t>(d.N) * 4);
  }
  const std::size_t G = groups.size();
  const int scale_words = static_cast<int>(e.q_scale.shape[1]);
  h.q_scale.assign(G * (h.n_pad / 8), 0u);
  for (std::size_t g = 0; g < G; ++g)
    std::memcpy(&h.q_scale[g * (h.n_pad / 8)], e.q_scale.data + g * scale_words * 4, static_cast<std::size_t>(scale_words) * 4);
  h.q_scale_max.resize(G);
  for (std::size_t g = 0; g < G; ++g) h.q_scale_max[g] = e.q_scale_max.u16(g);
  for (const auto& g : groups) h.groups.push_back({g.k_begin, g.k_begin + g.k_rows, g.bits, g.q_row});
  h.perm.assign(static_cast<std::size_t>(d.K), 0);
  for (int i = 0; i < d.K; ++i) h.perm[static_cast<std::size_t>(e.q_invperm.i32(i))] = i;
  return h;
}

// GPTQ's qweight is the same column bitstream along K as ours, so without act-order the words are
// copied as they are (only padded); with g_idx the rows are regrouped code by code, columns in
// parallel. Zero points and scales are small and unpacked directly.
Result<QuantHost> gptq_host(const LinearDesc& d) {
  const GptqTensors& t = d.gptq;
  const int bits = t.bits;
  const int C = unit_codes(bits);
  if (C == 0) return make_error(ErrorKind::unsupported, d.name, ": ", bits, "-bit GPTQ is not supported on CUDA");
  NIBBLE_ASSIGN_OR_RETURN(int gs, gptq_group_size(d));
  const int K = d.K, N = d.N;
  const int G = static_cast<int>(t.scales.shape[0]);
  std::vector<int> group_of(static_cast<std::size_t>(K));
  bool sorted = true;
  for (int k = 0; k < K; ++k) {
    group_of[k] = gptq_group_of(d, gs, k);
    if (k > 0 && group_of[k] < group_of[k - 1]) sorted = false;
  }
  QuantHost h;
  h.K = K;
  h.N = N;
  h.n_pad = round_up(N, kTileN);
  h.perm.resize(static_cast<std::size_t>(K));
  std::iota(h.perm.begin(), h.perm.end(), 0);
  if (!sorted) std::stable_sort(h.perm.begin(), h.perm.end(), [&](int a, int b) { return group_of[a] < group_of[b]; });
  std::vector<int> rows_of(static_cast<std::size_t>(G), 0);
  for (int k = 0; k < K; ++k) ++rows_of[group_of[k]];
  int words = 0, k_begin = 0;
  std::vector<int> kept;  // file group index of each kept group
  for (int g = 0; g < G; ++g) {
    if (rows_of[g] == 0) continue;
    if (rows_of[g] % C != 0)
      return make_error(ErrorKind::unsupported, d.name, ": GPTQ group ", g, " has ", rows_of[g],
                        " rows, not a multiple of ", C, " (needed by the CUDA kernels)");
    h.groups.push_back({k_begin, k_begin + rows_of[g], bits, words});
    kept.push_back(g);
    k_begin += rows_of[g];
    words += rows_of[g] * bits / 32;
  }
  h.q_words = static_cast<std::size_t>(words);
  const std::uint8_t* src = t.qweight.data;  // [K * bits / 32, N] little-endian int32, maybe unaligned
  auto word_at = [&](std::size_t row, int n) {
    std::uint32_t w;
    std::memcpy(&w, src + (row * static_cast<std::size_t>(N) + n) * 4, 4);
    return w;
  };
  if (sorted && N == h.n_pad) {
    h.q_weight_src = src;  // already [words, n_pad]: uploaded from the file's bytes
  } else if (sorted) {
    h.q_weight.assign(static_cast<std::size_t>(words) * h.n_pad, 0u);
    for (int r = 0; r < words; ++r)
      std::memcpy(&h.q_weight[static_cast<std::size_t>(r) * h.n_pad], src + static_cast<std::size_t>(r) * N * 4,
                  static_cast<std::size_t>(N) * 4);
  } else {
    h.q_weight.assign(static_cast<std::size_t>(words) * h.n_pad, 0u);
    const std::uint32_t mask = (1u << bits) - 1u;
    auto convert = [&](int n0, int n1) {
      for (int n = n0; n < n1; ++n)
        for (int j = 0; j < K; ++j) {
          const std::size_t sbit = static_cast<std::size_t>(h.perm[j]) * bits;
          const std::size_t sw = sbit >> 5;
          const unsigned ssh = static_cast<unsigned>(sbit & 31);
          std::uint32_t q = word_at(sw, n) >> ssh;
          if (ssh + bits > 32) q |= word_at(sw + 1, n) << (32 - ssh);
          q &= mask;
          const std::size_t dbit = static_cast<std::size_t>(j) * bits;
          const std::size_t dw = dbit >> 5;
          const unsigned dsh = static_cast<unsigned>(dbit & 31);
          h.q_weight[dw * h.n_pad + n] |= q << dsh;
          if (dsh + bits > 32) h.q_weight[(dw + 1) * h.n_pad + n] |= q >> (32 - dsh);
        }
    };
    const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < threads; ++i)
      pool.emplace_back(convert, static_cast<int>(static_cast<long>(N) * i / threads),
                        static_cast<int>(static_cast<long>(N) * (i + 1) / threads));
    for (auto& th : pool) th.join();
  }
  // Zero points: qzeros rows are bitstreams along N; v1 files store z - 1.
  const std::uint32_t zmask = (1u << bits) - 1u;
  const std::uint16_t mid = static_cast<std::uint16_t>(1u << (bits - 1));
  const std::size_t zwords = static_cast<std::size_t>(t.qzeros.shape[1]);
  auto zero_at = [&](int g, int n) {
    const std::size_t bit = static_cast<std::size_t>(n) * bits;
    std::uint32_t v = t.qzeros.u32(static_cast<std::size_t>(g) * zwords + (bit >> 5)) >> (bit & 31);
    if ((bit & 31) + bits > 32) v |= t.qzeros.u32(static_cast<std::size_t>(g) * zwords + (bit >> 5) + 1) << (32 - (bit & 31));
    return static_cast<std::uint16_t>((v & zmask) + (t.v2 ? 0u : 1u));
  };
  // Symmetric when every stored zero point is the midpoint; for widths dividing 32 that is a
  // comparison of whole words with the repeated code (a 7B's GPTQ layers hold ~56 M zero points).
  bool symmetric = true;
  if (32 % bits == 0) {
    const std::uint32_t stored = static_cast<std::uint32_t>(mid) - (t.v2 ? 0u : 1u);
    std::uint32_t pattern = 0;
    for (int i = 0; i < 32 / bits; ++i) pattern |= stored << (i * bits);
    const std::size_t full = static_cast<std::size_t>(N) * bits / 32;
    const unsigned rem = static_cast<unsigned>(static_cast<std::size_t>(N) * bits % 32);
    for (std::size_t i = 0; i < kept.size() && symmetric; ++i) {
      const std::size_t row = static_cast<std::size_t>(kept[i]) * zwords;
      for (std::size_t w = 0; w < full && symmetric; ++w) symmetric = t.qzeros.u32(row + w) == pattern;
      if (symmetric && rem != 0) {
        const std::uint32_t m = (1u << rem) - 1u;
        symmetric = (t.qzeros.u32(row + full) & m) == (pattern & m);
      }
    }
  } else {
    for (int g : kept)
      for (int n = 0; n < N && symmetric; ++n) symmetric = zero_at(g, n) == mid;
  }
  h.scales.assign(kept.size() * h.n_pad, 0);
  if (!symmetric) h.zeros.assign(kept.size() * h.n_pad, 0);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const std::size_t s0 = static_cast<std::size_t>(kept[i]) * N;
    if (t.scales.dtype == DType::f16)  // fp16 rows as they are
      std::memcpy(&h.scales[i * h.n_pad], t.scales.data + s0 * 2, static_cast<std::size_t>(N) * 2);
    else
      for (int n = 0; n < N; ++n) h.scales[i * h.n_pad + n] = fp32_to_fp16(t.scales.f(s0 + n));
    if (!symmetric)
      for (int n = 0; n < N; ++n) h.zeros[i * h.n_pad + n] = fp32_to_fp16(static_cast<float>(zero_at(kept[i], n)));
  }
  return h;
}

template <class T>
Result<DeviceBuffer> put(const std::vector<T>& v, const std::string& name, const char* what) {
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::allocate(v.size() * sizeof(T), name.c_str()));
  NIBBLE_TRY(b.upload(v.data(), v.size() * sizeof(T), 0, what));
  return b;
}

}  // namespace

std::size_t DeviceLinear::bytes() const {
  std::size_t t = 0;
  for (const auto& b : buffers) t += b.size();
  return t;
}

Result<QuantHost> quant_host_layout(const LinearDesc& d) {
  Result<QuantHost> h = d.format == LinearFormat::exl2 ? exl2_host(d) : gptq_host(d);
  if (!h.ok()) return h;
  if (d.bias) {
    NIBBLE_ASSIGN_OR_RETURN(std::vector<std::uint16_t> b, to_fp16(*d.bias));
    h->bias = std::move(b);
  }
  return h;
}

Result<bool> linear_uniform4(const LinearDesc& d) {
  std::vector<kernels::QGroup> groups;
  if (d.format == LinearFormat::exl2) {
    NIBBLE_ASSIGN_OR_RETURN(std::vector<Exl2Group> g, exl2_groups(d));
    for (const auto& e : g) groups.push_back({e.k_begin, e.k_begin + e.k_rows, e.bits, e.q_row});
  } else if (d.format == LinearFormat::gptq) {
    NIBBLE_ASSIGN_OR_RETURN(std::vector<int> rows_of, gptq_group_rows(d));
    int k_begin = 0;
    for (int r : rows_of)
      if (r > 0) {
        groups.push_back({k_begin, k_begin + r, d.gptq.bits, 0});
        k_begin += r;
      }
  }
  return kernels::qgemv_uniform4(groups);
}

Result<QuantHost> shard_quant_host(const QuantHost& h, const LinearShard& s) {
  const int G = static_cast<int>(h.groups.size());
  int g0 = 0, g1 = G, k0 = 0, k1 = h.K;
  const bool rows = s.k_end >= 0;
  if (rows) {
    k0 = s.k_begin;
    k1 = s.k_end;
    g0 = -1;
    g1 = -1;
    for (int g = 0; g < G; ++g) {
      if (h.groups[g].k_begin == k0) g0 = g;
      if (h.groups[g].k_end == k1) g1 = g + 1;
    }
    if (k0 >= k1 || g0 < 0 || g1 < 0 || g0 >= g1)
      return make_error(ErrorKind::invalid_argument, "tensor-parallel share: rows ", k0, "..", k1,
                        " do not start and end at group boundaries");
  }
  std::vector<int> cols = s.cols;
  if (cols.empty()) {
    cols.resize(static_cast<std::size_t>(h.N));
    std::iota(cols.begin(), cols.end(), 0);
  }
  for (int c : cols)
    if (c < 0 || c >= h.N) return make_error(ErrorKind::invalid_argument, "tensor-parallel share: column ", c, " of ", h.N);
  QuantHost o;
  o.K = k1 - k0;
  o.N = static_cast<int>(cols.size());
  o.n_pad = round_up(o.N, kTileN);
  const int w0 = h.groups[g0].word_begin;
  const int w1 = g1 < G ? h.groups[g1].word_begin : static_cast<int>(h.q_words);
  o.q_words = static_cast<std::size_t>(w1 - w0);
  o.q_weight.assign(o.q_words * o.n_pad, 0u);
  // The column gather is most of a share's load time: rows of words in parallel.
  auto gather_rows = [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      std::uint32_t* dst = &o.q_weight[static_cast<std::size_t>(r - w0) * o.n_pad];
      const std::size_t row = static_cast<std::size_t>(r) * h.n_pad;
      if (h.q_weight_src) {
        for (int i = 0; i < o.N; ++i) std::memcpy(&dst[i], h.q_weight_src + (row + cols[i]) * 4, 4);
      } else {
        for (int i = 0; i < o.N; ++i) dst[i] = h.q_weight[row + cols[i]];
      }
    }
  };
  const int threads = static_cast<int>(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  if (threads == 1 || (w1 - w0) < 64) {
    gather_rows(w0, w1);
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back(gather_rows, w0 + (w1 - w0) * t / threads, w0 + (w1 - w0) * (t + 1) / threads);
    for (auto& th : pool) th.join();
  }
  for (int g = g0; g < g1; ++g) {
    const kernels::QGroup& q = h.groups[g];
    o.groups.push_back({q.k_begin - k0, q.k_end - k0, q.bits, q.word_begin - w0});
  }
  if (!h.q_scale.empty()) {
    const int sw = h.n_pad / 8, dw = o.n_pad / 8;
    o.q_scale.assign(static_cast<std::size_t>(g1 - g0) * dw, 0u);
    for (int g = g0; g < g1; ++g)
      for (int i = 0; i < o.N; ++i) {
        const int n = cols[i];
        const std::uint32_t code = (h.q_scale[static_cast<std::size_t>(g) * sw + n / 8] >> (4 * (n % 8))) & 15u;
        o.q_scale[static_cast<std::size_t>(g - g0) * dw + i / 8] |= code << (4 * (i % 8));
      }
    o.q_scale_max.assign(h.q_scale_max.begin() + g0, h.q_scale_max.begin() + g1);
  }
  auto gather = [&](const std::vector<std::uint16_t>& src, std::vector<std::uint16_t>& dst) {
    if (src.empty()) return;
    dst.assign(static_cast<std::size_t>(g1 - g0) * o.n_pad, 0);
    for (int g = g0; g < g1; ++g)
      for (int i = 0; i < o.N; ++i)
        dst[static_cast<std::size_t>(g - g0) * o.n_pad + i] = src[static_cast<std::size_t>(g) * h.n_pad + cols[i]];
  };
  gather(h.scales, o.scales);
  gather(h.zeros, o.zeros);
  if (rows) {
    o.perm.resize(static_cast<std::size_t>(o.K));
    std::iota(o.perm.begin(), o.perm.end(), 0);
  } else {
    o.perm = h.perm;
  }
  if (s.bias && !h.bias.empty())
    for (int c : cols) o.bias.push_back(h.bias[static_cast<std::size_t>(c)]);
  return o;
}

Result<std::vector<int>> shard_row_cuts(const std::vector<kernels::QGroup>& groups, int K, int ranks) {
  std::vector<int> cuts{0};
  for (int r = 1; r < ranks; ++r) {
    const double target = static_cast<double>(K) * r / ranks;
    int best = -1;
    if (groups.empty()) {
      best = static_cast<int>(std::lround(target / 128.0)) * 128;
    } else {
      for (const auto& g : groups)
        if (best < 0 || std::fabs(g.k_begin - target) < std::fabs(best - target)) best = g.k_begin;
    }
    cuts.push_back(best);
  }
  cuts.push_back(K);
  for (int r = 0; r < ranks; ++r)
    if (cuts[r + 1] <= cuts[r])
      return make_error(ErrorKind::unsupported, "tensor parallelism: ", K, " rows cannot be shared among ", ranks,
                        " GPUs at the layer's group boundaries");
  return cuts;
}

Result<DeviceLinear> upload_linear(const LinearDesc& d, int sm_count, int launch_tiles, bool uniform_launch,
                                   const LinearShard* shard) {
  DeviceLinear L;
  L.K = d.K;
  L.N = d.N;
  if (d.format != LinearFormat::exl2 && d.format != LinearFormat::gptq) {
    if (d.K % 8 != 0)
      return make_error(ErrorKind::unsupported, d.name, ": in_features ", d.K, " is not a multiple of 8 (CUDA kernels)");
    DeviceBuffer wb;
    std::vector<std::uint16_t> bias;
    if (d.bias) {
      NIBBLE_ASSIGN_OR_RETURN(bias, to_fp16(*d.bias));
    }
    if (shard) {  // the share's rows of [N, K]: its columns, cut to [k_begin, k_end)
      NIBBLE_ASSIGN_OR_RETURN(std::vector<std::uint16_t> w, to_fp16(d.weight));
      std::vector<int> cols = shard->cols;
      if (cols.empty()) {
        cols.resize(static_cast<std::size_t>(d.N));
        std::iota(cols.begin(), cols.end(), 0);
      }
      const int k0 = shard->k_end >= 0 ? shard->k_begin : 0, k1 = shard->k_end >= 0 ? shard->k_end : d.K;
      if (k0 < 0 || k1 > d.K || k0 >= k1 || (k1 - k0) % 8 != 0)
        return make_error(ErrorKind::invalid_argument, d.name, ": tensor-parallel rows ", k0, "..", k1);
      std::vector<std::uint16_t> part(cols.size() * static_cast<std::size_t>(k1 - k0));
      std::vector<std::uint16_t> part_bias;
      for (std::size_t i = 0; i < cols.size(); ++i) {
        if (cols[i] < 0 || cols[i] >= d.N) return make_error(ErrorKind::invalid_argument, d.name, ": column ", cols[i]);
        std::memcpy(&part[i * (k1 - k0)], &w[static_cast<std::size_t>(cols[i]) * d.K + k0], static_cast<std::size_t>(k1 - k0) * 2);
        if (!bias.empty() && shard->bias) part_bias.push_back(bias[static_cast<std::size_t>(cols[i])]);
      }
      L.N = static_cast<int>(cols.size());
      L.K = k1 - k0;
      bias = std::move(part_bias);
      NIBBLE_ASSIGN_OR_RETURN(wb, put(part, d.name, "uploading weights"));
    } else if (d.weight.dtype == DType::f16) {  // fp16 goes up straight from the file's bytes
      const std::size_t bytes = static_cast<std::size_t>(d.weight.numel()) * 2;
      NIBBLE_ASSIGN_OR_RETURN(wb, DeviceBuffer::allocate(bytes, d.name.c_str()));
      NIBBLE_TRY(wb.upload(d.weight.data, bytes, 0, "uploading weights"));
    } else {
      NIBBLE_ASSIGN_OR_RETURN(std::vector<std::uint16_t> w, to_fp16(d.weight));
      NIBBLE_ASSIGN_OR_RETURN(wb, put(w, d.name, "uploading weights"));
    }
    L.dense.w = wb.data();
    L.dense.type = kernels::WeightType::fp16;
    L.dense.k = L.K;
    L.dense.n = L.N;
    L.buffers.push_back(std::move(wb));
    if (!bias.empty()) {
      NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer bb, put(bias, d.name, "uploading bias"));
      L.dense.bias = bb.as<const __half>();
      L.buffers.push_back(std::move(bb));
    }
    return L;
  }
  NIBBLE_ASSIGN_OR_RETURN(QuantHost h, quant_host_layout(d));
  if (shard) {
    NIBBLE_ASSIGN_OR_RETURN(QuantHost part, shard_quant_host(h, *shard));
    return upload_quant(part, d.name, sm_count, launch_tiles, uniform_launch);
  }
  return upload_quant(h, d.name, sm_count, launch_tiles, uniform_launch);
}

Result<DeviceLinear> upload_quant(const QuantHost& h, const std::string& name, int sm_count, int launch_tiles,
                                  bool uniform_launch) {
  DeviceLinear L;
  L.K = h.K;
  L.N = h.N;
  L.quantized = true;
  kernels::QMatrix& q = L.quant;
  q.k = h.K;
  q.n = h.N;
  q.n_pad = h.n_pad;
  q.groups_count = static_cast<int>(h.groups.size());
  const std::vector<int2> splits =
      kernels::qgemv_plan_splits(h.groups, launch_tiles > 0 ? launch_tiles : h.n_pad / kTileN, sm_count, uniform_launch);
  q.n_splits = static_cast<int>(splits.size());
  kernels::qgemv_describe_splits(q, h.groups, splits);
  if (q.max_split_k > 1024 && !(uniform_launch && kernels::qgemv_uniform4(h.groups)))
    return make_error(ErrorKind::unsupported, name, ": a group of ", q.max_split_k, " rows exceeds the kernel limit of 1024");
  DeviceBuffer qw;
  if (h.q_weight_src) {
    const std::size_t bytes = h.q_words * static_cast<std::size_t>(h.n_pad) * 4;
    NIBBLE_ASSIGN_OR_RETURN(qw, DeviceBuffer::allocate(bytes, name.c_str()));
    NIBBLE_TRY(qw.upload(h.q_weight_src, bytes, 0, "uploading q_weight"));
  } else {
    NIBBLE_ASSIGN_OR_RETURN(qw, put(h.q_weight, name, "uploading q_weight"));
  }
  q.q_weight = qw.as<const std::uint32_t>();
  L.buffers.push_back(std::move(qw));
  if (!h.q_scale.empty()) {
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer s, put(h.q_scale, name, "uploading q_scale"));
    // Padded to whole 16-byte blocks: the fused decode kernel copies the block holding a group's entry.
    std::vector<std::uint16_t> smax = h.q_scale_max;
    smax.resize((smax.size() + 7) / 8 * 8, 0);
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer sm, put(smax, name, "uploading q_scale_max"));
    q.q_scale = s.as<const std::uint32_t>();
    q.q_scale_max = sm.as<const __half>();
    L.buffers.push_back(std::move(s));
    L.buffers.push_back(std::move(sm));
  } else {
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer s, put(h.scales, name, "uploading scales"));
    q.scales = s.as<const __half>();
    L.buffers.push_back(std::move(s));
    if (!h.zeros.empty()) {
      NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer z, put(h.zeros, name, "uploading zeros"));
      q.zeros = z.as<const __half>();
      L.buffers.push_back(std::move(z));
    }
  }
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer g, put(h.groups, name, "uploading groups"));
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer sp, put(splits, name, "uploading split plan"));
  q.groups = g.as<const kernels::QGroup>();
  q.splits = sp.as<const int2>();
  L.buffers.push_back(std::move(g));
  L.buffers.push_back(std::move(sp));
  bool identity = true;
  for (std::size_t i = 0; i < h.perm.size() && identity; ++i) identity = h.perm[i] == static_cast<std::int32_t>(i);
  if (!identity) {  // an identity permutation needs no gather
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer pm, put(h.perm, name, "uploading permutation"));
    q.perm = pm.as<const int>();
    L.buffers.push_back(std::move(pm));
  }
  if (!h.bias.empty()) {
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer b, put(h.bias, name, "uploading bias"));
    q.bias = b.as<const __half>();
    L.buffers.push_back(std::move(b));
  }
  return L;
}

}  // namespace nibble::cuda
