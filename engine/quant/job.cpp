// The stage driver: progress and ETA, the measurement and allocation stages, and the run loop.
// The quantization, head and write stages are in job_stages.cpp.
#include "quant/job.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <new>
#include <system_error>

#include "quant/allocate.h"
#include "quant/head.h"
#include "quant/source_model.h"

namespace nibble::quant {
namespace {

// Share of the whole job per stage, in order: measure, allocate, quantize, head, write.
struct StageShares {
  double measure, quantize, head, write;
};
StageShares shares(bool measuring) {
  return measuring ? StageShares{0.45, 0.45, 0.05, 0.05} : StageShares{0.0, 0.85, 0.08, 0.07};
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string hidden_name(const char* stage, int layer) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "hidden-%s-%04d.bin", stage, layer);
  return buf;
}

}  // namespace

Job::Job(JobInputs in, QuantCompute& qc, JobRecord record, bool resumed, std::chrono::steady_clock::time_point start)
    : in_(std::move(in)), o_(*in_.options), qc_(qc), job_(std::move(record)), resumed_(resumed), start_(start) {}

bool Job::cancelled() const { return o_.cancel && o_.cancel->load(); }

Status Job::progress(QuantStage stage, int layer, int layers, double stage_fraction, const std::string& message) {
  if (cancelled()) return make_error(ErrorKind::cancelled, "quantization cancelled");
  const StageShares s = shares(!in_.reused_measurement);
  double base = 0, share = 0;
  switch (stage) {
    case QuantStage::measure: base = 0; share = s.measure; break;
    case QuantStage::allocate: base = s.measure; break;
    case QuantStage::quantize: base = s.measure; share = s.quantize; break;
    case QuantStage::head: base = s.measure + s.quantize; share = s.head; break;
    case QuantStage::write: base = s.measure + s.quantize + s.head; share = s.write; break;
    case QuantStage::done: base = 1; break;
    default: break;
  }
  QuantProgress p;
  p.stage = stage;
  p.layer = layer;
  p.layers = layers;
  p.fraction = std::min(1.0, base + share * std::clamp(stage_fraction, 0.0, 1.0));
  p.elapsed_s = seconds_since(start_);
  if (run_fraction_start_ < 0) run_fraction_start_ = p.fraction;
  const double done = p.fraction - run_fraction_start_;
  if (done > 0.01) p.eta_s = p.elapsed_s / done * (1.0 - p.fraction);
  p.message = message;
  last_fraction_ = p.fraction;
  if (o_.progress && !o_.progress(p)) return make_error(ErrorKind::cancelled, "quantization cancelled");
  return {};
}

void Job::add_stage_seconds(const std::string& stage, double seconds) {
  auto& st = job_.state();
  if (!st.contains("stage_seconds")) st["stage_seconds"] = nlohmann::json::object();
  auto& secs = st["stage_seconds"];
  secs[stage] = secs.value(stage, 0.0) + seconds;
}

std::vector<std::int32_t> Job::row_ids(const std::vector<int>& rows) const {
  const std::size_t L = static_cast<std::size_t>(in_.calibration.length);
  std::vector<std::int32_t> ids;
  for (int r : rows) {
    const auto at = in_.calibration.ids.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(r) * L);
    ids.insert(ids.end(), at, at + static_cast<std::ptrdiff_t>(L));
  }
  return ids;
}

Result<std::vector<float>> Job::load_hidden_host(std::size_t count, const std::vector<std::int32_t>& ids) {
  NIBBLE_TRY(finish_save());
  const std::string name = job_.state().value("hidden", "");
  if (!name.empty()) return job_.read_floats(name, count);
  return embed_tokens(*in_.ws, ids);
}

Result<Activations> Job::load_hidden(std::size_t count, const std::vector<std::int32_t>& ids) {
  NIBBLE_ASSIGN_OR_RETURN(std::vector<float> host, load_hidden_host(count, ids));
  if (host.size() != count)
    return make_error(ErrorKind::internal, "quantizer: ", host.size(), " hidden-state values where ", count, " were expected");
  NIBBLE_ASSIGN_OR_RETURN(Activations x, qc_.activations(count));
  NIBBLE_TRY(qc_.write_in(x.data, host.data(), count));
  return x;
}

// The hidden states come back to the host here; the file and then the state naming it are written
// by a background task while the next layer computes. A kill before that task ends leaves the
// previous record, which resumes one layer earlier to the same bits.
Status Job::save_hidden(const Activations& x, const std::string& name) {
  NIBBLE_TRY(finish_save());
  const auto t0 = std::chrono::steady_clock::now();
  try {
    host_hidden_.resize(x.size);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::out_of_memory, "quantizer: no host memory to save ", x.size * 4 >> 20, " MB of hidden states");
  }
  NIBBLE_TRY(qc_.read_back(x.data, x.size, host_hidden_.data()));
  const std::string old = job_.state().value("hidden", "");
  job_.state()["hidden"] = name;
  const bool profile = std::getenv("NIBBLE_QUANT_PROFILE") != nullptr;
  if (profile)
    std::fprintf(stderr, "quant profile: read back %zu MB of hidden states in %.3f s\n", x.size * 4 >> 20,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  auto task = [this, name, profile, text = job_.state().dump(), obsolete = std::vector<std::string>{old == name ? "" : old}]() -> Status {
    const auto w0 = std::chrono::steady_clock::now();
    NIBBLE_TRY(job_.write_floats(name, host_hidden_.data(), host_hidden_.size()));
    Status st = job_.save_text(text, obsolete);
    if (profile)
      std::fprintf(stderr, "quant profile: wrote %zu MB of hidden states in %.3f s (background)\n", host_hidden_.size() * 4 >> 20,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
    return st;
  };
  try {
    pending_ = std::async(std::launch::async, task);
  } catch (const std::system_error&) {  // no thread to spare: write it now
    return task();
  }
  return {};
}

Status Job::finish_save() {
  if (!pending_.valid()) return {};
  return pending_.get();
}

Status Job::save_record(const std::vector<std::string>& obsolete) {
  NIBBLE_TRY(finish_save());
  return job_.save(obsolete);
}

Status Job::stage_measure() {
  const ModelSpec& s = in_.ws->spec();
  auto& st = job_.state();
  const int seqs = static_cast<int>(in_.measure_rows.size());
  const std::vector<std::int32_t> ids = row_ids(in_.measure_rows);
  const std::size_t count = ids.size() * static_cast<std::size_t>(s.hidden_size);
  if (!st.contains("measurement")) {
    Measurement m;
    m.rows = seqs;
    m.length = in_.calibration.length;
    m.calibration = in_.calibration.name;
    m.model = measurement_model_key(s);
    st["measurement"] = measurement_to_json(m);
  }
  NIBBLE_ASSIGN_OR_RETURN(Activations x, load_hidden(count, ids));
  NIBBLE_ASSIGN_OR_RETURN(Activations mid, qc_.activations(count));
  for (int l = st.value("next_layer", 0); l < s.n_layers; ++l) {
    NIBBLE_TRY(progress(QuantStage::measure, l, s.n_layers, static_cast<double>(l) / s.n_layers, "measuring layer " + std::to_string(l)));
    const auto t0 = std::chrono::steady_clock::now();
    NIBBLE_ASSIGN_OR_RETURN(LayerWeights fp, load_layer_weights(*in_.ws, l, qc_.pool()));
    NIBBLE_ASSIGN_OR_RETURN(BlockMeasurement attn, measure_block(qc_, *in_.ws, fp, l, BlockKind::attn, x.data, seqs, mid.data, o_.cancel));
    NIBBLE_ASSIGN_OR_RETURN(BlockMeasurement mlp, measure_block(qc_, *in_.ws, fp, l, BlockKind::mlp, mid.data, seqs, x.data, o_.cancel));
    Measurement one;
    one.blocks = {attn, mlp};
    const nlohmann::json measured = measurement_to_json(one);
    for (const auto& b : measured["blocks"]) st["measurement"]["blocks"].push_back(b);
    st["next_layer"] = l + 1;
    add_stage_seconds("measure", seconds_since(t0));
    NIBBLE_TRY(save_hidden(x, hidden_name("measure", l + 1)));
  }
  // The input model's perplexity on the first measurement rows (fp head over fp hidden states).
  const int ppl_seqs = std::max(1, std::min(seqs, 16384 / in_.calibration.length));
  NIBBLE_ASSIGN_OR_RETURN(auto final_norm, dense_f32(*in_.ws, "model.norm.weight", s.hidden_size));
  std::vector<float> normed(static_cast<std::size_t>(ppl_seqs) * in_.calibration.length * s.hidden_size);
  qc_.rmsnorm(x.data, final_norm, static_cast<std::int64_t>(ppl_seqs) * in_.calibration.length, normed.data());
  NIBBLE_ASSIGN_OR_RETURN(LinearDesc head, in_.ws->head());
  NIBBLE_ASSIGN_OR_RETURN(CpuMatrix head_fp, cpu_matrix_from({&head}, qc_.pool()));
  st["measurement"]["ppl_fp"] = calibration_perplexity(qc_, head_fp, normed.data(), ids.data(), ppl_seqs, in_.calibration.length);
  NIBBLE_TRY(qc_.status());
  if (!o_.measurement_file.empty())
    NIBBLE_TRY(write_text_atomic(o_.measurement_file, st["measurement"].dump(1) + "\n"));
  const std::string old = st.value("hidden", "");
  st["stage"] = "allocate";
  st["next_layer"] = 0;
  st["hidden"] = "";
  return save_record({old});
}

Status Job::stage_allocate() {
  auto& st = job_.state();
  Measurement m;
  if (in_.reused_measurement) {
    m = *in_.reused_measurement;
  } else {
    NIBBLE_ASSIGN_OR_RETURN(m, measurement_from_json(st["measurement"], job_.path("state.json")));
  }
  const int layers = in_.ws->spec().n_layers;
  if (static_cast<int>(m.blocks.size()) != 2 * layers)
    return make_error(ErrorKind::format, "the measurement has ", m.blocks.size(), " blocks; this model has ", 2 * layers);
  NIBBLE_ASSIGN_OR_RETURN(Allocation a, allocate_bits(m.blocks, o_.bits));
  nlohmann::json blocks = nlohmann::json::array();
  for (std::size_t b = 0; b < m.blocks.size(); ++b) {
    const auto& score = m.blocks[b].scores[static_cast<std::size_t>(a.choice[b])];
    blocks.push_back({{"candidate", score.candidate}, {"bits", score.bits}, {"weights", m.blocks[b].weights}, {"error", score.error}});
  }
  st["allocation"] = {{"blocks", blocks}, {"bpw", a.bpw()}, {"error", a.error}};
  if (m.ppl_fp > 0) st["ppl_fp"] = m.ppl_fp;
  st["stage"] = "quantize";
  st["next_layer"] = 0;
  return save_record();
}

Result<QuantReport> Job::run() {
  auto& st = job_.state();
  if (!st.contains("stage")) {
    st["stage"] = in_.reused_measurement ? "allocate" : "measure";
    st["next_layer"] = 0;
    st["hidden"] = "";
    NIBBLE_TRY(save_record());
  } else {
    st["resumed_stage"] = st["stage"];
    st["resumed_at_layer"] = st.value("next_layer", 0);
  }
  if (st["stage"] == "measure") NIBBLE_TRY(stage_measure());
  if (o_.measure_only) {
    QuantReport r = build_report();
    r.calibration_ppl_fp = st["measurement"].value("ppl_fp", 0.0);
    NIBBLE_TRY(progress(QuantStage::done, 0, 0, 1, "measurement saved to " + o_.measurement_file));
    NIBBLE_TRY(finish_save());
    NIBBLE_TRY(job_.remove());
    return r;
  }
  if (st["stage"] == "allocate") {
    NIBBLE_TRY(progress(QuantStage::allocate, 0, 0, 0, "allocating bits"));
    NIBBLE_TRY(stage_allocate());
  }
  if (st["stage"] == "quantize") NIBBLE_TRY(stage_quantize());
  if (st["stage"] == "head") NIBBLE_TRY(stage_head());
  if (st["stage"] == "write") NIBBLE_TRY(stage_write());
  QuantReport r = build_report();
  NIBBLE_TRY(progress(QuantStage::done, 0, 0, 1, "done"));
  NIBBLE_TRY(finish_save());
  if (!o_.keep_job_record) NIBBLE_TRY(job_.remove());
  return r;
}

}  // namespace nibble::quant
