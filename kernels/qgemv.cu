// Quantized GEMV for decode: y[r, n] = sum_k x[r, perm[k]] * w[k, n] for 1-16 rows, reading every
// packed code once. Block = 4 warps over one tile of 128 columns (4 per lane, 16-byte loads) and one
// split of whole groups along K; warps share the split by units. Split-K partials are reduced by the
// last block to finish a tile, in a fixed order (deterministic), which also runs the epilogue.
#include "nibble_kernels/qgemv.h"

#include <algorithm>
#include <utility>

#include "qgemv_decode.cuh"

namespace nibble::kernels {
namespace {

using detail::UnitShape;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kTileN = 128;
constexpr int kRowsPerPass = 8;
constexpr int kMaxSplitK = 2048;

struct LaunchMatrix {
  QMatrix m;
  QGemvTarget t;
  int tiles;
  int blocks;
  int ws_offset;       // floats
  int counter_offset;  // counters
  int expected;        // arrivals per tile before the epilogue runs
};

struct Params {
  LaunchMatrix mats[3];
  int count;
  const void* x;
  int ldx;
  const __half* norm_weight;
  float eps;
  int row0;
  int rows;  // rows in this pass (<= kRowsPerPass)
  float* ws;
  unsigned* counters;
  QGemvOutput output;
};

__device__ __forceinline__ std::uint32_t lane_word(const uint4& v, int c) {
  return c == 0 ? v.x : (c == 1 ? v.y : (c == 2 ? v.z : v.w));
}

__device__ __forceinline__ int codes_for_bits(int bits) {
  switch (bits) {
    case 2: return 16;
    case 3: return 32;
    case 4: return 8;
    case 5: return 32;
    case 6: return 16;
    default: return 4;  // 8
  }
}

// Pair I of one unit for 4 columns and R rows: dequantize (code - zero) into half2 and accumulate
// against the staged activations; every 4 pairs (8 products) the half2 sums are flushed to fp32.
template <int B, int R, int I>
__device__ __forceinline__ void pair_step(const std::uint32_t (&w)[4][UnitShape<B>::words], const __half* xs,
                                          int xs_stride, const half2 (&off)[4], half2 (&a2)[R][4],
                                          float (&acc)[R][4]) {
  half2 h[4];
#pragma unroll
  for (int c = 0; c < 4; ++c) h[c] = detail::dequant_pair(detail::pair_bits<B, I>(w[c]), off[c]);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const half2 xv = reinterpret_cast<const half2*>(xs + r * xs_stride)[I];
#pragma unroll
    for (int c = 0; c < 4; ++c) a2[r][c] = __hfma2(h[c], xv, a2[r][c]);
  }
  if constexpr ((I & 3) == 3 || I == UnitShape<B>::pairs - 1) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        acc[r][c] += __low2float(a2[r][c]) + __high2float(a2[r][c]);
        a2[r][c] = __float2half2_rn(0.0f);
      }
  }
}

// One unit of B-bit codes (UnitShape<B>::words int32 rows) for the lane's 4 columns.
template <int B, int R>
__device__ __forceinline__ void process_unit(const uint4 (&raw)[UnitShape<B>::words], const __half* xs,
                                             int xs_stride, const half2 (&off)[4], float (&acc)[R][4]) {
  constexpr int W = UnitShape<B>::words;
  std::uint32_t w[4][W];
#pragma unroll
  for (int c = 0; c < 4; ++c)
#pragma unroll
    for (int i = 0; i < W; ++i) w[c][i] = lane_word(raw[i], c);
  half2 a2[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) a2[r][c] = __float2half2_rn(0.0f);
  [&]<int... Is>(std::integer_sequence<int, Is...>) {
    (pair_step<B, R, Is>(w, xs, xs_stride, off, a2, acc), ...);
  }(std::make_integer_sequence<int, UnitShape<B>::pairs>{});
}

template <int B, int R>
__device__ __forceinline__ void run_units(const std::uint32_t* __restrict__ qw, int n_pad, const __half* xs,
                                          int xs_stride, int units, const half2 (&off)[4], float (&acc)[R][4]) {
  constexpr int W = UnitShape<B>::words;
  constexpr int C = UnitShape<B>::codes;
  constexpr int U = (W == 1) ? 4 : 1;  // units whose loads are issued together
  const std::size_t row_stride = static_cast<std::size_t>(n_pad);
  int u = 0;
  for (; u + U <= units; u += U) {
    uint4 raw[U][W];
#pragma unroll
    for (int j = 0; j < U; ++j)
#pragma unroll
      for (int i = 0; i < W; ++i)
        raw[j][i] = __ldg(reinterpret_cast<const uint4*>(qw + ((u + j) * W + i) * row_stride));
#pragma unroll
    for (int j = 0; j < U; ++j) process_unit<B, R>(raw[j], xs + (u + j) * C, xs_stride, off, acc);
  }
  for (; u < units; ++u) {
    uint4 raw[W];
#pragma unroll
    for (int i = 0; i < W; ++i) raw[i] = __ldg(reinterpret_cast<const uint4*>(qw + (u * W + i) * row_stride));
    process_unit<B, R>(raw, xs + u * C, xs_stride, off, acc);
  }
}

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

template <int R, bool kNorm>
__global__ void __launch_bounds__(kThreads) qgemv_kernel(const __grid_constant__ Params p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __half* xs = reinterpret_cast<__half*>(smem_raw);
  __shared__ float s_rms[R];
  __shared__ float s_red[kWarps][R];
  __shared__ bool s_last;

  int b = blockIdx.x;
  int mi = 0;
  while (mi + 1 < p.count && b >= p.mats[mi].blocks) {
    b -= p.mats[mi].blocks;
    ++mi;
  }
  const LaunchMatrix& L = p.mats[mi];
  const QMatrix& M = L.m;
  const int tile = b % L.tiles;
  const int split = b / L.tiles;
  const int2 sp = M.splits[split];
  const int kb = M.groups[sp.x].k_begin;
  const int ke = M.groups[sp.y - 1].k_end;
  const int len = ke - kb;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;

  // 1. Stage this split's activations (permuted, RMS-normalised if asked) in pair order.
  if constexpr (kNorm) {
    const float* x = static_cast<const float*>(p.x);
    float ss[R];
#pragma unroll
    for (int r = 0; r < R; ++r) ss[r] = 0.0f;
    for (int k = tid; k < M.k; k += kThreads) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const float v = x[static_cast<std::size_t>(p.row0 + r) * p.ldx + k];
        ss[r] += v * v;
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float v = ss[r];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0) s_red[warp][r] = v;
    }
    __syncthreads();
    if (tid < R) {
      float t = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) t += s_red[w][tid];
      s_rms[tid] = rsqrtf(t / static_cast<float>(M.k) + p.eps);
    }
    __syncthreads();
  }
  for (int g = sp.x; g < sp.y; ++g) {
    const QGroup G = M.groups[g];
    const int C = codes_for_bits(G.bits);
    const int P = C / 2;
    const int glen = G.k_end - G.k_begin;
    for (int idx = tid; idx < glen * R; idx += kThreads) {
      const int r = idx / glen;
      const int off = idx - r * glen;
      const int k = G.k_begin + off;
      const int src = M.perm ? M.perm[k] : k;
      __half v;
      if constexpr (kNorm) {
        const float* x = static_cast<const float*>(p.x);
        v = __float2half_rn(x[static_cast<std::size_t>(p.row0 + r) * p.ldx + src] * s_rms[r] *
                            __half2float(p.norm_weight[src]));
      } else {
        v = static_cast<const __half*>(p.x)[static_cast<std::size_t>(p.row0 + r) * p.ldx + src];
      }
      const int unit = off / C;
      const int j = off - unit * C;
      xs[r * len + (G.k_begin - kb) + unit * C + (j < P ? 2 * j : 2 * (j - P) + 1)] = v;
    }
  }
  __syncthreads();

  // 2. Each warp takes the units that start inside its quarter of the split.
  const int col = tile * kTileN + lane * 4;
  float tot[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) tot[r][c] = 0.0f;
  const int t0 = kb + (len * warp) / kWarps;
  const int t1 = kb + (len * (warp + 1)) / kWarps;
  for (int g = sp.x; g < sp.y; ++g) {
    const QGroup G = M.groups[g];
    const int C = codes_for_bits(G.bits);
    const int nunits = (G.k_end - G.k_begin) / C;
    const int ua = max(0, (t0 - G.k_begin + C - 1) / C);
    const int ub = min(nunits, (t1 - G.k_begin + C - 1) / C);
    if (t1 - G.k_begin <= 0 || ua >= ub) continue;

    float s[4];
    half2 off[4];
    if (M.q_scale) {
      const std::uint32_t code_word = M.q_scale[static_cast<std::size_t>(g) * (M.n_pad / 8) + col / 8];
      const float smax = __half2float(M.q_scale_max[g]);
      const __half zero = __float2half_rn(1024.0f + static_cast<float>(1 << (G.bits - 1)));
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const float q = static_cast<float>(((code_word >> (4 * ((col % 8) + c))) & 15u) + 1u);
        s[c] = smax * q * q * (1.0f / 256.0f);
        off[c] = __halves2half2(zero, zero);
      }
    } else {
      const std::size_t base = static_cast<std::size_t>(g) * M.n_pad + col;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        s[c] = __half2float(M.scales[base + c]);
        const float z = M.zeros ? __half2float(M.zeros[base + c]) : static_cast<float>(1 << (G.bits - 1));
        const __half hz = __float2half_rn(1024.0f + z);
        off[c] = __halves2half2(hz, hz);
      }
    }

    float acc[R][4];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[r][c] = 0.0f;
    const std::uint32_t* qw = M.q_weight + static_cast<std::size_t>(G.word_begin) * M.n_pad + col;
    const __half* xg = xs + (G.k_begin - kb);
    const int units = ub - ua;
    switch (G.bits) {
      case 2: run_units<2, R>(qw + ua * 1 * static_cast<std::size_t>(M.n_pad), M.n_pad, xg + ua * 16, len, units, off, acc); break;
      case 3: run_units<3, R>(qw + ua * 3 * static_cast<std::size_t>(M.n_pad), M.n_pad, xg + ua * 32, len, units, off, acc); break;
      case 4: run_units<4, R>(qw + ua * 1 * static_cast<std::size_t>(M.n_pad), M.n_pad, xg + ua * 8, len, units, off, acc); break;
      case 5: run_units<5, R>(qw + ua * 5 * static_cast<std::size_t>(M.n_pad), M.n_pad, xg + ua * 32, len, units, off, acc); break;
      case 6: run_units<6, R>(qw + ua * 3 * static_cast<std::size_t>(M.n_pad), M.n_pad, xg + ua * 16, len, units, off, acc); break;
      default: run_units<8, R>(qw + ua * 1 * static_cast<std::size_t>(M.n_pad), M.n_pad, xg + ua * 4, len, units, off, acc); break;
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) tot[r][c] += acc[r][c] * s[c];
  }

  // 3. Reduce the 4 warps (reusing the staging buffer), one column per thread.
  __syncthreads();
  float* red = reinterpret_cast<float*>(smem_raw);  // [kWarps][R][kTileN]
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) red[(warp * R + r) * kTileN + lane * 4 + c] = tot[r][c];
  __syncthreads();
  float y[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) t += red[(w * R + r) * kTileN + tid];
    y[r] = t;
  }
  const int n = tile * kTileN + tid;

  // 4. Split-K: park the partial; the last block of the tile reduces in split order.
  const bool direct = p.output != QGemvOutput::silu_mul && M.n_splits == 1;
  if (!direct) {
#pragma unroll
    for (int r = 0; r < R; ++r)
      p.ws[L.ws_offset + static_cast<std::size_t>(split * R + r) * M.n_pad + n] = y[r];
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      const unsigned prev = atomicAdd(&p.counters[L.counter_offset + tile], 1u);
      s_last = prev + 1 == static_cast<unsigned>(L.expected);
    }
    __syncthreads();
    if (!s_last) return;
    __threadfence();
    if (p.output == QGemvOutput::silu_mul) {
      const LaunchMatrix& Lg = p.mats[0];
      const LaunchMatrix& Lu = p.mats[1];
      if (n < Lg.m.n) {
        __half* out = static_cast<__half*>(Lg.t.out);
        for (int r = 0; r < R; ++r) {
          float gv = 0.0f, uv = 0.0f;
          for (int s2 = 0; s2 < Lg.m.n_splits; ++s2)
            gv += __ldcg(&p.ws[Lg.ws_offset + static_cast<std::size_t>(s2 * R + r) * Lg.m.n_pad + n]);
          for (int s2 = 0; s2 < Lu.m.n_splits; ++s2)
            uv += __ldcg(&p.ws[Lu.ws_offset + static_cast<std::size_t>(s2 * R + r) * Lu.m.n_pad + n]);
          if (Lg.m.bias) gv += __half2float(Lg.m.bias[n]);
          if (Lu.m.bias) uv += __half2float(Lu.m.bias[n]);
          out[static_cast<std::size_t>(p.row0 + r) * Lg.t.ld + n] = __float2half_rn(silu(gv) * uv);
        }
      }
      if (tid == 0) p.counters[L.counter_offset + tile] = 0u;
      return;
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float t = 0.0f;
      for (int s2 = 0; s2 < M.n_splits; ++s2)
        t += __ldcg(&p.ws[L.ws_offset + static_cast<std::size_t>(s2 * R + r) * M.n_pad + n]);
      y[r] = t;
    }
    if (tid == 0) p.counters[L.counter_offset + tile] = 0u;
  }
  if (n >= M.n) return;
  const float bias = M.bias ? __half2float(M.bias[n]) : 0.0f;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const std::size_t o = static_cast<std::size_t>(p.row0 + r) * L.t.ld + n;
    const float v = y[r] + bias;
    switch (p.output) {
      case QGemvOutput::store_fp32: static_cast<float*>(L.t.out)[o] = v; break;
      case QGemvOutput::store_fp16: static_cast<__half*>(L.t.out)[o] = __float2half_rn(v); break;
      case QGemvOutput::add_fp32: static_cast<float*>(L.t.out)[o] += v; break;
      default: break;
    }
  }
}

template <int R>
int launch_pass(const Params& p, int blocks, std::size_t smem, bool norm, cudaStream_t stream) {
  if (norm) {
    qgemv_kernel<R, true><<<blocks, kThreads, smem, stream>>>(p);
  } else {
    qgemv_kernel<R, false><<<blocks, kThreads, smem, stream>>>(p);
  }
  return static_cast<int>(cudaGetLastError());
}

int launch_rows(int rows, const Params& p, int blocks, std::size_t smem, bool norm, cudaStream_t stream) {
  switch (rows) {
    case 1: return launch_pass<1>(p, blocks, smem, norm, stream);
    case 2: return launch_pass<2>(p, blocks, smem, norm, stream);
    case 3: return launch_pass<3>(p, blocks, smem, norm, stream);
    case 4: return launch_pass<4>(p, blocks, smem, norm, stream);
    case 5: return launch_pass<5>(p, blocks, smem, norm, stream);
    case 6: return launch_pass<6>(p, blocks, smem, norm, stream);
    case 7: return launch_pass<7>(p, blocks, smem, norm, stream);
    default: return launch_pass<8>(p, blocks, smem, norm, stream);
  }
}

bool valid_matrix(const QMatrix& m) {
  return m.q_weight && m.groups && m.splits && m.k > 0 && m.n > 0 && m.n_pad >= m.n && m.n_pad % kTileN == 0 &&
         m.n_splits > 0 && m.groups_count > 0 && m.max_split_k > 0 && m.max_split_k <= kMaxSplitK &&
         (m.q_scale ? m.q_scale_max != nullptr : m.scales != nullptr);
}

}  // namespace

std::vector<int2> qgemv_plan_splits(const std::vector<QGroup>& groups, int n_pad, int sm_count) {
  std::vector<int2> out;
  const int g_count = static_cast<int>(groups.size());
  if (g_count == 0 || n_pad <= 0) return out;
  const int tiles = std::max(1, n_pad / kTileN);
  const int target_blocks = std::max(1, sm_count) * 4;
  int want = std::clamp((target_blocks + tiles - 1) / tiles, 1, g_count);
  long total_words = 0;
  for (const auto& g : groups) total_words += (g.k_end - g.k_begin) * g.bits / 32;
  const long per_split = (total_words + want - 1) / want;
  int begin = 0;
  long words = 0;
  int k_len = 0;
  for (int g = 0; g < g_count; ++g) {
    const int glen = groups[g].k_end - groups[g].k_begin;
    const long gw = static_cast<long>(glen) * groups[g].bits / 32;
    if (g > begin && (words + gw > per_split || k_len + glen > kMaxSplitK)) {
      out.push_back(int2{begin, g});
      begin = g;
      words = 0;
      k_len = 0;
    }
    words += gw;
    k_len += glen;
  }
  out.push_back(int2{begin, g_count});
  return out;
}

std::size_t qgemv_workspace_floats(const QGemvArgs& a) {
  std::size_t total = 0;
  const int r = std::min(a.rows, kRowsPerPass);
  for (int i = 0; i < a.count && i < 3; ++i)
    total += static_cast<std::size_t>(a.m[i].n_splits) * r * a.m[i].n_pad;
  return total;
}

std::size_t qgemv_counter_count(const QGemvArgs& a) {
  std::size_t total = 0;
  for (int i = 0; i < a.count && i < 3; ++i) {
    if (a.output == QGemvOutput::silu_mul && i == 1) break;
    total += a.m[i].n_pad / kTileN;
  }
  return total;
}

int qgemv(const QGemvArgs& a, cudaStream_t stream) {
  if (a.count < 1 || a.count > 3 || a.rows < 1 || a.rows > 16 || !a.x) return cudaErrorInvalidValue;
  if (a.output == QGemvOutput::silu_mul && (a.count != 2 || a.m[0].n != a.m[1].n || a.m[0].n_pad != a.m[1].n_pad))
    return cudaErrorInvalidValue;
  if (a.input == QGemvInput::fp32_rmsnorm && !a.norm_weight) return cudaErrorInvalidValue;
  Params p{};
  p.count = a.count;
  p.x = a.x;
  p.ldx = a.ldx;
  p.norm_weight = a.norm_weight;
  p.eps = a.norm_eps;
  p.ws = a.workspace;
  p.counters = a.counters;
  p.output = a.output;
  int blocks = 0;
  int ws_offset = 0;
  int counter_offset = 0;
  int max_len = 0;
  bool needs_ws = a.output == QGemvOutput::silu_mul;
  const int pass_rows = std::min(a.rows, kRowsPerPass);
  for (int i = 0; i < a.count; ++i) {
    const QMatrix& m = a.m[i];
    if (!valid_matrix(m) || m.k != a.m[0].k || !a.target[i].out || a.target[i].ld < m.n) return cudaErrorInvalidValue;
    LaunchMatrix& L = p.mats[i];
    L.m = m;
    L.t = a.target[i];
    L.tiles = m.n_pad / kTileN;
    L.blocks = L.tiles * m.n_splits;
    L.ws_offset = ws_offset;
    ws_offset += m.n_splits * pass_rows * m.n_pad;
    if (a.output == QGemvOutput::silu_mul && i == 1) {
      L.counter_offset = p.mats[0].counter_offset;
    } else {
      L.counter_offset = counter_offset;
      counter_offset += L.tiles;
    }
    L.expected = a.output == QGemvOutput::silu_mul ? a.m[0].n_splits + a.m[1].n_splits : m.n_splits;
    blocks += L.blocks;
    max_len = std::max(max_len, m.max_split_k);
    needs_ws = needs_ws || m.n_splits > 1;
  }
  if (needs_ws && (!a.workspace || !a.counters)) return cudaErrorInvalidValue;
  const bool norm = a.input == QGemvInput::fp32_rmsnorm;
  for (int row0 = 0; row0 < a.rows; row0 += kRowsPerPass) {
    const int r = std::min(kRowsPerPass, a.rows - row0);
    p.row0 = row0;
    p.rows = r;
    const std::size_t smem = std::max<std::size_t>(static_cast<std::size_t>(r) * max_len * sizeof(__half),
                                                   static_cast<std::size_t>(kWarps) * r * kTileN * sizeof(float));
    const int err = launch_rows(r, p, blocks, smem, norm, stream);
    if (err != 0) return err;
  }
  return 0;
}

}  // namespace nibble::kernels
