// The quantizer's QuantCompute on one GPU. Hessians accumulate on the device in double (DSYRK)
// and never travel; preparation factorizes the reversed, damped Hessian with cuSOLVER (DPOTRF)
// and inverts the factor with one DTRSM, which gives the upper Cholesky factor of H^-1 directly
// (the factor is unique, so it is the CPU reference's up to rounding). The GPTQ loop runs one
// thread per output column inside each 128-row block (quant.cu) and the lazy update between
// blocks as an fp32 SGEMM (no TF32). Weights are uploaded once per CpuMatrix and stay attached to
// it; solved weights the measurement only scores never leave the device, and the measurement's
// scoring works on differences from the fp block on the device (begin_scores_impl). Layer pieces
// run on cuBLAS and quant.cu. Calibration arrays live in device memory while the GPU has room
// (activations(); the rest of the memory stays free for the workspace), so a layer's passes read
// and write them in place; host arrays still work, staged through pinned buffers.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "model/rope.h"
#include "nibble_kernels/quant.h"
#include "quant/compute.h"

namespace nibble::quant {
namespace {

using cuda::check;
using cuda::DeviceBuffer;
namespace kq = nibble::kernels;

constexpr std::int64_t kHessianChunk = 4096;   // rows widened to double at a time
constexpr std::int64_t kAttentionTokens = 65536;  // rows of q/k/v held at a time
constexpr std::size_t kStage = 64u << 20;      // pinned staging buffer (two of them)
constexpr std::size_t kStageMin = 4u << 20;    // smaller copies go straight from pageable memory
constexpr std::size_t kHostGrain = 1u << 20;   // bytes per host copy task

struct DevMatrix {
  int ordinal = -1;
  int N = 0, K = 0;
  DeviceBuffer w;     // [N][K] fp32
  DeviceBuffer bias;  // [N] fp32 or empty
};
struct DevHessian {
  int K = 0;
  DeviceBuffer h;  // [K][K] double, lower triangle (column-major) valid
};
struct DevFactor {
  int K = 0;
  DeviceBuffer u;  // [K][K] fp32 row-major upper
};

// Wall time per entry point, printed to stderr at the end when NIBBLE_QUANT_PROFILE is set.
enum Entry { eHessian, ePrepare, eGptq, eNorm, eAttention, eSwiglu, eLinear, eBeginScores, eScore, eCopy, eDistance, kEntries };
const char* const kEntryNames[kEntries] = {"hessian_add",   "prepare_hessian", "gptq",        "rmsnorm",
                                           "attention_core", "swiglu",          "linear",      "begin_scores",
                                           "score_outputs", "activation_copy", "squared_distance"};
struct Profile {
  bool on = std::getenv("NIBBLE_QUANT_PROFILE") != nullptr;
  double seconds[kEntries] = {};
  long calls[kEntries] = {};
  void print() const {
    if (!on) return;
    for (int i = 0; i < kEntries; ++i)
      if (calls[i]) std::fprintf(stderr, "quant profile: %-16s %7ld calls %9.3f s\n", kEntryNames[i], calls[i], seconds[i]);
  }
};
class Timed {
 public:
  Timed(Profile& p, Entry e) : p_(p), e_(e), t0_(std::chrono::steady_clock::now()) {}
  ~Timed() {
    p_.seconds[e_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    ++p_.calls[e_];
  }
 private:
  Profile& p_;
  Entry e_;
  std::chrono::steady_clock::time_point t0_;
};

Status cublas_check(cublasStatus_t st, const char* what) { return check(st == CUBLAS_STATUS_SUCCESS ? 0 : 1000 + static_cast<int>(st), what); }
Status solver_check(cusolverStatus_t st, const char* what) {
  if (st == CUSOLVER_STATUS_SUCCESS) return {};
  if (st == CUSOLVER_STATUS_ALLOC_FAILED) return make_error(ErrorKind::out_of_memory, what, ": cuSOLVER could not allocate");
  return make_error(ErrorKind::device, what, ": cuSOLVER error ", static_cast<int>(st));
}
Status kcheck(int code, const char* what) { return check(code, what); }

enum Slot { kX, kY, kMid, kWide, kNorm, kNorm2, kW, kWt, kDeq, kCodes, kErr, kLoss, kImp, kScale, kScodes,
            kSmax, kSearch, kPerm, kDead, kDiag, kB, kI, kWork, kInfo,
            kScoreNormed, kScoreBase, kScoreQkv, kScoreMidFp, kScoreMid, kScoreD, kScoreE, kScoreY, kScoreQn, kScoreKn,
            kScoreDist, kDelta, kDist, kSlots };

class CudaQuantCompute final : public QuantCompute {
 public:
  CudaQuantCompute(int ordinal, const ModelSpec& spec, int length, ThreadPool& pool)
      : ordinal_(ordinal), spec_(spec), length_(length), pool_(pool) {}

  ~CudaQuantCompute() override {
    profile_.print();
    if (!stream_) return;  // init never selected the device
    cudaSetDevice(ordinal_);
    for (cudaEvent_t e : staged_)
      if (e) cudaEventDestroy(e);
    if (solver_) cusolverDnDestroy(solver_);
    if (blas_) cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  Status init() {
    int count = 0;
    const cudaError_t counted = cudaGetDeviceCount(&count);
    cudaGetLastError();  // a failed query must not surface in a later launch check
    if (counted != cudaSuccess || ordinal_ < 0 || ordinal_ >= count) {
      return make_error(ErrorKind::invalid_argument, "device 'cuda:", ordinal_, "': this machine has ", count,
                        " CUDA device(s) (use --device cpu or another cuda:N)");
    }
    NIBBLE_TRY(check(static_cast<int>(cudaSetDevice(ordinal_)), "selecting the GPU for quantization"));
    cudaDeviceProp prop{};
    NIBBLE_TRY(check(static_cast<int>(cudaGetDeviceProperties(&prop, ordinal_)), "reading the GPU's properties"));
    name_ = prop.name;
    NIBBLE_TRY(check(static_cast<int>(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)), "creating a CUDA stream"));
    NIBBLE_TRY(cublas_check(cublasCreate(&blas_), "creating the cuBLAS handle"));
    NIBBLE_TRY(cublas_check(cublasSetStream(blas_, stream_), "binding cuBLAS to its stream"));
    // Default math: SGEMM stays fp32 (TF32 only where gemm_tf32 asks for it).
    NIBBLE_TRY(cublas_check(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "setting cuBLAS math"));
    NIBBLE_TRY(solver_check(cusolverDnCreate(&solver_), "creating the cuSOLVER handle"));
    NIBBLE_TRY(solver_check(cusolverDnSetStream(solver_, stream_), "binding cuSOLVER to its stream"));
    // RoPE tables for positions 0 .. length - 1, as the CPU evaluator builds them.
    const RopeTable table = rope_table(spec_.rope, spec_.head_dim);
    const std::size_t half = static_cast<std::size_t>(spec_.head_dim / 2);
    std::vector<float> cos(static_cast<std::size_t>(length_) * half), sin(cos.size());
    for (int p = 0; p < length_; ++p)
      rope_cos_sin(table, p, cos.data() + static_cast<std::size_t>(p) * half, sin.data() + static_cast<std::size_t>(p) * half);
    NIBBLE_ASSIGN_OR_RETURN(cos_, DeviceBuffer::allocate(cos.size() * 4, "quantizer RoPE table"));
    NIBBLE_ASSIGN_OR_RETURN(sin_, DeviceBuffer::allocate(sin.size() * 4, "quantizer RoPE table"));
    NIBBLE_TRY(cos_.upload(cos.data(), cos.size() * 4, 0, "quantizer RoPE table"));
    NIBBLE_TRY(sin_.upload(sin.data(), sin.size() * 4, 0, "quantizer RoPE table"));
    return {};
  }

  std::string device_name() const override { return "cuda:" + std::to_string(ordinal_) + " (" + name_ + ")"; }
  ThreadPool& pool() override { return pool_; }
  int length() const override { return length_; }
  Status status() const override { return status_; }

  Result<Activations> activations(std::size_t count) override {
    if (enter() && !host_activations_) {
      const std::size_t bytes = count * sizeof(float);
      std::size_t free = 0, total = 0;
      if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
        // Leave 30% of the card and 2 GiB for the workspace slots, Hessians and weight copies.
        const std::size_t reserve = total / 10 * 3 + (std::size_t{2} << 30);
        if (free >= bytes + reserve) {
          auto r = DeviceBuffer::allocate(bytes, "quantizer activations");
          if (r.ok()) {
            auto buffer = std::make_shared<DeviceBuffer>(std::move(r).value());
            Activations a;
            a.data = buffer->as<float>();
            a.size = count;
            a.on_device = true;
            a.keep = std::move(buffer);
            return a;
          }
        }
      }
      cudaGetLastError();  // a failed query or allocation must not surface in a later launch check
    }
    return QuantCompute::activations(count);
  }
  Status read_back(const float* src, std::size_t count, float* host) override {
    return move_floats(host, src, count, "reading calibration activations");
  }
  Status write_in(float* dst, const float* host, std::size_t count) override {
    return move_floats(dst, host, count, "writing calibration activations");
  }
  Status copy_floats(float* dst, const float* src, std::size_t count) override {
    return move_floats(dst, src, count, "copying calibration activations");
  }
  double squared_distance(const float* a, const float* b, std::size_t count) override {
    const Timed timed(profile_, eDistance);
    if (!enter()) return NAN;
    auto r = squared_distance_impl(a, b, count);
    if (!r.ok()) {
      record(Status(r.error()));
      return NAN;
    }
    return r.value();
  }

  Hessian make_hessian(int K) override { return Hessian{K, {}, 0, nullptr}; }
  void hessian_add(const float* x, std::int64_t rows, int ldx, Hessian& h) override {
    const Timed timed(profile_, eHessian);
    if (!enter()) return;
    record(hessian_add_impl(x, rows, ldx, h));
  }

  Result<PreparedHessian> prepare_hessian(const Hessian& h) override {
    const Timed timed(profile_, ePrepare);
    if (!enter()) return status_.error();
    auto r = prepare_impl(h);
    if (!r.ok()) record(Status(r.error()));
    return r;
  }

  Result<GptqResult> gptq(const float* w, int N, int K, const PreparedHessian& ph, const GroupLayout& layout,
                          bool host_outputs) override {
    const Timed timed(profile_, eGptq);
    if (!enter()) return status_.error();
    auto r = gptq_impl(w, N, K, ph, layout, host_outputs);
    if (!r.ok() && r.error().kind != ErrorKind::invalid_argument) record(Status(r.error()));
    return r;
  }

  void rmsnorm(const float* x, const std::vector<float>& norm, std::int64_t tokens, float* out) override {
    const Timed timed(profile_, eNorm);
    if (!enter()) return;
    record(rmsnorm_impl(x, norm, tokens, out));
  }
  void attention_core(const CpuMatrix& q, const CpuMatrix& k, const CpuMatrix& v, const LayerWeights& norms,
                      const float* normed, int seqs, float* attn) override {
    const Timed timed(profile_, eAttention);
    if (!enter()) return;
    record(attention_impl(q, k, v, norms, normed, seqs, attn));
  }
  void swiglu(const CpuMatrix& gate, const CpuMatrix& up, const float* normed, std::int64_t tokens, float* act) override {
    const Timed timed(profile_, eSwiglu);
    if (!enter()) return;
    record(swiglu_impl(gate, up, normed, tokens, act));
  }
  void linear(const CpuMatrix& w, const float* x, std::int64_t tokens, float* y, bool accumulate) override {
    const Timed timed(profile_, eLinear);
    if (!enter()) return;
    record(linear_impl(w, x, tokens, y, accumulate));
  }

  Status begin_scores(BlockKind kind, const float* x, const float* ref, const float* normed, int seqs,
                      const LayerWeights& norms) override {
    const Timed timed(profile_, eBeginScores);
    if (!enter()) return status_;
    Status st = begin_scores_impl(kind, x, ref, normed, seqs, norms);
    record(st);
    return st;
  }
  Result<std::vector<double>> score_outputs(const std::vector<const CpuMatrix*>& in,
                                            const std::vector<const CpuMatrix*>& outs) override {
    const Timed timed(profile_, eScore);
    if (!enter()) return status_.error();
    auto r = score_outputs_impl(in, outs);
    if (!r.ok()) record(Status(r.error()));
    return r;
  }

 private:
  bool enter() {
    if (!status_.ok()) return false;
    record(check(static_cast<int>(cudaSetDevice(ordinal_)), "selecting the GPU for quantization"));
    return status_.ok();
  }
  void record(Status s) {
    if (status_.ok() && !s.ok()) status_ = std::move(s);
  }

  // A grow-only buffer of at least `bytes` for one use.
  Result<void*> slot(Slot s, std::size_t bytes) {
    DeviceBuffer& b = slots_[s];
    if (b.size() < bytes) {
      b = DeviceBuffer{};
      NIBBLE_ASSIGN_OR_RETURN(b, DeviceBuffer::allocate(bytes + bytes / 8, "quantizer workspace"));
    }
    return b.data();
  }
  // Synchronous copy. Large host <-> device copies go through two pinned staging buffers: the
  // host side is copied by the pool's threads while the other buffer's DMA runs (pageable copies
  // run at a fraction of the bus speed).
  Status copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, const char* what) {
    if (bytes == 0) return {};
    if (kind == cudaMemcpyDeviceToDevice || bytes < kStageMin) {
      NIBBLE_TRY(check(static_cast<int>(cudaMemcpyAsync(dst, src, bytes, kind, stream_)), what));
      return sync(what);
    }
    for (int i = 0; i < 2; ++i) {
      if (stage_[i].size() == 0) {
        NIBBLE_ASSIGN_OR_RETURN(stage_[i], cuda::PinnedBuffer::allocate(kStage, "quantizer staging"));
      }
      if (!staged_[i]) NIBBLE_TRY(check(static_cast<int>(cudaEventCreateWithFlags(&staged_[i], cudaEventDisableTiming)), what));
    }
    auto host_copy = [&](char* to, const char* from, std::size_t n) {
      pool_.parallel_for((n + kHostGrain - 1) / kHostGrain, 1, [&](std::size_t c0, std::size_t c1) {
        const std::size_t b0 = c0 * kHostGrain, b1 = std::min(n, c1 * kHostGrain);
        std::memcpy(to + b0, from + b0, b1 - b0);
      });
    };
    const std::size_t chunks = (bytes + kStage - 1) / kStage;
    auto chunk = [&](std::size_t c) { return std::min(kStage, bytes - c * kStage); };
    if (kind == cudaMemcpyHostToDevice) {
      for (std::size_t c = 0; c < chunks; ++c) {
        const int b = static_cast<int>(c % 2);
        NIBBLE_TRY(check(static_cast<int>(cudaEventSynchronize(staged_[b])), what));
        host_copy(static_cast<char*>(stage_[b].data()), static_cast<const char*>(src) + c * kStage, chunk(c));
        NIBBLE_TRY(check(static_cast<int>(cudaMemcpyAsync(static_cast<char*>(dst) + c * kStage, stage_[b].data(), chunk(c), kind, stream_)), what));
        NIBBLE_TRY(check(static_cast<int>(cudaEventRecord(staged_[b], stream_)), what));
      }
      return sync(what);
    }
    auto fetch = [&](std::size_t c) -> Status {
      const int b = static_cast<int>(c % 2);
      NIBBLE_TRY(check(static_cast<int>(cudaMemcpyAsync(stage_[b].data(), static_cast<const char*>(src) + c * kStage, chunk(c), kind, stream_)), what));
      return check(static_cast<int>(cudaEventRecord(staged_[b], stream_)), what);
    };
    NIBBLE_TRY(fetch(0));
    for (std::size_t c = 0; c < chunks; ++c) {
      if (c + 1 < chunks) NIBBLE_TRY(fetch(c + 1));
      const int b = static_cast<int>(c % 2);
      NIBBLE_TRY(check(static_cast<int>(cudaEventSynchronize(staged_[b])), what));
      host_copy(static_cast<char*>(dst) + c * kStage, static_cast<const char*>(stage_[b].data()), chunk(c));
    }
    return sync(what);
  }
  Status sync(const char* what) { return check(static_cast<int>(cudaStreamSynchronize(stream_)), what); }

  Status move_floats(float* dst, const float* src, std::size_t count, const char* what) {
    const Timed timed(profile_, eCopy);
    if (!enter()) return status_;
    Status st = transfer(dst, src, count * sizeof(float), what);
    record(st);
    return st;
  }

  // Whether p points into device memory (an activations() array or a workspace slot).
  static bool on_device(const void* p) {
    if (!p) return false;
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return a.type == cudaMemoryTypeDevice;
  }
  // dst = src for `bytes`, each side host or device.
  Status transfer(void* dst, const void* src, std::size_t bytes, const char* what) {
    if (bytes == 0 || dst == src) return {};
    const bool d = on_device(dst), h = !on_device(src);
    if (!d && h) {
      std::memmove(dst, src, bytes);
      return {};
    }
    return copy(dst, src, bytes, d ? (h ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToDevice) : cudaMemcpyDeviceToHost, what);
  }
  // The device address of `bytes` of input at p: p itself on the device, else a copy in slot s.
  Result<const float*> input(const float* p, std::size_t bytes, Slot s, const char* what) {
    if (on_device(p)) return p;
    NIBBLE_ASSIGN_OR_RETURN(void* d, slot(s, bytes));
    NIBBLE_TRY(copy(d, p, bytes, cudaMemcpyHostToDevice, what));
    return static_cast<const float*>(d);
  }
  // Where a call writes `bytes` of output bound for p: p itself on the device, else slot s (then
  // land() brings it home). With `load`, the slot starts with p's contents (accumulating outputs).
  Result<float*> output(float* p, std::size_t bytes, Slot s, bool load, const char* what) {
    if (on_device(p)) return p;
    NIBBLE_ASSIGN_OR_RETURN(void* d, slot(s, bytes));
    if (load) NIBBLE_TRY(copy(d, p, bytes, cudaMemcpyHostToDevice, what));
    return static_cast<float*>(d);
  }
  Status land(float* p, const float* d, std::size_t bytes, const char* what) {
    if (p == d) return sync(what);
    return copy(p, d, bytes, cudaMemcpyDeviceToHost, what);
  }

  Result<double> squared_distance_impl(const float* a, const float* b, std::size_t count) {
    const bool a_dev = on_device(a), b_dev = b && on_device(b);
    if (!a_dev && !(b && b_dev)) return QuantCompute::squared_distance(a, b, count);
    if (a_dev && (!b || b_dev)) {
      NIBBLE_ASSIGN_OR_RETURN(void* parts, slot(kDist, static_cast<std::size_t>(kq::quant_distance_parts() + 1) * 8));
      auto* partial = static_cast<double*>(parts);
      NIBBLE_TRY(kcheck(kq::quant_squared_distance(a, b, static_cast<std::int64_t>(count), partial, partial + kq::quant_distance_parts(), stream_),
                        "quantizer squared distance"));
      double out = 0;
      NIBBLE_TRY(copy(&out, partial + kq::quant_distance_parts(), 8, cudaMemcpyDeviceToHost, "quantizer squared distance"));
      return out;
    }
    // One side on the device, the other on the host: bring the device side over in pieces and sum
    // them on the host ((a - b)^2 = (b - a)^2, so the order of the pair does not matter).
    const float* dev = a_dev ? a : b;
    const float* host = a_dev ? b : a;
    constexpr std::size_t kPiece = std::size_t{16} << 20;
    std::vector<float> piece;
    double sum = 0;
    for (std::size_t i0 = 0; i0 < count; i0 += kPiece) {
      const std::size_t n = std::min(kPiece, count - i0);
      piece.resize(n);
      NIBBLE_TRY(copy(piece.data(), dev + i0, n * 4, cudaMemcpyDeviceToHost, "quantizer squared distance"));
      sum += QuantCompute::squared_distance(piece.data(), host + i0, n);
    }
    return sum;
  }

  // The device copy of a host weight, made on first use and attached to the matrix.
  Result<const DevMatrix*> device_matrix(const CpuMatrix& m) {
    auto* d = static_cast<DevMatrix*>(m.device.get());
    if (!d || d->ordinal != ordinal_ || d->N != m.N || d->K != m.K) {
      const std::size_t n = static_cast<std::size_t>(m.N) * static_cast<std::size_t>(m.K);
      if ((m.type == CpuWeightType::f32 ? m.full.size() : m.half.size()) != n)
        return make_error(ErrorKind::internal, "quantizer: a ", m.N, " x ", m.K, " weight has no host data to upload");
      auto fresh = std::make_shared<DevMatrix>();
      fresh->ordinal = ordinal_;
      fresh->N = m.N;
      fresh->K = m.K;
      NIBBLE_ASSIGN_OR_RETURN(fresh->w, DeviceBuffer::allocate(n * 4, "quantizer weight copy"));
      if (m.type == CpuWeightType::f32) {
        NIBBLE_TRY(copy(fresh->w.data(), m.full.data(), n * 4, cudaMemcpyHostToDevice, "uploading a weight"));
      } else {
        NIBBLE_ASSIGN_OR_RETURN(void* tmp, slot(kWide, n * 2));
        NIBBLE_TRY(copy(tmp, m.half.data(), n * 2, cudaMemcpyHostToDevice, "uploading a weight"));
        NIBBLE_TRY(kcheck(kq::quant_widen_half(static_cast<const std::uint16_t*>(tmp), static_cast<std::int64_t>(n),
                                               m.type == CpuWeightType::bf16, fresh->w.as<float>(), stream_),
                          "widening a weight"));
        NIBBLE_TRY(sync("widening a weight"));
      }
      m.device = fresh;
      d = fresh.get();
    }
    if (!m.bias.empty() && d->bias.size() == 0) {
      NIBBLE_ASSIGN_OR_RETURN(d->bias, DeviceBuffer::allocate(m.bias.size() * 4, "quantizer bias copy"));
      NIBBLE_TRY(copy(d->bias.data(), m.bias.data(), m.bias.size() * 4, cudaMemcpyHostToDevice, "uploading a bias"));
    }
    return d;
  }

  // y[t][0..N) (+)= x[t] W^T + bias for device x (row stride ldx) and y (row stride ldy).
  Status gemm(const DevMatrix& w, const float* x, std::int64_t tokens, int ldx, float* y, int ldy, bool accumulate) {
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    NIBBLE_TRY(cublas_check(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, w.N, static_cast<int>(tokens), w.K, &one,
                                        w.w.as<float>(), w.K, x, ldx, &beta, y, ldy),
                            "quantizer linear (SGEMM)"));
    if (w.bias.size() > 0)
      NIBBLE_TRY(kcheck(kq::quant_add_bias(y, ldy, tokens, w.N, w.bias.as<float>(), stream_), "quantizer bias add"));
    return {};
  }

  Status hessian_add_impl(const float* x, std::int64_t rows, int ldx, Hessian& h) {
    const int K = h.K;
    const std::size_t Kz = static_cast<std::size_t>(K);
    auto* dh = static_cast<DevHessian*>(h.device.get());
    if (!dh) {
      auto fresh = std::make_shared<DevHessian>();
      fresh->K = K;
      NIBBLE_ASSIGN_OR_RETURN(fresh->h, DeviceBuffer::allocate(Kz * Kz * 8, "quantizer Hessian"));
      NIBBLE_TRY(check(static_cast<int>(cudaMemsetAsync(fresh->h.data(), 0, Kz * Kz * 8, stream_)), "clearing a Hessian"));
      h.device = fresh;
      dh = fresh.get();
    }
    for (std::int64_t r0 = 0; r0 < rows; r0 += kHessianChunk) {
      const std::int64_t n = std::min(kHessianChunk, rows - r0);
      NIBBLE_ASSIGN_OR_RETURN(const float* xd, input(x + static_cast<std::size_t>(r0) * static_cast<std::size_t>(ldx),
                                                     static_cast<std::size_t>(n) * static_cast<std::size_t>(ldx) * 4, kX,
                                                     "uploading Hessian inputs"));
      NIBBLE_ASSIGN_OR_RETURN(void* wide, slot(kWide, static_cast<std::size_t>(n) * Kz * 8));
      NIBBLE_TRY(kcheck(kq::quant_widen_f64(xd, n, K, ldx, static_cast<double*>(wide), stream_), "widening Hessian inputs"));
      const double one = 1.0;
      NIBBLE_TRY(cublas_check(cublasDsyrk(blas_, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, K, static_cast<int>(n), &one,
                                          static_cast<const double*>(wide), K, &one, dh->h.as<double>(), K),
                              "accumulating a Hessian (DSYRK)"));
    }
    h.tokens += rows;
    return sync("accumulating a Hessian");
  }

  Result<PreparedHessian> prepare_impl(const Hessian& h) {
    const int K = h.K;
    const std::size_t Kz = static_cast<std::size_t>(K);
    std::shared_ptr<void> keep = h.device;
    auto* dh = static_cast<DevHessian*>(keep.get());
    if (!dh) {  // accumulated on the host (symmetric, so either triangle reads the same) or never: zero
      auto fresh = std::make_shared<DevHessian>();
      fresh->K = K;
      NIBBLE_ASSIGN_OR_RETURN(fresh->h, DeviceBuffer::allocate(Kz * Kz * 8, "quantizer Hessian"));
      if (h.h.size() == Kz * Kz)
        NIBBLE_TRY(copy(fresh->h.data(), h.h.data(), Kz * Kz * 8, cudaMemcpyHostToDevice, "uploading a Hessian"));
      else
        NIBBLE_TRY(check(static_cast<int>(cudaMemsetAsync(fresh->h.data(), 0, Kz * Kz * 8, stream_)), "clearing a Hessian"));
      keep = fresh;
      dh = fresh.get();
    }
    std::vector<double> d0(Kz);
    NIBBLE_TRY(check(static_cast<int>(cudaMemcpy2DAsync(d0.data(), 8, dh->h.data(), (Kz + 1) * 8, 8, Kz,
                                                        cudaMemcpyDeviceToHost, stream_)),
                     "reading a Hessian's diagonal"));
    NIBBLE_TRY(sync("reading a Hessian's diagonal"));
    HessianOrder order = order_hessian(std::move(d0));
    NIBBLE_ASSIGN_OR_RETURN(void* perm, slot(kPerm, Kz * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* dead, slot(kDead, Kz));
    NIBBLE_ASSIGN_OR_RETURN(void* diag, slot(kDiag, Kz * 8));
    NIBBLE_ASSIGN_OR_RETURN(void* b, slot(kB, Kz * Kz * 8));
    NIBBLE_ASSIGN_OR_RETURN(void* inv, slot(kI, Kz * Kz * 8));
    NIBBLE_ASSIGN_OR_RETURN(void* info, slot(kInfo, 4));
    NIBBLE_TRY(copy(perm, order.perm.data(), Kz * 4, cudaMemcpyHostToDevice, "uploading a permutation"));
    NIBBLE_TRY(copy(dead, order.dead.data(), Kz, cudaMemcpyHostToDevice, "uploading dead inputs"));
    NIBBLE_TRY(copy(diag, order.diag.data(), Kz * 8, cudaMemcpyHostToDevice, "uploading a diagonal"));
    int lwork = 0;
    NIBBLE_TRY(solver_check(cusolverDnDpotrf_bufferSize(solver_, CUBLAS_FILL_MODE_LOWER, K, static_cast<double*>(b), K, &lwork),
                            "sizing the Cholesky workspace"));
    NIBBLE_ASSIGN_OR_RETURN(void* work, slot(kWork, static_cast<std::size_t>(std::max(lwork, 1)) * 8));
    double damp = order.damp;
    for (int attempt = 0; attempt < 5; ++attempt, damp *= 10.0) {
      NIBBLE_TRY(kcheck(kq::quant_hessian_reversed(dh->h.as<double>(), K, static_cast<const std::int32_t*>(perm),
                                                   static_cast<const std::uint8_t*>(dead), static_cast<const double*>(diag),
                                                   damp, static_cast<double*>(b), stream_),
                        "ordering a Hessian"));
      NIBBLE_TRY(solver_check(cusolverDnDpotrf(solver_, CUBLAS_FILL_MODE_LOWER, K, static_cast<double*>(b), K,
                                               static_cast<double*>(work), lwork, static_cast<int*>(info)),
                              "factorizing a Hessian (DPOTRF)"));
      int failed = 0;
      NIBBLE_TRY(copy(&failed, info, 4, cudaMemcpyDeviceToHost, "factorizing a Hessian"));
      if (failed != 0) continue;
      NIBBLE_TRY(kcheck(kq::quant_identity_f64(static_cast<double*>(inv), K, stream_), "inverting a factor"));
      const double one = 1.0;
      NIBBLE_TRY(cublas_check(cublasDtrsm(blas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT,
                                          K, K, &one, static_cast<const double*>(b), K, static_cast<double*>(inv), K),
                              "inverting a factor (DTRSM)"));
      auto factor = std::make_shared<DevFactor>();
      factor->K = K;
      NIBBLE_ASSIGN_OR_RETURN(factor->u, DeviceBuffer::allocate(Kz * Kz * 4, "quantizer H^-1 factor"));
      NIBBLE_TRY(kcheck(kq::quant_upper_from_reversed(static_cast<const double*>(inv), K, factor->u.as<float>(), stream_),
                        "storing a factor"));
      NIBBLE_TRY(sync("preparing a Hessian"));
      PreparedHessian p;
      p.K = K;
      p.perm = std::move(order.perm);
      p.dead = std::move(order.dead);
      p.damp = damp;
      p.device = std::move(factor);
      return p;
    }
    return make_error(ErrorKind::internal, "GPTQ: the Hessian (K = ", K, ") is not positive definite even with damping ", damp);
  }

  Result<GptqResult> gptq_impl(const float* w, int N, int K, const PreparedHessian& ph, const GroupLayout& layout,
                               bool host_outputs) {
    if (N <= 0 || N % 8 != 0) return make_error(ErrorKind::invalid_argument, "GPTQ: N = ", N, " is not a multiple of 8");
    if (ph.K != K) return make_error(ErrorKind::internal, "GPTQ: Hessian K ", ph.K, " != weight K ", K);
    if (std::accumulate(layout.rows.begin(), layout.rows.end(), 0) != K)
      return make_error(ErrorKind::invalid_argument, "GPTQ: group rows do not sum to K = ", K);
    const std::size_t Nz = static_cast<std::size_t>(N), Kz = static_cast<std::size_t>(K), G = layout.bits.size();
    std::shared_ptr<void> keep = ph.device;
    auto* factor = static_cast<DevFactor*>(keep.get());
    if (!factor) {  // prepared elsewhere
      if (ph.hinv_u.size() != Kz * Kz) return make_error(ErrorKind::internal, "GPTQ: the prepared Hessian has no factor");
      auto fresh = std::make_shared<DevFactor>();
      fresh->K = K;
      NIBBLE_ASSIGN_OR_RETURN(fresh->u, DeviceBuffer::allocate(Kz * Kz * 4, "quantizer H^-1 factor"));
      NIBBLE_TRY(copy(fresh->u.data(), ph.hinv_u.data(), Kz * Kz * 4, cudaMemcpyHostToDevice, "uploading a factor"));
      keep = fresh;
      factor = fresh.get();
    }
    const float* U = factor->u.as<float>();
    NIBBLE_ASSIGN_OR_RETURN(void* wt_v, slot(kWt, Nz * Kz * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* deq_v, slot(kDeq, Nz * Kz * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* codes_v, slot(kCodes, Nz * Kz));
    NIBBLE_ASSIGN_OR_RETURN(void* err_v, slot(kErr, Nz * kGptqBlock * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* loss_v, slot(kLoss, Nz * 8));
    NIBBLE_ASSIGN_OR_RETURN(void* imp_v, slot(kImp, Kz * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* scale_v, slot(kScale, Nz * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* scodes_v, slot(kScodes, G * Nz));
    NIBBLE_ASSIGN_OR_RETURN(void* smax_v, slot(kSmax, G * 2));
    NIBBLE_ASSIGN_OR_RETURN(void* search_v, slot(kSearch, kq::quant_group_scratch_bytes(N)));
    NIBBLE_ASSIGN_OR_RETURN(void* perm_v, slot(kPerm, Kz * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* dead_v, slot(kDead, Kz));
    auto* wt = static_cast<float*>(wt_v);
    auto* deq = static_cast<float*>(deq_v);
    auto* codes = static_cast<std::uint8_t*>(codes_v);
    auto* scodes = static_cast<std::uint8_t*>(scodes_v);
    auto* smax = static_cast<std::uint16_t*>(smax_v);
    NIBBLE_ASSIGN_OR_RETURN(const float* w_dev, input(w, Nz * Kz * 4, kW, "uploading a weight for GPTQ"));
    NIBBLE_TRY(copy(perm_v, ph.perm.data(), Kz * 4, cudaMemcpyHostToDevice, "uploading a permutation"));
    NIBBLE_TRY(copy(dead_v, ph.dead.data(), Kz, cudaMemcpyHostToDevice, "uploading dead inputs"));
    NIBBLE_TRY(check(static_cast<int>(cudaMemsetAsync(loss_v, 0, Nz * 8, stream_)), "clearing the GPTQ loss"));
    NIBBLE_TRY(kcheck(kq::quant_stage_weight(w_dev, N, K, static_cast<const std::int32_t*>(perm_v),
                                             static_cast<const std::uint8_t*>(dead_v), wt, stream_),
                      "staging a weight"));
    NIBBLE_TRY(kcheck(kq::quant_importance(U, K, static_cast<float*>(imp_v), stream_), "GPTQ row importance"));

    auto on_group = [&](std::size_t g, int k0, int rows, int bits, int i1, int i2) -> Status {
      const std::size_t k0z = static_cast<std::size_t>(k0);
      NIBBLE_TRY(kcheck(kq::quant_group_search(wt + k0z * Nz, rows, N, static_cast<const float*>(imp_v) + k0z, bits, search_v,
                                               static_cast<float*>(scale_v), scodes + g * Nz, smax + g, stream_),
                        "GPTQ scale search"));
      kq::QuantGroupArgs a;
      a.wt = wt;
      a.U = U;
      a.N = N;
      a.K = K;
      a.k0 = k0;
      a.rows = rows;
      a.bits = bits;
      a.block_begin = i1;
      a.block_end = i2;
      a.scale = static_cast<const float*>(scale_v);
      a.code = scodes + g * Nz;
      a.smax = smax + g;
      a.codes = codes;
      a.deq = deq;
      a.err = static_cast<float*>(err_v);
      a.loss = static_cast<double*>(loss_v);
      return kcheck(kq::quant_group_apply(a, stream_), "GPTQ group");
    };
    auto on_block = [&](int i1, int i2) -> Status {
      if (i2 == K) return {};
      const float minus = -1.0f, one = 1.0f;
      return cublas_check(cublasSgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, N, K - i2, i2 - i1, &minus, static_cast<const float*>(err_v),
                                      N, U + static_cast<std::size_t>(i1) * Kz + i2, K, &one, wt + static_cast<std::size_t>(i2) * Nz, N),
                          "GPTQ lazy update (SGEMM)");
    };
    NIBBLE_TRY(walk_gptq_groups(layout, K, on_group, on_block));

    GptqResult res;
    auto out = std::make_shared<DevMatrix>();
    out->ordinal = ordinal_;
    out->N = N;
    out->K = K;
    NIBBLE_ASSIGN_OR_RETURN(out->w, DeviceBuffer::allocate(Nz * Kz * 4, "quantizer solved weight"));
    NIBBLE_TRY(kcheck(kq::quant_unstage_weight(deq, N, K, static_cast<const std::int32_t*>(perm_v), out->w.as<float>(), stream_),
                      "unstaging a weight"));
    std::vector<double> loss(Nz);
    NIBBLE_TRY(copy(loss.data(), loss_v, Nz * 8, cudaMemcpyDeviceToHost, "GPTQ"));
    res.loss = std::accumulate(loss.begin(), loss.end(), 0.0);
    if (host_outputs) {
      Exl2Unpacked& u = res.exl2;
      u.K = K;
      u.N = N;
      u.group_bits = layout.bits;
      u.group_rows = layout.rows;
      u.perm = ph.perm;
      u.codes.resize(Kz * Nz);
      u.scale_codes.resize(G * Nz);
      u.scale_max.resize(G);
      res.weight.resize(Nz * Kz);
      NIBBLE_TRY(copy(u.codes.data(), codes, Kz * Nz, cudaMemcpyDeviceToHost, "reading GPTQ codes"));
      NIBBLE_TRY(copy(u.scale_codes.data(), scodes, G * Nz, cudaMemcpyDeviceToHost, "reading GPTQ scales"));
      NIBBLE_TRY(copy(u.scale_max.data(), smax, G * 2, cudaMemcpyDeviceToHost, "reading GPTQ scales"));
      NIBBLE_TRY(copy(res.weight.data(), out->w.data(), Nz * Kz * 4, cudaMemcpyDeviceToHost, "reading a solved weight"));
    }
    res.device_weight = std::move(out);
    return res;
  }

  Status rmsnorm_impl(const float* x, const std::vector<float>& norm, std::int64_t tokens, float* out) {
    const std::size_t H = static_cast<std::size_t>(spec_.hidden_size), bytes = static_cast<std::size_t>(tokens) * H * 4;
    NIBBLE_ASSIGN_OR_RETURN(void* nd, slot(kNorm, H * 4));
    NIBBLE_TRY(copy(nd, norm.data(), H * 4, cudaMemcpyHostToDevice, "uploading a norm"));
    NIBBLE_ASSIGN_OR_RETURN(const float* xd, input(x, bytes, kX, "uploading hidden states"));
    NIBBLE_ASSIGN_OR_RETURN(float* yd, output(out, bytes, kY, false, "normed states"));
    // In place (x == out) is fine: each row is read whole before it is written.
    NIBBLE_TRY(kcheck(kq::quant_rmsnorm(xd, static_cast<const float*>(nd), tokens, spec_.hidden_size,
                                        static_cast<float>(spec_.rms_norm_eps), yd, stream_),
                      "quantizer RMSNorm"));
    return land(out, yd, bytes, "reading normed states");
  }

  Status linear_impl(const CpuMatrix& w, const float* x, std::int64_t tokens, float* y, bool accumulate) {
    NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* d, device_matrix(w));
    const std::size_t xb = static_cast<std::size_t>(tokens) * static_cast<std::size_t>(w.K) * 4;
    const std::size_t yb = static_cast<std::size_t>(tokens) * static_cast<std::size_t>(w.N) * 4;
    NIBBLE_ASSIGN_OR_RETURN(const float* xd, input(x, xb, kX, "uploading linear inputs"));
    NIBBLE_ASSIGN_OR_RETURN(float* yd, output(y, yb, kY, accumulate, "uploading linear outputs"));
    NIBBLE_TRY(gemm(*d, xd, tokens, w.K, yd, w.N, accumulate));
    return land(y, yd, yb, "reading linear outputs");
  }

  Status swiglu_impl(const CpuMatrix& gate, const CpuMatrix& up, const float* normed, std::int64_t tokens, float* act) {
    NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* g, device_matrix(gate));
    NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* u, device_matrix(up));
    const int H = spec_.hidden_size, I = gate.N;
    const std::size_t xb = static_cast<std::size_t>(tokens) * static_cast<std::size_t>(H) * 4;
    const std::size_t ab = static_cast<std::size_t>(tokens) * static_cast<std::size_t>(I) * 4;
    NIBBLE_ASSIGN_OR_RETURN(const float* xd, input(normed, xb, kX, "uploading MLP inputs"));
    NIBBLE_ASSIGN_OR_RETURN(void* gu, slot(kMid, 2 * ab));
    NIBBLE_ASSIGN_OR_RETURN(float* ad, output(act, ab, kY, false, "MLP activations"));
    auto* gud = static_cast<float*>(gu);
    NIBBLE_TRY(gemm(*g, xd, tokens, H, gud, 2 * I, false));
    NIBBLE_TRY(gemm(*u, xd, tokens, H, gud + I, 2 * I, false));
    NIBBLE_TRY(kcheck(kq::quant_swiglu(gud, tokens, I, ad, stream_), "quantizer SwiGLU"));
    return land(act, ad, ab, "reading MLP activations");
  }

  // Uploads a head norm (Qwen3 q/k norm) into `slot`; null when the model has none.
  Result<const float*> head_norm(const std::vector<float>& norm, Slot where) {
    if (norm.empty()) return static_cast<const float*>(nullptr);
    NIBBLE_ASSIGN_OR_RETURN(void* d, slot(where, norm.size() * 4));
    NIBBLE_TRY(copy(d, norm.data(), norm.size() * 4, cudaMemcpyHostToDevice, "uploading a head norm"));
    return static_cast<const float*>(d);
  }

  kq::QuantAttentionArgs attention_args(float* qkv, int seqs, const float* qn, const float* kn, int window, float* out) const {
    const ModelSpec& s = spec_;
    kq::QuantAttentionArgs a;
    a.qkv = qkv;
    a.ld = s.q_dim() + 2 * s.kv_dim();
    a.seqs = seqs;
    a.length = length_;
    a.heads = s.n_heads;
    a.kv_heads = s.n_kv_heads;
    a.head_dim = s.head_dim;
    a.cos = cos_.as<float>();
    a.sin = sin_.as<float>();
    a.q_norm = qn;
    a.k_norm = kn;
    a.eps = static_cast<float>(s.rms_norm_eps);
    a.sliding_window = window;
    a.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    a.out = out;
    return a;
  }

  // attn[seqs * L][q_dim] from normed inputs on the device; qkv holds [seqs * L][q_dim + 2 kv_dim].
  Status attention_device(const DevMatrix& q, const DevMatrix& k, const DevMatrix& v, const float* qn, const float* kn,
                          int window, const float* xd, int seqs, float* qkv, float* out) {
    const ModelSpec& s = spec_;
    const int H = s.hidden_size, q_dim = s.q_dim(), kv_dim = s.kv_dim(), ld = q_dim + 2 * kv_dim;
    const std::int64_t m = static_cast<std::int64_t>(seqs) * length_;
    NIBBLE_TRY(gemm(q, xd, m, H, qkv, ld, false));
    NIBBLE_TRY(gemm(k, xd, m, H, qkv + q_dim, ld, false));
    NIBBLE_TRY(gemm(v, xd, m, H, qkv + q_dim + kv_dim, ld, false));
    return kcheck(kq::quant_attention(attention_args(qkv, seqs, qn, kn, window, out), stream_), "quantizer attention");
  }

  Status attention_impl(const CpuMatrix& q, const CpuMatrix& k, const CpuMatrix& v, const LayerWeights& norms,
                        const float* normed, int seqs, float* attn) {
    const ModelSpec& s = spec_;
    NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* qd, device_matrix(q));
    NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* kd, device_matrix(k));
    NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* vd, device_matrix(v));
    const int H = s.hidden_size, L = length_, q_dim = s.q_dim(), ld = q_dim + 2 * s.kv_dim();
    NIBBLE_ASSIGN_OR_RETURN(const float* qn, head_norm(norms.q_norm, kNorm));
    NIBBLE_ASSIGN_OR_RETURN(const float* kn, head_norm(norms.k_norm, kNorm2));
    const int chunk = static_cast<int>(std::max<std::int64_t>(1, kAttentionTokens / L));
    for (int s0 = 0; s0 < seqs; s0 += chunk) {
      const int cs = std::min(chunk, seqs - s0);
      const std::int64_t m = static_cast<std::int64_t>(cs) * L;
      const std::size_t xb = static_cast<std::size_t>(m) * static_cast<std::size_t>(H) * 4;
      const std::size_t ob = static_cast<std::size_t>(m) * static_cast<std::size_t>(q_dim) * 4;
      float* dst = attn + static_cast<std::size_t>(s0) * static_cast<std::size_t>(L) * static_cast<std::size_t>(q_dim);
      NIBBLE_ASSIGN_OR_RETURN(const float* xd, input(normed + static_cast<std::size_t>(s0) * static_cast<std::size_t>(L) * static_cast<std::size_t>(H),
                                                     xb, kX, "uploading attention inputs"));
      NIBBLE_ASSIGN_OR_RETURN(void* qkv, slot(kMid, static_cast<std::size_t>(m) * static_cast<std::size_t>(ld) * 4));
      NIBBLE_ASSIGN_OR_RETURN(float* od, output(dst, ob, kY, false, "attention outputs"));
      NIBBLE_TRY(attention_device(*qd, *kd, *vd, qn, kn, norms.sliding_window, xd, cs, static_cast<float*>(qkv), od));
      NIBBLE_TRY(land(dst, od, ob, "reading attention outputs"));
    }
    return {};
  }

  // y (+)= x w^T on tensor cores (TF32 inputs, fp32 accumulation), no bias: only for operands that
  // are differences (quantization error), where TF32's 2^-11 relative rounding stays far below
  // what the scores resolve.
  Status gemm_tf32(const float* w, int N, int K, const float* x, std::int64_t tokens, int ldx, float* y, int ldy,
                   bool accumulate) {
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    return cublas_check(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, N, static_cast<int>(tokens), K, &one, w, CUDA_R_32F, K,
                                     x, CUDA_R_32F, ldx, &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F_FAST_TF32,
                                     CUBLAS_GEMM_DEFAULT),
                        "quantizer difference product (TF32 GEMM)");
  }
  // dst = a - b over n floats (device).
  Status subtract(const float* a, const float* b, std::size_t n, float* dst) {
    return kcheck(kq::quant_subtract(a, b, static_cast<std::int64_t>(n), dst, stream_), "quantizer difference");
  }
  // y (+)= x (q - f)^T for a candidate q of the fp weight f (same shape), through the kDelta slot.
  Status gemm_delta(const DevMatrix& q, const DevMatrix& f, const float* x, std::int64_t tokens, int ldx, float* y, int ldy,
                    bool accumulate) {
    const std::size_t n = static_cast<std::size_t>(q.N) * static_cast<std::size_t>(q.K);
    NIBBLE_ASSIGN_OR_RETURN(void* dv, slot(kDelta, n * 4));
    NIBBLE_TRY(subtract(q.w.as<float>(), f.w.as<float>(), n, static_cast<float*>(dv)));
    return gemm_tf32(static_cast<const float*>(dv), q.N, q.K, x, tokens, ldx, y, ldy, accumulate);
  }

  // Scoring works on differences from the fp block. With f the fp weights and q a candidate's,
  // the block output differs from the fp one by  (m - m_fp) f_out^T + m (q_out - f_out)^T,  where
  // m is the middle from the candidate's input linears, itself the fp pre-activation plus
  // normed (q_in - f_in)^T. The fp pre-activations and middle are computed once per block in fp32;
  // the per-candidate products multiply differences, so they run on TF32 tensor cores without
  // losing the scores' precision (x and the bias cancel).
  Status begin_scores_impl(BlockKind kind, const float* /*x*/, const float* /*ref*/, const float* normed, int seqs,
                           const LayerWeights& fp) {
    const bool attn = kind == BlockKind::attn;
    const int H = spec_.hidden_size;
    const std::int64_t T = static_cast<std::int64_t>(seqs) * length_;
    const std::size_t Tz = static_cast<std::size_t>(T);
    NIBBLE_ASSIGN_OR_RETURN(void* nd, slot(kScoreNormed, Tz * static_cast<std::size_t>(H) * 4));
    NIBBLE_TRY(transfer(nd, normed, Tz * static_cast<std::size_t>(H) * 4, "uploading normed inputs"));
    score_fp_.clear();
    for (const CpuMatrix* m : attn ? std::vector<const CpuMatrix*>{&fp.q, &fp.k, &fp.v, &fp.o}
                                   : std::vector<const CpuMatrix*>{&fp.gate, &fp.up, &fp.down}) {
      NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* d, device_matrix(*m));
      score_fp_.push_back(d);
    }
    NIBBLE_ASSIGN_OR_RETURN(score_qn_, head_norm(fp.q_norm, kScoreQn));
    NIBBLE_ASSIGN_OR_RETURN(score_kn_, head_norm(fp.k_norm, kScoreKn));
    score_kind_ = kind;
    score_seqs_ = seqs;
    score_window_ = fp.sliding_window;
    const auto* x = static_cast<const float*>(nd);
    const int mid = score_fp_[0]->N;
    const int ld = attn ? spec_.q_dim() + 2 * spec_.kv_dim() : 2 * mid;
    NIBBLE_ASSIGN_OR_RETURN(void* base, slot(kScoreBase, Tz * static_cast<std::size_t>(ld) * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* work, slot(kScoreQkv, Tz * static_cast<std::size_t>(ld) * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* mfp, slot(kScoreMidFp, Tz * static_cast<std::size_t>(attn ? spec_.q_dim() : mid) * 4));
    auto* bd = static_cast<float*>(base);
    int col = 0;
    for (std::size_t i = 0; i + 1 < score_fp_.size(); ++i) {
      NIBBLE_TRY(gemm(*score_fp_[i], x, T, H, bd + col, ld, false));
      col += score_fp_[i]->N;
    }
    if (attn) {  // attention rotates q and k in place: work on a copy of the pre-activations
      NIBBLE_TRY(check(static_cast<int>(cudaMemcpyAsync(work, base, Tz * static_cast<std::size_t>(ld) * 4, cudaMemcpyDeviceToDevice, stream_)),
                       "copying pre-activations"));
      NIBBLE_TRY(attention_middle(static_cast<float*>(work), static_cast<float*>(mfp)));
    } else {
      NIBBLE_TRY(kcheck(kq::quant_swiglu(bd, T, mid, static_cast<float*>(mfp), stream_), "quantizer SwiGLU"));
    }
    return sync("preparing block scores");
  }

  // The attention middle of the scored block from its pre-activations qkv (rotated in place).
  Status attention_middle(float* qkv, float* out) {
    return kcheck(kq::quant_attention(attention_args(qkv, score_seqs_, score_qn_, score_kn_, score_window_, out), stream_),
                  "quantizer attention");
  }

  Result<std::vector<double>> score_outputs_impl(const std::vector<const CpuMatrix*>& in, const std::vector<const CpuMatrix*>& outs) {
    const bool attn = score_kind_ == BlockKind::attn;
    if (score_seqs_ <= 0 || in.size() + 1 != score_fp_.size())
      return make_error(ErrorKind::internal, "score_outputs without begin_scores or with the wrong inputs");
    const int H = spec_.hidden_size;
    const std::int64_t T = static_cast<std::int64_t>(score_seqs_) * length_;
    const std::size_t Tz = static_cast<std::size_t>(T);
    const int mid = attn ? spec_.q_dim() : score_fp_[0]->N;
    const int ld = attn ? spec_.q_dim() + 2 * spec_.kv_dim() : 2 * mid;
    const auto* x = static_cast<const float*>(slots_[kScoreNormed].data());
    auto* base = static_cast<float*>(slots_[kScoreBase].data());
    auto* work = static_cast<float*>(slots_[kScoreQkv].data());
    const auto* mfp = static_cast<const float*>(slots_[kScoreMidFp].data());
    const std::size_t mid_n = Tz * static_cast<std::size_t>(mid), y_n = Tz * static_cast<std::size_t>(H);
    NIBBLE_ASSIGN_OR_RETURN(void* mv, slot(kScoreMid, mid_n * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* dv, slot(kScoreD, mid_n * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* ev, slot(kScoreE, y_n * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* yv, slot(kScoreY, y_n * 4));
    NIBBLE_ASSIGN_OR_RETURN(void* dist, slot(kScoreDist, static_cast<std::size_t>(kq::quant_distance_parts() + outs.size()) * 8));
    auto* m = static_cast<float*>(mv);
    NIBBLE_TRY(check(static_cast<int>(cudaMemcpyAsync(work, base, Tz * static_cast<std::size_t>(ld) * 4, cudaMemcpyDeviceToDevice, stream_)),
                     "copying pre-activations"));
    int col = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
      NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* q, device_matrix(*in[i]));
      NIBBLE_TRY(gemm_delta(*q, *score_fp_[i], x, T, H, work + col, ld, true));
      col += q->N;
    }
    if (attn) NIBBLE_TRY(attention_middle(work, m));
    else NIBBLE_TRY(kcheck(kq::quant_swiglu(work, T, mid, m, stream_), "quantizer SwiGLU"));
    const DevMatrix& f_out = *score_fp_.back();
    auto* e = static_cast<float*>(ev);
    NIBBLE_TRY(subtract(m, mfp, mid_n, static_cast<float*>(dv)));
    NIBBLE_TRY(gemm_tf32(f_out.w.as<float>(), f_out.N, f_out.K, static_cast<const float*>(dv), T, mid, e, H, false));
    auto* y = static_cast<float*>(yv);
    auto* partial = static_cast<double*>(dist);
    double* totals = partial + kq::quant_distance_parts();
    for (std::size_t i = 0; i < outs.size(); ++i) {
      NIBBLE_ASSIGN_OR_RETURN(const DevMatrix* q, device_matrix(*outs[i]));
      NIBBLE_TRY(check(static_cast<int>(cudaMemcpyAsync(y, e, y_n * 4, cudaMemcpyDeviceToDevice, stream_)), "copying block errors"));
      NIBBLE_TRY(gemm_delta(*q, f_out, m, T, mid, y, H, true));
      NIBBLE_TRY(kcheck(kq::quant_squared_distance(y, nullptr, T * H, partial, totals + i, stream_), "scoring a candidate"));
    }
    std::vector<double> out(outs.size());
    NIBBLE_TRY(copy(out.data(), totals, outs.size() * 8, cudaMemcpyDeviceToHost, "reading candidate scores"));
    return out;
  }

  int ordinal_;
  const ModelSpec& spec_;
  int length_;
  ThreadPool& pool_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  DeviceBuffer cos_, sin_;
  DeviceBuffer slots_[kSlots];
  cuda::PinnedBuffer stage_[2];
  cudaEvent_t staged_[2] = {nullptr, nullptr};
  Status status_;
  Profile profile_;
  // NIBBLE_QUANT_HOST_ACTIVATIONS=1 keeps calibration arrays in host memory (the path a GPU without
  // room for them takes), for comparisons.
  bool host_activations_ = std::getenv("NIBBLE_QUANT_HOST_ACTIVATIONS") != nullptr;
  // Scoring state (begin_scores): inputs live in the kScore* slots.
  BlockKind score_kind_ = BlockKind::attn;
  int score_seqs_ = 0;
  int score_window_ = 0;
  const float* score_qn_ = nullptr;
  const float* score_kn_ = nullptr;
  std::vector<const DevMatrix*> score_fp_;  // the block's fp linears (inputs, then the output)
};

}  // namespace

Result<std::unique_ptr<QuantCompute>> make_cuda_quant_compute(int ordinal, const ModelSpec& spec, int length, ThreadPool& pool) {
  auto qc = std::make_unique<CudaQuantCompute>(ordinal, spec, length, pool);
  NIBBLE_TRY(qc->init());
  return std::unique_ptr<QuantCompute>(std::move(qc));
}

}  // namespace nibble::quant
