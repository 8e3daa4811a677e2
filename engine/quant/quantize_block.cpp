// Block quantization. The SwiGLU activation ([tokens][intermediate], the largest buffer) is never
// held for all rows: it is computed per chunk of rows twice, once for the down_proj Hessian and
// once for the residual update; the attention output ([tokens][q_dim]) is kept between the two.
#include "quant/quantize_block.h"

#include <algorithm>

#include "io/safetensors_writer.h"
#include "util/half.h"

namespace nibble::quant {
namespace {

constexpr int kChunkSeqs = 8;

// The packed linear, and its solved weight as a matrix for the block's later products (with the
// device copy the solver left, so a GPU need not upload it again).
Result<QuantizedLinear> quantize_linear(QuantCompute& qc, const LinearDesc& d, int mix, const PreparedHessian& ph,
                                        CpuMatrix* as_matrix) {
  QuantizedLinear q;
  q.name = d.name;
  q.K = d.K;
  q.N = d.N;
  q.mix = linear_mixes()[static_cast<std::size_t>(mix)].name;
  NIBBLE_ASSIGN_OR_RETURN(GroupLayout layout, mix_layout(linear_mixes()[static_cast<std::size_t>(mix)], d.K));
  NIBBLE_ASSIGN_OR_RETURN(auto w, linear_f32(d));
  NIBBLE_ASSIGN_OR_RETURN(GptqResult r, qc.gptq(w.data(), d.N, d.K, ph, layout));
  NIBBLE_ASSIGN_OR_RETURN(q.packed, exl2_pack(r.exl2));
  q.weight = std::move(r.weight);
  q.bits = layout_bits(layout, d.K, d.N);
  for (float b : linear_bias(d)) q.bias.push_back(fp32_to_fp16(b));
  *as_matrix = cpu_matrix_f32(q.weight, q.N, q.K, linear_bias(d));
  as_matrix->device = std::move(r.device_weight);
  return q;
}

}  // namespace

Result<QuantizedBlock> quantize_block(QuantCompute& qc, const WeightSource& ws, const LayerWeights& fp, int layer,
                                      BlockKind kind, const std::vector<int>& mixes, float* x, int seqs, int check_seqs,
                                      const std::atomic<bool>* cancel) {
  const ModelSpec& s = ws.spec();
  const bool attn = kind == BlockKind::attn;
  const int H = s.hidden_size, L = qc.length(), mid = attn ? s.q_dim() : s.intermediate_size;
  const std::int64_t T = static_cast<std::int64_t>(seqs) * L;
  const std::size_t Hz = static_cast<std::size_t>(H), midz = static_cast<std::size_t>(mid);
  const int n_lin = block_linear_count(kind), last = n_lin - 1;
  check_seqs = std::clamp(check_seqs, 1, seqs);
  auto cancelled = [&] { return cancel && cancel->load(); };

  NIBBLE_ASSIGN_OR_RETURN(auto descs, block_linears(ws, layer, kind));
  QuantizedBlock out;
  NIBBLE_ASSIGN_OR_RETURN(Activations normed, qc.activations(static_cast<std::size_t>(T) * Hz));
  qc.rmsnorm(x, attn ? fp.attn_norm : fp.mlp_norm, T, normed.data);
  Hessian h_in = qc.make_hessian(H);
  qc.hessian_add(normed.data, T, H, h_in);
  NIBBLE_ASSIGN_OR_RETURN(PreparedHessian p_in, qc.prepare_hessian(h_in));
  h_in = Hessian{};
  std::vector<CpuMatrix> qm(static_cast<std::size_t>(last));
  for (int i = 0; i < last; ++i) {
    if (cancelled()) return make_error(ErrorKind::cancelled, "quantization cancelled");
    NIBBLE_ASSIGN_OR_RETURN(QuantizedLinear q, quantize_linear(qc, descs[static_cast<std::size_t>(i)], mixes[static_cast<std::size_t>(i)],
                                                               p_in, &qm[static_cast<std::size_t>(i)]));
    out.linears.push_back(std::move(q));
  }

  // The fp block output on the check rows, from the same input, for the reported error.
  const std::int64_t Tc = static_cast<std::int64_t>(check_seqs) * L;
  const std::size_t ref_n = static_cast<std::size_t>(Tc) * Hz;
  NIBBLE_ASSIGN_OR_RETURN(Activations ref, qc.activations(ref_n));
  NIBBLE_TRY(qc.copy_floats(ref.data, x, ref_n));
  {
    NIBBLE_ASSIGN_OR_RETURN(Activations m, qc.activations(static_cast<std::size_t>(Tc) * midz));
    if (attn) qc.attention_core(fp.q, fp.k, fp.v, fp, normed.data, check_seqs, m.data);
    else qc.swiglu(fp.gate, fp.up, normed.data, Tc, m.data);
    qc.linear(attn ? fp.o : fp.down, m.data, Tc, ref.data, true);
  }

  Hessian h_mid = qc.make_hessian(mid);
  Activations attn_out, act;
  if (attn) {
    NIBBLE_ASSIGN_OR_RETURN(attn_out, qc.activations(static_cast<std::size_t>(T) * midz));
    qc.attention_core(qm[0], qm[1], qm[2], fp, normed.data, seqs, attn_out.data);
    qc.hessian_add(attn_out.data, T, mid, h_mid);
  } else {
    NIBBLE_ASSIGN_OR_RETURN(act, qc.activations(static_cast<std::size_t>(std::min(kChunkSeqs, seqs)) * static_cast<std::size_t>(L) * midz));
    for (int s0 = 0; s0 < seqs; s0 += kChunkSeqs) {
      const std::int64_t t0 = static_cast<std::int64_t>(s0) * L, tn = static_cast<std::int64_t>(std::min(kChunkSeqs, seqs - s0)) * L;
      qc.swiglu(qm[0], qm[1], normed.data + static_cast<std::size_t>(t0) * Hz, tn, act.data);
      qc.hessian_add(act.data, tn, mid, h_mid);
    }
  }
  if (cancelled()) return make_error(ErrorKind::cancelled, "quantization cancelled");
  NIBBLE_ASSIGN_OR_RETURN(PreparedHessian p_mid, qc.prepare_hessian(h_mid));
  h_mid = Hessian{};
  CpuMatrix m_out;
  NIBBLE_ASSIGN_OR_RETURN(QuantizedLinear q_out, quantize_linear(qc, descs[static_cast<std::size_t>(last)],
                                                                 mixes[static_cast<std::size_t>(last)], p_mid, &m_out));
  out.linears.push_back(std::move(q_out));

  if (attn) {
    qc.linear(m_out, attn_out.data, T, x, true);
  } else {
    for (int s0 = 0; s0 < seqs; s0 += kChunkSeqs) {
      const std::int64_t t0 = static_cast<std::int64_t>(s0) * L, tn = static_cast<std::int64_t>(std::min(kChunkSeqs, seqs - s0)) * L;
      qc.swiglu(qm[0], qm[1], normed.data + static_cast<std::size_t>(t0) * Hz, tn, act.data);
      qc.linear(m_out, act.data, tn, x + static_cast<std::size_t>(t0) * Hz, true);
    }
  }
  NIBBLE_TRY(qc.status());
  const double den = qc.squared_distance(ref.data, nullptr, ref_n);
  out.error = den > 0 ? qc.squared_distance(x, ref.data, ref_n) / den : 0.0;
  for (const auto& q : out.linears) {
    out.bits += q.bits;
    out.weights += static_cast<std::int64_t>(q.K) * q.N;
  }
  return out;
}

void append_tensors(const QuantizedLinear& q, std::vector<TensorToWrite>& out) {
  const auto G = static_cast<std::int64_t>(q.packed.q_scale_max.size());
  auto bytes = [](const auto& v) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(v[0]));
  };
  out.push_back({q.name + ".q_weight", DType::i32, {q.packed.q_rows, q.N}, bytes(q.packed.q_weight)});
  out.push_back({q.name + ".q_scale", DType::i32, {G, q.N / 8}, bytes(q.packed.q_scale)});
  out.push_back({q.name + ".q_scale_max", DType::f16, {G}, bytes(q.packed.q_scale_max)});
  out.push_back({q.name + ".q_groups", DType::i16, {2 * G}, bytes(q.packed.q_groups)});
  out.push_back({q.name + ".q_invperm", DType::i32, {q.K}, bytes(q.packed.q_invperm)});
  if (!q.bias.empty()) out.push_back({q.name + ".bias", DType::f16, {q.N}, bytes(q.bias)});
}

}  // namespace nibble::quant
