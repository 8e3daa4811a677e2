// Block measurement. Candidates are walked grouped by the mixes of the block's input-side linears
// (q/k/v or gate/up), so the expensive middle (attention, or the SwiGLU product) runs once per
// group and only the output linear (o or down) varies inside it. Each linear is quantized once per
// mix it needs and dropped after its last use, which bounds memory to a few variants per linear.
#include "quant/measure.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "quant/source_model.h"

namespace nibble::quant {
namespace {

struct Variant {
  CpuMatrix matrix;
  std::int64_t bits = 0;
  int uses = 0;
};

}  // namespace

std::string measurement_model_key(const ModelSpec& s) {
  return std::string(architecture_family(s.arch)) + " " + std::to_string(s.n_layers) + "x" + std::to_string(s.hidden_size) +
         " i" + std::to_string(s.intermediate_size) + " h" + std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) +
         "x" + std::to_string(s.head_dim) + " v" + std::to_string(s.vocab_size);
}

Result<BlockMeasurement> measure_block(QuantCompute& qc, const WeightSource& ws, const LayerWeights& fp, int layer,
                                       BlockKind kind, const float* x, int seqs, float* y,
                                       const std::atomic<bool>* cancel) {
  const ModelSpec& s = ws.spec();
  const bool attn = kind == BlockKind::attn;
  const int H = s.hidden_size, mid = attn ? s.q_dim() : s.intermediate_size;
  const std::int64_t T = static_cast<std::int64_t>(seqs) * qc.length();
  const std::size_t Tz = static_cast<std::size_t>(T);
  const int n_lin = block_linear_count(kind), last = n_lin - 1;

  const std::size_t n_hidden = Tz * static_cast<std::size_t>(H);
  NIBBLE_ASSIGN_OR_RETURN(Activations normed, qc.activations(n_hidden));
  NIBBLE_ASSIGN_OR_RETURN(Activations middle, qc.activations(Tz * static_cast<std::size_t>(mid)));
  qc.rmsnorm(x, attn ? fp.attn_norm : fp.mlp_norm, T, normed.data);
  auto run_middle = [&](const std::vector<const CpuMatrix*>& in, float* out) {
    if (attn) qc.attention_core(*in[0], *in[1], *in[2], fp, normed.data, seqs, out);
    else qc.swiglu(*in[0], *in[1], normed.data, T, out);
  };
  const std::vector<const CpuMatrix*> fp_in = attn ? std::vector<const CpuMatrix*>{&fp.q, &fp.k, &fp.v}
                                                  : std::vector<const CpuMatrix*>{&fp.gate, &fp.up};
  const CpuMatrix& fp_out = attn ? fp.o : fp.down;
  Hessian h_in = qc.make_hessian(H);
  Hessian h_mid = qc.make_hessian(mid);
  qc.hessian_add(normed.data, T, H, h_in);
  run_middle(fp_in, middle.data);
  qc.hessian_add(middle.data, T, mid, h_mid);
  // The fp block output goes straight to y, which is also the scoring's reference.
  float* ref = y;
  NIBBLE_TRY(qc.copy_floats(ref, x, n_hidden));
  qc.linear(fp_out, middle.data, T, ref, true);
  middle = Activations{};
  double ref_norm = qc.squared_distance(ref, nullptr, n_hidden);
  if (!(ref_norm > 0)) ref_norm = 1;

  NIBBLE_ASSIGN_OR_RETURN(PreparedHessian p_in, qc.prepare_hessian(h_in));
  NIBBLE_ASSIGN_OR_RETURN(PreparedHessian p_mid, qc.prepare_hessian(h_mid));
  NIBBLE_ASSIGN_OR_RETURN(auto descs, block_linears(ws, layer, kind));
  // Each linear's fp32 weight where qc computes: every mix of it is solved from this one copy.
  std::vector<Activations> w32;
  BlockMeasurement bm;
  bm.layer = layer;
  bm.kind = kind;
  for (const auto& d : descs) {
    NIBBLE_ASSIGN_OR_RETURN(auto w, linear_f32(d));
    NIBBLE_ASSIGN_OR_RETURN(Activations a, qc.activations(w.size()));
    NIBBLE_TRY(qc.write_in(a.data, w.data(), w.size()));
    w32.push_back(std::move(a));
    bm.weights += static_cast<std::int64_t>(d.K) * d.N;
  }

  const auto& table = block_candidates(kind);
  std::map<std::pair<int, int>, Variant> variants;
  for (const auto& c : table)
    for (int i = 0; i < n_lin; ++i) ++variants[{i, c.mixes[static_cast<std::size_t>(i)]}].uses;
  auto get = [&](int i, int mix) -> Result<Variant*> {
    Variant& v = variants.at({i, mix});
    if (v.matrix.N == 0) {
      const LinearDesc& d = descs[static_cast<std::size_t>(i)];
      NIBBLE_ASSIGN_OR_RETURN(GroupLayout layout, mix_layout(linear_mixes()[static_cast<std::size_t>(mix)], d.K));
      NIBBLE_ASSIGN_OR_RETURN(GptqResult r, qc.gptq(w32[static_cast<std::size_t>(i)].data, d.N, d.K, i == last ? p_mid : p_in,
                                                    layout, /*host_outputs=*/false));
      v.matrix = cpu_matrix_f32(std::move(r.weight), d.N, d.K, linear_bias(d));
      v.matrix.device = std::move(r.device_weight);
      v.bits = layout_bits(layout, d.K, d.N);
    }
    return &v;
  };
  auto release = [&](int i, int mix) {
    Variant& v = variants.at({i, mix});
    if (--v.uses == 0) v.matrix = CpuMatrix{};
  };

  std::vector<int> order(table.size());
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int c) {
    auto m = table[static_cast<std::size_t>(c)].mixes;
    m.pop_back();
    return m;
  };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) < key(b); });
  bm.scores.resize(table.size());
  NIBBLE_TRY(qc.begin_scores(kind, x, ref, normed.data, seqs, fp));
  for (std::size_t at = 0; at < order.size();) {
    if (cancel && cancel->load()) return make_error(ErrorKind::cancelled, "quantization cancelled");
    const auto k = key(order[at]);
    std::size_t end = at;
    while (end < order.size() && key(order[end]) == k) ++end;
    std::vector<const CpuMatrix*> in, outs;
    std::int64_t in_bits = 0;
    for (int i = 0; i < last; ++i) {
      NIBBLE_ASSIGN_OR_RETURN(Variant * v, get(i, k[static_cast<std::size_t>(i)]));
      in.push_back(&v->matrix);
      in_bits += v->bits;
    }
    std::vector<std::int64_t> out_bits;
    for (std::size_t j = at; j < end; ++j) {
      NIBBLE_ASSIGN_OR_RETURN(Variant * v, get(last, table[static_cast<std::size_t>(order[j])].mixes.back()));
      outs.push_back(&v->matrix);
      out_bits.push_back(v->bits);
    }
    NIBBLE_ASSIGN_OR_RETURN(std::vector<double> errs, qc.score_outputs(in, outs));
    for (std::size_t j = at; j < end; ++j) {
      const int c = order[j];
      bm.scores[static_cast<std::size_t>(c)] = {c, in_bits + out_bits[j - at], errs[j - at] / ref_norm};
      release(last, table[static_cast<std::size_t>(c)].mixes.back());
      for (int i = 0; i < last; ++i) release(i, k[static_cast<std::size_t>(i)]);
    }
    at = end;
  }
  NIBBLE_TRY(qc.status());
  return bm;
}

nlohmann::json measurement_to_json(const Measurement& m) {
  nlohmann::json blocks = nlohmann::json::array();
  for (const auto& b : m.blocks) {
    nlohmann::json scores = nlohmann::json::array();
    for (const auto& c : b.scores)
      scores.push_back({{"candidate", block_candidates(b.kind)[static_cast<std::size_t>(c.candidate)].name},
                        {"bits", c.bits},
                        {"error", c.error}});
    blocks.push_back({{"layer", b.layer}, {"block", block_kind_name(b.kind)}, {"weights", b.weights}, {"scores", scores}});
  }
  return {{"format", "nibble-exl2-measurement"}, {"version", 1}, {"model", m.model}, {"calibration", m.calibration},
          {"rows", m.rows}, {"length", m.length}, {"ppl_fp", m.ppl_fp}, {"blocks", blocks}};
}

Result<Measurement> measurement_from_json(const nlohmann::json& j, const std::string& file) {
  auto bad = [&](const std::string& what) { return make_error(ErrorKind::format, file, ": ", what); };
  if (!j.is_object() || j.value("format", "") != "nibble-exl2-measurement" || j.value("version", 0) != 1)
    return bad("not a Nibble EXL2 measurement (format/version)");
  Measurement m;
  try {
    m.model = j.at("model").get<std::string>();
    m.calibration = j.at("calibration").get<std::string>();
    m.rows = j.at("rows").get<int>();
    m.length = j.at("length").get<int>();
    m.ppl_fp = j.at("ppl_fp").get<double>();
    for (const auto& b : j.at("blocks")) {
      BlockMeasurement bm;
      bm.layer = b.at("layer").get<int>();
      const std::string kind = b.at("block").get<std::string>();
      if (kind != "attn" && kind != "mlp") return bad("block kind '" + kind + "'");
      bm.kind = kind == "attn" ? BlockKind::attn : BlockKind::mlp;
      bm.weights = b.at("weights").get<std::int64_t>();
      const auto& table = block_candidates(bm.kind);
      for (const auto& c : b.at("scores")) {
        const std::string name = c.at("candidate").get<std::string>();
        int index = -1;
        for (std::size_t i = 0; i < table.size(); ++i)
          if (table[i].name == name) index = static_cast<int>(i);
        if (index < 0) return bad("candidate '" + name + "' is not in this version's table (measure again)");
        bm.scores.push_back({index, c.at("bits").get<std::int64_t>(), c.at("error").get<double>()});
      }
      m.blocks.push_back(std::move(bm));
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("malformed measurement: ") + e.what());
  }
  return m;
}

}  // namespace nibble::quant
