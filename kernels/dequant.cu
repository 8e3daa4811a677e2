// One thread per (column, unit of packed codes): decodes each code of the unit, scales it and
// writes the value to the row its permuted position came from. Coalesced along columns.
#include "nibble_kernels/dequant.h"

#include <cstdint>

namespace nibble::kernels {
namespace {

// The group of the block's 8 permuted rows k0 .. k0 + 7 (one group: groups span multiples of 16
// rows) and each row's original index (-1 past K), into shared memory; ends with a barrier.
__device__ __forceinline__ void locate_rows(const QMatrix& m, int k0, int& s_group, int (&s_rows)[8]) {
  if (threadIdx.x == 0) {
    int lo = 0, hi = m.groups_count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (m.groups[mid].k_begin <= k0) lo = mid; else hi = mid - 1;
    }
    s_group = lo;
  }
  if (threadIdx.x < 8) {
    const int k = k0 + threadIdx.x;
    s_rows[threadIdx.x] = k < m.k ? (m.perm ? m.perm[k] : k) : -1;
  }
  __syncthreads();
}

// Block = (256 columns, 8 consecutive permuted rows): finds the rows' group once (groups span
// multiples of 16 rows, so 8 aligned rows share one), then each thread decodes its column's 8 codes
// and writes each to the original row perm[k]. Coalesced along columns.
__global__ void dequant_kernel(const QMatrix m, __half* out, int ldo, int col_offset, int n_begin, int n_end) {
  __shared__ int s_group;
  __shared__ int s_rows[8];
  const int k0 = blockIdx.y * 8;
  locate_rows(m, k0, s_group, s_rows);
  const int n = n_begin + blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= n_end) return;
  const int g = s_group;
  const QGroup G = m.groups[g];
  float s, z;
  if (m.q_scale) {
    const std::uint32_t code_word = m.q_scale[static_cast<std::size_t>(g) * (m.n_pad / 8) + n / 8];
    const float q = static_cast<float>(((code_word >> (4 * (n % 8))) & 15u) + 1u);
    s = __half2float(m.q_scale_max[g]) * q * q * (1.0f / 256.0f);
    z = static_cast<float>(1 << (G.bits - 1));
  } else {
    s = __half2float(m.scales[static_cast<std::size_t>(g) * m.n_pad + n]);
    z = m.zeros ? __half2float(m.zeros[static_cast<std::size_t>(g) * m.n_pad + n])
                : static_cast<float>(1 << (G.bits - 1));
  }
  const std::uint32_t mask = (1u << G.bits) - 1u;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int row = s_rows[i];
    if (row < 0) break;
    const int bit = (k0 + i - G.k_begin) * G.bits;
    const std::size_t word = static_cast<std::size_t>(G.word_begin) + (bit >> 5);
    const int shift = bit & 31;
    const std::uint32_t lo = __ldg(m.q_weight + word * m.n_pad + n);
    const std::uint32_t hi = shift + G.bits > 32 ? __ldg(m.q_weight + (word + 1) * m.n_pad + n) : 0u;
    const std::uint32_t q = __funnelshift_r(lo, hi, shift) & mask;
    out[static_cast<std::size_t>(row) * ldo + col_offset + (n - n_begin)] = __float2half_rn((static_cast<float>(q) - z) * s);
  }
}

// float(v) for v < 2^23 without the quarter-rate integer conversion: v's bits under the exponent of
// 2^23, less 2^23. Exact, so the values are those of static_cast<float>(v).
__device__ __forceinline__ float small_uint_to_float(std::uint32_t v) {
  return __uint_as_float(0x4B000000u | v) - 8388608.0f;
}

// Scales s and zero points z of 8 columns n .. n + 7 for group g (one code word and the group
// maximum for EXL2, one 16-byte run of scales and of zero points for GPTQ); z defaults to
// `zero` (2^(bits - 1)).
__device__ __forceinline__ void load_scales8(const QMatrix& m, int g, int n, float zero, float (&s)[8], float (&z)[8]) {
  if (m.q_scale) {
    const std::uint32_t code_word = __ldg(m.q_scale + static_cast<std::size_t>(g) * (m.n_pad / 8) + n / 8);
    const float mx = __half2float(m.q_scale_max[g]);
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const float q = small_uint_to_float(((code_word >> (4 * c)) & 15u) + 1u);
      s[c] = mx * q * q * (1.0f / 256.0f);
      z[c] = zero;
    }
    return;
  }
  const uint4 sv = __ldg(reinterpret_cast<const uint4*>(m.scales + static_cast<std::size_t>(g) * m.n_pad + n));
  const __half* sh = reinterpret_cast<const __half*>(&sv);
  uint4 zv = make_uint4(0, 0, 0, 0);
  if (m.zeros) zv = __ldg(reinterpret_cast<const uint4*>(m.zeros + static_cast<std::size_t>(g) * m.n_pad + n));
  const __half* zh = reinterpret_cast<const __half*>(&zv);
#pragma unroll
  for (int c = 0; c < 8; ++c) {
    s[c] = __half2float(sh[c]);
    z[c] = m.zeros ? __half2float(zh[c]) : zero;
  }
}

// Block = (2048 columns, 8 consecutive permuted rows), thread = 8 columns x the 8 rows: the rows'
// codes of 8 columns come in with at most four 16-byte loads (8 rows of a group of b bits span at
// most two 32-bit words: groups start at multiples of 16 rows), the scales with one load, and each
// row goes out as one 16-byte store. Same values as dequant_kernel, bit for bit. Needs 16-byte
// aligned output rows (ldo, col_offset and n_begin multiples of 8).
constexpr int kVecThreads = 256;
constexpr int kVecCols = 8;

__global__ void __launch_bounds__(kVecThreads) dequant8_kernel(const QMatrix m, __half* out, int ldo, int col_offset,
                                                               int n_begin, int n_end) {
  __shared__ int s_group;
  __shared__ int s_rows[8];
  const int k0 = blockIdx.y * 8;
  locate_rows(m, k0, s_group, s_rows);
  const int n = n_begin + (blockIdx.x * kVecThreads + threadIdx.x) * kVecCols;
  if (n >= n_end) return;
  const int g = s_group;
  const QGroup G = m.groups[g];
  float s[kVecCols], z[kVecCols];
  load_scales8(m, g, n, static_cast<float>(1 << (G.bits - 1)), s, z);
  const int bit0 = (k0 - G.k_begin) * G.bits;
  const std::size_t word = static_cast<std::size_t>(G.word_begin) + (bit0 >> 5);
  const int shift0 = bit0 & 31;
  const std::uint32_t* w0 = m.q_weight + word * m.n_pad + n;
  const uint4 lo_a = __ldg(reinterpret_cast<const uint4*>(w0)), lo_b = __ldg(reinterpret_cast<const uint4*>(w0 + 4));
  uint4 hi_a = make_uint4(0, 0, 0, 0), hi_b = make_uint4(0, 0, 0, 0);
  if (shift0 + 8 * G.bits > 32) {
    hi_a = __ldg(reinterpret_cast<const uint4*>(w0 + m.n_pad));
    hi_b = __ldg(reinterpret_cast<const uint4*>(w0 + m.n_pad + 4));
  }
  const std::uint32_t lo[kVecCols] = {lo_a.x, lo_a.y, lo_a.z, lo_a.w, lo_b.x, lo_b.y, lo_b.z, lo_b.w};
  const std::uint32_t hi[kVecCols] = {hi_a.x, hi_a.y, hi_a.z, hi_a.w, hi_b.x, hi_b.y, hi_b.z, hi_b.w};
  const std::uint64_t mask = (1ull << G.bits) - 1ull;
  const bool full = n + kVecCols <= n_end;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int row = s_rows[i];
    if (row < 0) break;
    const int sh = shift0 + i * G.bits;
    std::uint32_t packed[kVecCols / 2];
#pragma unroll
    for (int c = 0; c < kVecCols; c += 2) {
      const std::uint64_t v0 = (static_cast<std::uint64_t>(hi[c]) << 32) | lo[c];
      const std::uint64_t v1 = (static_cast<std::uint64_t>(hi[c + 1]) << 32) | lo[c + 1];
      const float q0 = static_cast<float>(static_cast<std::uint32_t>((v0 >> sh) & mask));
      const float q1 = static_cast<float>(static_cast<std::uint32_t>((v1 >> sh) & mask));
      const half2 h2 = __floats2half2_rn((q0 - z[c]) * s[c], (q1 - z[c + 1]) * s[c + 1]);
      packed[c / 2] = *reinterpret_cast<const std::uint32_t*>(&h2);
    }
    __half* dst = out + static_cast<std::size_t>(row) * ldo + col_offset + (n - n_begin);
    if (full) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    } else {
#pragma unroll
      for (int c = 0; c < kVecCols; ++c)
        if (c < n_end - n) dst[c] = __ushort_as_half(static_cast<unsigned short>(packed[c / 2] >> (16 * (c & 1))));
    }
  }
}

// Uniform 4-bit groups of one power-of-two size >= 32 (GPTQ 4-bit, 4-bit EXL2 layers), the prefill
// path's common case. Thread = 8 columns x 32 rows (four code words per column, one group): the
// codes come in with eight 16-byte loads and the scales with one, all issued before the block
// looks up its rows' permutation, and each row goes out as one 16-byte store. No group search,
// no integer-to-float conversion (see small_uint_to_float): the arithmetic is dequant8_kernel's,
// (float(q) - z) * s rounded once, so the values are bit for bit the same. Needs what
// dequant8_kernel needs, and K a multiple of 32.
constexpr int kU4Threads = 128;
constexpr int kU4Rows = 32;

__global__ void __launch_bounds__(kU4Threads) dequant_u4_kernel(const QMatrix m, __half* out, int ldo, int col_offset,
                                                                int n_begin, int n_end) {
  __shared__ int s_rows[kU4Rows];
  const int k0 = blockIdx.y * kU4Rows;
  const int n = n_begin + (blockIdx.x * kU4Threads + threadIdx.x) * kVecCols;
  const bool active = n < n_end;
  const int g = k0 >> m.group_shift;
  uint4 wa[4], wb[4];
  float s[kVecCols], z[kVecCols];
  if (active) {
    const std::uint32_t* w0 = m.q_weight + static_cast<std::size_t>(k0 / 8) * m.n_pad + n;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      wa[i] = __ldg(reinterpret_cast<const uint4*>(w0 + static_cast<std::size_t>(i) * m.n_pad));
      wb[i] = __ldg(reinterpret_cast<const uint4*>(w0 + static_cast<std::size_t>(i) * m.n_pad + 4));
    }
    load_scales8(m, g, n, 8.0f, s, z);
  }
  if (threadIdx.x < kU4Rows) {
    const int k = k0 + threadIdx.x;
    s_rows[threadIdx.x] = m.perm ? m.perm[k] : k;
  }
  __syncthreads();
  if (!active) return;
  const bool full = n + kVecCols <= n_end;
  __half* base = out + col_offset + (n - n_begin);
#pragma unroll
  for (int i = 0; i < kU4Rows; ++i) {
    const uint4& a = wa[i >> 3];
    const uint4& b = wb[i >> 3];
    const std::uint32_t words[kVecCols] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    const int sh = 4 * (i & 7);
    std::uint32_t packed[kVecCols / 2];
#pragma unroll
    for (int c = 0; c < kVecCols; c += 2) {
      const float q0 = small_uint_to_float((words[c] >> sh) & 15u);
      const float q1 = small_uint_to_float((words[c + 1] >> sh) & 15u);
      const half2 h2 = __floats2half2_rn((q0 - z[c]) * s[c], (q1 - z[c + 1]) * s[c + 1]);
      packed[c / 2] = *reinterpret_cast<const std::uint32_t*>(&h2);
    }
    __half* dst = base + static_cast<std::size_t>(s_rows[i]) * ldo;
    if (full) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    } else {
#pragma unroll
      for (int c = 0; c < kVecCols; ++c)
        if (c < n_end - n) dst[c] = __ushort_as_half(static_cast<unsigned short>(packed[c / 2] >> (16 * (c & 1))));
    }
  }
}

}  // namespace

int qmatrix_dequant_f16(const QMatrix& m, int n_begin, int n_count, __half* out, int ldo, int col_offset,
                        cudaStream_t stream) {
  if (!m.q_weight || !m.groups || !out || m.k <= 0 || m.n <= 0 || n_begin < 0 || n_count <= 0 ||
      n_begin + n_count > m.n || ldo < col_offset + n_count || m.groups_count <= 0 ||
      (m.q_scale ? !m.q_scale_max : !m.scales) || m.k % 8 != 0 || m.k / 8 > 65535)
    return cudaErrorInvalidValue;
  const bool aligned = ldo % 8 == 0 && col_offset % 8 == 0 && n_begin % 8 == 0 &&
                       reinterpret_cast<std::uintptr_t>(out) % 16 == 0 && m.n_pad % 8 == 0;
  if (aligned && m.uniform_bits == 4 && m.group_shift >= 5 && m.k % kU4Rows == 0) {
    const int per_block = kU4Threads * kVecCols;
    dequant_u4_kernel<<<dim3((n_count + per_block - 1) / per_block, m.k / kU4Rows), kU4Threads, 0, stream>>>(
        m, out, ldo, col_offset, n_begin, n_begin + n_count);
  } else if (aligned) {
    const int per_block = kVecThreads * kVecCols;
    dequant8_kernel<<<dim3((n_count + per_block - 1) / per_block, m.k / 8), kVecThreads, 0, stream>>>(
        m, out, ldo, col_offset, n_begin, n_begin + n_count);
  } else {
    dequant_kernel<<<dim3((n_count + 255) / 256, m.k / 8), 256, 0, stream>>>(m, out, ldo, col_offset, n_begin,
                                                                              n_begin + n_count);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace nibble::kernels
