// Probe: how fast blocks stream global memory into shared memory with sm_90 bulk copies
// (cp.async.bulk, completion counted on an mbarrier per ring slot), by copy size, ring depth and
// blocks per SM, against 16-byte register loads. Each block reads its own contiguous share of a
// 1 GiB buffer once; one elected thread issues the copies of a slot, all warps consume every slot
// (one 16-byte shared load per thread) and arrive on the slot's "empty" barrier before it is
// refilled. Prints GB/s (median of 5 timed runs after a warm-up).
// Build (from the repository root): nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -Ikernels
//   tools/gpu/probes/bulk_copy_probe.cu -o bulk_copy_probe
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mbarrier.cuh"

#define CHECK(x)                                                                          \
  do {                                                                                    \
    cudaError_t e_ = (x);                                                                 \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

using namespace nibble::kernels;  // mbarrier / bulk-copy PTX (kernels/mbarrier.cuh)

constexpr int kSlotBytes = 8192;
constexpr int kMaxSlots = 24;

__global__ void ring_kernel(const unsigned char* src, std::size_t per_block, int copy, int slots, unsigned* sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // the helpers exist for sm_90 device code only
  extern __shared__ __align__(128) unsigned char ring[];
  __shared__ std::uint64_t full[kMaxSlots], empty[kMaxSlots];
  const int tid = threadIdx.x, warps = blockDim.x / 32;
  if (tid < slots) {
    mbar_init(&full[tid], 1);
    mbar_init(&empty[tid], warps);
  }
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  __syncthreads();
  const unsigned char* base = src + blockIdx.x * per_block;
  const int nslots = static_cast<int>(per_block / kSlotBytes);
  const int per_slot = kSlotBytes / copy;
  unsigned acc = 0;
  for (int q = 0; q < nslots; ++q) {
    const int r = q % slots;
    if (tid == 0) {
      // The first `slots` slots at once; then, each iteration, slot q + slots - 1 into the place
      // that slot q - 1 has just left (once every warp has arrived on its "empty" barrier).
      auto issue = [&](int s) {
        const int rs = s % slots;
        if (s >= slots) mbar_wait(&empty[rs], static_cast<unsigned>(s / slots - 1) & 1u);
        mbar_expect_arrive(&full[rs], kSlotBytes);
        for (int i = 0; i < per_slot; ++i)
          bulk_copy(ring + rs * kSlotBytes + i * copy, base + static_cast<std::size_t>(s) * kSlotBytes + i * copy, copy, &full[rs]);
      };
      if (q == 0) {
        for (int s = 0; s < min(nslots, slots); ++s) issue(s);
      } else if (q + slots - 1 < nslots) {
        issue(q + slots - 1);
      }
    }
    mbar_wait(&full[r], static_cast<unsigned>(q / slots) & 1u);
    const uint4 v = reinterpret_cast<const uint4*>(ring + r * kSlotBytes)[tid % (kSlotBytes / 16)];
    acc += v.x ^ v.w;
    __syncwarp();
    if ((tid & 31) == 0) mbar_arrive(&empty[r]);
  }
  if (acc == 0x12345678u) sink[0] = acc;
#endif
}

__global__ void reg_kernel(const uint4* src, std::size_t per_block16, unsigned* sink) {
  const uint4* base = src + blockIdx.x * per_block16;
  unsigned acc = 0;
  for (std::size_t i = threadIdx.x; i < per_block16; i += 4 * blockDim.x) {
    uint4 v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const std::size_t k = i + j * blockDim.x;
      v[j] = k < per_block16 ? __ldg(base + k) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) acc += v[j].x ^ v[j].w;
  }
  if (acc == 0x12345678u) sink[0] = acc;
}

int main() {
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const std::size_t total = std::size_t{1} << 30;
  unsigned char* buf = nullptr;
  unsigned* sink = nullptr;
  CHECK(cudaMalloc(&buf, total));
  CHECK(cudaMalloc(&sink, 64));
  CHECK(cudaMemset(buf, 1, total));
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  CHECK(cudaFuncSetAttribute(ring_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSlots * kSlotBytes));
  auto time_it = [&](auto&& launch) {
    std::vector<float> ms;
    launch();
    for (int i = 0; i < 5; ++i) {
      cudaEventRecord(e0);
      launch();
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float t = 0;
      cudaEventElapsedTime(&t, e0, e1);
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    return ms[2];
  };
  std::printf("register loads (16 B, 4 in flight per thread, 256 threads):\n");
  for (int bps : {1, 2, 3, 4, 8}) {
    const int blocks = sms * bps;
    const std::size_t per = (total / blocks) / 16;
    const float ms = time_it([&] { reg_kernel<<<blocks, 256>>>(reinterpret_cast<const uint4*>(buf), per, sink); });
    std::printf("  %d blocks/SM: %7.0f GB/s\n", bps, blocks * per * 16 / (ms * 1e6));
  }
  std::printf("bulk copies into a ring of 8 KB slots (256 threads):\n  copy B  slots  blocks/SM   GB/s\n");
  for (int copy : {512, 2048, 8192})
    for (int slots : {4, 8, 12, 24})
      for (int bps : {1, 2}) {
        if (bps * slots * kSlotBytes > 220 * 1024) continue;
        const int blocks = sms * bps;
        const std::size_t per = (total / blocks) / kSlotBytes * kSlotBytes;
        const float ms = time_it([&] {
          ring_kernel<<<blocks, 256, slots * kSlotBytes>>>(buf, per, copy, slots, sink);
        });
        const cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) {
          std::printf("  %6d  %5d  %9d   error %s\n", copy, slots, bps, cudaGetErrorString(e));
          return 1;
        }
        std::printf("  %6d  %5d  %9d  %6.0f\n", copy, slots, bps, blocks * per / (ms * 1e6));
      }
  CHECK(cudaDeviceSynchronize());
  return 0;
}
