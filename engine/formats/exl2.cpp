// EXL2 group table, validation, dequantization, unpack and pack.
#include "formats/exl2.h"

#include <algorithm>
#include <cstring>

#include "formats/bitstream.h"
#include "util/half.h"

namespace nibble {
namespace {

Error bad(const TensorView& t, const std::string& what) {
  return make_error(ErrorKind::format, t.file, ": tensor '", t.name, "': ", what);
}

Status expect(const TensorView& t, DType dtype, std::initializer_list<std::int64_t> shape) {
  if (t.dtype != dtype)
    return bad(t, std::string("dtype ") + std::string(dtype_name(t.dtype)) + ", expected " + std::string(dtype_name(dtype)));
  if (t.shape != std::vector<std::int64_t>(shape)) {
    TensorView want;
    want.shape = shape;
    return bad(t, "shape " + t.shape_string() + ", expected " + want.shape_string());
  }
  return {};
}

// Checks that perm values form a permutation of [0, K).
Status check_permutation(const TensorView& t, int K) {
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(K), 0);
  for (int k = 0; k < K; ++k) {
    const std::int32_t v = t.i32(static_cast<std::size_t>(k));
    if (v < 0 || v >= K) return bad(t, "entry " + std::to_string(k) + " = " + std::to_string(v) + " is outside [0, K)");
    if (seen[static_cast<std::size_t>(v)]++) return bad(t, "is not a permutation (" + std::to_string(v) + " repeats)");
  }
  return {};
}

}  // namespace

Result<std::vector<Exl2Group>> exl2_groups(const LinearDesc& d) {
  const auto& e = d.exl2;
  if (e.q_groups.dtype != DType::i16 || e.q_groups.rank() != 1 || e.q_groups.shape[0] < 2 || e.q_groups.shape[0] % 2)
    return bad(e.q_groups, "must be I16 [2G] with G >= 1, got " + std::string(dtype_name(e.q_groups.dtype)) + " " +
                               e.q_groups.shape_string());
  if (e.q_weight.dtype != DType::i32 || e.q_weight.rank() != 2 || e.q_weight.shape[1] != d.N)
    return bad(e.q_weight, "must be I32 [rows, N=" + std::to_string(d.N) + "], got " + e.q_weight.shape_string());
  const int G = static_cast<int>(e.q_groups.shape[0] / 2);
  const std::int64_t total_rows = e.q_weight.shape[0];
  std::vector<Exl2Group> groups(static_cast<std::size_t>(G));
  int k = 0;
  for (int g = 0; g < G; ++g) {
    auto& gr = groups[static_cast<std::size_t>(g)];
    gr.bits = e.q_groups.u16(static_cast<std::size_t>(2 * g));
    gr.q_row = e.q_groups.u16(static_cast<std::size_t>(2 * g + 1));
    const std::int64_t next_row = g + 1 < G ? e.q_groups.u16(static_cast<std::size_t>(2 * g + 3)) : total_rows;
    const std::string where = "group " + std::to_string(g) + ": ";
    const int block = bit_width_block_codes(gr.bits);
    if (block == 0) return bad(e.q_groups, where + "bit width " + std::to_string(gr.bits) + " is not one of 2, 3, 4, 5, 6, 8");
    if (g == 0 && gr.q_row != 0) return bad(e.q_groups, "first group does not start at q_weight row 0");
    if (g > 0 && gr.bits > groups[static_cast<std::size_t>(g - 1)].bits)
      return bad(e.q_groups, where + "bit widths must not increase along K");
    if (next_row <= gr.q_row || next_row > total_rows)
      return bad(e.q_groups, where + "q_weight rows [" + std::to_string(gr.q_row) + ", " + std::to_string(next_row) +
                                 ") are empty, reversed or past q_weight's " + std::to_string(total_rows) + " rows");
    const std::int64_t bits_total = (next_row - gr.q_row) * 32;
    if (bits_total % gr.bits != 0 || (bits_total / gr.bits) % block != 0)
      return bad(e.q_groups, where + std::to_string(next_row - gr.q_row) + " words do not hold whole blocks of " +
                                 std::to_string(gr.bits) + "-bit codes");
    gr.k_rows = static_cast<int>(bits_total / gr.bits);
    gr.k_begin = k;
    if (static_cast<std::int64_t>(k) + gr.k_rows > d.K)
      return bad(e.q_groups, "groups cover more than K = " + std::to_string(d.K) + " rows");
    k += gr.k_rows;
  }
  if (k != d.K) return bad(e.q_groups, "groups cover " + std::to_string(k) + " rows, K = " + std::to_string(d.K));
  return groups;
}

Status exl2_validate(const LinearDesc& d) {
  const auto& e = d.exl2;
  if (d.N % 8 != 0) return bad(e.q_weight, "N = " + std::to_string(d.N) + " is not a multiple of 8");
  NIBBLE_ASSIGN_OR_RETURN(auto groups, exl2_groups(d));
  const auto G = static_cast<std::int64_t>(groups.size());
  NIBBLE_TRY(expect(e.q_scale, DType::i32, {G, d.N / 8}));
  NIBBLE_TRY(expect(e.q_scale_max, DType::f16, {G}));
  NIBBLE_TRY(expect(e.q_invperm, DType::i32, {d.K}));
  return check_permutation(e.q_invperm, d.K);
}

Result<Exl2Unpacked> exl2_unpack(const LinearDesc& d) {
  NIBBLE_TRY(exl2_validate(d));
  NIBBLE_ASSIGN_OR_RETURN(auto groups, exl2_groups(d));
  const auto& e = d.exl2;
  const std::size_t N = static_cast<std::size_t>(d.N);
  Exl2Unpacked u;
  u.K = d.K;
  u.N = d.N;
  u.codes.resize(static_cast<std::size_t>(d.K) * N);
  u.perm.resize(static_cast<std::size_t>(d.K));
  for (int k = 0; k < d.K; ++k) u.perm[static_cast<std::size_t>(e.q_invperm.i32(static_cast<std::size_t>(k)))] = k;
  std::vector<std::uint8_t> column;
  for (const auto& g : groups) {
    u.group_bits.push_back(g.bits);
    u.group_rows.push_back(g.k_rows);
    column.resize(static_cast<std::size_t>(g.k_rows));
    with_bit_width(g.bits, [&](auto w) {
      using W = decltype(w);
      for (std::size_t n = 0; n < N; ++n) {
        W::unpack(e.q_weight, static_cast<std::size_t>(g.q_row) * N + n, N, g.k_rows, column.data());
        for (int r = 0; r < g.k_rows; ++r) u.codes[static_cast<std::size_t>(g.k_begin + r) * N + n] = column[static_cast<std::size_t>(r)];
      }
    });
  }
  const std::size_t G = groups.size();
  u.scale_codes.resize(G * N);
  u.scale_max.resize(G);
  for (std::size_t g = 0; g < G; ++g) {
    u.scale_max[g] = e.q_scale_max.u16(g);
    for (std::size_t n = 0; n < N; ++n)
      u.scale_codes[g * N + n] = static_cast<std::uint8_t>((e.q_scale.u32(g * (N / 8) + n / 8) >> (4 * (n % 8))) & 0xfu);
  }
  return u;
}

Status exl2_dequantize(const LinearDesc& d, float* out) {
  NIBBLE_ASSIGN_OR_RETURN(auto u, exl2_unpack(d));
  const std::size_t N = static_cast<std::size_t>(d.N), K = static_cast<std::size_t>(d.K);
  std::size_t k = 0;
  for (std::size_t g = 0; g < u.group_bits.size(); ++g) {
    const int zero = 1 << (u.group_bits[g] - 1);
    const float smax = fp16_to_fp32(u.scale_max[g]);
    for (int r = 0; r < u.group_rows[g]; ++r, ++k) {
      const std::size_t row = static_cast<std::size_t>(u.perm[k]);
      for (std::size_t n = 0; n < N; ++n) {
        const int c = u.scale_codes[g * N + n] + 1;
        // smax (11-bit mantissa) * c^2 (<= 9 bits) / 256 is exact in fp32.
        const float s = smax * static_cast<float>(c * c) / 256.0f;
        out[n * K + row] = static_cast<float>(static_cast<int>(u.codes[k * N + n]) - zero) * s;
      }
    }
  }
  return {};
}

Status exl2_dequantize_columns(const LinearDesc& d, float* out, std::size_t n_begin, std::size_t n_end) {
  NIBBLE_TRY(exl2_validate(d));
  NIBBLE_ASSIGN_OR_RETURN(auto groups, exl2_groups(d));
  const auto& e = d.exl2;
  const std::size_t N = static_cast<std::size_t>(d.N), K = static_cast<std::size_t>(d.K);
  n_end = std::min(n_end, N);
  std::vector<int> perm(K);  // permuted row k -> input row
  for (std::size_t k = 0; k < K; ++k) perm[static_cast<std::size_t>(e.q_invperm.i32(k))] = static_cast<int>(k);
  std::vector<std::uint8_t> column;
  for (std::size_t gi = 0; gi < groups.size(); ++gi) {
    const Exl2Group& g = groups[gi];
    const int zero = 1 << (g.bits - 1);
    const float smax = fp16_to_fp32(e.q_scale_max.u16(gi));
    column.resize(static_cast<std::size_t>(g.k_rows));
    with_bit_width(g.bits, [&](auto w) {
      using W = decltype(w);
      for (std::size_t n = n_begin; n < n_end; ++n) {
        W::unpack(e.q_weight, static_cast<std::size_t>(g.q_row) * N + n, N, g.k_rows, column.data());
        const int c = static_cast<int>((e.q_scale.u32(gi * (N / 8) + n / 8) >> (4 * (n % 8))) & 0xfu) + 1;
        const float s = smax * static_cast<float>(c * c) / 256.0f;  // exact in fp32, as in exl2_dequantize
        float* row = out + n * K;
        for (int r = 0; r < g.k_rows; ++r)
          row[perm[static_cast<std::size_t>(g.k_begin + r)]] = static_cast<float>(static_cast<int>(column[static_cast<std::size_t>(r)]) - zero) * s;
      }
    });
  }
  return {};
}

Result<Exl2Packed> exl2_pack(const Exl2Unpacked& in) {
  auto fail = [](const std::string& what) { return make_error(ErrorKind::invalid_argument, "EXL2 pack: ", what); };
  const std::size_t G = in.group_bits.size(), N = static_cast<std::size_t>(in.N), K = static_cast<std::size_t>(in.K);
  if (G == 0 || in.group_rows.size() != G || in.scale_max.size() != G || in.scale_codes.size() != G * N)
    return fail("group arrays disagree in length");
  if (in.N <= 0 || in.N % 8 != 0) return fail("N must be a positive multiple of 8");
  if (in.codes.size() != K * N || in.perm.size() != K) return fail("codes or perm do not match K x N");
  Exl2Packed p;
  p.N = in.N;
  std::int64_t rows = 0, k_sum = 0;
  for (std::size_t g = 0; g < G; ++g) {
    const int block = bit_width_block_codes(in.group_bits[g]);
    if (block == 0) return fail("bit width " + std::to_string(in.group_bits[g]) + " is not supported");
    if (g > 0 && in.group_bits[g] > in.group_bits[g - 1]) return fail("bit widths must not increase");
    if (in.group_rows[g] <= 0 || in.group_rows[g] % block != 0)
      return fail("group " + std::to_string(g) + " rows must be a positive multiple of " + std::to_string(block));
    p.q_groups.push_back(static_cast<std::int16_t>(in.group_bits[g]));
    if (rows > 0xffff) return fail("q_weight rows exceed the 16-bit group table");
    p.q_groups.push_back(static_cast<std::int16_t>(static_cast<std::uint16_t>(rows)));
    rows += static_cast<std::int64_t>(in.group_rows[g]) * in.group_bits[g] / 32;
    k_sum += in.group_rows[g];
  }
  if (k_sum != in.K) return fail("group rows sum to " + std::to_string(k_sum) + ", K = " + std::to_string(in.K));
  p.q_rows = rows;
  p.q_invperm.assign(K, -1);
  for (std::size_t k = 0; k < K; ++k) {
    const auto v = in.perm[k];
    if (v < 0 || static_cast<std::size_t>(v) >= K || p.q_invperm[static_cast<std::size_t>(v)] != -1)
      return fail("perm is not a permutation of [0, K)");
    p.q_invperm[static_cast<std::size_t>(v)] = static_cast<std::int32_t>(k);
  }
  std::vector<std::uint32_t> words(static_cast<std::size_t>(rows) * N);
  std::vector<std::uint8_t> column;
  std::size_t k0 = 0;
  for (std::size_t g = 0; g < G; ++g) {
    const int bits = in.group_bits[g], kr = in.group_rows[g];
    const std::size_t row0 = static_cast<std::uint16_t>(p.q_groups[2 * g + 1]);
    column.resize(static_cast<std::size_t>(kr));
    for (std::size_t n = 0; n < N; ++n) {
      for (int r = 0; r < kr; ++r) {
        const std::uint8_t c = in.codes[(k0 + static_cast<std::size_t>(r)) * N + n];
        if (c >> bits) return fail("code " + std::to_string(c) + " does not fit " + std::to_string(bits) + " bits");
        column[static_cast<std::size_t>(r)] = c;
      }
      with_bit_width(bits, [&](auto w) { decltype(w)::pack(column.data(), kr, words.data() + row0 * N + n, N); });
    }
    k0 += static_cast<std::size_t>(kr);
  }
  p.q_weight.resize(words.size());
  std::memcpy(p.q_weight.data(), words.data(), words.size() * 4);
  p.q_scale.assign(G * (N / 8), 0);
  for (std::size_t g = 0; g < G; ++g) {
    for (std::size_t n = 0; n < N; ++n) {
      const std::uint8_t c = in.scale_codes[g * N + n];
      if (c > 15) return fail("scale code " + std::to_string(c) + " does not fit 4 bits");
      auto& word = p.q_scale[g * (N / 8) + n / 8];
      word = static_cast<std::int32_t>(static_cast<std::uint32_t>(word) | (static_cast<std::uint32_t>(c) << (4 * (n % 8))));
    }
  }
  p.q_scale_max = in.scale_max;
  return p;
}

Exl2Tensors Exl2Packed::views(const std::string& prefix) const {
  const auto G = static_cast<std::int64_t>(q_scale_max.size());
  Exl2Tensors t;
  t.q_weight = make_tensor_view(prefix + ".q_weight", DType::i32, {q_rows, N}, q_weight.data());
  t.q_scale = make_tensor_view(prefix + ".q_scale", DType::i32, {G, N / 8}, q_scale.data());
  t.q_scale_max = make_tensor_view(prefix + ".q_scale_max", DType::f16, {G}, q_scale_max.data());
  t.q_groups = make_tensor_view(prefix + ".q_groups", DType::i16, {2 * G}, q_groups.data());
  t.q_invperm = make_tensor_view(prefix + ".q_invperm", DType::i32, {static_cast<std::int64_t>(q_invperm.size())},
                                 q_invperm.data());
  return t;
}

}  // namespace nibble
