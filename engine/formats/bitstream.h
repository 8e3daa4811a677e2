// Per-width helpers for codes packed as a little-endian bitstream over 32-bit words (EXL2 q_weight
// columns, GPTQ qweight columns and qzeros rows): a block of kCodes codes fills exactly kWords words.
// One switch (with_bit_width) picks the width. Pure functions; used by exl2.cpp and gptq.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "io/tensor_view.h"

namespace nibble {

template <int Bits>
struct BitWidth {
  static_assert(Bits >= 1 && Bits <= 8);
  static constexpr int kBits = Bits;
  static constexpr int kCodes = Bits == 3 || Bits == 5 || Bits == 7 ? 32 : (Bits == 2 || Bits == 6 ? 16 : 32 / Bits);
  static constexpr int kWords = kCodes * Bits / 32;
  static constexpr std::uint32_t kMask = (1u << Bits) - 1u;

  // Reads `count` codes (a multiple of kCodes) of one stream whose j-th word is
  // words.u32(first + j * stride); writes them to out[0..count).
  static void unpack(const TensorView& words, std::size_t first, std::size_t stride, int count, std::uint8_t* out) {
    for (int c = 0; c < count; ++c) {
      const std::size_t bit = static_cast<std::size_t>(c) * Bits;
      const std::size_t w = bit / 32;
      const unsigned shift = static_cast<unsigned>(bit % 32);
      std::uint32_t v = words.u32(first + w * stride) >> shift;
      if (shift + Bits > 32) v |= words.u32(first + (w + 1) * stride) << (32 - shift);
      out[c] = static_cast<std::uint8_t>(v & kMask);
    }
  }

  // Writes `count` codes (each < 2^Bits, count a multiple of kCodes) into words[j * stride],
  // overwriting the count * Bits / 32 words of the stream.
  static void pack(const std::uint8_t* codes, int count, std::uint32_t* words, std::size_t stride) {
    const int n_words = count * Bits / 32;
    for (int j = 0; j < n_words; ++j) words[static_cast<std::size_t>(j) * stride] = 0;
    for (int c = 0; c < count; ++c) {
      const std::size_t bit = static_cast<std::size_t>(c) * Bits;
      const std::size_t w = bit / 32;
      const unsigned shift = static_cast<unsigned>(bit % 32);
      const std::uint32_t v = codes[c] & kMask;
      words[w * stride] |= v << shift;
      if (shift + Bits > 32) words[(w + 1) * stride] |= v >> (32 - shift);
    }
  }
};

// Calls fn(BitWidth<B>{}) for bits in {2, 3, 4, 5, 6, 8}; returns false for any other width.
template <class Fn>
bool with_bit_width(int bits, Fn&& fn) {
  switch (bits) {
    case 2: fn(BitWidth<2>{}); return true;
    case 3: fn(BitWidth<3>{}); return true;
    case 4: fn(BitWidth<4>{}); return true;
    case 5: fn(BitWidth<5>{}); return true;
    case 6: fn(BitWidth<6>{}); return true;
    case 8: fn(BitWidth<8>{}); return true;
    default: return false;
  }
}

// Codes per block for a width (0 when unsupported).
inline int bit_width_block_codes(int bits) {
  int codes = 0;
  with_bit_width(bits, [&](auto w) { codes = decltype(w)::kCodes; });
  return codes;
}

}  // namespace nibble
