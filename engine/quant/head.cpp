// Head quantization and calibration perplexity.
#include "quant/head.h"

#include <algorithm>
#include <cmath>

#include "util/half.h"

namespace nibble::quant {

Result<HeadResult> quantize_head(QuantCompute& qc, const WeightSource& ws, const float* normed, std::int64_t tokens,
                                 int head_bits, const std::atomic<bool>* cancel) {
  NIBBLE_ASSIGN_OR_RETURN(LinearDesc d, ws.head());
  const int K = d.K, N = d.N;
  Hessian h = qc.make_hessian(K);
  qc.hessian_add(normed, tokens, K, h);
  NIBBLE_ASSIGN_OR_RETURN(PreparedHessian ph, qc.prepare_hessian(h));
  // The fp32 weight where qc computes, so each head mix tried is solved from one copy.
  Activations w;
  {
    NIBBLE_ASSIGN_OR_RETURN(auto host, linear_f32(d));
    NIBBLE_ASSIGN_OR_RETURN(w, qc.activations(host.size()));
    NIBBLE_TRY(qc.write_in(w.data, host.data(), host.size()));
  }
  HeadResult out;
  double best = INFINITY;
  for (int mix : head_mixes(head_bits)) {
    if (cancel && cancel->load()) return make_error(ErrorKind::cancelled, "quantization cancelled");
    const LinearMix& m = linear_mixes()[static_cast<std::size_t>(mix)];
    NIBBLE_ASSIGN_OR_RETURN(GroupLayout layout, mix_layout(m, K));
    const std::int64_t bits = layout_bits(layout, K, N);
    if (static_cast<double>(bits) > (head_bits + kHeadHeadroom) * static_cast<double>(K) * N) continue;
    NIBBLE_ASSIGN_OR_RETURN(GptqResult r, qc.gptq(w.data, N, K, ph, layout));
    out.tried.emplace_back(m.name, r.loss);
    if (r.loss >= best) continue;
    best = r.loss;
    QuantizedLinear& q = out.linear;
    q.name = "lm_head";
    q.K = K;
    q.N = N;
    q.mix = m.name;
    q.bits = bits;
    NIBBLE_ASSIGN_OR_RETURN(q.packed, exl2_pack(r.exl2));
    q.weight = std::move(r.weight);
  }
  NIBBLE_TRY(qc.status());
  if (out.tried.empty())
    return make_error(ErrorKind::invalid_argument, "--head-bits ", head_bits, ": no head layout fits (widths 2, 3, 4, 5, 6, 8)");
  return out;
}

double calibration_perplexity(QuantCompute& qc, const CpuMatrix& head, const float* normed, const std::int32_t* ids,
                              int seqs, int length) {
  const int V = head.N, H = head.K;
  std::vector<float> logits(static_cast<std::size_t>(length) * static_cast<std::size_t>(V));
  std::vector<double> nll(static_cast<std::size_t>(length));
  double total = 0;
  std::int64_t count = 0;
  for (int s = 0; s < seqs; ++s) {
    const std::size_t base = static_cast<std::size_t>(s) * static_cast<std::size_t>(length);
    qc.linear(head, normed + base * static_cast<std::size_t>(H), length, logits.data(), false);
    // Rows in parallel, summed in order afterwards: the result does not depend on the thread count.
    qc.pool().parallel_for(static_cast<std::size_t>(length - 1), 16, [&](std::size_t t0, std::size_t t1) {
      for (std::size_t t = t0; t < t1; ++t) {
        const float* row = logits.data() + t * static_cast<std::size_t>(V);
        float mx = row[0];
        for (int i = 1; i < V; ++i) mx = std::max(mx, row[i]);
        double sum = 0;
        for (int i = 0; i < V; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
        nll[t] = std::log(sum) + mx - row[ids[base + t + 1]];
      }
    });
    for (int t = 0; t + 1 < length; ++t) total += nll[static_cast<std::size_t>(t)];
    count += length - 1;
  }
  return count > 0 ? std::exp(total / static_cast<double>(count)) : 0.0;
}

}  // namespace nibble::quant
