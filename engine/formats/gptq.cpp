// GPTQ validation, dequantization, unpack and pack.
#include "formats/gptq.h"

#include <cstring>

#include "formats/bitstream.h"
#include "util/half.h"

namespace nibble {
namespace {

Error bad(const TensorView& t, const std::string& what) {
  return make_error(ErrorKind::format, t.file, ": tensor '", t.name, "': ", what);
}

bool gptq_width(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

Status expect_shape(const TensorView& t, std::initializer_list<DType> dtypes, std::vector<std::int64_t> shape) {
  bool dtype_ok = false;
  for (auto d : dtypes) dtype_ok |= t.dtype == d;
  if (!dtype_ok) return bad(t, "unexpected dtype " + std::string(dtype_name(t.dtype)));
  if (t.shape != shape) {
    TensorView want;
    want.shape = std::move(shape);
    return bad(t, "shape " + t.shape_string() + ", expected " + want.shape_string());
  }
  return {};
}

}  // namespace

Result<int> gptq_group_size(const LinearDesc& d) {
  const auto& q = d.gptq;
  const std::int64_t G = q.scales.rank() == 2 ? q.scales.shape[0] : 0;
  if (G <= 0) return bad(q.scales, "must be [G, N] with G >= 1");
  if (q.group_size == -1 || G == 1) {
    if (G != 1) return bad(q.scales, "group_size -1 needs exactly one group, found " + std::to_string(G));
    return d.K;
  }
  if (q.group_size > 0) {
    if ((d.K + q.group_size - 1) / q.group_size != G && !q.g_idx)
      return bad(q.scales, std::to_string(G) + " groups do not match K = " + std::to_string(d.K) + " with group_size " +
                               std::to_string(q.group_size));
    return q.group_size;
  }
  if (d.K % G != 0) return bad(q.scales, std::to_string(G) + " groups do not divide K = " + std::to_string(d.K));
  return static_cast<int>(d.K / G);
}

int gptq_group_of(const LinearDesc& d, int group_size, int k) {
  if (d.gptq.g_idx) return d.gptq.g_idx->i32(static_cast<std::size_t>(k));
  return k / group_size;
}

Result<std::vector<int>> gptq_group_rows(const LinearDesc& d) {
  NIBBLE_ASSIGN_OR_RETURN(int gs, gptq_group_size(d));
  std::vector<int> rows(static_cast<std::size_t>(d.gptq.scales.shape[0]), 0);
  for (int k = 0; k < d.K; ++k) {
    const int g = gptq_group_of(d, gs, k);
    if (g >= 0 && g < static_cast<int>(rows.size())) ++rows[static_cast<std::size_t>(g)];
  }
  return rows;
}

Status gptq_validate(const LinearDesc& d) {
  const auto& q = d.gptq;
  if (!gptq_width(q.bits)) return bad(q.qweight, "GPTQ bit width " + std::to_string(q.bits) + " is not one of 2, 3, 4, 8");
  const int block = bit_width_block_codes(q.bits);
  if (d.K % block != 0 || d.N % block != 0)
    return bad(q.qweight, "K = " + std::to_string(d.K) + " and N = " + std::to_string(d.N) + " must be multiples of " +
                              std::to_string(block) + " for " + std::to_string(q.bits) + "-bit GPTQ");
  NIBBLE_TRY(expect_shape(q.qweight, {DType::i32}, {static_cast<std::int64_t>(d.K) * q.bits / 32, d.N}));
  if (q.scales.rank() != 2) return bad(q.scales, "must be [G, N]");
  const std::int64_t G = q.scales.shape[0];
  NIBBLE_TRY(expect_shape(q.scales, {DType::f16, DType::bf16, DType::f32}, {G, d.N}));
  NIBBLE_TRY(expect_shape(q.qzeros, {DType::i32}, {G, static_cast<std::int64_t>(d.N) * q.bits / 32}));
  NIBBLE_ASSIGN_OR_RETURN(int gs, gptq_group_size(d));
  if (q.g_idx) {
    NIBBLE_TRY(expect_shape(*q.g_idx, {DType::i32}, {d.K}));
    for (int k = 0; k < d.K; ++k) {
      const auto g = q.g_idx->i32(static_cast<std::size_t>(k));
      if (g < 0 || g >= G) return bad(*q.g_idx, "row " + std::to_string(k) + " names group " + std::to_string(g) + " of " + std::to_string(G));
    }
  } else if ((d.K + gs - 1) / gs != G) {
    return bad(q.scales, std::to_string(G) + " groups for K = " + std::to_string(d.K) + " rows of " + std::to_string(gs));
  }
  return {};
}

Result<GptqUnpacked> gptq_unpack(const LinearDesc& d) {
  NIBBLE_TRY(gptq_validate(d));
  NIBBLE_ASSIGN_OR_RETURN(int gs, gptq_group_size(d));
  const auto& q = d.gptq;
  const std::size_t K = static_cast<std::size_t>(d.K), N = static_cast<std::size_t>(d.N);
  const std::size_t G = static_cast<std::size_t>(q.scales.shape[0]);
  GptqUnpacked u;
  u.K = d.K;
  u.N = d.N;
  u.bits = q.bits;
  u.group_size = gs;
  u.v2 = q.v2;
  u.codes.resize(K * N);
  u.zeros.resize(G * N);
  u.scales.resize(G * N);
  std::vector<std::uint8_t> column(K);
  const std::size_t zwords = N * static_cast<std::size_t>(q.bits) / 32;
  with_bit_width(q.bits, [&](auto w) {
    using W = decltype(w);
    for (std::size_t n = 0; n < N; ++n) {
      W::unpack(q.qweight, n, N, d.K, column.data());
      for (std::size_t k = 0; k < K; ++k) u.codes[k * N + n] = column[k];
    }
    std::vector<std::uint8_t> stored(N);
    for (std::size_t g = 0; g < G; ++g) {
      W::unpack(q.qzeros, g * zwords, 1, d.N, stored.data());
      for (std::size_t n = 0; n < N; ++n) u.zeros[g * N + n] = static_cast<std::uint16_t>(stored[n] + (q.v2 ? 0 : 1));
    }
  });
  for (std::size_t i = 0; i < G * N; ++i)
    u.scales[i] = q.scales.dtype == DType::f16 ? q.scales.u16(i) : fp32_to_fp16(q.scales.f(i));
  if (q.g_idx)
    for (std::size_t k = 0; k < K; ++k) u.g_idx.push_back(q.g_idx->i32(k));
  return u;
}

Status gptq_dequantize(const LinearDesc& d, float* out) {
  NIBBLE_TRY(gptq_validate(d));
  NIBBLE_ASSIGN_OR_RETURN(int gs, gptq_group_size(d));
  NIBBLE_ASSIGN_OR_RETURN(auto u, gptq_unpack(d));
  const std::size_t K = static_cast<std::size_t>(d.K), N = static_cast<std::size_t>(d.N);
  for (std::size_t k = 0; k < K; ++k) {
    const std::size_t g = static_cast<std::size_t>(gptq_group_of(d, gs, static_cast<int>(k)));
    for (std::size_t n = 0; n < N; ++n) {
      const float scale = d.gptq.scales.f(g * N + n);  // fp32 scales are used as stored
      out[n * K + k] = static_cast<float>(static_cast<int>(u.codes[k * N + n]) - static_cast<int>(u.zeros[g * N + n])) * scale;
    }
  }
  return {};
}

Result<GptqPacked> gptq_pack(const GptqUnpacked& in) {
  auto fail = [](const std::string& what) { return make_error(ErrorKind::invalid_argument, "GPTQ pack: ", what); };
  if (!gptq_width(in.bits)) return fail("bit width " + std::to_string(in.bits) + " is not one of 2, 3, 4, 8");
  const int block = bit_width_block_codes(in.bits);
  if (in.K <= 0 || in.N <= 0 || in.K % block || in.N % block)
    return fail("K and N must be positive multiples of " + std::to_string(block));
  const std::size_t K = static_cast<std::size_t>(in.K), N = static_cast<std::size_t>(in.N);
  if (in.codes.size() != K * N || in.zeros.size() % N || in.zeros.size() != in.scales.size() || in.zeros.empty())
    return fail("codes, zeros or scales do not match K x N");
  GptqPacked p;
  p.K = in.K;
  p.N = in.N;
  p.bits = in.bits;
  p.G = static_cast<int>(in.zeros.size() / N);
  if (!in.g_idx.empty()) {
    if (in.g_idx.size() != K) return fail("g_idx must have K entries");
    for (auto g : in.g_idx)
      if (g < 0 || g >= p.G) return fail("g_idx names a group out of range");
    p.g_idx = in.g_idx;
  } else if (in.group_size <= 0 || (in.K + in.group_size - 1) / in.group_size != p.G) {
    return fail("group_size does not give " + std::to_string(p.G) + " groups");
  }
  const std::uint32_t maxq = (1u << in.bits) - 1u;
  for (auto c : in.codes)
    if (c > maxq) return fail("code out of range");
  std::vector<std::uint8_t> stored(in.zeros.size());
  for (std::size_t i = 0; i < in.zeros.size(); ++i) {
    const int z = in.zeros[i];
    if (in.v2 ? z > static_cast<int>(maxq) : (z < 1 || z > static_cast<int>(maxq) + 1))
      return fail("zero point " + std::to_string(z) + " cannot be stored in the " + (in.v2 ? "v2" : "v1") + " convention");
    stored[i] = static_cast<std::uint8_t>(in.v2 ? z : z - 1);
  }
  const std::size_t qrows = K * static_cast<std::size_t>(in.bits) / 32, zwords = N * static_cast<std::size_t>(in.bits) / 32;
  std::vector<std::uint32_t> qw(qrows * N), qz(static_cast<std::size_t>(p.G) * zwords);
  std::vector<std::uint8_t> column(K);
  with_bit_width(in.bits, [&](auto w) {
    using W = decltype(w);
    for (std::size_t n = 0; n < N; ++n) {
      for (std::size_t k = 0; k < K; ++k) column[k] = in.codes[k * N + n];
      W::pack(column.data(), in.K, qw.data() + n, N);
    }
    for (std::size_t g = 0; g < static_cast<std::size_t>(p.G); ++g) W::pack(stored.data() + g * N, in.N, qz.data() + g * zwords, 1);
  });
  p.qweight.resize(qw.size());
  std::memcpy(p.qweight.data(), qw.data(), qw.size() * 4);
  p.qzeros.resize(qz.size());
  std::memcpy(p.qzeros.data(), qz.data(), qz.size() * 4);
  p.scales = in.scales;
  return p;
}

GptqTensors GptqPacked::views(const std::string& prefix, bool v2, int group_size) const {
  GptqTensors t;
  t.qweight = make_tensor_view(prefix + ".qweight", DType::i32, {static_cast<std::int64_t>(K) * bits / 32, N}, qweight.data());
  t.qzeros = make_tensor_view(prefix + ".qzeros", DType::i32, {G, static_cast<std::int64_t>(N) * bits / 32}, qzeros.data());
  t.scales = make_tensor_view(prefix + ".scales", DType::f16, {G, N}, scales.data());
  if (!g_idx.empty()) t.g_idx = make_tensor_view(prefix + ".g_idx", DType::i32, {K}, g_idx.data());
  t.bits = bits;
  t.v2 = v2;
  t.group_size = group_size;
  return t;
}

}  // namespace nibble
