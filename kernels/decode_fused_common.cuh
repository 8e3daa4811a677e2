// Shared pieces of the fused decode kernel (decode_fused.cu, decode_fused_attention.cuh): block
// shape, the shared-memory map, the stage geometry both roles compute for a GEMV batch, the
// mbarrier / bulk-copy / barrier PTX and the producer-consumer ring. Internal to the kernels library.
#pragma once

#include <cuda_fp16.h>

#include <algorithm>
#include <cfloat>
#include <cstddef>
#include <cstdint>

#include "mbarrier.cuh"
#include "nibble_kernels/decode_fused.h"
#include "qgemv_common.cuh"

namespace nibble::kernels {
namespace {

constexpr int kCWarps = 8;                 // consumer warps
constexpr int kCThreads = kCWarps * 32;
constexpr int kPWarps = 4;                 // producer warps (registers are allotted per 4 warps anyway)
constexpr int kPThreads = kPWarps * 32;
constexpr int kBlockThreads = kCThreads + kPThreads;
constexpr int kSlots = 7;                  // ring stages
constexpr int kMaxUnits = 4;               // 16-column units per batch (registers: 168 a thread at 9 warps)
constexpr int kKeys = 32;                  // keys per attention stage
constexpr int kMaxGroup = 8;               // query heads per kv head
constexpr int kMaxHd = 128;

enum Phase : int { kQkv = 0, kO = 1, kGu = 2, kDown = 3 };

// Shared-memory map (byte offsets), the same on host and device.
struct Geometry {
  int xs, corr, red, sq, sp, knew, vnew, cs, sn, misc, lay_c, lay_p, bars, ring;
  int slot_bytes;
  int total;
};

__host__ __device__ inline int align_up(int v, int a) { return (v + a - 1) / a * a; }

__host__ __device__ inline Geometry make_geometry(int max_k, int limit) {
  Geometry g{};
  int o = 0;
  g.xs = o;
  o = align_up(o + max_k * 2, 128);
  g.corr = o;
  o = align_up(o + (max_k / 32) * 8, 128);
  g.red = o;
  o = align_up(o + kCWarps * kMaxUnits * 16 * 4, 128);
  g.sq = o;
  o += kMaxGroup * kMaxHd * 4;
  g.sp = o;
  o += kMaxGroup * kKeys * 4;
  g.knew = o;
  o += kMaxHd * 2;
  g.vnew = o;
  o += kMaxHd * 2;
  g.cs = o;
  o += kMaxHd / 2 * 4;
  g.sn = o;
  o += kMaxHd / 2 * 4;
  g.misc = o;
  o += 64 * 4;
  g.lay_c = o;  // the consumers' copy of the current layer's descriptor
  o += align_up(static_cast<int>(sizeof(FusedLayer)), 16);
  g.lay_p = o;  // the producer's
  o += align_up(static_cast<int>(sizeof(FusedLayer)), 16);
  g.bars = o;
  o += 2 * kSlots * 8;
  o = align_up(o, 128);
  g.ring = o;
  g.slot_bytes = limit > o ? ((limit - o) / kSlots) / 128 * 128 : 0;
  g.total = o + kSlots * g.slot_bytes;
  return g;
}

struct KParams {
  FusedDecodeArgs a;
  Geometry g;
};

// Device code below exists for sm_90 only (the sm_86 image has an empty kernel the host never launches).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900

// ---- stage geometry of a GEMV batch (host-independent, computed identically by both roles) ----

constexpr int kAccPerThread = kMaxGroup * kMaxHd / kCThreads;

// Row stride of a stage in bytes: pair rows at 32 or 96 mod 128 (the 8-byte word pairs a lane
// group reads from four rows fall in four bank windows), other rows at 64 mod 128 (their 8-byte
// loads from rows t and t + 1 fill the two halves of a 256-byte request).
__device__ __forceinline__ int row_stride(int units, bool pair) {
  return units * 64 + (pair ? 32 : ((units & 1) ? 0 : 64));
}

struct Batch {
  const std::uint32_t* w[3];  // q_weight of each segment's matrix
  const void* sc[3];          // GPTQ scales (__half) or EXL2 q_scale codes (uint32)
  const __half* zr[3];        // GPTQ zero points or nullptr
  const __half* mx[3];        // EXL2 q_scale_max
  int n_pad[3], col0[3], cols[3], scol[3];  // segment i = the phase's matrix i
  int units, tcols, stride, sr, cpw, gshift, krows;
  int rec;      // bytes of one group's scale record in a stage
  int area;     // EXL2: bytes of one segment's code run in a record (mx blocks follow 3 of them)
  int cb0[3];   // EXL2: first byte of each segment's code run within its q_scale row (16-byte aligned)
  bool pair, exl2, zeros;
};

// Element s of a 3-array without dynamic indexing (keeps the batch in registers).
template <class T>
__device__ __forceinline__ T pick(const T (&v)[3], int s) {
  return s == 0 ? v[0] : (s == 1 ? v[1] : v[2]);
}
__device__ __forceinline__ int seg_of(const Batch& B, int c) { return (c >= B.scol[1]) + (c >= B.scol[2]); }

struct PhaseMats {
  const QMatrix* m[3];
  int count;
  bool pair;
  int k;
  int units;
};

__device__ __forceinline__ PhaseMats phase_mats(const FusedLayer& L, int phase, const FusedDecodeArgs& a) {
  PhaseMats p{};
  p.m[0] = p.m[1] = p.m[2] = nullptr;
  p.pair = false;
  switch (phase) {
    case kQkv:
      p.m[0] = &L.q;
      p.m[1] = &L.k;
      p.m[2] = &L.v;
      p.count = 3;
      p.k = a.hidden;
      break;
    case kO:
      p.m[0] = &L.o;
      p.count = 1;
      p.k = a.heads * a.head_dim;
      break;
    case kGu:
      p.m[0] = &L.gate;
      p.m[1] = &L.up;
      p.count = 2;
      p.pair = true;
      p.k = a.hidden;
      break;
    default:
      p.m[0] = &L.down;
      p.count = 1;
      p.k = a.inter;
      break;
  }
  if (p.pair) {
    p.units = p.m[0]->n / 8;
  } else {
    p.units = 0;
    for (int i = 0; i < p.count; ++i) p.units += p.m[i]->n / 16;
  }
  return p;
}

// A stage's scale records: per group, GPTQ scales [tcols] fp16 (+ zero points [tcols]); EXL2 the
// q_scale code run of each segment (16-byte aligned superset, `area` bytes each), then the
// 16-byte block of q_scale_max holding the group's entry for each segment.
__device__ __forceinline__ int exl2_area(int tcols) { return align_up(tcols / 2, 16) + 32; }
__device__ __forceinline__ int record_bytes(int tcols, bool exl2, bool zeros) {
  return exl2 ? 3 * exl2_area(tcols) + 48 : tcols * 2 * (zeros ? 2 : 1);
}
__device__ __forceinline__ int stage_groups(int cpw, int gshift) { return max(1, (256 * cpw) >> gshift); }
__device__ __forceinline__ int stage_bytes(int cpw, int stride, int rec, int gshift) {
  return 32 * cpw * stride + stage_groups(cpw, gshift) * rec;
}

// Units per batch so that a 32-row stage (with its scales) fits a slot.
__device__ __forceinline__ int max_units_fit(const PhaseMats& P, int slot_bytes) {
  const QMatrix& M = *P.m[0];
  int u = kMaxUnits;
  while (u > 1 && stage_bytes(1, row_stride(u, P.pair), record_bytes(16 * u, M.q_scale != nullptr, M.zeros != nullptr),
                              M.group_shift) > slot_bytes)
    --u;
  return u;
}

__device__ __forceinline__ void block_units(int units, int& u0, int& u1) {
  u0 = static_cast<int>(static_cast<long long>(blockIdx.x) * units / gridDim.x);
  u1 = static_cast<int>(static_cast<long long>(blockIdx.x + 1) * units / gridDim.x);
}

// Segments are per matrix of the phase (index = matrix): one without columns in the batch has
// cols 0 and a start column that keeps seg_of() right (0 before the batch, past it after). No
// array is indexed by a runtime value, so the batch stays in registers.
__device__ __forceinline__ Batch make_batch(const PhaseMats& P, int ub0, int ub1, int slot_bytes) {
  Batch B;
  const QMatrix& M0 = *P.m[0];
  B.pair = P.pair;
  B.exl2 = M0.q_scale != nullptr;
  B.zeros = M0.zeros != nullptr;
  B.gshift = M0.group_shift;
  B.units = ub1 - ub0;
  B.tcols = B.units * 16;
  B.krows = P.k / 8;
  int us = 0;
#pragma unroll
  for (int i = 0; i < 3; ++i) {
    int col0 = 0, cols = 0, scol = 1 << 30;
    const QMatrix* M = i < P.count ? P.m[i] : nullptr;
    if (M) {
      if (P.pair) {
        col0 = ub0 * 8;
        cols = B.units * 8;
        scol = i == 0 ? 0 : B.units * 8;
      } else {
        const int ue = us + M->n / 16;
        const int lo = max(ub0, us), hi = min(ub1, ue);
        if (lo < hi) {
          col0 = (lo - us) * 16;
          cols = (hi - lo) * 16;
          scol = (lo - ub0) * 16;
        } else if (ue <= ub0) {
          scol = 0;
        }
        us = ue;
      }
    }
    B.w[i] = M ? M->q_weight : nullptr;
    B.sc[i] = M ? (B.exl2 ? static_cast<const void*>(M->q_scale) : static_cast<const void*>(M->scales)) : nullptr;
    B.zr[i] = M ? M->zeros : nullptr;
    B.mx[i] = M ? M->q_scale_max : nullptr;
    B.n_pad[i] = M ? M->n_pad : 0;
    B.col0[i] = col0;
    B.cols[i] = cols;
    B.scol[i] = scol;
  }
  B.stride = row_stride(B.units, B.pair);
  B.rec = record_bytes(B.tcols, B.exl2, B.zeros);
  B.area = exl2_area(B.tcols);
#pragma unroll
  for (int i = 0; i < 3; ++i) B.cb0[i] = (B.col0[i] / 2) & ~15;
  // Chunks of 32 rows per warp and stage: 1, 2 or 4, within one group, the stage within a slot.
  B.cpw = 1;
  const int gs = 1 << B.gshift;
  while (B.cpw < 4 && 2 * B.cpw * 32 <= gs && 2 * B.cpw * 32 <= B.krows &&
         stage_bytes(2 * B.cpw, B.stride, B.rec, B.gshift) <= slot_bytes)
    B.cpw *= 2;
  B.sr = 32 * B.cpw;
  return B;
}

// ---- PTX helpers (sm_90) ----

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ void copy16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(saddr(dst)), "l"(src) : "memory");
}
// Arrives on the barrier once this thread's earlier cp.async copies have landed (counted in its init).
__device__ __forceinline__ void copies_arrive(std::uint64_t* b) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(saddr(b)) : "memory");
}
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, %0;\n" ::"n"(kCThreads) : "memory"); }
__device__ __forceinline__ void producers_sync() { asm volatile("bar.sync 2, %0;\n" ::"n"(kPThreads) : "memory"); }
__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void add_release(unsigned* p, unsigned v) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}
#endif

__device__ __forceinline__ void trace_at(unsigned long long* trace, int i) {
  if (trace && blockIdx.x == 0 && i < 2048) {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    trace[i] = t;
  }
}

// A layer's descriptor from global memory into shared memory (one warp; fields are then read
// from there).
__device__ __forceinline__ void load_layer(const FusedLayer* src, FusedLayer* dst) {
  const int lane = threadIdx.x & 31;
  constexpr int kWords = static_cast<int>(sizeof(FusedLayer) / 4);
  static_assert(sizeof(FusedLayer) % 4 == 0, "descriptor words");
  for (int i = lane; i < kWords; i += 32)
    reinterpret_cast<std::uint32_t*>(dst)[i] = __ldg(reinterpret_cast<const std::uint32_t*>(src) + i);
  __syncwarp();
}

__device__ __forceinline__ std::uint32_t lo_pair(std::uint32_t w) { return (w & 0x000F000Fu) | 0x64006400u; }
__device__ __forceinline__ std::uint32_t hi_pair(std::uint32_t w) { return (w & 0x00F000F0u) | 0x64006400u; }
__device__ __forceinline__ int staged_pos(int o) { return ((o & 3) << 1) | ((o >> 2) & 1); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, s));
  return v;
}

// Attention split of one layer for the step's position (both roles compute it the same way).
struct AttnPlan {
  int pos, start, nst, cps, splits, items;
};

__device__ __forceinline__ AttnPlan attn_plan(const FusedDecodeArgs& a, int window) {
  AttnPlan p;
  p.pos = a.positions[0];
  p.start = window > 0 ? max(0, p.pos - window + 1) : 0;
  const int n_keys = p.pos + 1 - p.start;
  p.nst = (n_keys + kKeys - 1) / kKeys;
  const int s_max = max(1, static_cast<int>(gridDim.x) / a.kv_heads);
  p.cps = (p.nst + s_max - 1) / s_max;
  p.splits = (p.nst + p.cps - 1) / p.cps;
  p.items = a.kv_heads * p.splits;
  return p;
}

__device__ __forceinline__ std::size_t cache_row(const FusedDecodeArgs& a, const int* table, int p, int kvh) {
  const int page = table[p / a.page_size];
  return (static_cast<std::size_t>(page) * a.page_size + p % a.page_size) * a.kv_heads + kvh;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

struct Ring {
  unsigned char* base;
  std::uint64_t* full;
  std::uint64_t* empty;
  int slot_bytes;
  unsigned it;
};

#endif  // __CUDA_ARCH__ >= 900
#endif  // !__CUDA_ARCH__ || __CUDA_ARCH__ >= 900

}  // namespace
}  // namespace nibble::kernels
