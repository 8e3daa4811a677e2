// Conversion of file layouts (dense, EXL2, GPTQ) into the kernels' device layouts, and upload.
#include "backend/cuda/cuda_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

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

// Packs codes[k][n] (rows k of one group, in order) into the group's words of column n.
void pack_group(const std::uint8_t* codes, int rows, int N, int bits, std::uint32_t* words, int n_pad) {
  for (int n = 0; n < N; ++n) {
    for (int r = 0; r < rows; ++r) {
      const std::uint32_t q = codes[static_cast<std::size_t>(r) * N + n];
      const int bit = r * bits;
      const int w = bit >> 5, sh = bit & 31;
      words[static_cast<std::size_t>(w) * n_pad + n] |= q << sh;
      if (sh + bits > 32) words[static_cast<std::size_t>(w + 1) * n_pad + n] |= q >> (32 - sh);
    }
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
  h.q_weight.assign(words * h.n_pad, 0u);
  for (std::size_t r = 0; r < words; ++r)
    std::memcpy(&h.q_weight[r * h.n_pad], e.q_weight.data + r * d.N * 4, static_cast<std::size_t>(d.N) * 4);
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

Result<QuantHost> gptq_host(const LinearDesc& d) {
  NIBBLE_ASSIGN_OR_RETURN(GptqUnpacked u, gptq_unpack(d));
  const int C = unit_codes(u.bits);
  if (C == 0) return make_error(ErrorKind::unsupported, d.name, ": ", u.bits, "-bit GPTQ is not supported on CUDA");
  const int K = u.K, N = u.N;
  const int G = static_cast<int>(u.scales.size() / static_cast<std::size_t>(N));
  std::vector<int> group_of(static_cast<std::size_t>(K));
  for (int k = 0; k < K; ++k) group_of[k] = u.g_idx.empty() ? k / u.group_size : u.g_idx[k];
  QuantHost h;
  h.K = K;
  h.N = N;
  h.n_pad = round_up(N, kTileN);
  h.perm.resize(static_cast<std::size_t>(K));
  std::iota(h.perm.begin(), h.perm.end(), 0);
  std::stable_sort(h.perm.begin(), h.perm.end(), [&](int a, int b) { return group_of[a] < group_of[b]; });
  // Groups in permuted order; every group must fill whole units of its width.
  std::vector<int> rows_of(static_cast<std::size_t>(G), 0);
  for (int k = 0; k < K; ++k) ++rows_of[group_of[k]];
  int words = 0, k_begin = 0;
  for (int g = 0; g < G; ++g) {
    if (rows_of[g] == 0) continue;
    if (rows_of[g] % C != 0)
      return make_error(ErrorKind::unsupported, d.name, ": GPTQ group ", g, " has ", rows_of[g],
                        " rows, not a multiple of ", C, " (needed by the CUDA kernels)");
    h.groups.push_back({k_begin, k_begin + rows_of[g], u.bits, words});
    k_begin += rows_of[g];
    words += rows_of[g] * u.bits / 32;
  }
  h.q_weight.assign(static_cast<std::size_t>(words) * h.n_pad, 0u);
  std::vector<std::uint8_t> rows_codes;
  int k = 0;
  for (std::size_t gi = 0; gi < h.groups.size(); ++gi) {
    const auto& grp = h.groups[gi];
    const int rows = grp.k_end - grp.k_begin;
    rows_codes.assign(static_cast<std::size_t>(rows) * N, 0);
    for (int r = 0; r < rows; ++r, ++k)
      std::memcpy(&rows_codes[static_cast<std::size_t>(r) * N], &u.codes[static_cast<std::size_t>(h.perm[k]) * N], N);
    pack_group(rows_codes.data(), rows, N, u.bits, &h.q_weight[static_cast<std::size_t>(grp.word_begin) * h.n_pad], h.n_pad);
  }
  // Scales and zero points per kept group (groups with no rows were skipped above).
  const std::uint16_t mid = static_cast<std::uint16_t>(1u << (u.bits - 1));
  bool symmetric = true;
  for (std::size_t i = 0; i < u.zeros.size(); ++i) symmetric = symmetric && u.zeros[i] == mid;
  h.scales.assign(h.groups.size() * h.n_pad, 0);
  if (!symmetric) h.zeros.assign(h.groups.size() * h.n_pad, 0);
  std::size_t out_g = 0;
  for (int g = 0; g < G; ++g) {
    if (rows_of[g] == 0) continue;
    for (int n = 0; n < N; ++n) {
      h.scales[out_g * h.n_pad + n] = u.scales[static_cast<std::size_t>(g) * N + n];
      if (!symmetric) h.zeros[out_g * h.n_pad + n] = fp32_to_fp16(static_cast<float>(u.zeros[static_cast<std::size_t>(g) * N + n]));
    }
    ++out_g;
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

Result<DeviceLinear> upload_linear(const LinearDesc& d, int sm_count) {
  DeviceLinear L;
  L.K = d.K;
  L.N = d.N;
  if (d.format != LinearFormat::exl2 && d.format != LinearFormat::gptq) {
    NIBBLE_ASSIGN_OR_RETURN(std::vector<std::uint16_t> w, to_fp16(d.weight));
    if (d.K % 8 != 0)
      return make_error(ErrorKind::unsupported, d.name, ": in_features ", d.K, " is not a multiple of 8 (CUDA kernels)");
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer wb, put(w, d.name, "uploading weights"));
    L.dense.w = wb.data();
    L.dense.type = kernels::WeightType::fp16;
    L.dense.k = d.K;
    L.dense.n = d.N;
    L.buffers.push_back(std::move(wb));
    if (d.bias) {
      NIBBLE_ASSIGN_OR_RETURN(std::vector<std::uint16_t> b, to_fp16(*d.bias));
      NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer bb, put(b, d.name, "uploading bias"));
      L.dense.bias = bb.as<const __half>();
      L.buffers.push_back(std::move(bb));
    }
    return L;
  }
  NIBBLE_ASSIGN_OR_RETURN(QuantHost h, quant_host_layout(d));
  L.quantized = true;
  kernels::QMatrix& q = L.quant;
  q.k = h.K;
  q.n = h.N;
  q.n_pad = h.n_pad;
  q.groups_count = static_cast<int>(h.groups.size());
  const std::vector<int2> splits = kernels::qgemv_plan_splits(h.groups, h.n_pad, sm_count);
  q.n_splits = static_cast<int>(splits.size());
  for (const auto& s : splits)
    q.max_split_k = std::max(q.max_split_k, h.groups[s.y - 1].k_end - h.groups[s.x].k_begin);
  if (q.max_split_k > 2048)
    return make_error(ErrorKind::unsupported, d.name, ": a group of ", q.max_split_k, " rows exceeds the kernel limit of 2048");
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer qw, put(h.q_weight, d.name, "uploading q_weight"));
  q.q_weight = qw.as<const std::uint32_t>();
  L.buffers.push_back(std::move(qw));
  if (!h.q_scale.empty()) {
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer s, put(h.q_scale, d.name, "uploading q_scale"));
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer sm, put(h.q_scale_max, d.name, "uploading q_scale_max"));
    q.q_scale = s.as<const std::uint32_t>();
    q.q_scale_max = sm.as<const __half>();
    L.buffers.push_back(std::move(s));
    L.buffers.push_back(std::move(sm));
  } else {
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer s, put(h.scales, d.name, "uploading scales"));
    q.scales = s.as<const __half>();
    L.buffers.push_back(std::move(s));
    if (!h.zeros.empty()) {
      NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer z, put(h.zeros, d.name, "uploading zeros"));
      q.zeros = z.as<const __half>();
      L.buffers.push_back(std::move(z));
    }
  }
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer g, put(h.groups, d.name, "uploading groups"));
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer sp, put(splits, d.name, "uploading split plan"));
  NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer pm, put(h.perm, d.name, "uploading permutation"));
  q.groups = g.as<const kernels::QGroup>();
  q.splits = sp.as<const int2>();
  q.perm = pm.as<const int>();
  L.buffers.push_back(std::move(g));
  L.buffers.push_back(std::move(sp));
  L.buffers.push_back(std::move(pm));
  if (!h.bias.empty()) {
    NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer b, put(h.bias, d.name, "uploading bias"));
    q.bias = b.as<const __half>();
    L.buffers.push_back(std::move(b));
  }
  return L;
}

}  // namespace nibble::cuda
