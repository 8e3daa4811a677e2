// Kernel timings at the synthetic 7B decode shapes (Llama-2-7B, EXL2 4-bit g128, batch 1): each
// GEMV, attention, RoPE/KV append, and a whole 32-layer decode step captured as one graph, timed
// with CUDA events after warm-up (median of 50). Prints microseconds and effective bandwidth so
// the per-token time can be compared with its byte floor. Not a test: run by hand or by
// tools/gpu/run.sh --kernels on the GPU machine; `bench_kernels --graph` times only the step graph,
// NIBBLE_GRAPH=qkv,rope,attn,o,gu,d (any sequence of those) sets the kernels of each of its layers.
#include <cuda_fp16.h>
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "nibble_kernels/attention.h"
#include "nibble_kernels/decode_fused.h"
#include "nibble_kernels/dequant.h"
#include "nibble_kernels/dgemv.h"
#include "nibble_kernels/ops.h"
#include "nibble_kernels/qgemv.h"

namespace {

using namespace nibble::kernels;

#define CK(x)                                                                                   \
  do {                                                                                          \
    const int e_ = static_cast<int>(x);                                                         \
    if (e_ != 0) {                                                                              \
      std::fprintf(stderr, "%s:%d %s -> %d (%s)\n", __FILE__, __LINE__, #x, e_, cudaGetErrorString(cudaError_t(e_))); \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

template <class T>
T* dev_random(std::size_t n, std::mt19937_64& rng) {
  std::vector<std::uint32_t> h((n * sizeof(T) + 3) / 4);
  for (auto& v : h) v = static_cast<std::uint32_t>(rng());
  T* p = nullptr;
  CK(cudaMalloc(&p, h.size() * 4));
  CK(cudaMemcpy(p, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
  return p;
}

template <class T>
T* dev_fill(std::size_t n, T v) {
  std::vector<T> h(n, v);
  T* p = nullptr;
  CK(cudaMalloc(&p, n * sizeof(T)));
  CK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  return p;
}

struct Mat {
  QMatrix q;
  double bytes = 0;
};

Mat make_exl2(int K, int N, int sms, std::mt19937_64& rng, int launch_tiles = 0) {
  Mat m;
  const int n_pad = (N + 127) / 128 * 128, G = K / 128;
  std::vector<QGroup> groups;
  for (int g = 0; g < G; ++g) groups.push_back({g * 128, (g + 1) * 128, 4, g * 16});
  const auto splits = qgemv_plan_splits(groups, launch_tiles > 0 ? launch_tiles : n_pad / 128, sms);
  m.q.q_weight = dev_random<std::uint32_t>(static_cast<std::size_t>(K / 8) * n_pad, rng);
  // Scale codes 0..15 random; q_scale_max 0.002 keeps outputs finite.
  m.q.q_scale = dev_random<std::uint32_t>(static_cast<std::size_t>(G) * n_pad / 8, rng);
  m.q.q_scale_max = dev_fill<__half>(G, __float2half(0.002f));
  QGroup* gd = nullptr;
  CK(cudaMalloc(&gd, groups.size() * sizeof(QGroup)));
  CK(cudaMemcpy(gd, groups.data(), groups.size() * sizeof(QGroup), cudaMemcpyHostToDevice));
  int2* sd = nullptr;
  CK(cudaMalloc(&sd, splits.size() * sizeof(int2)));
  CK(cudaMemcpy(sd, splits.data(), splits.size() * sizeof(int2), cudaMemcpyHostToDevice));
  m.q.groups = gd;
  m.q.splits = sd;
  m.q.k = K;
  m.q.n = N;
  m.q.n_pad = n_pad;
  m.q.groups_count = G;
  m.q.n_splits = static_cast<int>(splits.size());
  qgemv_describe_splits(m.q, groups, splits);
  m.bytes = static_cast<double>(K) * N / 2 + static_cast<double>(G) * N / 2;
  return m;
}

bool g_skip = false;  // --graph: time only the decode step graph

float time_us(const std::function<void(cudaStream_t)>& f, cudaStream_t s, int reps = 50) {
  if (g_skip) return 0.0f;
  for (int i = 0; i < 10; ++i) f(s);
  CK(cudaStreamSynchronize(s));
  std::vector<float> t;
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < reps; ++i) {
    CK(cudaEventRecord(a, s));
    f(s);
    CK(cudaEventRecord(b, s));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1000.0f);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Per-launch time of f inside a graph of n back-to-back launches (no event overhead per launch).
float chain_us(const std::function<void(cudaStream_t)>& f, cudaStream_t s, int n = 20) {
  if (g_skip) return 0.0f;
  cudaGraph_t g;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < n; ++i) f(s);
  CK(cudaStreamEndCapture(s, &g));
  cudaGraphExec_t e;
  CK(cudaGraphInstantiate(&e, g, 0));
  const float us = time_us([&](cudaStream_t st) { CK(cudaGraphLaunch(e, st)); }, s, 20) / n;
  CK(cudaGraphExecDestroy(e));
  CK(cudaGraphDestroy(g));
  return us;
}

// A cuBLASLt GEMM C[n x m] = B[n x k] A[k x m] (column-major as cuBLAS sees our row-major
// products; fp16 A and B, C of type ct) and its first `candidates` heuristic algorithms for a
// workspace of ws_bytes, optionally planned for sm_target SMs.
struct LtGemm {
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t op{};
  cublasLtMatrixLayout_t la{}, lb{}, lc{};
  cublasLtMatmulPreference_t pref{};
  std::vector<cublasLtMatmulHeuristicResult_t> algos;
  LtGemm(cublasLtHandle_t handle, int n, int m, int k, cudaDataType ct, std::size_t ws_bytes, int candidates,
         int sm_target = 0)
      : lt(handle) {
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    if (sm_target > 0) CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, &sm_target, sizeof(sm_target)));
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16F, n, k, n));
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16F, k, m, k));
    CK(cublasLtMatrixLayoutCreate(&lc, ct, n, m, n));
    CK(cublasLtMatmulPreferenceCreate(&pref));
    CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof(ws_bytes)));
    algos.resize(static_cast<std::size_t>(candidates));
    int found = 0;
    CK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, candidates, algos.data(), &found));
    algos.resize(static_cast<std::size_t>(found));
  }
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;
  ~LtGemm() {
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
  }
  // C = B A + beta C with candidate i.
  void run(int i, const __half* b, const __half* a, float beta, void* c, void* ws, std::size_t ws_bytes, cudaStream_t st) const {
    const float one = 1.0f;
    CK(cublasLtMatmul(lt, op, &one, b, la, a, lb, &beta, c, lc, c, lc, &algos[static_cast<std::size_t>(i)].algo, ws,
                      ws_bytes, st));
  }
};

// The prefill GEMMs of the 7B shapes (M tokens): cublasGemmEx with the default algorithm (what the
// engine runs) against each of cuBLASLt's top heuristic candidates with a 64 MB workspace, TFLOP/s.
void bench_gemm_candidates(cudaStream_t s) {
  cublasHandle_t h;
  cublasLtHandle_t lt;
  CK(cublasCreate(&h));
  CK(cublasLtCreate(&lt));
  CK(cublasSetStream(h, s));
  const std::size_t ws_bytes = 64u << 20;
  void* ws = nullptr;
  CK(cudaMalloc(&ws, ws_bytes));
  struct Shape {
    const char* name;
    int m, n, k;
    bool c32;
    float beta;
  };
  for (const int m : {2048, 512}) {
    const Shape shapes[] = {{"qkv", m, 12288, 4096, true, 0.0f},
                            {"qkv fp16", m, 12288, 4096, false, 0.0f},
                            {"o", m, 4096, 4096, true, 1.0f},
                            {"gate/up", m, 22016, 4096, false, 0.0f},
                            {"down", m, 4096, 11008, true, 1.0f}};
    for (const Shape& sh : shapes) {
      __half* a = dev_fill<__half>(static_cast<std::size_t>(sh.m) * sh.k, __float2half(0.01f));
      __half* b = dev_fill<__half>(static_cast<std::size_t>(sh.k) * sh.n, __float2half(0.01f));
      void* c = nullptr;
      CK(cudaMalloc(&c, static_cast<std::size_t>(sh.m) * sh.n * 4));
      CK(cudaMemset(c, 0, static_cast<std::size_t>(sh.m) * sh.n * 4));
      const float one = 1.0f;
      const cudaDataType ct = sh.c32 ? CUDA_R_32F : CUDA_R_16F;
      const double flop = 2.0 * sh.m * sh.n * sh.k;
      const float base = time_us([&](cudaStream_t st) {
        CK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, sh.n, sh.m, sh.k, &one, b, CUDA_R_16F, sh.n, a, CUDA_R_16F, sh.k,
                        &sh.beta, c, ct, sh.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        (void)st;
      }, s, 20);
      std::printf("gemm %-8s m %5d: default %8.1f us %6.0f TFLOP/s | Lt:", sh.name, sh.m, base, flop / base / 1e6);
      const LtGemm g(lt, sh.n, sh.m, sh.k, ct, ws_bytes, 16);
      float best = 1e30f;
      int best_i = -1;
      for (int i = 0; i < static_cast<int>(g.algos.size()); ++i) {
        const float us = time_us([&](cudaStream_t st) { g.run(i, b, a, sh.beta, c, ws, ws_bytes, st); }, s, 20);
        std::printf(" %.0f", us);
        if (us < best) {
          best = us;
          best_i = i;
        }
      }
      std::printf(" | best #%d %.1f us %.0f TFLOP/s (%+.1f%%)\n", best_i, best, flop / best / 1e6, 100.0 * (base / best - 1.0));
      CK(cudaFree(a));
      CK(cudaFree(b));
      CK(cudaFree(c));
    }
  }
  CK(cudaFree(ws));
  CK(cublasLtDestroy(lt));
  CK(cublasDestroy(h));
}

// Prefill dequantization against the GEMM it is meant to hide behind: the dequantization of the
// 7B gate and up matrices (4-bit EXL2 -> fp16) alone, the gate/up GEMM (2,048 tokens) alone with
// cuBLASLt told to plan for 132 - X SMs, and both on two streams at once (dequantization launched
// first or second); us.
void bench_dequant_overlap(cudaStream_t s, int sms, std::mt19937_64& rng) {
  const int K = 4096, N = 11008, M = 2048;
  Mat g = make_exl2(K, N, sms, rng), u = make_exl2(K, N, sms, rng);
  __half* wbuf = dev_fill<__half>(static_cast<std::size_t>(K) * 2 * N, __float2half(0.0f));
  __half* a = dev_fill<__half>(static_cast<std::size_t>(M) * K, __float2half(0.01f));
  __half* b = dev_fill<__half>(static_cast<std::size_t>(K) * 2 * N, __float2half(0.01f));
  __half* c = dev_fill<__half>(static_cast<std::size_t>(M) * 2 * N, __float2half(0.0f));
  cudaStream_t s2;
  CK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  auto dequant = [&](cudaStream_t st) {
    CK(qmatrix_dequant_f16(g.q, 0, N, wbuf, 2 * N, 0, st));
    CK(qmatrix_dequant_f16(u.q, 0, N, wbuf, 2 * N, N, st));
  };
  const float dq = time_us(dequant, s, 20);
  std::printf("dequantize gate+up 4096x11008 x2: %.1f us (%.0f GB/s of codes read + fp16 written)\n", dq,
              (2.0 * K * N * 0.5 + 2.0 * K * N * 2.0) / dq / 1e3);
  cublasLtHandle_t lt;
  CK(cublasLtCreate(&lt));
  const std::size_t ws_bytes = 32u << 20;
  void* ws = nullptr;
  CK(cudaMalloc(&ws, ws_bytes));
  cudaEvent_t e0, e1, e2;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaEventCreate(&e2));
  for (const int spare : {0, 4, 8, 12, 16, 24}) {
    const int target = sms - spare;
    const LtGemm lg(lt, 2 * N, M, K, CUDA_R_16F, ws_bytes, 1, spare > 0 ? target : 0);
    if (lg.algos.empty()) {
      std::printf("gate/up GEMM planned for %3d SMs: no cuBLASLt algorithm\n", target);
      continue;
    }
    auto gemm = [&](cudaStream_t st) { lg.run(0, b, a, 0.0f, c, ws, ws_bytes, st); };
    const float gt = time_us(gemm, s, 20);
    float both[2];
    for (int order = 0; order < 2; ++order) {
      std::vector<float> t;
      for (int rep = 0; rep < 15; ++rep) {
        CK(cudaStreamSynchronize(s));
        CK(cudaEventRecord(e0, s));
        CK(cudaStreamWaitEvent(s2, e0, 0));
        if (order == 0) {
          dequant(s2);
          gemm(s);
        } else {
          gemm(s);
          dequant(s2);
        }
        CK(cudaEventRecord(e1, s2));
        CK(cudaStreamWaitEvent(s, e1, 0));
        CK(cudaEventRecord(e2, s));
        CK(cudaEventSynchronize(e2));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, e0, e2));
        if (rep >= 5) t.push_back(ms * 1000.0f);
      }
      std::sort(t.begin(), t.end());
      both[order] = t[t.size() / 2];
    }
    std::printf("gate/up GEMM planned for %3d SMs: alone %.1f us; with the dequantization on a second stream "
                "(launched first / second) %.1f / %.1f us; one after the other %.1f us\n",
                target, gt, both[0], both[1], gt + dq);
  }
  CK(cudaStreamDestroy(s2));
  CK(cudaFree(ws));
  CK(cublasLtDestroy(lt));
}

}  // namespace

int bench_stream_read(const void* p, std::size_t bytes, unsigned* sink, int sms, cudaStream_t s);

int main(int argc, char** argv) {
  g_skip = argc > 1 && std::string(argv[1]) == "--graph";
  int dev = 0;
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, dev));
  const int sms = prop.multiProcessorCount;
  std::printf("device: %s, %d SMs\n", prop.name, sms);
  std::mt19937_64 rng(1);
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  if (argc > 1 && std::string(argv[1]) == "--gemm") {
    bench_gemm_candidates(s);
    std::mt19937_64 grng(3);
    bench_dequant_overlap(s, prop.multiProcessorCount, grng);
    return 0;
  }
  const int H = 4096, I = 11008, V = 32000, heads = 32, hd = 128;
  Mat q = make_exl2(H, H, sms, rng, 96), k = make_exl2(H, H, sms, rng, 96), v = make_exl2(H, H, sms, rng, 96);
  Mat o = make_exl2(H, H, sms, rng), g = make_exl2(H, I, sms, rng, 172), u = make_exl2(H, I, sms, rng, 172);
  Mat d = make_exl2(I, H, sms, rng), head = make_exl2(H, V, sms, rng);
  constexpr int kMaxRows = 32;  // buffers for the row sweep below
  float* hidden = dev_fill<float>(H * kMaxRows, 0.5f);
  __half* nw = dev_fill<__half>(H, __float2half(1.0f));
  __half* xh = dev_fill<__half>(I * kMaxRows, __float2half(0.1f));
  float* qkv = dev_fill<float>(3 * H * kMaxRows, 0.0f);
  __half* act = dev_fill<__half>(I * kMaxRows, __float2half(0.0f));
  float* logits = dev_fill<float>(V * kMaxRows, 0.0f);
  float* ws = dev_fill<float>(1 << 24, 0.0f);
  unsigned* counters = dev_fill<unsigned>(1 << 16, 0u);

  // Dense fp16 decode layers at the 7B shapes: q/k/v (RMSNorm in), o (+ residual), gate/up (RMSNorm
  // in, SiLU product), down (+ residual), 8 layers of distinct weights (nothing stays in L2) in one
  // graph: us a layer and GB/s of weights at 1 and 8 rows. `--dense` stops after this table.
  {
    constexpr int kLayers = 8;
    auto zeros_h = [](std::size_t n) {
      __half* p = nullptr;
      CK(cudaMalloc(&p, n * 2));
      CK(cudaMemset(p, 0, n * 2));  // zeros time the same as any values for a dense stream
      return p;
    };
    struct DenseLayer {
      __half *q, *k, *v, *o, *gate, *up, *down;
    };
    const std::size_t hh = static_cast<std::size_t>(H) * H, hi = static_cast<std::size_t>(H) * I;
    std::vector<DenseLayer> layers;
    for (int l = 0; l < kLayers; ++l)
      layers.push_back({zeros_h(hh), zeros_h(hh), zeros_h(hh), zeros_h(hh), zeros_h(hi), zeros_h(hi), zeros_h(hi)});
    const double layer_bytes = 2.0 * (4.0 * hh + 3.0 * hi);
    for (const int rows : {1, 8}) {
      // o and down: fp16 input, output added to the residual.
      auto residual_add = [&](const __half* w, int kdim, int ndim, const __half* x) {
        DGemvArgs r;
        r.rows = rows;
        r.m[0] = {w, WeightType::fp16, nullptr, kdim, ndim};
        r.target[0] = {hidden, H};
        r.output = QGemvOutput::add_fp32;
        r.x = x;
        r.ldx = kdim;
        return r;
      };
      auto step = [&](cudaStream_t st) {
        for (const DenseLayer& L : layers) {
          DGemvArgs a;
          a.rows = rows;
          a.count = 3;
          a.input = QGemvInput::fp32_rmsnorm;
          a.x = hidden;
          a.ldx = H;
          a.norm_weight = nw;
          const __half* qkv_w[3] = {L.q, L.k, L.v};
          for (int i = 0; i < 3; ++i) {
            a.m[i] = {qkv_w[i], WeightType::fp16, nullptr, H, H};
            a.target[i] = {qkv + i * H, 3 * H};
          }
          CK(dgemv(a, st));
          CK(dgemv(residual_add(L.o, H, H, xh), st));
          DGemvArgs gu = a;
          gu.count = 2;
          gu.m[0] = {L.gate, WeightType::fp16, nullptr, H, I};
          gu.m[1] = {L.up, WeightType::fp16, nullptr, H, I};
          gu.target[0] = gu.target[1] = {act, I};
          gu.output = QGemvOutput::silu_mul;
          CK(dgemv(gu, st));
          CK(dgemv(residual_add(L.down, I, H, act), st));
        }
      };
      const float us = chain_us(step, s, 1) / kLayers;
      std::printf("fp16 layer GEMVs, %d row(s): %9.2f us a layer %9.0f GB/s\n", rows, us, layer_bytes / us / 1e3);
    }
    for (const DenseLayer& L : layers)
      for (__half* p : {L.q, L.k, L.v, L.o, L.gate, L.up, L.down}) CK(cudaFree(p));
    if (argc > 1 && std::string(argv[1]) == "--dense") return 0;
  }

  auto qg = [&](std::initializer_list<Mat*> mats, QGemvInput in, QGemvOutput out, void* dst, int ld, const void* x, int ldx) {
    QGemvArgs a;
    a.count = 0;
    int off = 0;
    for (Mat* m : mats) {
      a.m[a.count] = m->q;
      a.target[a.count] = {out == QGemvOutput::silu_mul ? dst : static_cast<void*>(static_cast<float*>(dst) + off), ld};
      off += m->q.n;
      ++a.count;
    }
    a.input = in;
    a.output = out;
    a.x = x;
    a.ldx = ldx;
    a.norm_weight = nw;
    a.rows = 1;
    a.workspace = ws;
    a.counters = counters;
    return a;
  };
  const QGemvArgs a_qkv = qg({&q, &k, &v}, QGemvInput::fp32_rmsnorm, QGemvOutput::store_fp32, qkv, 3 * H, hidden, H);
  const QGemvArgs a_qkv16 = qg({&q, &k, &v}, QGemvInput::fp16, QGemvOutput::store_fp32, qkv, 3 * H, xh, H);
  const QGemvArgs a_o = qg({&o}, QGemvInput::fp16, QGemvOutput::add_fp32, hidden, H, xh, H);
  const QGemvArgs a_gu = qg({&g, &u}, QGemvInput::fp32_rmsnorm, QGemvOutput::silu_mul, act, I, hidden, H);
  const QGemvArgs a_d = qg({&d}, QGemvInput::fp16, QGemvOutput::add_fp32, hidden, H, xh, I);
  const QGemvArgs a_head = qg({&head}, QGemvInput::fp32_rmsnorm, QGemvOutput::store_fp32, logits, V, hidden, H);

  struct Row {
    const char* name;
    const QGemvArgs* args;
    double bytes;
  } rows[] = {{"qkv (rmsnorm in)", &a_qkv, q.bytes + k.bytes + v.bytes},
              {"qkv (fp16 in)", &a_qkv16, q.bytes + k.bytes + v.bytes},
              {"o_proj (+residual)", &a_o, o.bytes},
              {"gate/up (rmsnorm, silu)", &a_gu, g.bytes + u.bytes},
              {"down (+residual)", &a_d, d.bytes},
              {"head 32000", &a_head, head.bytes}};
  // The read ceiling: a plain 16-byte streaming read of the same sizes.
  for (double mb : {8.4, 25.2, 45.1, 512.0}) {
    if (g_skip) break;
    const std::size_t bytes = static_cast<std::size_t>(mb * 1e6) / 16 * 16;
    void* buf = dev_random<std::uint32_t>(bytes / 4, rng);
    const float us = time_us([&](cudaStream_t st) { CK(bench_stream_read(buf, bytes, counters, sms, st)); }, s);
    std::printf("stream read %6.1f MB       %9.2f us %7.0f GB/s\n", mb, us, bytes / us / 1e3);
    CK(cudaFree(buf));
  }
  std::printf("\n%-26s %9s %9s %8s\n", "EXL2 4-bit GEMV, 1 row", "us", "GB/s", "splits");
  for (const auto& r : rows) {
    const float us = time_us([&](cudaStream_t st) { CK(qgemv(*r.args, st)); }, s);
    std::printf("%-26s %9.2f %9.0f %8d\n", r.name, us, r.bytes / us / 1e3, r.args->m[0].n_splits);
  }

  // The decode GEMVs of one layer (qkv, o, gate/up, down) and the head at 1-32 rows: a step of n
  // concurrent jobs reads the weights once (uniform 4-bit: one pass of up to 32 rows).
  if (!g_skip) {
    std::printf("\n%-6s %8s %8s %8s %8s %8s %9s %9s\n", "rows", "qkv", "o", "gate/up", "down", "head", "layer us", "GB/s");
    const double layer_bytes = q.bytes + k.bytes + v.bytes + o.bytes + g.bytes + u.bytes + d.bytes;
    for (int n : {1, 2, 4, 8, 12, 16, 24, 32}) {
      float t[5];
      for (int i = 0; i < 5; ++i) {
        QGemvArgs a = *rows[i == 0 ? 0 : i + 1].args;
        a.rows = n;
        t[i] = time_us([&](cudaStream_t st) { CK(qgemv(a, st)); }, s);
      }
      const float layer = t[0] + t[1] + t[2] + t[3];
      std::printf("%-6d %8.2f %8.2f %8.2f %8.2f %8.2f %9.2f %9.0f\n", n, t[0], t[1], t[2], t[3], t[4], layer,
                  layer_bytes / layer / 1e3);
    }
  }

  // Dense fp16 GEMV 4096 -> 11008 (the fp16 model's gate projection).
  __half* wd = dev_random<__half>(static_cast<std::size_t>(I) * H, rng);
  CK(cudaMemset(wd, 0, static_cast<std::size_t>(I) * H * 2));  // zeros are fine for timing a dense stream
  float* yd = dev_fill<float>(I, 0.0f);
  DGemvArgs dg;
  dg.m[0] = {wd, WeightType::fp16, nullptr, H, I};
  dg.target[0] = {yd, I};
  dg.x = xh;
  dg.ldx = H;
  const float dus = time_us([&](cudaStream_t st) { CK(dgemv(dg, st)); }, s);
  std::printf("%-26s %9.2f %9.0f\n", "fp16 GEMV 4096x11008", dus, 2.0 * H * I / dus / 1e3);

  // Attention decode over a paged cache, and RoPE + KV append, at context 512.
  const int page = 64, pages = 64;
  __half* kc = dev_fill<__half>(static_cast<std::size_t>(pages) * page * heads * hd, __float2half(0.01f));
  __half* vc = dev_fill<__half>(static_cast<std::size_t>(pages) * page * heads * hd, __float2half(0.01f));
  std::vector<int> table(pages);
  for (int i = 0; i < pages; ++i) table[i] = i;
  int* td = dev_fill<int>(pages, 0);
  CK(cudaMemcpy(td, table.data(), pages * 4, cudaMemcpyHostToDevice));
  int* pos = dev_fill<int>(1, 511);
  int* rs = dev_fill<int>(1, 0);
  __half* attn_out = dev_fill<__half>(H, __float2half(0.0f));
  float* inv_freq = dev_fill<float>(hd / 2, 0.01f);
  float* aws = dev_fill<float>(attention_workspace_floats(1, heads, hd, 4096), 0.0f);
  unsigned* acnt = dev_fill<unsigned>(attention_counter_count(1, heads), 0u);
  AttentionArgs at;
  at.q = qkv;
  at.ldq = 3 * H;
  at.out = attn_out;
  at.ldo = H;
  at.k_cache = kc;
  at.v_cache = vc;
  at.rows = 1;
  at.heads = heads;
  at.kv_heads = heads;
  at.head_dim = hd;
  at.page_size = page;
  at.max_pages = pages;
  at.positions = pos;
  at.row_seq = rs;
  at.block_tables = td;
  at.scale = 0.088f;
  at.max_context = 512;
  at.workspace = aws;
  at.counters = acnt;
  const float att_us = time_us([&](cudaStream_t st) { CK(attention_rows(at, st)); }, s);
  std::printf("%-26s %9.2f %9.0f\n", "attention ctx 512", att_us, 2.0 * 512 * H * 2 / att_us / 1e3);
  RopeKvArgs rk;
  rk.q = qkv;
  rk.k = qkv + H;
  rk.v = qkv + 2 * H;
  rk.ldq = rk.ldk = rk.ldv = 3 * H;
  rk.rows = 1;
  rk.heads = heads;
  rk.kv_heads = heads;
  rk.head_dim = hd;
  rk.rotary_dim = hd;
  rk.inv_freq = inv_freq;
  rk.positions = pos;
  rk.row_seq = rs;
  rk.block_tables = td;
  rk.max_pages = pages;
  rk.page_size = page;
  rk.k_cache = kc;
  rk.v_cache = vc;
  const float rope_us = time_us([&](cudaStream_t st) { CK(rope_kv_append(rk, st)); }, s);
  std::printf("%-26s %9.2f\n", "rope + kv append", rope_us);
  // The same over q8 and q4 caches (codes + per-group fp16 scales, dequantized on the fly).
  for (KvType t : {KvType::q8, KvType::q4}) {
    const std::size_t cache_rows = static_cast<std::size_t>(pages) * page * heads;
    AttentionArgs aq = at;
    RopeKvArgs rq = rk;
    aq.kv_type = rq.kv_type = t;
    rq.k_codes = dev_fill<unsigned char>(cache_rows * kv_row_bytes(t, hd), 0x11);
    rq.v_codes = dev_fill<unsigned char>(cache_rows * kv_row_bytes(t, hd), 0x11);
    rq.k_scales = dev_fill<__half>(cache_rows * kv_row_scales(t, hd), __float2half(0.01f));
    rq.v_scales = dev_fill<__half>(cache_rows * kv_row_scales(t, hd), __float2half(0.01f));
    aq.k_codes = rq.k_codes;
    aq.v_codes = rq.v_codes;
    aq.k_scales = rq.k_scales;
    aq.v_scales = rq.v_scales;
    const char* name = t == KvType::q8 ? "q8" : "q4";
    const float aq_us = time_us([&](cudaStream_t st) { CK(attention_rows(aq, st)); }, s);
    std::printf("attention ctx 512 %-8s %9.2f\n", name, aq_us);
    const float rq_us = time_us([&](cudaStream_t st) { CK(rope_kv_append(rq, st)); }, s);
    std::printf("rope + kv append %-9s %9.2f\n", name, rq_us);
  }

  // Decode attention for 1 / 8 / 32 sequences (one query row each, 32 heads of 128) at contexts
  // 512 and 2,048, fp16 / q8 / q4 caches: the tensor-core kernel against the scalar one
  // (NIBBLE_ATTN_SCALAR=1), per launch in a chain of 20; bytes = the K/V rows read.
  if (!g_skip) {
    const int max_seqs = 32, ctx_max = 2048, pg = 64, per_seq = ctx_max / pg;
    const std::size_t cache_rows = static_cast<std::size_t>(max_seqs) * per_seq * pg * heads;
    auto dev_bytes = [&](std::size_t n) {
      void* p = nullptr;
      CK(cudaMalloc(&p, n));
      CK(cudaMemset(p, 0x1c, n));  // fp16 0x1c1c = 0.0039, q8 code 28
      return p;
    };
    std::vector<int> tab(static_cast<std::size_t>(max_seqs) * per_seq);
    for (std::size_t i = 0; i < tab.size(); ++i) tab[i] = static_cast<int>((i * 7919) % tab.size());
    int* tabd = dev_fill<int>(tab.size(), 0);
    CK(cudaMemcpy(tabd, tab.data(), tab.size() * 4, cudaMemcpyHostToDevice));
    std::vector<int> seqs(max_seqs);
    for (int i = 0; i < max_seqs; ++i) seqs[i] = i;
    int* seqd = dev_fill<int>(max_seqs, 0);
    CK(cudaMemcpy(seqd, seqs.data(), max_seqs * 4, cudaMemcpyHostToDevice));
    float* qm = dev_fill<float>(static_cast<std::size_t>(max_seqs) * H, 0.01f);
    __half* om = dev_fill<__half>(static_cast<std::size_t>(max_seqs) * H, __float2half(0.0f));
    float* wsm = dev_fill<float>(attention_workspace_floats(max_seqs, heads, hd, ctx_max), 0.0f);
    unsigned* cnm = dev_fill<unsigned>(attention_counter_count(max_seqs, heads), 0u);
    AttentionArgs am = at;
    am.q = qm;
    am.ldq = H;
    am.out = om;
    am.ldo = H;
    am.page_size = pg;
    am.max_pages = per_seq;
    am.block_tables = tabd;
    am.row_seq = seqd;
    am.workspace = wsm;
    am.counters = cnm;
    am.k_cache = static_cast<__half*>(dev_bytes(cache_rows * hd * 2));
    am.v_cache = static_cast<__half*>(dev_bytes(cache_rows * hd * 2));
    am.k_codes = static_cast<unsigned char*>(dev_bytes(cache_rows * hd));
    am.v_codes = static_cast<unsigned char*>(dev_bytes(cache_rows * hd));
    am.k_scales = static_cast<__half*>(dev_bytes(cache_rows * kv_row_scales(KvType::q4, hd) * 2));
    am.v_scales = static_cast<__half*>(dev_bytes(cache_rows * kv_row_scales(KvType::q4, hd) * 2));
    std::printf("\ndecode attention, us a launch (chain of 20): seqs ctx cache  tensor-core  scalar  (GB/s of K/V, tensor-core)\n");
    for (int ctx : {512, 2048})
      for (int n : {1, 8, 32}) {
        std::vector<int> p(n, ctx - 1);
        int* pd = dev_fill<int>(n, 0);
        CK(cudaMemcpy(pd, p.data(), n * 4, cudaMemcpyHostToDevice));
        for (KvType t : {KvType::fp16, KvType::q8, KvType::q4}) {
          AttentionArgs x = am;
          x.rows = n;
          x.positions = pd;
          x.max_context = ctx;
          x.kv_type = t;
          unsetenv("NIBBLE_ATTN_SCALAR");
          const float tc = chain_us([&](cudaStream_t st) { CK(attention_rows(x, st)); }, s);
          setenv("NIBBLE_ATTN_SCALAR", "1", 1);
          const float sc = chain_us([&](cudaStream_t st) { CK(attention_rows(x, st)); }, s);
          unsetenv("NIBBLE_ATTN_SCALAR");
          const double row_bytes = static_cast<double>(kv_row_bytes(t, hd)) + (t == KvType::fp16 ? 0.0 : kv_row_scales(t, hd) * 2.0);
          const double bytes = 2.0 * n * ctx * heads * row_bytes;
          std::printf("  %4d %5d %-5s %9.2f %9.2f  (%.0f)\n", n, ctx, t == KvType::fp16 ? "fp16" : (t == KvType::q8 ? "q8" : "q4"),
                      tc, sc, bytes / tc / 1e3);
        }
        CK(cudaFree(pd));
      }
    // The same with grouped-query attention (32 query heads over 8 KV heads, as Llama-3 8B):
    // the combine of a KV head's chunks covers its 4 query heads.
    std::printf("decode attention, 32 query heads / 8 KV heads, fp16, us a launch (chain of 20): seqs ctx\n");
    for (int ctx : {512, 2048})
      for (int n : {1, 8}) {
        std::vector<int> p(n, ctx - 1);
        int* pd = dev_fill<int>(n, 0);
        CK(cudaMemcpy(pd, p.data(), n * 4, cudaMemcpyHostToDevice));
        AttentionArgs x = am;
        x.kv_heads = 8;
        x.rows = n;
        x.positions = pd;
        x.max_context = ctx;
        x.kv_type = KvType::fp16;
        const float us = chain_us([&](cudaStream_t st) { CK(attention_rows(x, st)); }, s);
        std::printf("  %4d %5d %9.2f\n", n, ctx, us);
        CK(cudaFree(pd));
      }
    // Prompt attention over 2,048 positions of one sequence (tiles of 64 rows; 128 for the fp16
    // cache's wide kernel, "fp16/64" the 64-row kernel), fp16 / q8 / q4.
    {
      const int n = 2048;
      std::vector<int> p(n), rs(n, 0);
      for (int i = 0; i < n; ++i) p[i] = i;
      std::vector<int4> tiles;
      for (int r = 0; r < n; r += 64) tiles.push_back(make_int4(r, 64, 0, 0));
      std::vector<int4> wide_tiles;
      for (int r = 0; r < n; r += 128) wide_tiles.push_back(make_int4(r, 128, 0, 0));
      int4* wide_td = nullptr;
      CK(cudaMalloc(&wide_td, wide_tiles.size() * sizeof(int4)));
      CK(cudaMemcpy(wide_td, wide_tiles.data(), wide_tiles.size() * sizeof(int4), cudaMemcpyHostToDevice));
      int* pd = dev_fill<int>(n, 0);
      int* rsd = dev_fill<int>(n, 0);
      int4* td4 = nullptr;
      CK(cudaMalloc(&td4, tiles.size() * sizeof(int4)));
      CK(cudaMemcpy(pd, p.data(), n * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(rsd, rs.data(), n * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(td4, tiles.data(), tiles.size() * sizeof(int4), cudaMemcpyHostToDevice));
      float* qp = dev_fill<float>(static_cast<std::size_t>(n) * H, 0.01f);
      __half* op = dev_fill<__half>(static_cast<std::size_t>(n) * H, __float2half(0.0f));
      auto prompt_args = [&](KvType t) {
        AttentionArgs x = am;
        x.q = qp;
        x.ldq = H;
        x.out = op;
        x.ldo = H;
        x.rows = n;
        x.positions = pd;
        x.row_seq = rsd;
        x.max_context = n;
        x.kv_type = t;
        return x;
      };
      std::printf("prompt attention, 2,048 positions, us:");
      {
        const AttentionArgs x = prompt_args(KvType::fp16);
        setenv("NIBBLE_ATTN_PREFILL_ROWS", "64", 1);
        const float us = chain_us([&](cudaStream_t st) { CK(attention_prefill(x, td4, static_cast<int>(tiles.size()), st)); }, s, 5);
        unsetenv("NIBBLE_ATTN_PREFILL_ROWS");
        std::printf("  fp16/64 %.1f", us);
      }
      for (KvType t : {KvType::fp16, KvType::q8, KvType::q4}) {
        const AttentionArgs x = prompt_args(t);
        const bool wide = attention_prefill_tile_rows(hd, t, n, heads) == 128;
        const float us = chain_us([&](cudaStream_t st) {
          CK(attention_prefill(x, wide ? wide_td : td4, static_cast<int>(wide ? wide_tiles.size() : tiles.size()), st));
        }, s, 5);
        std::printf("  %s %.1f", t == KvType::fp16 ? "fp16" : (t == KvType::q8 ? "q8" : "q4"), us);
      }
      std::printf("\n");
    }
  }

  // The fused one-row decode step (decode_fused.h) over 32 layers of the same matrices, context
  // 512: its time, then one traced run (block 0's phase times, averaged over layers 2-29).
  if (fused_decode_device_ok(dev) && !g_skip) {
    FusedLayer fl;
    fl.q = q.q;
    fl.k = k.q;
    fl.v = v.q;
    fl.o = o.q;
    fl.gate = g.q;
    fl.up = u.q;
    fl.down = d.q;
    fl.attn_norm = nw;
    fl.mlp_norm = nw;
    fl.k_cache = kc;
    fl.v_cache = vc;
    std::vector<FusedLayer> layers(32, fl);
    FusedLayer* fl_dev = nullptr;
    CK(cudaMalloc(&fl_dev, layers.size() * sizeof(FusedLayer)));
    CK(cudaMemcpy(fl_dev, layers.data(), layers.size() * sizeof(FusedLayer), cudaMemcpyHostToDevice));
    FusedDecodeArgs fa;
    fa.layers = fl_dev;
    fa.n_layers = 32;
    fa.hidden = H;
    fa.inter = I;
    fa.heads = heads;
    fa.kv_heads = heads;
    fa.head_dim = hd;
    fa.inv_freq = inv_freq;
    fa.scale = 0.088f;
    fa.h = hidden;
    fa.qkv = qkv;
    fa.attn = attn_out;
    fa.act = act;
    fa.positions = pos;
    fa.row_seq = rs;
    fa.block_tables = td;
    fa.max_pages = pages;
    fa.page_size = page;
    fa.workspace = aws;
    fa.counters = dev_fill<unsigned>(fused_decode_counter_count(heads), 0u);
    {
      const float us = time_us([&](cudaStream_t st) { CK(fused_decode(fa, sms, st)); }, s, 20);
      const double bytes = 32 * (q.bytes * 3 + o.bytes + g.bytes * 2 + d.bytes);
      std::printf("fused step, 32 layers %9.1f us (%.0f GB/s of weights)\n", us, bytes / us / 1e3);
    }
    unsigned long long* tr = dev_fill<unsigned long long>(2048, 0ull);
    {
      fa.trace = tr;
      CK(fused_decode(fa, sms, s));
      CK(cudaStreamSynchronize(s));
      std::vector<unsigned long long> t(2048);
      CK(cudaMemcpy(t.data(), tr, 2048 * 8, cudaMemcpyDeviceToHost));
      const char* names[5] = {"qkv", "attn", "o", "gu", "down"};
      double stage[5] = {}, work[5] = {}, bar[5] = {}, lead[5] = {}, pre[5] = {}, ld[5] = {}, pt[5] = {};
      auto at = [&](int i) { return static_cast<double>(t[i]) / 1e3; };
      for (int l = 2; l < 30; ++l)
        for (int p = 0; p < 5; ++p) {
          const int i = 1 + 8 * (5 * l + p);
          stage[p] += (p == 1 ? 0.0 : at(i + 1) - at(i)) / 28;
          work[p] += (at(i + 2) - at(p == 1 ? i : i + 1)) / 28;
          bar[p] += (at(i + 8) - at(i + 2)) / 28;
          lead[p] += (at(i) - at(1536 + 5 * l + p)) / 28;
          if (p != 1) {
            pre[p] += (at(i + 3) - at(i)) / 28;
            ld[p] += (at(i + 4) - at(i + 3)) / 28;
            pt[p] += (at(i + 5) - at(i + 4)) / 28;
          }
        }
      std::printf("fused phases (block 0, mean of layers 2-29, us): staging / work / barrier after / producer lead\n");
      for (int p = 0; p < 5; ++p)
        std::printf("  %-5s %7.2f %7.2f %7.2f %7.2f   staging = batch+scales %.2f, loads(+norm) %.2f, convert %.2f\n", names[p],
                    stage[p], work[p], bar[p], lead[p], pre[p], ld[p], pt[p]);
      std::printf("  total of 32 layers %.1f us\n", at(1 + 40 * 32) - at(0));
    }
  }

  // One 32-layer decode step (same matrices reused: weights stream from HBM since 32 x 114 MB
  // exceeds L2 only if distinct; reuse keeps the bytes honest as long as L2 << one layer).
  g_skip = false;
  cudaGraph_t graph;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  std::vector<std::string> seq = {"qkv", "rope", "attn", "o", "gu", "d"};
  if (const char* e = std::getenv("NIBBLE_GRAPH")) {
    seq.clear();
    std::string cur;
    for (const char* c = e;; ++c) {
      if (*c == ',' || *c == 0) {
        if (!cur.empty()) seq.push_back(cur);
        cur.clear();
        if (*c == 0) break;
      } else {
        cur += *c;
      }
    }
  }
  for (int l = 0; l < 32; ++l) {
    for (const auto& k : seq) {
      if (k == "qkv") CK(qgemv(a_qkv, s));
      if (k == "rope") CK(rope_kv_append(rk, s));
      if (k == "attn") CK(attention_rows(at, s));
      if (k == "o") CK(qgemv(a_o, s));
      if (k == "gu") CK(qgemv(a_gu, s));
      if (k == "d") CK(qgemv(a_d, s));
    }
  }
  CK(qgemv(a_head, s));
  CK(cudaStreamEndCapture(s, &graph));
  cudaGraphExec_t exec;
  CK(cudaGraphInstantiate(&exec, graph, 0));
  const float step_us = time_us([&](cudaStream_t st) { CK(cudaGraphLaunch(exec, st)); }, s, 20);
  const double step_bytes = 32 * (q.bytes * 3 + o.bytes + g.bytes * 2 + d.bytes) + head.bytes;
  std::printf("\n%-26s %9.1f us  (%.0f tokens/s, %.0f GB/s of weights)\n", "decode step graph", step_us, 1e6 / step_us,
              step_bytes / step_us / 1e3);
  // The GEMVs alone in the same 32-layer graph at the row counts of concurrent jobs: us a layer.
  std::printf("GEMV-only step graph, us a layer (q/k/v, o, gate/up, down) at rows:");
  for (const int n : {1, 8, 16, 32}) {
    QGemvArgs gq = a_qkv, go = a_o, gg = a_gu, gd = a_d;
    gq.rows = go.rows = gg.rows = gd.rows = n;
    cudaGraph_t gg_graph;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int l = 0; l < 32; ++l)
      for (const QGemvArgs* a : {&gq, &go, &gg, &gd}) CK(qgemv(*a, s));
    CK(cudaStreamEndCapture(s, &gg_graph));
    cudaGraphExec_t gg_exec;
    CK(cudaGraphInstantiate(&gg_exec, gg_graph, 0));
    const float us = time_us([&](cudaStream_t st) { CK(cudaGraphLaunch(gg_exec, st)); }, s, 20) / 32;
    std::printf("  %d: %.1f", n, us);
    CK(cudaGraphExecDestroy(gg_exec));
    CK(cudaGraphDestroy(gg_graph));
  }
  std::printf("\n");
  return 0;
}
