// The attention phase of the fused decode kernel: each block's (kv head, key range) items, whose
// K and V rows the producer streams through the ring 32 keys a stage (this step's own key comes
// from q/k/v, rotated, and is appended to the cache here), and the consumers' online softmax;
// the last range of a head to finish combines the ranges in order. Included by decode_fused.cu.
#pragma once

#include "decode_fused_common.cuh"

namespace nibble::kernels {
namespace {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

__device__ void produce_attention(const FusedDecodeArgs& a, const FusedLayer& L, Ring& R) {
  const int p = threadIdx.x - kCThreads;
  const int lane = p & 31;
  const bool lead = p < 32;
  const AttnPlan P = attn_plan(a, L.window);
  const int hd = a.head_dim;
  const int* table = a.block_tables + static_cast<std::size_t>(a.row_seq[0]) * a.max_pages;
  for (int item = blockIdx.x; item < P.items; item += gridDim.x) {
    const int kvh = item / P.splits, s = item % P.splits;
    const int st0 = s * P.cps, st1 = min(P.nst, st0 + P.cps);
    for (int st = st0; st < st1; ++st) {
      const int k0 = P.start + st * kKeys;
      const int nk = min(kKeys, P.pos + 1 - k0);
      const int copied = nk - (k0 + nk - 1 == P.pos ? 1 : 0);  // this step's key comes from q/k/v
      const int slot = R.it % kSlots;
      mbar_wait(R.empty + slot, ((R.it / kSlots) & 1) ^ 1);
      unsigned char* dst = R.base + static_cast<std::size_t>(slot) * R.slot_bytes;
      if (p == 0) mbar_expect_arrive(R.full + slot, static_cast<unsigned>(copied * 2 * hd * 2));
      __syncwarp();
      if (lead) {
        for (int j = lane; j < copied; j += 32) {
          const std::size_t row = cache_row(a, table, k0 + j, kvh) * hd;
          bulk_copy(dst + j * hd * 2, L.k_cache + row, static_cast<unsigned>(hd * 2), R.full + slot);
          bulk_copy(dst + (kKeys + j) * hd * 2, L.v_cache + row, static_cast<unsigned>(hd * 2), R.full + slot);
        }
      }
      copies_arrive(R.full + slot);
      ++R.it;
    }
  }
}

__device__ void consume_attention(const KParams& kp, unsigned char* smem, const FusedLayer& L, Ring& R) {
  const FusedDecodeArgs& a = kp.a;
  const Geometry& G = kp.g;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int hd = a.head_dim, half = hd / 2, group = a.heads / a.kv_heads;
  const int qd = a.heads * hd, kvd = a.kv_heads * hd;
  float* sq = reinterpret_cast<float*>(smem + G.sq);
  float* sp = reinterpret_cast<float*>(smem + G.sp);
  __half* knew = reinterpret_cast<__half*>(smem + G.knew);
  __half* vnew = reinterpret_cast<__half*>(smem + G.vnew);
  const float* cs = reinterpret_cast<const float*>(smem + G.cs);
  const float* sn = reinterpret_cast<const float*>(smem + G.sn);
  float* misc = reinterpret_cast<float*>(smem + G.misc);
  float* s_m = misc + 16;
  float* s_l = misc + 24;
  float* s_alpha = misc + 32;
  int* s_flag = reinterpret_cast<int*>(misc + 40);
  const AttnPlan P = attn_plan(a, L.window);
  const int* table = a.block_tables + static_cast<std::size_t>(a.row_seq[0]) * a.max_pages;
  const int per = hd >> 5;  // head dims per lane in a score

  for (int item = blockIdx.x; item < P.items; item += gridDim.x) {
    const int kvh = item / P.splits, split = item % P.splits;
    const int st0 = split * P.cps, st1 = min(P.nst, st0 + P.cps);
    const bool has_pos = st1 == P.nst;
    // Rotated, scaled queries of the kv head's group; this step's key and value (last range).
    for (int idx = tid; idx < group * hd; idx += kCThreads) {
      const int gi = idx / hd, d = idx - gi * hd;
      const float* qp = a.qkv + static_cast<std::size_t>(kvh * group + gi) * hd;
      const int i = d < half ? d : d - half;
      const float x0 = __ldcg(qp + i), x1 = __ldcg(qp + i + half);
      const float r = d < half ? x0 * cs[i] - x1 * sn[i] : x1 * cs[i] + x0 * sn[i];
      sq[idx] = r * a.scale;
    }
    if (has_pos) {
      const std::size_t row = cache_row(a, table, P.pos, kvh) * hd;
      for (int d = tid; d < hd; d += kCThreads) {
        const float* kp_ = a.qkv + qd + static_cast<std::size_t>(kvh) * hd;
        const int i = d < half ? d : d - half;
        const float x0 = __ldcg(kp_ + i), x1 = __ldcg(kp_ + i + half);
        const float r = d < half ? x0 * cs[i] - x1 * sn[i] : x1 * cs[i] + x0 * sn[i];
        const __half kh = __float2half_rn(r);
        const __half vh = __float2half_rn(__ldcg(a.qkv + qd + kvd + static_cast<std::size_t>(kvh) * hd + d));
        knew[d] = kh;
        vnew[d] = vh;
        L.k_cache[row + d] = kh;
        L.v_cache[row + d] = vh;
      }
    }
    if (tid < group) {
      s_m[tid] = -FLT_MAX;
      s_l[tid] = 0.0f;
    }
    float acc[kAccPerThread];
#pragma unroll
    for (int e = 0; e < kAccPerThread; ++e) acc[e] = 0.0f;
    consumers_sync();

    for (int st = st0; st < st1; ++st) {
      const int k0 = P.start + st * kKeys;
      const int nk = min(kKeys, P.pos + 1 - k0);
      const int slot = R.it % kSlots;
      mbar_wait(R.full + slot, (R.it / kSlots) & 1);
      const __half* kb = reinterpret_cast<const __half*>(R.base + static_cast<std::size_t>(slot) * R.slot_bytes);
      const __half* vb = kb + kKeys * hd;
      // Scores: warp w takes keys 4w .. 4w + 3; lanes split the head dimension.
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int j = 4 * warp + u;
        if (j < nk) {
          const __half* kr = k0 + j == P.pos ? knew : kb + j * hd;
          float kf[4];
          if (per == 4) {
            const uint2 raw = *reinterpret_cast<const uint2*>(kr + lane * 4);
            const float2 f0 = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
            const float2 f1 = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
            kf[0] = f0.x;
            kf[1] = f0.y;
            kf[2] = f1.x;
            kf[3] = f1.y;
          } else {
            const float2 f0 = __half22float2(*reinterpret_cast<const __half2*>(kr + lane * 2));
            kf[0] = f0.x;
            kf[1] = f0.y;
            kf[2] = kf[3] = 0.0f;
          }
          for (int gi = 0; gi < group; ++gi) {
            const float* q = sq + gi * hd + lane * per;
            float v = q[0] * kf[0] + q[1] * kf[1];
            if (per == 4) v += q[2] * kf[2] + q[3] * kf[3];
            v = warp_sum(v);
            if (lane == 0) sp[gi * kKeys + j] = v;
          }
        }
      }
      consumers_sync();
      for (int gi = warp; gi < group; gi += kCWarps) {
        const float sc = lane < nk ? sp[gi * kKeys + lane] : -FLT_MAX;
        const float m_old = s_m[gi];
        const float m_new = fmaxf(m_old, warp_max(sc));
        const float p = lane < nk ? __expf(sc - m_new) : 0.0f;
        const float sum = warp_sum(p);
        sp[gi * kKeys + lane] = p;
        if (lane == 0) {
          const float al = __expf(m_old - m_new);
          s_alpha[gi] = al;
          s_l[gi] = s_l[gi] * al + sum;
          s_m[gi] = m_new;
        }
      }
      consumers_sync();
#pragma unroll
      for (int e = 0; e < kAccPerThread; ++e) {
        const int idx = tid + e * kCThreads;
        if (idx < group * hd) {
          const int gi = idx / hd, d = idx - gi * hd;
          float v = acc[e] * s_alpha[gi];
          const float* pr = sp + gi * kKeys;
          for (int j = 0; j < nk; ++j) {
            const __half* vr = k0 + j == P.pos ? vnew : vb + j * hd;
            v = fmaf(pr[j], __half2float(vr[d]), v);
          }
          acc[e] = v;
        }
      }
      __syncwarp();
      if (lane == 0) mbar_arrive(R.empty + slot);
      ++R.it;
      consumers_sync();
    }

    // This range's (acc, max, sum); the last range of the head to finish combines them in order.
    const int rec = hd + 2;
    float* ws_head = a.workspace + static_cast<std::size_t>(kvh) * P.splits * group * rec;
    float* mine = ws_head + static_cast<std::size_t>(split) * group * rec;
#pragma unroll
    for (int e = 0; e < kAccPerThread; ++e) {
      const int idx = tid + e * kCThreads;
      if (idx < group * hd) {
        const int gi = idx / hd, d = idx - gi * hd;
        __stcg(mine + gi * rec + d, acc[e]);
      }
    }
    if (tid < group) {
      __stcg(mine + tid * rec + hd, s_m[tid]);
      __stcg(mine + tid * rec + hd + 1, s_l[tid]);
    }
    __threadfence();
    consumers_sync();
    if (tid == 0) {
      const unsigned prev = atomicAdd(a.counters + 1 + kvh, 1u);
      *s_flag = prev + 1 == static_cast<unsigned>(P.splits);
    }
    consumers_sync();
    if (*s_flag) {
      __threadfence();
      for (int idx = tid; idx < group * hd; idx += kCThreads) {
        const int gi = idx / hd, d = idx - gi * hd;
        float m = -FLT_MAX;
        for (int s = 0; s < P.splits; ++s) m = fmaxf(m, __ldcg(ws_head + (s * group + gi) * rec + hd));
        float num = 0.0f, den = 0.0f;
        for (int s = 0; s < P.splits; ++s) {
          const float* r = ws_head + (s * group + gi) * rec;
          const float w = __expf(__ldcg(r + hd) - m);
          num = fmaf(__ldcg(r + d), w, num);
          den = fmaf(__ldcg(r + hd + 1), w, den);
        }
        __stcg(a.attn + static_cast<std::size_t>(kvh * group + gi) * hd + d, __float2half_rn(num / den));
      }
      if (tid == 0) a.counters[1 + kvh] = 0u;
    }
    consumers_sync();
  }
}

#endif  // __CUDA_ARCH__ >= 900

}  // namespace
}  // namespace nibble::kernels
