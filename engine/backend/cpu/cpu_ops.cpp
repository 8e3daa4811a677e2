// RMSNorm, SwiGLU and paged attention on the CPU.
#include "backend/cpu/cpu_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace nibble {

void cpu_rmsnorm(const float* x, const float* w, float* out, int n, float eps) {
  double ss = 0.0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float var = static_cast<float>(ss / n);
  const float inv = 1.0f / std::sqrt(var + eps);
  for (int i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv);
}

void cpu_swiglu(const float* gu, float* act, int rows, int n) {
  for (int r = 0; r < rows; ++r) {
    const float* g = gu + static_cast<std::size_t>(r) * 2 * n;
    const float* u = g + n;
    float* a = act + static_cast<std::size_t>(r) * n;
    for (int i = 0; i < n; ++i) a[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

namespace {

// Offset of (position, kv head) in a layer's pool through a sequence's block table.
inline std::size_t kv_offset(const SeqEntry& seq, const AttentionShape& s, int pos, int kv_head) {
  const std::size_t page = static_cast<std::size_t>(seq.pages[static_cast<std::size_t>(pos / s.page_size)]);
  const std::size_t slot = page * s.page_size + static_cast<std::size_t>(pos % s.page_size);
  return (slot * s.n_kv_heads + kv_head) * s.head_dim;
}

float dot(const float* a, const float* b, int n) {
  float acc[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) acc[0] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

}  // namespace

void kv_store_row(std::uint8_t* q, float* scales, int bits, int group, std::size_t r, const float* x, int n) {
  const int groups = n / group;
  if (bits == 8) {
    auto* dst = reinterpret_cast<std::int8_t*>(q) + r * static_cast<std::size_t>(n);
    float* sc = scales + r * static_cast<std::size_t>(groups);
    for (int g = 0; g < groups; ++g) {
      float amax = 0.0f;
      for (int i = 0; i < group; ++i) amax = std::max(amax, std::abs(x[g * group + i]));
      const float scale = amax / 127.0f;
      const float inv = scale > 0 ? 1.0f / scale : 0.0f;
      sc[g] = scale;
      for (int i = 0; i < group; ++i)
        dst[g * group + i] = static_cast<std::int8_t>(std::lrint(std::clamp(x[g * group + i] * inv, -127.0f, 127.0f)));
    }
    return;
  }
  std::uint8_t* dst = q + r * static_cast<std::size_t>(n / 2);
  float* sc = scales + r * static_cast<std::size_t>(groups) * 2;
  for (int g = 0; g < groups; ++g) {
    float lo = x[g * group], hi = lo;
    for (int i = 1; i < group; ++i) {
      lo = std::min(lo, x[g * group + i]);
      hi = std::max(hi, x[g * group + i]);
    }
    const float scale = (hi - lo) / 15.0f;
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    sc[2 * g] = scale;
    sc[2 * g + 1] = lo;
    for (int i = 0; i < group; i += 2) {
      const auto a = static_cast<unsigned>(std::clamp(std::lrint((x[g * group + i] - lo) * inv), 0L, 15L));
      const auto b = static_cast<unsigned>(std::clamp(std::lrint((x[g * group + i + 1] - lo) * inv), 0L, 15L));
      dst[(g * group + i) / 2] = static_cast<std::uint8_t>(a | (b << 4));
    }
  }
}

void kv_load_row(const std::uint8_t* q, const float* scales, int bits, int group, std::size_t r, float* x, int n) {
  const int groups = n / group;
  if (bits == 8) {
    const auto* src = reinterpret_cast<const std::int8_t*>(q) + r * static_cast<std::size_t>(n);
    const float* sc = scales + r * static_cast<std::size_t>(groups);
    for (int i = 0; i < n; ++i) x[i] = static_cast<float>(src[i]) * sc[i / group];
    return;
  }
  const std::uint8_t* src = q + r * static_cast<std::size_t>(n / 2);
  const float* sc = scales + r * static_cast<std::size_t>(groups) * 2;
  for (int i = 0; i < n; i += 2) {
    const float scale = sc[2 * (i / group)], lo = sc[2 * (i / group) + 1];
    x[i] = lo + static_cast<float>(src[i / 2] & 15u) * scale;
    x[i + 1] = lo + static_cast<float>(src[i / 2] >> 4) * scale;
  }
}

void cpu_attention(const BatchPlan& plan, const AttentionShape& s, CpuKvLayer kv, const float* qkv, int ld_qkv,
                   float* out, ThreadPool& pool) {
  const int hd = s.head_dim, q_dim = s.n_heads * hd, kv_dim = s.n_kv_heads * hd;
  for (const auto& seq : plan.seqs) {
    for (int r = 0; r < seq.n_tokens; ++r) {
      const float* row = qkv + static_cast<std::size_t>(seq.token_begin + r) * ld_qkv;
      for (int h = 0; h < s.n_kv_heads; ++h) {
        const std::size_t off = kv_offset(seq, s, seq.pos_begin + r, h);
        if (kv.bits == 32) {
          std::memcpy(kv.k + off, row + q_dim + h * hd, sizeof(float) * hd);
          std::memcpy(kv.v + off, row + q_dim + kv_dim + h * hd, sizeof(float) * hd);
        } else {
          kv_store_row(kv.kq, kv.ks, kv.bits, kv.group, off / static_cast<std::size_t>(hd), row + q_dim + h * hd, hd);
          kv_store_row(kv.vq, kv.vs, kv.bits, kv.group, off / static_cast<std::size_t>(hd), row + q_dim + kv_dim + h * hd, hd);
        }
      }
    }
  }
  // Tasks: (row, head) pairs in plan order; each reads its own q and writes its own output.
  struct Task {
    int seq;
    int row;
  };
  std::vector<Task> rows;
  std::size_t work = 0;
  for (int si = 0; si < static_cast<int>(plan.seqs.size()); ++si) {
    const auto& seq = plan.seqs[static_cast<std::size_t>(si)];
    for (int r = 0; r < seq.n_tokens; ++r) {
      rows.push_back({si, r});
      work += static_cast<std::size_t>(seq.pos_begin + r + 1) * q_dim;
    }
  }
  const int group = s.n_heads / s.n_kv_heads;
  auto run = [&](std::size_t t0, std::size_t t1) {
    std::vector<float> scores;
    std::vector<float> acc(static_cast<std::size_t>(hd)), tmp(static_cast<std::size_t>(hd));
    const bool quant = kv.bits != 32;
    auto key = [&](const SeqEntry& seq, int j, int kvh) -> const float* {
      const std::size_t off = kv_offset(seq, s, j, kvh);
      if (!quant) return kv.k + off;
      kv_load_row(kv.kq, kv.ks, kv.bits, kv.group, off / static_cast<std::size_t>(hd), tmp.data(), hd);
      return tmp.data();
    };
    auto value = [&](const SeqEntry& seq, int j, int kvh) -> const float* {
      const std::size_t off = kv_offset(seq, s, j, kvh);
      if (!quant) return kv.v + off;
      kv_load_row(kv.vq, kv.vs, kv.bits, kv.group, off / static_cast<std::size_t>(hd), tmp.data(), hd);
      return tmp.data();
    };
    for (std::size_t t = t0; t < t1; ++t) {
      const Task task = rows[t / static_cast<std::size_t>(s.n_heads)];
      const int h = static_cast<int>(t % static_cast<std::size_t>(s.n_heads));
      const auto& seq = plan.seqs[static_cast<std::size_t>(task.seq)];
      const int pos = seq.pos_begin + task.row;
      const int first = s.sliding_window > 0 ? std::max(0, pos - s.sliding_window + 1) : 0;
      const std::size_t row = static_cast<std::size_t>(seq.token_begin + task.row);
      const float* q = qkv + row * ld_qkv + static_cast<std::size_t>(h) * hd;
      const int kvh = h / group;
      scores.resize(static_cast<std::size_t>(pos - first + 1));
      float mx = -INFINITY;
      for (int j = first; j <= pos; ++j) {
        const float sc = dot(q, key(seq, j, kvh), hd) * s.scale;
        scores[static_cast<std::size_t>(j - first)] = sc;
        mx = std::max(mx, sc);
      }
      float sum = 0.0f;
      for (auto& sc : scores) {
        sc = std::exp(sc - mx);
        sum += sc;
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int j = first; j <= pos; ++j) {
        const float p = scores[static_cast<std::size_t>(j - first)] / sum;
        const float* v = value(seq, j, kvh);
        for (int d = 0; d < hd; ++d) acc[static_cast<std::size_t>(d)] += p * v[d];
      }
      std::memcpy(out + row * q_dim + static_cast<std::size_t>(h) * hd, acc.data(), sizeof(float) * hd);
    }
  };
  const std::size_t tasks = rows.size() * static_cast<std::size_t>(s.n_heads);
  // Short decode steps run inline: waking workers costs more than a few thousand multiply-adds.
  if (work < (1u << 15)) return run(0, tasks);
  pool.parallel_for(tasks, 1, run);
}

}  // namespace nibble
