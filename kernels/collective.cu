// One-shot peer collectives (collective.h). Each block first meets the same block of every other
// rank: it stores its new epoch into flag[b][rank] of every rank's signal block with release
// semantics at system scope (the writes this rank's earlier kernels made become visible to the
// peers first), then waits with acquire loads until every rank's flag in its own signal block has
// reached that epoch. After the barrier it reads the peers' buffers straight over the
// interconnect (volatile loads: the same addresses are read again next layer, so nothing may come
// from a cache).
#include "nibble_kernels/collective.h"

#include "launch.cuh"

namespace nibble::kernels {
namespace {

struct Params {
  int rank;
  int ranks;
  PeerSignal* signals[kPeerMaxRanks];
  const void* src[kPeerMaxRanks];
  void* out;
  long n;      // reduce: elements
  int rows;    // gather
  int width;
  int ldo;
};

__device__ __forceinline__ void store_release_sys(unsigned* p, unsigned v) {
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

__device__ __forceinline__ unsigned load_acquire_sys(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Launched with programmatic dependent launch: once the kernel before it (whose output it shares)
// has finished, the next kernel (a GEMV) may start fetching its weights while this one waits on
// the other GPUs.
__device__ __forceinline__ void barrier(const Params& p) {
  grid_dependency_wait();
  allow_next_launch();
  const int b = blockIdx.x;
  __shared__ unsigned s_epoch;
  if (threadIdx.x == 0) s_epoch = p.signals[p.rank]->epoch[b] + 1u;
  __syncthreads();
  const unsigned epoch = s_epoch;
  if (threadIdx.x < p.ranks) {
    const int t = threadIdx.x;
    store_release_sys(&p.signals[t]->flag[b][p.rank], epoch);
    // A peer may already be one barrier further on (it saw our flag and went on): compare by
    // signed difference, which also survives the counter wrapping.
    while (static_cast<int>(load_acquire_sys(&p.signals[p.rank]->flag[b][t]) - epoch) < 0) {
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) p.signals[p.rank]->epoch[b] = epoch;
}

__global__ void __launch_bounds__(256) reduce_kernel(Params p) {
  barrier(p);
  float* out = static_cast<float*>(p.out);
  const long stride = static_cast<long>(gridDim.x) * blockDim.x;
  const long n4 = p.n / 4;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n4; i += stride) {
    float4 s = __ldcv(static_cast<const float4*>(p.src[0]) + i);
    for (int r = 1; r < p.ranks; ++r) {
      const float4 v = __ldcv(static_cast<const float4*>(p.src[r]) + i);
      s.x += v.x;
      s.y += v.y;
      s.z += v.z;
      s.w += v.w;
    }
    float4 o = reinterpret_cast<float4*>(out)[i];
    o.x += s.x;
    o.y += s.y;
    o.z += s.z;
    o.w += s.w;
    reinterpret_cast<float4*>(out)[i] = o;
  }
  for (long i = n4 * 4 + blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < p.n; i += stride) {
    float s = __ldcv(static_cast<const float*>(p.src[0]) + i);
    for (int r = 1; r < p.ranks; ++r) s += __ldcv(static_cast<const float*>(p.src[r]) + i);
    out[i] += s;
  }
}

// Rows of 8-half units (width % 8 == 0 checked by the launcher).
__global__ void __launch_bounds__(256) gather_kernel(Params p) {
  barrier(p);
  const int units = p.width / 8;
  const long total = static_cast<long>(p.ranks) * p.rows * units;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total; i += static_cast<long>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(i / (static_cast<long>(p.rows) * units));
    const long rem = i - static_cast<long>(r) * p.rows * units;
    const int row = static_cast<int>(rem / units);
    const int u = static_cast<int>(rem - static_cast<long>(row) * units);
    const uint4 v = __ldcv(static_cast<const uint4*>(p.src[r]) + static_cast<long>(row) * units + u);
    *reinterpret_cast<uint4*>(static_cast<__half*>(p.out) + static_cast<long>(row) * p.ldo + static_cast<long>(r) * p.width + 8L * u) = v;
  }
}

bool fill(const PeerCollectiveArgs& c, const void* const* src, Params& p) {
  if (c.ranks < 2 || c.ranks > kPeerMaxRanks || c.rank < 0 || c.rank >= c.ranks || !src) return false;
  p.rank = c.rank;
  p.ranks = c.ranks;
  for (int r = 0; r < kPeerMaxRanks; ++r) {
    p.signals[r] = r < c.ranks ? c.signals[r] : nullptr;
    p.src[r] = r < c.ranks ? src[r] : nullptr;
    if (r < c.ranks && (!p.signals[r] || !p.src[r])) return false;
  }
  return true;
}

int blocks_for(long units) {
  const long b = (units + 255) / 256;
  return static_cast<int>(b < 1 ? 1 : (b > kPeerMaxBlocks ? kPeerMaxBlocks : b));
}

}  // namespace

int peer_all_reduce_add_f32(const PeerCollectiveArgs& c, const float* const* src, float* out, long n, cudaStream_t stream) {
  Params p{};
  if (!fill(c, reinterpret_cast<const void* const*>(src), p) || !out || n <= 0) return cudaErrorInvalidValue;
  for (int r = 0; r < c.ranks; ++r)
    if (reinterpret_cast<unsigned long>(src[r]) % 16 != 0) return cudaErrorInvalidValue;
  if (reinterpret_cast<unsigned long>(out) % 16 != 0) return cudaErrorInvalidValue;
  p.out = out;
  p.n = n;
  return launch_pdl(reduce_kernel, dim3(blocks_for((n + 3) / 4)), dim3(256), 0, stream, p);
}

int peer_all_gather_f16(const PeerCollectiveArgs& c, const __half* const* src, __half* out, int rows, int width, int ldo,
                        cudaStream_t stream) {
  Params p{};
  if (!fill(c, reinterpret_cast<const void* const*>(src), p) || !out || rows <= 0 || width <= 0 || width % 8 != 0 ||
      ldo % 8 != 0 || ldo < c.ranks * width)
    return cudaErrorInvalidValue;
  for (int r = 0; r < c.ranks; ++r)
    if (reinterpret_cast<unsigned long>(src[r]) % 16 != 0) return cudaErrorInvalidValue;
  if (reinterpret_cast<unsigned long>(out) % 16 != 0) return cudaErrorInvalidValue;
  p.out = out;
  p.rows = rows;
  p.width = width;
  p.ldo = ldo;
  return launch_pdl(gather_kernel, dim3(blocks_for(static_cast<long>(c.ranks) * rows * (width / 8))), dim3(256), 0, stream, p);
}

}  // namespace nibble::kernels
