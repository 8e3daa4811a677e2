// The quantization, head and write stages of a Job, and the report.
#include <cstdio>
#include <filesystem>

#include "nibble/version.h"
#include "quant/candidates.h"
#include "quant/head.h"
#include "quant/job.h"
#include "quant/quantize_block.h"
#include "quant/source_model.h"
#include "quant/writer.h"

namespace nibble::quant {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string numbered(const char* stem, int layer, const char* ext) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%04d%s", stem, layer, ext);
  return buf;
}

double ratio(std::int64_t a, std::int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

}  // namespace

Status Job::stage_quantize() {
  const ModelSpec& s = in_.ws->spec();
  auto& st = job_.state();
  const int seqs = in_.calibration.rows;
  const int check_seqs = std::min(seqs, in_.resolved.measurement_rows);
  const std::size_t count = in_.calibration.ids.size() * static_cast<std::size_t>(s.hidden_size);
  NIBBLE_ASSIGN_OR_RETURN(Activations x, load_hidden(count, in_.calibration.ids));
  const auto& alloc = st["allocation"]["blocks"];
  for (int l = st.value("next_layer", 0); l < s.n_layers; ++l) {
    NIBBLE_TRY(progress(QuantStage::quantize, l, s.n_layers, static_cast<double>(l) / s.n_layers,
                        "quantizing layer " + std::to_string(l)));
    const auto t0 = std::chrono::steady_clock::now();
    NIBBLE_ASSIGN_OR_RETURN(LayerWeights fp, load_layer_weights(*in_.ws, l, qc_.pool()));
    nlohmann::json rep = {{"layer", l}};
    std::vector<QuantizedBlock> blocks;
    for (BlockKind kind : {BlockKind::attn, BlockKind::mlp}) {
      const auto& a = alloc[static_cast<std::size_t>(2 * l + (kind == BlockKind::mlp ? 1 : 0))];
      const auto& cand = block_candidates(kind)[a["candidate"].get<std::size_t>()];
      NIBBLE_ASSIGN_OR_RETURN(QuantizedBlock b, quantize_block(qc_, *in_.ws, fp, l, kind, cand.mixes, x.data, seqs, check_seqs, o_.cancel));
      const std::string k = block_kind_name(kind);
      rep[k + "_choice"] = cand.name;
      rep[k + "_bpw"] = ratio(b.bits, b.weights);
      rep[k + "_bits"] = b.bits;
      rep[k + "_weights"] = b.weights;
      rep[k + "_error"] = a["error"];
      rep[k + "_error_quant"] = b.error;
      blocks.push_back(std::move(b));
    }
    std::vector<TensorToWrite> tensors;
    for (const auto& b : blocks)
      for (const auto& q : b.linears) {
        append_tensors(q, tensors);
        if (o_.on_linear) o_.on_linear(q.name, q.K, q.N, q.weight);
      }
    NIBBLE_TRY(write_safetensors(job_.path(numbered("layer", l, ".safetensors")), tensors));
    st["layers"].push_back(rep);
    st["next_layer"] = l + 1;
    add_stage_seconds("quantize", seconds_since(t0));
    NIBBLE_TRY(save_hidden(x, numbered("hidden-quantize", l + 1, ".bin")));
  }
  st["stage"] = "head";
  return save_record();
}

Status Job::stage_head() {
  const ModelSpec& s = in_.ws->spec();
  auto& st = job_.state();
  NIBBLE_TRY(progress(QuantStage::head, 0, 1, 0, "quantizing the output head"));
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t T = static_cast<std::int64_t>(in_.calibration.ids.size());
  const std::size_t H = static_cast<std::size_t>(s.hidden_size), L = static_cast<std::size_t>(in_.calibration.length);
  NIBBLE_ASSIGN_OR_RETURN(std::vector<float> x, load_hidden_host(static_cast<std::size_t>(T) * H, in_.calibration.ids));
  NIBBLE_ASSIGN_OR_RETURN(auto final_norm, dense_f32(*in_.ws, "model.norm.weight", s.hidden_size));
  qc_.rmsnorm(x.data(), final_norm, T, x.data());
  NIBBLE_ASSIGN_OR_RETURN(HeadResult head, quantize_head(qc_, *in_.ws, x.data(), T, o_.head_bits, o_.cancel));
  if (o_.on_linear) o_.on_linear(head.linear.name, head.linear.K, head.linear.N, head.linear.weight);
  std::vector<TensorToWrite> tensors;
  append_tensors(head.linear, tensors);
  NIBBLE_TRY(write_safetensors(job_.path("head.safetensors"), tensors));

  const int ppl_seqs = std::max(1, std::min(static_cast<int>(in_.measure_rows.size()), 16384 / in_.calibration.length));
  std::vector<float> normed;
  std::vector<std::int32_t> ids;
  for (int i = 0; i < ppl_seqs; ++i) {
    const std::size_t r = static_cast<std::size_t>(in_.measure_rows[static_cast<std::size_t>(i)]);
    normed.insert(normed.end(), x.begin() + static_cast<std::ptrdiff_t>(r * L * H), x.begin() + static_cast<std::ptrdiff_t>((r + 1) * L * H));
    ids.insert(ids.end(), in_.calibration.ids.begin() + static_cast<std::ptrdiff_t>(r * L),
               in_.calibration.ids.begin() + static_cast<std::ptrdiff_t>((r + 1) * L));
  }
  const CpuMatrix head_q = cpu_matrix_f32(head.linear.weight, head.linear.N, head.linear.K);
  st["calibration_ppl"] = calibration_perplexity(qc_, head_q, normed.data(), ids.data(), ppl_seqs, in_.calibration.length);
  NIBBLE_TRY(qc_.status());
  nlohmann::json tried = nlohmann::json::object();
  for (const auto& [name, loss] : head.tried) tried[name] = loss;
  st["head"] = {{"mix", head.linear.mix}, {"bits", head.linear.bits}, {"weights", static_cast<std::int64_t>(head.linear.K) * head.linear.N},
                {"tried", tried}};
  add_stage_seconds("head", seconds_since(t0));
  const std::string old = st.value("hidden", "");
  st["stage"] = "write";
  st["hidden"] = "";
  return save_record({old});
}

Status Job::stage_write() {
  const ModelSpec& s = in_.ws->spec();
  auto& st = job_.state();
  NIBBLE_TRY(progress(QuantStage::write, 0, 1, 0, "writing " + o_.output_dir));
  const auto t0 = std::chrono::steady_clock::now();
  // A job killed while writing leaves temporary "*.partial" files beside the output: drop them.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(o_.output_dir, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".partial") std::filesystem::remove(e.path(), ec);
  OutputSpec out;
  out.output_dir = o_.output_dir;
  for (int l = 0; l < s.n_layers; ++l) out.layer_files.push_back(job_.path(numbered("layer", l, ".safetensors")));
  out.head_file = job_.path("head.safetensors");
  out.shard_bytes = o_.shard_bytes;
  out.quantization_config = {{"quant_method", "exl2"},
                             {"version", std::string("nibble-") + NIBBLE_VERSION_STRING},
                             {"bits", o_.bits},
                             {"head_bits", o_.head_bits},
                             {"calibration",
                              {{"rows", in_.calibration.rows}, {"length", in_.calibration.length}, {"dataset", in_.calibration.name}}}};
  NIBBLE_ASSIGN_OR_RETURN(files_, write_exl2_folder(*in_.ws, out));
  add_stage_seconds("write", seconds_since(t0));
  st["files"] = files_;
  st["stage"] = "done";
  NIBBLE_TRY(save_record());
  const QuantReport r = build_report();
  nlohmann::ordered_json j;
  j["target_bpw"] = o_.bits;
  j["bits_per_weight"] = r.bits_per_weight;
  j["head_bits"] = o_.head_bits;
  j["head_bits_per_weight"] = r.head_bits_per_weight;
  j["head_mix"] = st["head"]["mix"];
  j["head_tried"] = st["head"]["tried"];
  j["decoder_weights"] = r.decoder_weights;
  j["calibration"] = {{"dataset", in_.calibration.name}, {"rows", in_.calibration.rows}, {"length", in_.calibration.length},
                      {"tokens_in_text", in_.calibration.stream_tokens}, {"rows_overlap", in_.calibration.overlapping},
                      {"measurement_rows", in_.measure_rows.size()}};
  j["calibration_ppl"] = r.calibration_ppl;
  j["calibration_ppl_fp"] = r.calibration_ppl_fp;
  j["measurement_reused"] = r.measurement_reused;
  j["device"] = qc_.device_name();
  j["layers"] = st["layers"];
  j["stage_seconds"] = st["stage_seconds"];
  j["resumed_stage"] = r.resumed_stage;
  j["resumed_at_layer"] = r.resumed_at_layer;
  j["files"] = files_;
  const std::string path = (std::filesystem::path(o_.output_dir) / "quantization_report.json").string();
  return write_text_atomic(path, j.dump(2) + "\n");
}

QuantReport Job::build_report() const {
  const auto& st = job_.state();
  QuantReport r;
  std::int64_t bits = 0;
  for (const auto& l : st.value("layers", nlohmann::json::array())) {
    QuantLayerReport q;
    q.layer = l["layer"];
    q.attn_choice = l["attn_choice"];
    q.mlp_choice = l["mlp_choice"];
    q.attn_bpw = l["attn_bpw"];
    q.mlp_bpw = l["mlp_bpw"];
    q.attn_error = l["attn_error"];
    q.mlp_error = l["mlp_error"];
    q.attn_error_quant = l["attn_error_quant"];
    q.mlp_error_quant = l["mlp_error_quant"];
    bits += l["attn_bits"].get<std::int64_t>() + l["mlp_bits"].get<std::int64_t>();
    r.decoder_weights += l["attn_weights"].get<std::int64_t>() + l["mlp_weights"].get<std::int64_t>();
    r.layers.push_back(std::move(q));
  }
  r.bits_per_weight = ratio(bits, r.decoder_weights);
  if (st.contains("head")) r.head_bits_per_weight = ratio(st["head"]["bits"].get<std::int64_t>(), st["head"]["weights"].get<std::int64_t>());
  r.calibration_ppl = st.value("calibration_ppl", 0.0);
  r.calibration_ppl_fp = st.value("ppl_fp", 0.0);
  for (const char* stage : {"measure", "quantize", "head", "write"})
    if (st.contains("stage_seconds") && st["stage_seconds"].contains(stage))
      r.stage_seconds.emplace_back(stage, st["stage_seconds"][stage].get<double>());
  r.total_seconds = seconds_since(start_);
  r.resumed_stage = st.value("resumed_stage", "");
  r.resumed_at_layer = st.contains("resumed_at_layer") ? st["resumed_at_layer"].get<int>() : -1;
  r.measurement_reused = in_.reused_measurement != nullptr;
  r.files = st.value("files", std::vector<std::string>{});
  r.report_path = (std::filesystem::path(o_.output_dir) / "quantization_report.json").string();
  return r;
}

}  // namespace nibble::quant
