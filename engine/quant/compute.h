// QuantCompute: the quantizer's heavy math behind one small interface, so a device can take it
// over: Hessian accumulation (X^T X), Hessian preparation (permutation, damping, Cholesky of the
// inverse, in double), the GPTQ column loop with scale search, and the fp32 pieces of a decoder
// layer over calibration rows. Inputs and outputs are host arrays; an implementation may keep
// device copies keyed by the weights it is handed. The CPU implementation (compute_cpu.cpp) is the
// reference; the orchestration (measure.cpp, quantize_layer.cpp, head.cpp) only calls this.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quant/gptq.h"
#include "quant/hessian.h"
#include "quant/layer_eval.h"

namespace nibble::quant {

class QuantCompute {
 public:
  virtual ~QuantCompute() = default;

  virtual std::string device_name() const = 0;
  virtual ThreadPool& pool() = 0;  // host threads for the orchestration's own loops

  // h.h += X^T X for x [rows][h.K] fp32 (row stride ldx); h.tokens += rows.
  virtual void hessian_add(const float* x, std::int64_t rows, int ldx, Hessian& h) = 0;
  virtual Result<PreparedHessian> prepare_hessian(const Hessian& h) = 0;
  // w: [N][K] fp32 (nn.Linear layout).
  virtual Result<GptqResult> gptq(const float* w, int N, int K, const PreparedHessian& ph, const GroupLayout& layout) = 0;

  // Decoder layer pieces over `seqs` calibration rows of length() tokens each (see LayerEvaluator).
  virtual int length() const = 0;
  virtual void rmsnorm(const float* x, const std::vector<float>& norm, std::int64_t tokens, float* out) = 0;
  virtual void attention_core(const CpuMatrix& q, const CpuMatrix& k, const CpuMatrix& v, const LayerWeights& norms,
                              const float* normed, int seqs, float* attn) = 0;
  virtual void swiglu(const CpuMatrix& gate, const CpuMatrix& up, const float* normed, std::int64_t tokens, float* act) = 0;
  virtual void linear(const CpuMatrix& w, const float* x, std::int64_t tokens, float* y, bool accumulate) = 0;
};

// The reference implementation on `pool`; `spec` must outlive it.
std::unique_ptr<QuantCompute> make_cpu_quant_compute(const ModelSpec& spec, int length, ThreadPool& pool);

// "cpu" -> the CPU implementation; "cuda:N" -> unsupported until a device implementation exists.
Result<std::unique_ptr<QuantCompute>> make_quant_compute(const std::string& device, const ModelSpec& spec, int length,
                                                         ThreadPool& pool);

}  // namespace nibble::quant
