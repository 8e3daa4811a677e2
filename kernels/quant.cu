// The quantizer's device math (quant.h). One thread per output column in the GPTQ kernels: a
// column's arithmetic runs in the CPU reference's order, and every reduction over columns is a
// fixed tree, so results do not depend on timing.
#include <cuda_fp16.h>

#include "nibble_kernels/quant.h"

namespace nibble::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kClipSteps = 16;
constexpr float kClipMin = 0.6f;
constexpr int kMaxCandidates = 4;
__constant__ float kMaxFractions[kMaxCandidates] = {1.0f, 0.96f, 0.92f, 0.88f};

int blocks_for(long n, int threads) { return static_cast<int>((n + threads - 1) / threads); }
int grid_cap(long n, int threads) {
  const long b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65535 ? b : 65535);
}
int last_error() { return static_cast<int>(cudaGetLastError()); }

__device__ __forceinline__ float fp16_value(std::uint16_t bits) { return __half2float(__ushort_as_half(bits)); }
__device__ __forceinline__ std::uint16_t fp16_bits(float v) { return __half_as_ushort(__float2half_rn(v)); }
__device__ __forceinline__ float code_scale(float smax, int c) {
  return smax * static_cast<float>((c + 1) * (c + 1)) / 256.0f;
}

// Importance-weighted squared rounding error of column n of a [rows][N] group under scale s.
__device__ float column_error(const float* wt, int rows, int N, int n, const float* imp, float s, int bits) {
  const float zero = static_cast<float>(1 << (bits - 1)), lo = -zero, hi = zero - 1.0f;
  float acc = 0.0f;
  for (int r = 0; r < rows; ++r) {
    const float v = wt[static_cast<std::size_t>(r) * N + n];
    const float t = fminf(hi, fmaxf(lo, v / s));
    const float q = static_cast<float>(static_cast<int>(t + (t >= 0.0f ? 0.5f : -0.5f)));
    const float d = v - q * s;
    acc += imp[r] * d * d;
  }
  return acc;
}

__device__ int quantize_code(float v, float s, int bits) {
  const int zero = 1 << (bits - 1), qmax = (1 << bits) - 1;
  if (!(s > 0.0f)) return zero;
  float t = v / s;
  t = t < -512.0f ? -512.0f : (t > 512.0f ? 512.0f : t);
  const int q = static_cast<int>(t >= 0.0f ? t + 0.5f : t - 0.5f) + zero;
  return q < 0 ? 0 : (q > qmax ? qmax : q);
}

// Block-wide reductions with a fixed tree (blockDim.x == kThreads).
__device__ float block_max(float v, float* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
    __syncthreads();
  }
  const float r = sh[0];
  __syncthreads();
  return r;
}
__device__ double block_sum(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  const double r = sh[0];
  __syncthreads();
  return r;
}
// The largest column optimum, from the per-block maxima.
__device__ float group_top(const float* part_max, int nb, float* sh) {
  float m = 0.0f;
  for (int i = threadIdx.x; i < nb; i += kThreads) m = fmaxf(m, part_max[i]);
  return block_max(m, sh);
}

struct Scratch {
  float* best;       // [N]
  float* part_max;   // [nb]
  std::uint8_t* codes;  // [kMaxCandidates][N]
  double* part_err;  // [kMaxCandidates][nb]
};
std::size_t align_up(std::size_t v) { return (v + 255) & ~static_cast<std::size_t>(255); }
Scratch scratch_layout(void* base, int N) {
  const int nb = blocks_for(N, kThreads);
  char* p = static_cast<char*>(base);
  Scratch s;
  s.best = reinterpret_cast<float*>(p);
  p += align_up(sizeof(float) * N);
  s.part_max = reinterpret_cast<float*>(p);
  p += align_up(sizeof(float) * nb);
  s.codes = reinterpret_cast<std::uint8_t*>(p);
  p += align_up(static_cast<std::size_t>(kMaxCandidates) * N);
  s.part_err = reinterpret_cast<double*>(p);
  return s;
}

// Per column: the clipping with the least error (0 for an all-zero column); per block: the maximum.
__global__ void search_best_kernel(const float* wt, int rows, int N, const float* imp, int bits, Scratch s) {
  __shared__ float sh[kThreads];
  const int n = blockIdx.x * kThreads + threadIdx.x;
  float best = 0.0f;
  if (n < N) {
    const float zero = static_cast<float>(1 << (bits - 1));
    const float t_max = zero / (zero - 1.0f);
    float amax = 0.0f;
    for (int r = 0; r < rows; ++r) amax = fmaxf(amax, fabsf(wt[static_cast<std::size_t>(r) * N + n]));
    if (amax != 0.0f) {
      float best_err = INFINITY;
      best = amax / zero;
      for (int i = 0; i < kClipSteps; ++i) {
        const float t = kClipMin + (t_max - kClipMin) * static_cast<float>(i) / (kClipSteps - 1);
        const float sc = amax / zero * t;
        const float e = column_error(wt, rows, N, n, imp, sc, bits);
        if (e < best_err) {
          best_err = e;
          best = sc;
        }
      }
    }
    s.best[n] = best;
  }
  const float m = block_max(best, sh);
  if (threadIdx.x == 0) s.part_max[blockIdx.x] = m;
}

__device__ std::uint16_t candidate_max(float top, int m) {
  std::uint16_t h = fp16_bits(top * kMaxFractions[m]);
  if (fp16_value(h) <= 0.0f) h = 1;
  return h;
}

// Per column and candidate maximum: the best scale code around the column's optimum and its error.
__global__ void search_codes_kernel(const float* wt, int rows, int N, const float* imp, int bits, Scratch s) {
  __shared__ float shf[kThreads];
  __shared__ double shd[kThreads];
  const int nb = gridDim.x;
  const float top = group_top(s.part_max, nb, shf);
  if (!(top > 0.0f)) return;
  const int n = blockIdx.x * kThreads + threadIdx.x;
  for (int m = 0; m < kMaxCandidates; ++m) {
    const float smax = fp16_value(candidate_max(top, m));
    double err = 0.0;
    if (n < N) {
      const float b = s.best[n];
      int c0 = static_cast<int>(llround(16.0 * static_cast<double>(sqrtf(b / smax)))) - 1;
      c0 = c0 < 0 ? 0 : (c0 > 15 ? 15 : c0);
      float best_err = INFINITY;
      int best_c = c0;
      for (int c = c0 - 2 < 0 ? 0 : c0 - 2; c <= (c0 + 1 > 15 ? 15 : c0 + 1); ++c) {
        const float e = column_error(wt, rows, N, n, imp, code_scale(smax, c), bits);
        if (e < best_err) {
          best_err = e;
          best_c = c;
        }
      }
      s.codes[static_cast<std::size_t>(m) * N + n] = static_cast<std::uint8_t>(best_c);
      err = best_err;
    }
    const double sum = block_sum(err, shd);
    if (threadIdx.x == 0) s.part_err[m * nb + blockIdx.x] = sum;
  }
}

// One block: the candidate maximum with the least total error, and every column's code under it.
__global__ void search_pick_kernel(int N, int nb, Scratch s, float* scale, std::uint8_t* code, std::uint16_t* smax_out) {
  __shared__ float shf[kThreads];
  __shared__ double shd[kThreads];
  const float top = group_top(s.part_max, nb, shf);
  if (!(top > 0.0f)) {
    if (threadIdx.x == 0) *smax_out = 0;
    for (int n = threadIdx.x; n < N; n += kThreads) {
      code[n] = 15;
      scale[n] = 0.0f;
    }
    return;
  }
  int best_m = 0;
  double best_total = INFINITY;
  for (int m = 0; m < kMaxCandidates; ++m) {
    double part = 0.0;
    for (int i = threadIdx.x; i < nb; i += kThreads) part += s.part_err[m * nb + i];
    const double total = block_sum(part, shd);
    if (total < best_total) {
      best_total = total;
      best_m = m;
    }
  }
  const std::uint16_t h = candidate_max(top, best_m);
  const float smax = fp16_value(h);
  if (threadIdx.x == 0) *smax_out = h;
  for (int n = threadIdx.x; n < N; n += kThreads) {
    const int c = s.codes[static_cast<std::size_t>(best_m) * N + n];
    code[n] = static_cast<std::uint8_t>(c);
    scale[n] = code_scale(smax, c);
  }
}

__global__ void group_apply_kernel(QuantGroupArgs a) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= a.N) return;
  const std::size_t N = static_cast<std::size_t>(a.N), K = static_cast<std::size_t>(a.K);
  const float s = a.scale[n];
  const int c = a.code[n];
  const float smax = fp16_value(*a.smax);
  const int zero = 1 << (a.bits - 1);
  const float sv = smax * static_cast<float>((c + 1) * (c + 1)) / 256.0f;
  double loss = a.loss[n];
  float* __restrict__ wt = a.wt;
  const float* __restrict__ U = a.U;
  for (int k = a.k0; k < a.k0 + a.rows; ++k) {
    const std::size_t kz = static_cast<std::size_t>(k);
    const float w = wt[kz * N + n];
    const int q = quantize_code(w, s, a.bits);
    const float v = static_cast<float>(q - zero) * sv;
    a.codes[kz * N + n] = static_cast<std::uint8_t>(q);
    a.deq[kz * N + n] = v;
    const float e = __fdiv_rn(__fsub_rn(w, v), U[kz * K + kz]);
    a.err[static_cast<std::size_t>(k - a.block_begin) * N + n] = e;
    loss += static_cast<double>(e) * e;
    const float* urow = U + kz * K;
#pragma unroll 4
    for (int j = k + 1; j < a.block_end; ++j) {
      float* p = wt + static_cast<std::size_t>(j) * N + n;
      *p = __fsub_rn(*p, __fmul_rn(e, urow[j]));
    }
  }
  a.loss[n] = loss;
}

__global__ void stage_kernel(const float* w, int N, int K, const std::int32_t* perm, const std::uint8_t* dead, float* wt) {
  // A 32 x 32 tile through shared memory: reads along K of w, writes along N of wt.
  __shared__ float tile[32][33];
  const int k0 = blockIdx.x * 32, n0 = blockIdx.y * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int n = n0 + i, k = k0 + threadIdx.x;
    float v = 0.0f;
    if (n < N && k < K) {
      const int src = perm[k];
      v = dead[src] ? 0.0f : w[static_cast<std::size_t>(n) * K + src];
    }
    tile[i][threadIdx.x] = v;
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int k = k0 + i, n = n0 + threadIdx.x;
    if (k < K && n < N) wt[static_cast<std::size_t>(k) * N + n] = tile[threadIdx.x][i];
  }
}

__global__ void unstage_kernel(const float* deq, int N, int K, const std::int32_t* perm, float* out) {
  __shared__ float tile[32][33];
  const int k0 = blockIdx.x * 32, n0 = blockIdx.y * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int k = k0 + i, n = n0 + threadIdx.x;
    tile[i][threadIdx.x] = (k < K && n < N) ? deq[static_cast<std::size_t>(k) * N + n] : 0.0f;
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int n = n0 + i, k = k0 + threadIdx.x;
    if (n < N && k < K) out[static_cast<std::size_t>(n) * K + perm[k]] = tile[threadIdx.x][i];
  }
}

__global__ void importance_kernel(const float* U, int K, float* imp) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= K) return;
  const float d = U[static_cast<std::size_t>(k) * K + k];
  imp[k] = 1.0f / (d * d);
}

__global__ void widen_f64_kernel(const float* x, long rows, int K, int ldx, double* out) {
  const long total = rows * K;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total; i += static_cast<long>(gridDim.x) * blockDim.x) {
    const long r = i / K, k = i % K;
    out[i] = x[r * ldx + k];
  }
}

__global__ void widen_half_kernel(const std::uint16_t* src, long n, bool bf16, float* dst) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n; i += static_cast<long>(gridDim.x) * blockDim.x)
    dst[i] = bf16 ? __uint_as_float(static_cast<unsigned>(src[i]) << 16) : fp16_value(src[i]);
}

__global__ void hessian_reversed_kernel(const double* H, int K, const std::int32_t* perm, const std::uint8_t* dead,
                                        const double* diag, double damp, double* b) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;  // column of b (contiguous in memory: b is symmetric)
  const int i = blockIdx.y;
  if (j >= K) return;
  const int ai = K - 1 - i, aj = K - 1 - j;
  const int pi = perm[ai], pj = perm[aj];
  double v;
  if (ai == aj) v = diag[pi] + damp;
  else if (dead[pi] || dead[pj]) v = 0.0;
  else v = pi >= pj ? H[static_cast<std::size_t>(pj) * K + pi] : H[static_cast<std::size_t>(pi) * K + pj];
  b[static_cast<std::size_t>(i) * K + j] = v;
}

__global__ void identity_kernel(double* I, int K) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  const int i = blockIdx.y;
  if (j < K) I[static_cast<std::size_t>(i) * K + j] = i == j ? 1.0 : 0.0;
}

__global__ void upper_kernel(const double* Linv, int K, float* U) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  const int i = blockIdx.y;
  if (j >= K) return;
  U[static_cast<std::size_t>(i) * K + j] =
      i <= j ? static_cast<float>(Linv[static_cast<std::size_t>(K - 1 - j) * K + (K - 1 - i)]) : 0.0f;
}

__global__ void rmsnorm_kernel(const float* x, const float* w, int n, float eps, float* out) {
  __shared__ double sh[kThreads];
  const float* xr = x + static_cast<std::size_t>(blockIdx.x) * n;
  float* o = out + static_cast<std::size_t>(blockIdx.x) * n;
  double ss = 0.0;
  for (int i = threadIdx.x; i < n; i += kThreads) ss += static_cast<double>(xr[i]) * xr[i];
  ss = block_sum(ss, sh);
  const float var = static_cast<float>(ss / n);
  const float inv = 1.0f / sqrtf(var + eps);
  for (int i = threadIdx.x; i < n; i += kThreads) o[i] = w[i] * (xr[i] * inv);
}

__global__ void add_bias_kernel(float* y, int ldy, long rows, int n, const float* bias) {
  const long total = rows * n;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total; i += static_cast<long>(gridDim.x) * blockDim.x)
    y[(i / n) * ldy + i % n] += bias[i % n];
}

__global__ void swiglu_kernel(const float* gu, long rows, int n, float* act) {
  const long total = rows * n;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total; i += static_cast<long>(gridDim.x) * blockDim.x) {
    const long r = i / n, c = i % n;
    const float g = gu[r * 2 * n + c];
    act[i] = g / (1.0f + expf(-g)) * gu[r * 2 * n + n + c];
  }
}

constexpr int kDistanceParts = 264;

__global__ void distance_kernel(const float* a, const float* b, long n, double* partial) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  for (long i = blockIdx.x * static_cast<long>(kThreads) + threadIdx.x; i < n; i += static_cast<long>(gridDim.x) * kThreads) {
    const double d = static_cast<double>(a[i]) - (b ? b[i] : 0.0f);
    acc += d * d;
  }
  const double s = block_sum(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void subtract_kernel(const float* a, const float* b, long n, float* out) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n; i += static_cast<long>(gridDim.x) * blockDim.x)
    out[i] = a[i] - b[i];
}

__global__ void distance_total_kernel(const double* partial, int parts, double* out) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  for (int i = threadIdx.x; i < parts; i += kThreads) acc += partial[i];
  const double s = block_sum(acc, sh);
  if (threadIdx.x == 0) *out = s;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per (row, head) of q and k: per-head RMSNorm (when given), then RoPE (rotate_half).
__global__ void norm_rope_kernel(QuantAttentionArgs a) {
  const int warp = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  const int per_row = a.heads + a.kv_heads;
  const long rows = static_cast<long>(a.seqs) * a.length;
  if (warp >= rows * per_row) return;
  const long r = warp / per_row;
  const int h = warp % per_row, hd = a.head_dim, half = hd / 2;
  float* x = a.qkv + r * a.ld + static_cast<long>(h) * hd;
  const float* norm = h < a.heads ? a.q_norm : a.k_norm;
  if (norm) {
    double ss = 0.0;
    for (int i = lane; i < hd; i += 32) ss += static_cast<double>(x[i]) * x[i];
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(static_cast<float>(ss / hd) + a.eps);
    __syncwarp();
    for (int i = lane; i < hd; i += 32) x[i] = norm[i] * (x[i] * inv);
    __syncwarp();
  }
  const int pos = static_cast<int>(r % a.length);
  const float* c = a.cos + static_cast<long>(pos) * half;
  const float* s = a.sin + static_cast<long>(pos) * half;
  for (int i = lane; i < half; i += 32) {
    const float u = x[i], v = x[i + half];
    x[i] = u * c[i] - v * s[i];
    x[i + half] = v * c[i] + u * s[i];
  }
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Causal attention for one (sequence, head, tile of QPW * 8 queries) per block of 8 warps. Keys
// and values pass through shared memory 32 at a time (keys transposed, so that lane j scores key j
// against a query read by broadcast); each warp keeps QPW queries' online-softmax state and
// head_dim / 32 (at most DPL) output dims per lane.
template <int QPW, int DPL>
__global__ void __launch_bounds__(256) attention_tiled_kernel(QuantAttentionArgs a) {
  extern __shared__ float smem[];
  constexpr int kTile = QPW * 8;
  const int hd = a.head_dim, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* qs = smem;                 // [kTile][hd], pre-scaled
  float* kt = qs + kTile * hd;      // [hd][33]
  float* vs = kt + hd * 33;         // [32][hd]
  const int seq = blockIdx.z, h = blockIdx.y, t0 = blockIdx.x * kTile;
  const int kvh = h / (a.heads / a.kv_heads);
  const long r0 = static_cast<long>(seq) * a.length;
  const int k_off = a.heads * hd + kvh * hd, v_off = (a.heads + a.kv_heads) * hd + kvh * hd;
  const int t_last = min(a.length - 1, t0 + kTile - 1);
  for (int i = threadIdx.x; i < kTile * hd; i += blockDim.x) {
    const int t = t0 + i / hd, d = i % hd;
    qs[i] = t < a.length ? a.qkv[(r0 + t) * a.ld + static_cast<long>(h) * hd + d] * a.scale : 0.0f;
  }
  float m[QPW], l[QPW], acc[QPW][DPL];
#pragma unroll
  for (int i = 0; i < QPW; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int u = 0; u < DPL; ++u) acc[i][u] = 0.0f;
  }
  int k_begin = a.sliding_window > 0 ? max(0, t0 - a.sliding_window + 1) : 0;
  k_begin &= ~31;
  for (int kb = k_begin; kb <= t_last; kb += 32) {
    __syncthreads();
    for (int i = threadIdx.x; i < 32 * hd; i += blockDim.x) {
      const int j = i / hd, d = i % hd, key = kb + j;
      const bool in = key <= t_last;
      const float* row = a.qkv + (r0 + key) * a.ld;
      kt[d * 33 + j] = in ? row[k_off + d] : 0.0f;
      vs[j * hd + d] = in ? row[v_off + d] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < QPW; ++i) {
      const int qi = warp * QPW + i, t = t0 + qi;
      if (t >= a.length || kb > t) continue;  // warp-uniform
      const int key = kb + lane;
      const float* q = qs + qi * hd;
      float sc = 0.0f;
#pragma unroll 8
      for (int d = 0; d < hd; ++d) sc += q[d] * kt[d * 33 + lane];
      const bool valid = key <= t && (a.sliding_window <= 0 || key > t - a.sliding_window);
      sc = valid ? sc : -INFINITY;
      const float cmax = warp_max(sc);
      if (cmax == -INFINITY) continue;  // warp-uniform: every key of this tile is masked
      const float m_new = fmaxf(m[i], cmax);
      const float corr = expf(m[i] - m_new);
      const float p = valid ? expf(sc - m_new) : 0.0f;
      l[i] = l[i] * corr + warp_sum(p);
#pragma unroll
      for (int u = 0; u < DPL; ++u) acc[i][u] *= corr;
      for (int j = 0; j < 32; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
        for (int u = 0; u < DPL; ++u) {
          const int d = lane + 32 * u;
          if (d < hd) acc[i][u] += pj * vs[j * hd + d];
        }
      }
      m[i] = m_new;
    }
  }
#pragma unroll
  for (int i = 0; i < QPW; ++i) {
    const int t = t0 + warp * QPW + i;
    if (t >= a.length) continue;
    float* o = a.out + (r0 + t) * static_cast<long>(a.heads) * hd + static_cast<long>(h) * hd;
#pragma unroll
    for (int u = 0; u < DPL; ++u) {
      const int d = lane + 32 * u;
      if (d < hd) o[d] = acc[i][u] / l[i];
    }
  }
}

template <int QPW, int DPL>
int launch_attention_tiled(const QuantAttentionArgs& a, cudaStream_t stream) {
  constexpr int kTile = QPW * 8;
  const std::size_t smem = sizeof(float) * (static_cast<std::size_t>(kTile) * a.head_dim + a.head_dim * 33 + 32 * a.head_dim);
  const cudaError_t st = cudaFuncSetAttribute(attention_tiled_kernel<QPW, DPL>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(smem));
  if (st != cudaSuccess) return static_cast<int>(st);
  const dim3 grid(static_cast<unsigned>((a.length + kTile - 1) / kTile), static_cast<unsigned>(a.heads), static_cast<unsigned>(a.seqs));
  attention_tiled_kernel<QPW, DPL><<<grid, 256, smem, stream>>>(a);
  return last_error();
}

}  // namespace

int quant_stage_weight(const float* w, int N, int K, const std::int32_t* perm, const std::uint8_t* dead, float* wt,
                       cudaStream_t stream) {
  if (!w || !perm || !dead || !wt || N <= 0 || K <= 0) return cudaErrorInvalidValue;
  stage_kernel<<<dim3(blocks_for(K, 32), blocks_for(N, 32)), dim3(32, 8), 0, stream>>>(w, N, K, perm, dead, wt);
  return last_error();
}

int quant_unstage_weight(const float* deq, int N, int K, const std::int32_t* perm, float* out, cudaStream_t stream) {
  if (!deq || !perm || !out || N <= 0 || K <= 0) return cudaErrorInvalidValue;
  unstage_kernel<<<dim3(blocks_for(K, 32), blocks_for(N, 32)), dim3(32, 8), 0, stream>>>(deq, N, K, perm, out);
  return last_error();
}

int quant_importance(const float* U, int K, float* imp, cudaStream_t stream) {
  if (!U || !imp || K <= 0) return cudaErrorInvalidValue;
  importance_kernel<<<blocks_for(K, 256), 256, 0, stream>>>(U, K, imp);
  return last_error();
}

std::size_t quant_group_scratch_bytes(int N) {
  const int nb = blocks_for(N, kThreads);
  return align_up(sizeof(float) * N) + align_up(sizeof(float) * nb) + align_up(static_cast<std::size_t>(kMaxCandidates) * N) +
         align_up(sizeof(double) * kMaxCandidates * nb);
}

int quant_group_search(const float* wt, int rows, int N, const float* imp, int bits, void* scratch, float* scale,
                       std::uint8_t* code, std::uint16_t* smax, cudaStream_t stream) {
  if (!wt || !imp || !scratch || !scale || !code || !smax || rows <= 0 || N <= 0 || bits < 2 || bits > 8)
    return cudaErrorInvalidValue;
  const Scratch s = scratch_layout(scratch, N);
  const int nb = blocks_for(N, kThreads);
  search_best_kernel<<<nb, kThreads, 0, stream>>>(wt, rows, N, imp, bits, s);
  search_codes_kernel<<<nb, kThreads, 0, stream>>>(wt, rows, N, imp, bits, s);
  search_pick_kernel<<<1, kThreads, 0, stream>>>(N, nb, s, scale, code, smax);
  return last_error();
}

int quant_group_apply(const QuantGroupArgs& a, cudaStream_t stream) {
  if (!a.wt || !a.U || !a.scale || !a.code || !a.smax || !a.codes || !a.deq || !a.err || !a.loss || a.N <= 0 ||
      a.rows <= 0 || a.k0 < a.block_begin || a.k0 + a.rows > a.block_end || a.block_end > a.K || a.bits < 2 || a.bits > 8)
    return cudaErrorInvalidValue;
  group_apply_kernel<<<blocks_for(a.N, 64), 64, 0, stream>>>(a);
  return last_error();
}

int quant_widen_f64(const float* x, std::int64_t rows, int K, int ldx, double* out, cudaStream_t stream) {
  if (!x || !out || rows < 0 || K <= 0 || ldx < K) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  widen_f64_kernel<<<grid_cap(rows * K, 256), 256, 0, stream>>>(x, rows, K, ldx, out);
  return last_error();
}

int quant_widen_half(const std::uint16_t* src, std::int64_t n, bool bf16, float* dst, cudaStream_t stream) {
  if (!src || !dst || n < 0) return cudaErrorInvalidValue;
  if (n == 0) return 0;
  widen_half_kernel<<<grid_cap(n, 256), 256, 0, stream>>>(src, n, bf16, dst);
  return last_error();
}

int quant_hessian_reversed(const double* H, int K, const std::int32_t* perm, const std::uint8_t* dead,
                           const double* diag, double damp, double* b, cudaStream_t stream) {
  if (!H || !perm || !dead || !diag || !b || K <= 0 || K > 65535) return cudaErrorInvalidValue;
  hessian_reversed_kernel<<<dim3(blocks_for(K, 256), K), 256, 0, stream>>>(H, K, perm, dead, diag, damp, b);
  return last_error();
}

int quant_identity_f64(double* I, int K, cudaStream_t stream) {
  if (!I || K <= 0 || K > 65535) return cudaErrorInvalidValue;
  identity_kernel<<<dim3(blocks_for(K, 256), K), 256, 0, stream>>>(I, K);
  return last_error();
}

int quant_upper_from_reversed(const double* Linv, int K, float* U, cudaStream_t stream) {
  if (!Linv || !U || K <= 0 || K > 65535) return cudaErrorInvalidValue;
  upper_kernel<<<dim3(blocks_for(K, 256), K), 256, 0, stream>>>(Linv, K, U);
  return last_error();
}

int quant_rmsnorm(const float* x, const float* w, std::int64_t rows, int n, float eps, float* out, cudaStream_t stream) {
  if (!x || !w || !out || rows < 0 || n <= 0 || rows > 2147483647) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  rmsnorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, w, n, eps, out);
  return last_error();
}

int quant_add_bias(float* y, int ldy, std::int64_t rows, int n, const float* bias, cudaStream_t stream) {
  if (!y || !bias || rows < 0 || n <= 0 || ldy < n) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  add_bias_kernel<<<grid_cap(rows * n, 256), 256, 0, stream>>>(y, ldy, rows, n, bias);
  return last_error();
}

int quant_swiglu(const float* gu, std::int64_t rows, int n, float* act, cudaStream_t stream) {
  if (!gu || !act || rows < 0 || n <= 0) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  swiglu_kernel<<<grid_cap(rows * n, 256), 256, 0, stream>>>(gu, rows, n, act);
  return last_error();
}

int quant_distance_parts() { return kDistanceParts; }

int quant_subtract(const float* a, const float* b, std::int64_t n, float* out, cudaStream_t stream) {
  if (!a || !b || !out || n < 0) return cudaErrorInvalidValue;
  if (n == 0) return 0;
  subtract_kernel<<<grid_cap(n, 256) < 8192 ? grid_cap(n, 256) : 8192, 256, 0, stream>>>(a, b, n, out);
  return last_error();
}

int quant_squared_distance(const float* a, const float* b, std::int64_t n, double* partial, double* out, cudaStream_t stream) {
  if (!a || !partial || !out || n < 0) return cudaErrorInvalidValue;
  distance_kernel<<<kDistanceParts, kThreads, 0, stream>>>(a, b, n, partial);
  distance_total_kernel<<<1, kThreads, 0, stream>>>(partial, kDistanceParts, out);
  return last_error();
}

int quant_attention(const QuantAttentionArgs& a, cudaStream_t stream) {
  if (!a.qkv || !a.cos || !a.sin || !a.out || a.seqs <= 0 || a.length <= 0 || a.heads <= 0 || a.kv_heads <= 0 ||
      a.heads % a.kv_heads != 0 || a.head_dim <= 0 || a.head_dim % 2 != 0 || a.head_dim > 256 ||
      a.ld < (a.heads + 2 * a.kv_heads) * a.head_dim)
    return cudaErrorInvalidValue;
  const long rows = static_cast<long>(a.seqs) * a.length;
  constexpr int kWarps = 4;
  norm_rope_kernel<<<blocks_for(rows * (a.heads + a.kv_heads), kWarps), 32 * kWarps, 0, stream>>>(a);
  if (const int st = last_error()) return st;
  return a.head_dim <= 128 ? launch_attention_tiled<8, 4>(a, stream) : launch_attention_tiled<4, 8>(a, stream);
}

}  // namespace nibble::kernels
