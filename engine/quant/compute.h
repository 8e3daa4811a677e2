// QuantCompute: the quantizer's heavy math behind one small interface, so a device can take it
// over: Hessian accumulation (X^T X), Hessian preparation (permutation, damping, Cholesky of the
// inverse, in double), the GPTQ column loop with scale search, and the fp32 pieces of a decoder
// layer over calibration rows. Inputs and outputs are host arrays. A device implementation keeps
// its own copies where the data structures leave room for them: a Hessian's accumulator
// (Hessian::device), the prepared factor (PreparedHessian::device), a weight's upload
// (CpuMatrix::device) and a solved weight it need not send back (GptqResult::device_weight).
// The CPU implementation (compute_cpu.cpp) is the reference; the CUDA one is
// backend/cuda/cuda_quant_compute.cpp. The orchestration (measure.cpp, quantize_block.cpp,
// head.cpp) only calls this.
//
// Calibration arrays (hidden states, normed inputs, block middles) come from activations(): host
// memory on the CPU, device memory on a GPU with room for them (else host memory). Every call
// below that takes a float array accepts either kind, so the orchestration passes data() through
// and never reads or writes the array itself: read_back, write_in, copy_floats and
// squared_distance move and reduce it. Keeping the arrays on the device removes the bus traffic
// that otherwise dominates the quantization pass over 100 x 2,048 calibration tokens.
//
// Errors: the Result-returning calls return them; the others cannot fail on the CPU, and a device
// implementation that fails in one records the error, skips the work of later calls and reports it
// from status() and from every later Result-returning call. The orchestration checks status()
// before it keeps anything those calls computed (the end of each block, the head, the perplexity).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quant/candidates.h"
#include "quant/gptq.h"
#include "quant/hessian.h"
#include "quant/layer_eval.h"

namespace nibble::quant {

// An fp32 array from QuantCompute::activations; `keep` owns the memory (host or device).
struct Activations {
  float* data = nullptr;
  std::size_t size = 0;
  bool on_device = false;
  std::shared_ptr<void> keep;
};

class QuantCompute {
 public:
  virtual ~QuantCompute() = default;

  virtual std::string device_name() const = 0;
  virtual ThreadPool& pool() = 0;  // host threads for the orchestration's own loops

  // A zero Hessian of K inputs where this implementation accumulates (host memory on the CPU).
  virtual Hessian make_hessian(int K) {
    return Hessian{K, std::vector<double>(static_cast<std::size_t>(K) * static_cast<std::size_t>(K)), 0, nullptr};
  }
  // h.h += X^T X for x [rows][h.K] fp32 (row stride ldx); h.tokens += rows.
  virtual void hessian_add(const float* x, std::int64_t rows, int ldx, Hessian& h) = 0;
  virtual Result<PreparedHessian> prepare_hessian(const Hessian& h) = 0;
  // w: [N][K] fp32 (nn.Linear layout), host memory or an activations() array (which a device keeps,
  // so several solves of one weight upload it once).
  // host_outputs = false: the caller needs only the solved weight for further compute calls and
  // the loss; an implementation may then leave exl2 and weight empty and return device_weight.
  virtual Result<GptqResult> gptq(const float* w, int N, int K, const PreparedHessian& ph, const GroupLayout& layout,
                                  bool host_outputs = true) = 0;

  // Decoder layer pieces over `seqs` calibration rows of length() tokens each (see LayerEvaluator).
  virtual int length() const = 0;
  virtual void rmsnorm(const float* x, const std::vector<float>& norm, std::int64_t tokens, float* out) = 0;
  virtual void attention_core(const CpuMatrix& q, const CpuMatrix& k, const CpuMatrix& v, const LayerWeights& norms,
                              const float* normed, int seqs, float* attn) = 0;
  virtual void swiglu(const CpuMatrix& gate, const CpuMatrix& up, const float* normed, std::int64_t tokens, float* act) = 0;
  virtual void linear(const CpuMatrix& w, const float* x, std::int64_t tokens, float* y, bool accumulate) = 0;

  // The measurement's candidate scoring for one block. begin_scores keeps the block input x, its
  // fp output ref and the normed input (each [seqs * length()][hidden]) until the next
  // begin_scores; `norms` must outlive the scoring. score_outputs computes the block middle from
  // `in` (q, k, v for attention; gate, up for the MLP) once, then returns for each output linear w
  // the squared distance ||x + middle w^T (+ bias) - ref||^2, summed in double.
  virtual Status begin_scores(BlockKind kind, const float* x, const float* ref, const float* normed, int seqs,
                              const LayerWeights& norms) = 0;
  virtual Result<std::vector<double>> score_outputs(const std::vector<const CpuMatrix*>& in,
                                                    const std::vector<const CpuMatrix*>& outs) = 0;

  // `count` floats where this implementation computes (host memory in the base class); an
  // out_of_memory error when even host memory cannot hold them. Contents undefined.
  virtual Result<Activations> activations(std::size_t count);
  // host[0..count) = src[0..count) / dst[0..count) = host[0..count) / dst = src, for arrays from
  // activations() or plain host memory.
  virtual Status read_back(const float* src, std::size_t count, float* host);
  virtual Status write_in(float* dst, const float* host, std::size_t count);
  virtual Status copy_floats(float* dst, const float* src, std::size_t count);
  // The sum over i < count of (a[i] - b[i])^2 in double (b null: a[i]^2); NaN after an error.
  virtual double squared_distance(const float* a, const float* b, std::size_t count);

  // The first error of a call that returns none (see the file comment); ok on the CPU.
  virtual Status status() const { return {}; }
};

// The reference implementation on `pool`; `spec` must outlive it.
std::unique_ptr<QuantCompute> make_cpu_quant_compute(const ModelSpec& spec, int length, ThreadPool& pool);

// The CUDA implementation on device `ordinal` (builds with CUDA only); errors when the device is
// missing or lacks memory for its workspace.
Result<std::unique_ptr<QuantCompute>> make_cuda_quant_compute(int ordinal, const ModelSpec& spec, int length, ThreadPool& pool);

// "cpu" -> the CPU implementation; "cuda:N" -> the CUDA one (unsupported in a build without CUDA).
Result<std::unique_ptr<QuantCompute>> make_quant_compute(const std::string& device, const ModelSpec& spec, int length,
                                                         ThreadPool& pool);

}  // namespace nibble::quant
