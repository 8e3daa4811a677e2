// Device-side decoding of packed quantized codes into half2 pairs (internal to qgemv.cu).
// A "unit" is the smallest run of codes that fills whole int32 words of one column: 2-bit 16 codes
// in 1 word, 3-bit 32 in 3, 4-bit 8 in 1, 5-bit 32 in 5, 6-bit 16 in 3, 8-bit 4 in 1. Pair i of a
// unit holds codes (i, i + C/2), so the activations are staged in that interleaved order.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace nibble::kernels::detail {

template <int B>
struct UnitShape {
  static constexpr int words = (B == 3 || B == 6) ? 3 : (B == 5 ? 5 : 1);
  static constexpr int codes = 32 * words / B;
  static constexpr int pairs = codes / 2;
};

__device__ __forceinline__ half2 as_half2(std::uint32_t v) {
  half2 h;
  *reinterpret_cast<std::uint32_t*>(&h) = v;
  return h;
}

// Code at bit position P of the unit's little-endian bitstream w[0..W-1] (P, W compile-time).
template <int B, int W, int P>
__device__ __forceinline__ std::uint32_t code_at(const std::uint32_t (&w)[W]) {
  constexpr int word = P / 32;
  constexpr int shift = P % 32;
  constexpr std::uint32_t mask = (1u << B) - 1u;
  if constexpr (shift + B <= 32 || word + 1 >= W) {
    return (w[word] >> shift) & mask;
  } else {
    return __funnelshift_r(w[word], w[word + 1], shift) & mask;
  }
}

// Pair I of a unit as 32 bits: code I in bits 0..B-1, code I+C/2 in bits 16..16+B-1.
template <int B, int I>
__device__ __forceinline__ std::uint32_t pair_bits(const std::uint32_t (&w)[UnitShape<B>::words]) {
  constexpr int W = UnitShape<B>::words;
  if constexpr (B == 2 || B == 4 || B == 8) {
    constexpr std::uint32_t mask = ((1u << B) - 1u) * 0x00010001u;
    return (w[0] >> (B * I)) & mask;
  } else {
    constexpr int P = UnitShape<B>::pairs;
    return code_at<B, W, B * I>(w) | (code_at<B, W, B * (I + P)>(w) << 16);
  }
}

// (code - zero) for both halves, exact in fp16: 0x6400 is 1024.0, so (bits | 0x6400) = 1024 + code.
// `offset` holds 1024 + zero in both halves.
__device__ __forceinline__ half2 dequant_pair(std::uint32_t bits, half2 offset) {
  return __hsub2(as_half2(bits | 0x64006400u), offset);
}

}  // namespace nibble::kernels::detail
