// One block per row. Greedy: block argmax. Sampling: z = logit / T; thresholds for top-k and top-p
// are found by bisection over the order-preserving integer image of z (32 steps, no sort); min-p
// keeps z >= max + log(min_p); the kept token with the largest z + Gumbel noise wins.
#include "nibble_kernels/sampling.h"

#include <cfloat>
#include <cstdint>

#include "nibble_kernels/rng.h"

namespace nibble::kernels {
namespace {

constexpr int kThreads = 512;

// Monotone map float -> uint32 (larger float, larger key).
__device__ __forceinline__ std::uint32_t order_key(float f) {
  const std::uint32_t b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

template <class T, class Op>
__device__ T block_reduce(T v, Op op, T* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  T t = red[0];
  for (int w = 1; w < kThreads / 32; ++w) t = op(t, red[w]);
  __syncthreads();
  return t;
}

struct ArgBest {
  float v;
  int i;
};

__device__ __forceinline__ ArgBest better(ArgBest a, ArgBest b) {
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) return b;
  return a;
}

__device__ ArgBest block_argmax(ArgBest v, float* redv, int* redi) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    ArgBest other{__shfl_xor_sync(0xffffffffu, v.v, o), __shfl_xor_sync(0xffffffffu, v.i, o)};
    v = better(v, other);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    redv[warp] = v.v;
    redi[warp] = v.i;
  }
  __syncthreads();
  ArgBest t{redv[0], redi[0]};
  for (int w = 1; w < kThreads / 32; ++w) t = better(t, ArgBest{redv[w], redi[w]});
  __syncthreads();
  return t;
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* logits, int ld, int vocab,
                                                          const SampleRow* params, int* out) {
  __shared__ float redf[kThreads / 32];
  __shared__ int redi[kThreads / 32];
  const int row = blockIdx.x;
  const float* z = logits + static_cast<std::size_t>(row) * ld;
  const SampleRow sp = params[row];
  const int tid = threadIdx.x;

  if (!(sp.temperature > 0.0f)) {
    ArgBest best{-FLT_MAX, 0x7fffffff};
    for (int i = tid; i < vocab; i += kThreads) best = better(best, ArgBest{z[i], i});
    best = block_argmax(best, redf, redi);
    if (tid == 0) out[row] = best.i == 0x7fffffff ? 0 : best.i;
    return;
  }
  const float inv_t = 1.0f / sp.temperature;
  float m = -FLT_MAX;
  for (int i = tid; i < vocab; i += kThreads) m = fmaxf(m, z[i] * inv_t);
  m = block_reduce(m, [](float a, float b) { return fmaxf(a, b); }, redf);

  // Lowest kept key: start with everything, raise for min-p, top-k, then top-p.
  std::uint32_t lo = 0;
  if (sp.min_p > 0.0f) lo = order_key(m + logf(sp.min_p));
  if (sp.top_k > 0 && sp.top_k < vocab) {
    // Largest threshold t with count(key >= t) >= top_k.
    std::uint32_t a = lo, b = 0xffffffffu;
    while (a < b) {
      const std::uint32_t mid = static_cast<std::uint32_t>(a + (static_cast<std::uint64_t>(b) - a + 1) / 2);
      int c = 0;
      for (int i = tid; i < vocab; i += kThreads) c += order_key(z[i] * inv_t) >= mid;
      c = block_reduce(c, [](int x, int y) { return x + y; }, redi);
      if (c >= sp.top_k) a = mid; else b = mid - 1;
    }
    lo = a;
  }
  if (sp.top_p < 1.0f) {
    float total = 0.0f;
    for (int i = tid; i < vocab; i += kThreads) {
      const float zi = z[i] * inv_t;
      if (order_key(zi) >= lo) total += __expf(zi - m);
    }
    total = block_reduce(total, [](float x, float y) { return x + y; }, redf);
    // Largest threshold t whose kept mass (keys >= t) still reaches top_p of the total.
    std::uint32_t a = lo, b = order_key(m);
    while (a < b) {
      const std::uint32_t mid = static_cast<std::uint32_t>(a + (static_cast<std::uint64_t>(b) - a + 1) / 2);
      float mass = 0.0f;
      for (int i = tid; i < vocab; i += kThreads) {
        const float zi = z[i] * inv_t;
        if (order_key(zi) >= mid) mass += __expf(zi - m);
      }
      mass = block_reduce(mass, [](float x, float y) { return x + y; }, redf);
      if (mass >= sp.top_p * total) a = mid; else b = mid - 1;
    }
    lo = a;
  }
  ArgBest best{-FLT_MAX, 0x7fffffff};
  for (int i = tid; i < vocab; i += kThreads) {
    const float zi = z[i] * inv_t;
    if (order_key(zi) < lo) continue;
    const float u = rng::uniform(sp.seed, sp.step, static_cast<std::uint32_t>(i));
    best = better(best, ArgBest{zi - logf(-logf(u)), i});
  }
  best = block_argmax(best, redf, redi);
  if (tid == 0) out[row] = best.i == 0x7fffffff ? 0 : best.i;
}

}  // namespace

int sample_rows(const float* logits, int ld, int vocab, int rows, const SampleRow* params, int* out,
                cudaStream_t stream) {
  if (!logits || !params || !out || vocab <= 0 || ld < vocab || rows < 0) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  sample_kernel<<<rows, kThreads, 0, stream>>>(logits, ld, vocab, params, out);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace nibble::kernels
