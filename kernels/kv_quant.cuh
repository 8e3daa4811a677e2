// Device helpers for the q8/q4 paged KV cache (layout in nibble_kernels/kv_cache.h): quantizing
// one group of fp32 values with one warp (rope_kv.cu) and dequantizing 8 or 2 values of a cache
// row to fp16/fp32 (attention kernels). Every function is templated on the cache type so the fp16
// instantiation compiles to the plain loads it always was. Internal to the kernels library.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "nibble_kernels/kv_cache.h"

namespace nibble::kernels {

// Group index of value d, and groups per row (group = kv_quant_group(hd)).
__device__ __forceinline__ int kv_group_of(int d, int group) { return d / group; }
__device__ __forceinline__ int kv_groups(int hd, int group) { return hd / group; }

// One layer's K or V pool as the attention kernels read it.
struct KvPoolView {
  const void* codes;     // fp16 values (fp16) or codes (q8/q4)
  const __half* scales;  // q8: [rows][groups]; q4: [rows][groups][2]; unused for fp16
};

__device__ __forceinline__ unsigned kv_pack_half2(float a, float b) {
  const half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const unsigned*>(&h);
}

// Two signed 8-bit codes (bits [sh, sh + 16) of w) times s, as a packed half2.
__device__ __forceinline__ unsigned kv_q8_pair(unsigned w, int sh, float s) {
  return kv_pack_half2(static_cast<float>(static_cast<signed char>((w >> sh) & 0xffu)) * s,
                       static_cast<float>(static_cast<signed char>((w >> (sh + 8)) & 0xffu)) * s);
}

// Byte k of w (two 4-bit codes, low nibble first) as min + code * scale, a packed half2.
__device__ __forceinline__ unsigned kv_q4_pair(unsigned w, int k, float2 sm) {
  return kv_pack_half2(fmaf(static_cast<float>((w >> (8 * k)) & 15u), sm.x, sm.y),
                       fmaf(static_cast<float>((w >> (8 * k + 4)) & 15u), sm.x, sm.y));
}

// The bytes behind 8 values of a q8/q4 cache row: codes (q8: 8 bytes; q4: 4 bytes in w.x) and the
// bits of the group's fp16 scale (q8) or (scale, min) pair (q4). Fetching several pieces before
// decoding any keeps all of a thread's loads in flight together.
struct KvRaw8 {
  uint2 w;
  unsigned s;
};

template <KvType T>
__device__ __forceinline__ KvRaw8 kv_fetch8(KvPoolView p, std::size_t row, int hd, int group, int c) {
  KvRaw8 r{};
  const std::size_t gi = row * kv_groups(hd, group) + kv_group_of(c * 8, group);
  if constexpr (T == KvType::q8) {
    r.w = *reinterpret_cast<const uint2*>(static_cast<const unsigned char*>(p.codes) + row * hd + c * 8);
    r.s = reinterpret_cast<const unsigned short*>(p.scales)[gi];
  } else if constexpr (T == KvType::q4) {
    r.w.x = *reinterpret_cast<const unsigned*>(static_cast<const unsigned char*>(p.codes) + row * (hd / 2) + c * 4);
    r.s = *reinterpret_cast<const unsigned*>(p.scales + gi * 2);
  }
  return r;
}

// The 8 fp16 values (16 bytes) of a fetched q8/q4 piece.
template <KvType T>
__device__ __forceinline__ uint4 kv_decode8(const KvRaw8& r) {
  if constexpr (T == KvType::q8) {
    const float s = __half2float(__ushort_as_half(static_cast<unsigned short>(r.s)));
    return make_uint4(kv_q8_pair(r.w.x, 0, s), kv_q8_pair(r.w.x, 16, s), kv_q8_pair(r.w.y, 0, s),
                      kv_q8_pair(r.w.y, 16, s));
  } else {
    const float2 sm = __half22float2(*reinterpret_cast<const half2*>(&r.s));
    return make_uint4(kv_q4_pair(r.w.x, 0, sm), kv_q4_pair(r.w.x, 1, sm), kv_q4_pair(r.w.x, 2, sm),
                      kv_q4_pair(r.w.x, 3, sm));
  }
}

// Values [c * 8, c * 8 + 8) of cache row `row` as 8 fp16 values (16 bytes).
template <KvType T>
__device__ __forceinline__ uint4 kv_load8(KvPoolView p, std::size_t row, int hd, int group, int c) {
  if constexpr (T == KvType::fp16) {
    return *reinterpret_cast<const uint4*>(static_cast<const __half*>(p.codes) + row * hd + c * 8);
  } else {
    return kv_decode8<T>(kv_fetch8<T>(p, row, hd, group, c));
  }
}

// Values d and d + 1 (d even) of cache row `row` in fp32.
template <KvType T>
__device__ __forceinline__ float2 kv_load2(KvPoolView p, std::size_t row, int hd, int group, int d) {
  if constexpr (T == KvType::fp16) {
    return __half22float2(*reinterpret_cast<const half2*>(static_cast<const __half*>(p.codes) + row * hd + d));
  } else if constexpr (T == KvType::q8) {
    const auto* base = static_cast<const unsigned char*>(p.codes) + row * hd;
    const unsigned w = *reinterpret_cast<const unsigned short*>(base + d);
    const float s = __half2float(p.scales[row * kv_groups(hd, group) + kv_group_of(d, group)]);
    // Rounded through fp16 like the staged paths, so every kernel sees the same values.
    const half2 h = __floats2half2_rn(static_cast<float>(static_cast<signed char>(w & 0xffu)) * s,
                                      static_cast<float>(static_cast<signed char>(w >> 8)) * s);
    return __half22float2(h);
  } else {
    const unsigned w = static_cast<const unsigned char*>(p.codes)[row * (hd / 2) + d / 2];
    const float2 sm =
        __half22float2(*reinterpret_cast<const half2*>(p.scales + (row * kv_groups(hd, group) + kv_group_of(d, group)) * 2));
    const half2 h = __floats2half2_rn(fmaf(static_cast<float>(w & 15u), sm.x, sm.y),
                                      fmaf(static_cast<float>(w >> 4), sm.x, sm.y));
    return __half22float2(h);
  }
}

// Quantizes x[0, group) (fp32, any memory) into one group of a q8/q4 row with the 32 lanes of
// the calling warp (all lanes call it with the same arguments). codes: the group's first code
// byte; scales: the group's fp16 scale (q8) or (scale, min) pair (q4). Same rule as the CPU
// backend's kv_store_row: fp32 scale and reciprocal, round to nearest even, clamp.
template <KvType T>
__device__ __forceinline__ void kv_quantize_group_warp(const float* x, int group, unsigned char* codes, __half* scales,
                                                       int lane) {
  if constexpr (T == KvType::q8) {
    float amax = 0.0f;
    for (int i = lane; i < group; i += 32) amax = fmaxf(amax, fabsf(x[i]));
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float scale = amax / 127.0f;
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    if (lane == 0) scales[0] = __float2half_rn(scale);
    for (int i = lane; i < group; i += 32) {
      const float q = rintf(fminf(fmaxf(x[i] * inv, -127.0f), 127.0f));
      codes[i] = static_cast<unsigned char>(static_cast<signed char>(static_cast<int>(q)));
    }
  } else if constexpr (T == KvType::q4) {
    float lo = x[0], hi = x[0];
    for (int i = lane; i < group; i += 32) {
      lo = fminf(lo, x[i]);
      hi = fmaxf(hi, x[i]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, o));
      hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, o));
    }
    const float scale = (hi - lo) / 15.0f;
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    if (lane == 0) *reinterpret_cast<half2*>(scales) = __floats2half2_rn(scale, lo);
    for (int i = 2 * lane; i < group; i += 64) {
      const float a = fminf(fmaxf(rintf((x[i] - lo) * inv), 0.0f), 15.0f);
      const float b = fminf(fmaxf(rintf((x[i + 1] - lo) * inv), 0.0f), 15.0f);
      codes[i / 2] = static_cast<unsigned char>(static_cast<unsigned>(a) | (static_cast<unsigned>(b) << 4));
    }
  }
}

}  // namespace nibble::kernels
