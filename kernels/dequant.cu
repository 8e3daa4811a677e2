// One thread per (column, unit of packed codes): decodes each code of the unit, scales it and
// writes the value to the row its permuted position came from. Coalesced along columns.
#include "nibble_kernels/dequant.h"

#include <cstdint>

namespace nibble::kernels {
namespace {

// Block = (256 columns, 8 consecutive permuted rows): finds the rows' group once (groups span
// multiples of 16 rows, so 8 aligned rows share one), then each thread decodes its column's 8 codes
// and writes each to the original row perm[k]. Coalesced along columns.
__global__ void dequant_kernel(const QMatrix m, __half* out, int ldo, int col_offset, int n_begin, int n_end) {
  __shared__ int s_group;
  __shared__ int s_rows[8];
  const int k0 = blockIdx.y * 8;
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

}  // namespace

int qmatrix_dequant_f16(const QMatrix& m, int n_begin, int n_count, __half* out, int ldo, int col_offset,
                        cudaStream_t stream) {
  if (!m.q_weight || !m.groups || !out || m.k <= 0 || m.n <= 0 || n_begin < 0 || n_count <= 0 ||
      n_begin + n_count > m.n || ldo < col_offset + n_count || m.groups_count <= 0 ||
      (m.q_scale ? !m.q_scale_max : !m.scales) || m.k % 8 != 0 || m.k / 8 > 65535)
    return cudaErrorInvalidValue;
  dequant_kernel<<<dim3((n_count + 255) / 256, m.k / 8), 256, 0, stream>>>(m, out, ldo, col_offset, n_begin,
                                                                            n_begin + n_count);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace nibble::kernels
