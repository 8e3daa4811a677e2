// The CPU QuantCompute: forwards to linalg.cpp, gptq.cpp and LayerEvaluator on one ThreadPool.
#include <cstring>
#include <new>
#include <string>

#include "quant/compute.h"
#include "quant/linalg.h"

namespace nibble::quant {
namespace {

class CpuQuantCompute final : public QuantCompute {
 public:
  CpuQuantCompute(const ModelSpec& spec, int length, ThreadPool& pool) : pool_(pool), eval_(spec, length, pool) {}

  std::string device_name() const override { return "CPU (" + std::to_string(pool_.size()) + " threads)"; }
  ThreadPool& pool() override { return pool_; }

  void hessian_add(const float* x, std::int64_t rows, int ldx, Hessian& h) override {
    add_gram(x, rows, h.K, ldx, h.h, pool_);
    h.tokens += rows;
  }
  Result<PreparedHessian> prepare_hessian(const Hessian& h) override { return quant::prepare_hessian(h, pool_); }
  Result<GptqResult> gptq(const float* w, int N, int K, const PreparedHessian& ph, const GroupLayout& layout,
                          bool /*host_outputs*/) override {
    return gptq_quantize(w, N, K, ph, layout, pool_);
  }

  int length() const override { return eval_.length(); }
  void rmsnorm(const float* x, const std::vector<float>& norm, std::int64_t tokens, float* out) override {
    eval_.rmsnorm(x, norm, tokens, out);
  }
  void attention_core(const CpuMatrix& q, const CpuMatrix& k, const CpuMatrix& v, const LayerWeights& norms,
                      const float* normed, int seqs, float* attn) override {
    eval_.attention_core(q, k, v, norms, normed, seqs, attn);
  }
  void swiglu(const CpuMatrix& gate, const CpuMatrix& up, const float* normed, std::int64_t tokens, float* act) override {
    eval_.swiglu(gate, up, normed, tokens, act);
  }
  void linear(const CpuMatrix& w, const float* x, std::int64_t tokens, float* y, bool accumulate) override {
    eval_.linear(w, x, tokens, y, accumulate);
  }

  Status begin_scores(BlockKind kind, const float* x, const float* ref, const float* normed, int seqs,
                      const LayerWeights& norms) override {
    kind_ = kind;
    x_ = x;
    ref_ = ref;
    normed_ = normed;
    seqs_ = seqs;
    norms_ = &norms;
    return {};
  }
  Result<std::vector<double>> score_outputs(const std::vector<const CpuMatrix*>& in,
                                            const std::vector<const CpuMatrix*>& outs) override {
    const std::int64_t T = static_cast<std::int64_t>(seqs_) * eval_.length();
    const std::size_t H = static_cast<std::size_t>(norms_->attn_norm.size());
    const bool attn = kind_ == BlockKind::attn;
    if (in.size() != (attn ? 3u : 2u)) return make_error(ErrorKind::internal, "score_outputs: wrong number of inputs");
    middle_.resize(static_cast<std::size_t>(T) * static_cast<std::size_t>(in[0]->N));
    if (attn) eval_.attention_core(*in[0], *in[1], *in[2], *norms_, normed_, seqs_, middle_.data());
    else eval_.swiglu(*in[0], *in[1], normed_, T, middle_.data());
    std::vector<double> out;
    y_.resize(static_cast<std::size_t>(T) * H);
    for (const CpuMatrix* w : outs) {
      std::copy(x_, x_ + y_.size(), y_.begin());
      eval_.linear(*w, middle_.data(), T, y_.data(), true);
      double s = 0;
      for (std::size_t i = 0; i < y_.size(); ++i) {
        const double d = static_cast<double>(y_[i]) - ref_[i];
        s += d * d;
      }
      out.push_back(s);
    }
    return out;
  }

 private:
  ThreadPool& pool_;
  LayerEvaluator eval_;
  // Scoring state (begin_scores).
  BlockKind kind_ = BlockKind::attn;
  const float* x_ = nullptr;
  const float* ref_ = nullptr;
  const float* normed_ = nullptr;
  int seqs_ = 0;
  const LayerWeights* norms_ = nullptr;
  std::vector<float> middle_, y_;
};

}  // namespace

Result<Activations> QuantCompute::activations(std::size_t count) {
  Activations a;
  try {
    auto v = std::make_shared<std::vector<float>>(count);
    a.data = v->data();
    a.keep = std::move(v);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::out_of_memory, "quantizer: no host memory for ", count * 4 >> 20, " MB of calibration activations");
  }
  a.size = count;
  return a;
}

Status QuantCompute::read_back(const float* src, std::size_t count, float* host) {
  if (count) std::memcpy(host, src, count * sizeof(float));
  return {};
}

Status QuantCompute::write_in(float* dst, const float* host, std::size_t count) {
  if (count) std::memcpy(dst, host, count * sizeof(float));
  return {};
}

Status QuantCompute::copy_floats(float* dst, const float* src, std::size_t count) {
  if (count && dst != src) std::memmove(dst, src, count * sizeof(float));
  return {};
}

double QuantCompute::squared_distance(const float* a, const float* b, std::size_t count) {
  double s = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const double d = b ? static_cast<double>(a[i]) - b[i] : static_cast<double>(a[i]);
    s += d * d;
  }
  return s;
}

std::unique_ptr<QuantCompute> make_cpu_quant_compute(const ModelSpec& spec, int length, ThreadPool& pool) {
  return std::make_unique<CpuQuantCompute>(spec, length, pool);
}

Result<std::unique_ptr<QuantCompute>> make_quant_compute(const std::string& device, const ModelSpec& spec, int length,
                                                         ThreadPool& pool) {
  if (device == "cpu") return make_cpu_quant_compute(spec, length, pool);
  if (device.rfind("cuda", 0) == 0) {
    int ordinal = 0;
    if (device.size() > 4) {
      if (device[4] != ':' || device.size() == 5 || device.find_first_not_of("0123456789", 5) != std::string::npos ||
          device.size() > 8)
        return make_error(ErrorKind::invalid_argument, "device '", device, "' is not 'cpu' or 'cuda:N'");
      ordinal = std::stoi(device.substr(5));
    }
    return make_cuda_quant_compute(ordinal, spec, length, pool);
  }
  return make_error(ErrorKind::invalid_argument, "device '", device, "' is not 'cpu' or 'cuda:N'");
}

#if !NIBBLE_HAVE_CUDA
Result<std::unique_ptr<QuantCompute>> make_cuda_quant_compute(int ordinal, const ModelSpec&, int, ThreadPool&) {
  return make_error(ErrorKind::unsupported, "device 'cuda:", ordinal,
                    "': this build has no CUDA support and quantizes on the CPU only (use --device cpu)");
}
#endif

}  // namespace nibble::quant
