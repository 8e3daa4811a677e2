// The fused one-row decode kernel (decode_fused.h). Block = 8 consumer warps + 4 producer warps,
// one block per SM, all resident (cooperative launch).
//
// Work of a step, in the order both roles walk it: for every layer, five phases.
//   q/k/v   GEMV of the RMSNorm'd residual (three matrices side by side)
//   attn    RoPE, the KV append and attention over the paged cache, split along the keys
//   o       GEMV of the attention output, added to the residual
//   gate/up GEMV of the RMSNorm'd residual, SiLU(gate) * up
//   down    GEMV, added to the residual
// A GEMV phase's columns are cut into units of 16 (gate/up: 8 gate + the same 8 up columns) and
// each block owns a contiguous range of units for the whole K: its sums need nobody else's. The
// producers copy the range's word rows (16-byte cp.async from 128 threads: bulk copies of rows this
// short were a third as fast) plus the groups' scale rows (bulk copies) into ring stages, each
// warp's chunks of a stage inside one group; consumers multiply them with the staged activations
// on tensor cores exactly as the uniform 4-bit GEMV does (codes unpacked into A fragments, the
// activations in the products' K order, the zero point and the fp16 1024 offset taken off per
// 32-row chunk), then sum their warps' partials in a fixed order. Attention work items are (kv
// head, key range); each stage carries 32 keys' K and V rows; the last block of a head to finish
// combines the ranges (in range order). Phases that read another block's output wait at a grid
// barrier (an arrival counter); the producer never waits on one.
#include "nibble_kernels/decode_fused.h"

#include <algorithm>

#include "decode_fused_attention.cuh"
#include "decode_fused_common.cuh"

namespace nibble::kernels {
namespace {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// Weight rows: 16-byte cp.async by the producer threads (thread p takes piece p % ppr of rows
// p / ppr, p / ppr + rpi, ...), arriving on the stage's barrier when they land. Scales (and in
// attention stages the K/V rows) are bulk copies by producer warp 0.
__device__ void produce_gemv(const Batch& B, Ring& R) {
  const int p = threadIdx.x - kCThreads;
  const int lane = p & 31;
  const bool lead = p < 32;
  const int ppr = B.tcols / 4;
  const int rpi = kPThreads / ppr;
  const int rl = p / ppr, pc = p - rl * ppr;
  const int c = pc * 4;
  const int sg = seg_of(B, c);
  const std::size_t npad = static_cast<std::size_t>(pick(B.n_pad, sg));
  const std::uint32_t* wsrc = pick(B.w, sg) + rl * npad + pick(B.col0, sg) + (c - pick(B.scol, sg));
  const std::size_t pstep = static_cast<std::size_t>(rpi) * npad;
  const int doff = rl * B.stride + c * 4;
  const int dstep = rpi * B.stride;
  // Scale copies of one group: per segment with columns, GPTQ scales (+ zero points) or the EXL2
  // code run and the q_scale_max block. Lane k < 6 takes copy k of every group of the stage.
  unsigned group_tx = 0;
  const void* ssrc = nullptr;
  std::size_t sgstep = 0;  // bytes between groups in the source
  int sdst = 0;
  unsigned sbytes = 0;
#pragma unroll
  for (int k = 0; k < 6; ++k) {
    const int seg = k >> 1;
    const bool second = k & 1;
    if (B.cols[seg] == 0) continue;
    const char* src;
    std::size_t gstep;
    int dst, bytes;
    if (B.exl2) {
      if (!second) {
        const std::size_t row = static_cast<std::size_t>(B.n_pad[seg]) / 2;  // bytes of a q_scale row
        src = static_cast<const char*>(B.sc[seg]) + B.cb0[seg];
        gstep = row;
        dst = seg * B.area;
        bytes = align_up((B.col0[seg] + B.cols[seg]) / 2, 16) - B.cb0[seg];
      } else {
        src = reinterpret_cast<const char*>(B.mx[seg]);
        gstep = 2;  // the block is found per group below
        dst = 3 * B.area + 16 * seg;
        bytes = 16;
      }
    } else {
      if (second && !B.zeros) continue;
      const __half* base = second ? B.zr[seg] : static_cast<const __half*>(B.sc[seg]);
      src = reinterpret_cast<const char*>(base + B.col0[seg]);
      gstep = static_cast<std::size_t>(B.n_pad[seg]) * 2;
      dst = (second ? 2 * B.tcols : 0) + 2 * B.scol[seg];
      bytes = 2 * B.cols[seg];
    }
    group_tx += static_cast<unsigned>(bytes);
    if (lane == k) {
      ssrc = src;
      sgstep = gstep;
      sdst = dst;
      sbytes = static_cast<unsigned>(bytes);
    }
  }
  const bool mx_lane = B.exl2 && (lane & 1);
  for (int s0 = 0; s0 < B.krows; s0 += B.sr) {
    const int rows = min(B.sr, B.krows - s0);
    const int ng = max(1, (rows * 8) >> B.gshift);
    const int g0 = (s0 * 8) >> B.gshift;
    const int slot = R.it % kSlots;
    mbar_wait(R.empty + slot, ((R.it / kSlots) & 1) ^ 1);
    unsigned char* dst = R.base + static_cast<std::size_t>(slot) * R.slot_bytes;
    if (p == 0) mbar_expect_arrive(R.full + slot, ng * group_tx);
    __syncwarp();
    if (lead && sbytes) {
      unsigned char* rec = dst + rows * B.stride;
      for (int gi = 0; gi < ng; ++gi, rec += B.rec) {
        const int gg = g0 + gi;
        const char* src = mx_lane ? static_cast<const char*>(ssrc) + ((2 * gg) & ~15) : static_cast<const char*>(ssrc) + gg * sgstep;
        bulk_copy(rec + sdst, src, sbytes, R.full + slot);
      }
    }
    if (rl < rpi) {
      const std::uint32_t* q = wsrc + static_cast<std::size_t>(s0) * npad;
      unsigned char* d = dst + doff;
      for (int r = rl; r < rows; r += rpi, q += pstep, d += dstep) copy16(d, q);
    }
    copies_arrive(R.full + slot);
    ++R.it;
  }
}

__device__ void producer(const KParams& kp, unsigned char* smem, Ring& R) {
  const FusedDecodeArgs& a = kp.a;
  FusedLayer& L = *reinterpret_cast<FusedLayer*>(smem + kp.g.lay_p);
  for (int li = 0; li < a.n_layers; ++li) {
    producers_sync();
    if (threadIdx.x < kCThreads + 32) load_layer(a.layers + li, &L);
    producers_sync();
    for (int ph = 0; ph < 5; ++ph) {
      if (threadIdx.x == kCThreads) trace_at(a.trace, 1536 + 5 * li + ph);
      if (ph == 1) {
        produce_attention(a, L, R);
        continue;
      }
      const int phase = ph == 0 ? kQkv : ph - 1;
      const PhaseMats P = phase_mats(L, phase, a);
      int u0, u1;
      block_units(P.units, u0, u1);
      const int n = u1 - u0;
      if (n <= 0) continue;
      const int maxu = max_units_fit(P, R.slot_bytes);
      const int nb = (n + maxu - 1) / maxu;
      for (int bi = 0; bi < nb; ++bi) {
        const Batch B = make_batch(P, u0 + bi * n / nb, u0 + (bi + 1) * n / nb, R.slot_bytes);
        produce_gemv(B, R);
      }
    }
  }
}

// ---------------------------------------------------------------- consumers

__device__ void grid_sync(unsigned* counter, unsigned& target) {
  consumers_sync();
  target += gridDim.x;
  if (threadIdx.x == 0) {
    __threadfence();
    add_release(counter, 1u);
    while (load_acquire(counter) < target) __nanosleep(64);
  }
  consumers_sync();
}

// The phase input in shared memory as the products read it: fp16, permuted, RMSNorm'd when norm_w is
// set, odd rows scaled by 1/16, in the staged order of each 8 rows; with every 32-row chunk's
// (1024 E, F) correction (see qgemv_u4.cu). Each lane takes row `lane` of chunks warp, warp + 8, ...,
// loading up to 16 of them at once.
__device__ void stage_input(const Geometry& G, unsigned char* smem, const void* x, bool fp32, const __half* norm_w,
                            const int* perm, int K, float eps, unsigned long long* trace = nullptr, int ti = 0) {
  constexpr int kBatch = 16;
  __half* xs = reinterpret_cast<__half*>(smem + G.xs);
  float2* corr = reinterpret_cast<float2*>(smem + G.corr);
  float* misc = reinterpret_cast<float*>(smem + G.misc);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int chunks = K >> 5;
  const float* xf = static_cast<const float*>(x);
  const __half* xh = static_cast<const __half*>(x);
  auto put = [&](int c, float v) {
    const int o = c * 32 + lane;
    if (o & 1) v *= 0.0625f;
    xs[(o & ~7) + staged_pos(o & 7)] = __float2half_rn(v);
  };
  // 1 / rms from every thread's partial sum of squares (warps in a fixed order).
  auto rms_of = [&](float ss) {
    ss = warp_sum(ss);
    if (lane == 0) misc[warp] = ss;
    consumers_sync();
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < kCWarps; ++w) t += misc[w];
    return rsqrtf(t / static_cast<float>(K) + eps);
  };
  float rms = 1.0f;
  const bool one_batch = chunks <= kCWarps * kBatch;
  if (norm_w && !one_batch) {
    float ss = 0.0f;
    for (int i = tid; i < K; i += kCThreads) {
      const float v = __ldcg(xf + i);
      ss += v * v;
    }
    rms = rms_of(ss);
  }
  for (int c0 = warp; c0 < chunks; c0 += kCWarps * kBatch) {
    int src[kBatch];
    float v[kBatch], nw[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int o = (c0 + kCWarps * i) * 32 + lane;
      src[i] = c0 + kCWarps * i < chunks ? (perm ? __ldg(perm + o) : o) : 0;
    }
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      v[i] = 0.0f;
      nw[i] = 1.0f;
      if (c0 + kCWarps * i < chunks) {
        v[i] = fp32 ? __ldcg(xf + src[i]) : __half2float(__ldcg(xh + src[i]));
        if (norm_w) nw[i] = __half2float(__ldg(norm_w + src[i]));
      }
    }
    if (norm_w && one_batch) {  // every value of x is in some lane's registers
      float ss = 0.0f;
#pragma unroll
      for (int i = 0; i < kBatch; ++i) ss += v[i] * v[i];
      rms = rms_of(ss);
    }
    if (tid == 0) trace_at(trace, ti);
#pragma unroll
    for (int i = 0; i < kBatch; ++i)
      if (c0 + kCWarps * i < chunks) put(c0 + kCWarps * i, norm_w ? v[i] * rms * nw[i] : v[i]);
  }
  consumers_sync();
  // Each chunk's (1024 E, F) from the staged halves: a thread per chunk, no shuffle chains. In the
  // staged order, positions 2, 3, 6, 7 of every 8 hold the odd rows (decoded 16x larger).
  for (int c = tid; c < chunks; c += kCThreads) {
    const uint4* q = reinterpret_cast<const uint4*>(xs + c * 32);
    float e = 0.0f, fo = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint4 u = q[i];
      const float2 p0 = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
      const float2 p1 = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
      const float2 p2 = __half22float2(*reinterpret_cast<const __half2*>(&u.z));
      const float2 p3 = __half22float2(*reinterpret_cast<const __half2*>(&u.w));
      const float ev = p0.x + p0.y + p2.x + p2.y, od = p1.x + p1.y + p3.x + p3.y;
      e += ev + od;
      fo += od;
    }
    const float f = (e - fo) + 16.0f * fo;
    corr[c] = make_float2(1024.0f * e, f);
  }
  if (tid == 0) trace_at(trace, ti + 1);
  consumers_sync();
}

__device__ __forceinline__ float exl2_scale(float mx, std::uint32_t code, int shift) {
  const float q = static_cast<float>(((code >> shift) & 15u) + 1u);
  return __half2float(__float2half_rn(mx * q * q * (1.0f / 256.0f)));
}

__device__ void consume_gemv(const KParams& kp, unsigned char* smem, const Batch& B, int phase, Ring& R) {
  const FusedDecodeArgs& a = kp.a;
  const Geometry& G = kp.g;
  const __half* xs = reinterpret_cast<const __half*>(smem + G.xs);
  const float2* corr = reinterpret_cast<const float2*>(smem + G.corr);
  float* red = reinterpret_cast<float*>(smem + G.red);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int wc0 = warp * B.cpw;  // the warp's first chunk in a stage
  float tot[kMaxUnits][2];
#pragma unroll
  for (int j = 0; j < kMaxUnits; ++j) tot[j][0] = tot[j][1] = 0.0f;

  for (int s0 = 0; s0 < B.krows; s0 += B.sr) {
    const int rows = min(B.sr, B.krows - s0);
    const int nch = max(0, min(B.cpw, rows / 4 - wc0));
    const int slot = R.it % kSlots;
    mbar_wait(R.full + slot, (R.it / kSlots) & 1);
    const unsigned char* base = R.base + static_cast<std::size_t>(slot) * R.slot_bytes;
    float acc[kMaxUnits][4];
#pragma unroll
    for (int j = 0; j < kMaxUnits; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    float E = 0.0f, F = 0.0f;
    for (int cc = 0; cc < nch; ++cc) {
      const int c = wc0 + cc;
      const int krow = s0 * 8 + c * 32;
      uint4 xv = make_uint4(0u, 0u, 0u, 0u);
      if (g == 0) xv = *reinterpret_cast<const uint4*>(xs + krow + 8 * t);
      const float2 cr = corr[krow >> 5];
      E += cr.x;
      F += cr.y;
      const unsigned char* wrow = base + (c * 4 + t) * B.stride;
#pragma unroll
      for (int j = 0; j < kMaxUnits; ++j) {
        if (j < B.units) {
          std::uint32_t w0, w1;
          if (B.pair) {
            w0 = *reinterpret_cast<const std::uint32_t*>(wrow + 4 * (8 * j + g));
            w1 = *reinterpret_cast<const std::uint32_t*>(wrow + 4 * (8 * B.units + 8 * j + g));
          } else {
            const uint2 w = *reinterpret_cast<const uint2*>(wrow + 4 * (16 * j + 2 * g));
            w0 = w.x;
            w1 = w.y;
          }
          detail::mma_16816(acc[j], lo_pair(w0), lo_pair(w1), hi_pair(w0), hi_pair(w1), xv.x, xv.y);
          detail::mma_16816(acc[j], lo_pair(w0 >> 8), lo_pair(w1 >> 8), hi_pair(w0 >> 8), hi_pair(w1 >> 8), xv.z, xv.w);
        }
      }
    }
    if (nch > 0 && t == 0) {  // fold the stage's chunks (one group) with the group's scales
      const int gl = (wc0 * 32) >> B.gshift;  // the warp's group within the stage
      const unsigned char* rec = base + rows * B.stride + gl * B.rec;
      const int gg = ((s0 * 8) >> B.gshift) + gl;
#pragma unroll
      for (int j = 0; j < kMaxUnits; ++j) {
        if (j < B.units) {
          const int a0 = B.pair ? 8 * j + g : 16 * j + 2 * g;
          const int a1 = B.pair ? 8 * B.units + 8 * j + g : a0 + 1;
          float s0f, s1f, z0 = 8.0f, z1 = 8.0f;
          if (B.exl2) {
            const int sa = seg_of(B, a0), sb = seg_of(B, a1);
            const int ca = pick(B.col0, sa) + (a0 - pick(B.scol, sa)), cb = pick(B.col0, sb) + (a1 - pick(B.scol, sb));
            const std::uint32_t wa = *reinterpret_cast<const std::uint32_t*>(rec + sa * B.area + (ca >> 3) * 4 - pick(B.cb0, sa));
            const std::uint32_t wb = *reinterpret_cast<const std::uint32_t*>(rec + sb * B.area + (cb >> 3) * 4 - pick(B.cb0, sb));
            const __half* mxa = reinterpret_cast<const __half*>(rec + 3 * B.area + 16 * sa);
            const __half* mxb = reinterpret_cast<const __half*>(rec + 3 * B.area + 16 * sb);
            s0f = exl2_scale(__half2float(mxa[gg & 7]), wa, 4 * (ca & 7));
            s1f = exl2_scale(__half2float(mxb[gg & 7]), wb, 4 * (cb & 7));
          } else {
            const __half* h = reinterpret_cast<const __half*>(rec);
            s0f = __half2float(h[a0]);
            s1f = __half2float(h[a1]);
            if (B.zeros) {
              z0 = __half2float(h[B.tcols + a0]);
              z1 = __half2float(h[B.tcols + a1]);
            }
          }
          tot[j][0] = fmaf(acc[j][0] - fmaf(z0, F, E), s0f, tot[j][0]);
          tot[j][1] = fmaf(acc[j][2] - fmaf(z1, F, E), s1f, tot[j][1]);
        }
      }
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(R.empty + slot);
    ++R.it;
  }

  // Warps' sums per column, then the epilogue in a fixed order.
  constexpr int kRed = kMaxUnits * 16;
  if (t == 0) {
#pragma unroll
    for (int j = 0; j < kMaxUnits; ++j) {
      if (j < B.units) {
        const int a0 = B.pair ? 8 * j + g : 16 * j + 2 * g;
        const int a1 = B.pair ? 8 * B.units + 8 * j + g : a0 + 1;
        red[warp * kRed + a0] = tot[j][0];
        red[warp * kRed + a1] = tot[j][1];
      }
    }
  }
  consumers_sync();
  const int qd = a.heads * a.head_dim, kvd = a.kv_heads * a.head_dim;
  if (B.pair) {
    const int half_cols = B.units * 8;
    for (int i = tid; i < half_cols; i += kCThreads) {
      float yg = 0.0f, yu = 0.0f;
#pragma unroll
      for (int w = 0; w < kCWarps; ++w) {
        yg += red[w * kRed + i];
        yu += red[w * kRed + half_cols + i];
      }
      __stcg(a.act + B.col0[0] + i, __float2half_rn(detail::silu(yg) * yu));
    }
  } else {
    for (int i = tid; i < B.tcols; i += kCThreads) {
      float y = 0.0f;
#pragma unroll
      for (int w = 0; w < kCWarps; ++w) y += red[w * kRed + i];
      const int s = seg_of(B, i);
      const int col = pick(B.col0, s) + (i - pick(B.scol, s));
      if (phase == kQkv) {
        const int off = s == 0 ? 0 : (s == 1 ? qd : qd + kvd);
        __stcg(a.qkv + off + col, y);
      } else {
        float* hp = a.h + col;
        __stcg(hp, __ldcg(hp) + y);
      }
    }
  }
  consumers_sync();
}

__device__ void consumer(const KParams& kp, unsigned char* smem, Ring& R) {
  const FusedDecodeArgs& a = kp.a;
  const int tid = threadIdx.x;
  unsigned target = 0;
  if (tid == 0) trace_at(a.trace, 0);
  // cos / sin of the step's position (transformers' rotate_half convention, as rope_kv.cu).
  {
    float* cs = reinterpret_cast<float*>(smem + kp.g.cs);
    float* sn = reinterpret_cast<float*>(smem + kp.g.sn);
    const int pos = a.positions[0];
    for (int i = tid; i < a.head_dim / 2; i += kCThreads) {
      float s, c;
      sincosf(static_cast<float>(pos) * a.inv_freq[i], &s, &c);
      cs[i] = c * a.attn_factor;
      sn[i] = s * a.attn_factor;
    }
  }
  const int qd = a.heads * a.head_dim;
  FusedLayer& L = *reinterpret_cast<FusedLayer*>(smem + kp.g.lay_c);
  if (tid < 32) load_layer(a.layers, &L);
  consumers_sync();
  for (int li = 0; li < a.n_layers; ++li) {
    for (int phase = kQkv; phase <= kDown; ++phase) {
      if (li > 0 || phase > kQkv) grid_sync(a.counters, target);
      const int tp = 1 + 8 * (5 * li + (phase == kQkv ? 0 : phase + 1));
      if (tid == 0) trace_at(a.trace, tp);
      const PhaseMats P = phase_mats(L, phase, a);
      int u0, u1;
      block_units(P.units, u0, u1);
      const int n = u1 - u0;
      const int maxu = max_units_fit(P, R.slot_bytes);
      const int nb = n > 0 ? (n + maxu - 1) / maxu : 0;
      if (tid == 0) trace_at(a.trace, tp + 3);
      switch (phase) {
        case kQkv: stage_input(kp.g, smem, a.h, true, L.attn_norm, L.q.perm, a.hidden, a.eps, a.trace, tp + 4); break;
        case kO: stage_input(kp.g, smem, a.attn, false, nullptr, L.o.perm, qd, a.eps, a.trace, tp + 4); break;
        case kGu: stage_input(kp.g, smem, a.h, true, L.mlp_norm, L.gate.perm, a.hidden, a.eps, a.trace, tp + 4); break;
        default: stage_input(kp.g, smem, a.act, false, nullptr, L.down.perm, a.inter, a.eps, a.trace, tp + 4); break;
      }
      if (tid == 0) trace_at(a.trace, tp + 1);
      for (int bi = 0; bi < nb; ++bi) {
        const Batch B = make_batch(P, u0 + bi * n / nb, u0 + (bi + 1) * n / nb, R.slot_bytes);
        consume_gemv(kp, smem, B, phase, R);
      }
      if (tid == 0) trace_at(a.trace, tp + 2);
      if (phase == kQkv) {
        grid_sync(a.counters, target);
        if (tid == 0) trace_at(a.trace, tp + 8);
        consume_attention(kp, smem, L, R);
        if (tid == 0) trace_at(a.trace, tp + 8 + 2);
      }
    }
    // The next layer's descriptor (every consumer is past this layer's last use: consume_gemv ends
    // with a barrier; the next phase starts with one).
    if (tid < 32 && li + 1 < a.n_layers) load_layer(a.layers + li + 1, &L);
  }
  if (tid == 0) trace_at(a.trace, 1 + 8 * 5 * a.n_layers);
}

#endif  // __CUDA_ARCH__ >= 900

__global__ void __launch_bounds__(kBlockThreads, 1) fused_decode_kernel(const __grid_constant__ KParams kp) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) unsigned char smem[];
  Ring R;
  R.base = smem + kp.g.ring;
  R.full = reinterpret_cast<std::uint64_t*>(smem + kp.g.bars);
  R.empty = R.full + kSlots;
  R.slot_bytes = kp.g.slot_bytes;
  R.it = 0;
  if (threadIdx.x == 0) {
    for (int i = 0; i < kSlots; ++i) {
      mbar_init(R.full + i, 1 + kPThreads);
      mbar_init(R.empty + i, kCWarps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (threadIdx.x >= kCThreads) producer(kp, smem, R);
  else consumer(kp, smem, R);
#endif
}

int smem_limit(int device) {
  int v = 0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) return 0;
  return v;
}

int max_k_of(int hidden, int inter, int heads, int head_dim) { return std::max({hidden, inter, heads * head_dim}); }

}  // namespace

bool fused_decode_device_ok(int device) {
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  if (major != 9) return false;
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, fused_decode_kernel) != cudaSuccess) return false;
  return attr.binaryVersion >= 90;
}

std::size_t fused_decode_smem_bytes(int hidden, int inter, int heads, int kv_heads, int head_dim) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  const Geometry g = make_geometry(max_k_of(hidden, inter, heads, head_dim), smem_limit(device));
  (void)kv_heads;
  // A slot must hold an attention stage and a 32-row stage of one unit.
  const int attn_stage = 2 * kKeys * head_dim * 2;
  if (g.slot_bytes < std::max(attn_stage, 32 * (128 + 64) + 4096)) return 0;
  return static_cast<std::size_t>(g.total);
}

bool fused_decode_layer_ok(const FusedLayer& l, int hidden, int inter, int heads, int kv_heads, int head_dim,
                           bool perm_shared_qkv, bool perm_shared_gu, std::string* why) {
  auto no = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (head_dim != 64 && head_dim != 128) return no("head_dim is not 64 or 128");
  if (kv_heads <= 0 || heads % kv_heads != 0 || heads / kv_heads > kMaxGroup) return no("more than 8 query heads per kv head");
  const int qd = heads * head_dim, kvd = kv_heads * head_dim;
  if (hidden % 256 != 0 || inter % 256 != 0 || qd % 256 != 0) return no("a width is not a multiple of 256");
  if (!l.attn_norm || !l.mlp_norm || !l.k_cache || !l.v_cache) return no("missing norm weights or cache");
  const QMatrix* all[7] = {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down};
  const int ks[7] = {hidden, hidden, hidden, qd, hidden, hidden, inter};
  const int ns[7] = {qd, kvd, kvd, hidden, inter, inter, hidden};
  for (int i = 0; i < 7; ++i) {
    const QMatrix& m = *all[i];
    if (!m.q_weight || m.uniform_bits != 4 || m.group_shift < 5) return no("a matrix is not uniform 4-bit");
    if (m.bias) return no("a matrix has a bias");
    if (m.k != ks[i] || m.n != ns[i] || m.n % 16 != 0 || m.n_pad < m.n) return no("a matrix has an unexpected shape");
    if (m.q_scale ? !m.q_scale_max : !m.scales) return no("a matrix lacks its scales");
  }
  auto same = [](const QMatrix& x, const QMatrix& y) {
    return x.group_shift == y.group_shift && (x.q_scale == nullptr) == (y.q_scale == nullptr) &&
           (x.zeros == nullptr) == (y.zeros == nullptr);
  };
  if (!same(l.q, l.k) || !same(l.q, l.v) || !same(l.gate, l.up)) return no("matrices sharing an input differ in format");
  if (!perm_shared_qkv || !perm_shared_gu) return no("matrices sharing an input permute it differently");
  if (fused_decode_smem_bytes(hidden, inter, heads, kv_heads, head_dim) == 0) return no("the layer does not fit shared memory");
  return true;
}

std::size_t fused_decode_workspace_floats(int heads, int kv_heads, int head_dim, int sm_count) {
  const int splits = std::max(1, sm_count / std::max(1, kv_heads));
  return static_cast<std::size_t>(kv_heads) * splits * (heads / std::max(1, kv_heads)) * (head_dim + 2);
}

std::size_t fused_decode_counter_count(int kv_heads) { return 1 + static_cast<std::size_t>(kv_heads); }

int fused_decode(const FusedDecodeArgs& a, int sm_count, cudaStream_t stream) {
  if (!a.layers || a.n_layers <= 0 || !a.h || !a.qkv || !a.attn || !a.act || !a.positions || !a.row_seq ||
      !a.block_tables || !a.workspace || !a.counters || !a.inv_freq || sm_count <= 0 || a.page_size <= 0 ||
      a.max_pages <= 0 || (a.head_dim != 64 && a.head_dim != 128) || a.kv_heads <= 0 || a.heads % a.kv_heads != 0 ||
      a.heads / a.kv_heads > kMaxGroup)
    return cudaErrorInvalidValue;
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  const Geometry g = make_geometry(max_k_of(a.hidden, a.inter, a.heads, a.head_dim), smem_limit(device));
  if (fused_decode_smem_bytes(a.hidden, a.inter, a.heads, a.kv_heads, a.head_dim) == 0) return cudaErrorInvalidValue;
  static detail::SmemGrant granted;
  if (const int e = detail::ensure_smem(fused_decode_kernel, static_cast<std::size_t>(g.total), granted)) return e;
  const std::size_t counters = fused_decode_counter_count(a.kv_heads) * sizeof(unsigned);
  if (const cudaError_t e = cudaMemsetAsync(a.counters, 0, counters, stream); e != cudaSuccess) return e;
  const KParams kp{a, g};
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(sm_count));
  cfg.blockDim = dim3(kBlockThreads);
  cfg.dynamicSmemBytes = static_cast<std::size_t>(g.total);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return static_cast<int>(cudaLaunchKernelEx(&cfg, fused_decode_kernel, kp));
}

}  // namespace nibble::kernels
