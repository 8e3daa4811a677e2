// quantize_model: validates every input up front, builds the calibration rows and the settings
// that identify the job (input, calibration and measurement hashes), opens or resumes the job
// record and hands over to Job. No exception leaves this file.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nibble/devices.h"
#include "nibble/quant.h"
#include "quant/candidates.h"
#include "quant/hash.h"
#include "quant/job.h"
#include "quant/writer.h"

namespace nibble {
namespace {
namespace fs = std::filesystem;
using namespace quant;

Result<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string candidate_table_hash() {
  Hasher h;
  for (BlockKind k : {BlockKind::attn, BlockKind::mlp})
    for (const auto& c : block_candidates(k)) h.add(c.name);
  return h.hex();
}

Result<QuantReport> run_job(const QuantOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  NIBBLE_TRY(validate_options(o));
  if (o.progress) {
    QuantProgress p;
    p.message = "checking " + o.input_dir;
    if (!o.progress(p)) return make_error(ErrorKind::cancelled, "quantization cancelled");
  }
  JobInputs in;
  in.options = &o;
  NIBBLE_ASSIGN_OR_RETURN(in.ws, open_source_model(o.input_dir));
  const ModelSpec& spec = in.ws->spec();
  in.resolved = resolve_options(o, spec);
  NIBBLE_ASSIGN_OR_RETURN(auto tok, Tokenizer::load(o.input_dir));
  const std::string cal_path = o.calibration_file.empty() ? default_calibration_file() : o.calibration_file;
  if (cal_path.empty())
    return make_error(ErrorKind::not_found, "the default calibration set (resources/calibration/default.jsonl.gz) was not found; "
                                            "give --calibration FILE");
  NIBBLE_ASSIGN_OR_RETURN(auto docs, read_calibration_documents(cal_path));
  ThreadPool pool(o.threads);
  NIBBLE_TRY(check_finite(*in.ws, pool));
  const std::string device = o.device == "auto" ? default_device() : o.device;
  NIBBLE_ASSIGN_OR_RETURN(auto qc, make_quant_compute(device, spec, in.resolved.length, pool));

  std::error_code ec;
  if (!o.measurement_file.empty() && fs::is_regular_file(o.measurement_file, ec)) {
    NIBBLE_ASSIGN_OR_RETURN(std::string text, read_all(o.measurement_file));
    auto j = nlohmann::json::parse(text, nullptr, false);
    NIBBLE_ASSIGN_OR_RETURN(Measurement m, measurement_from_json(j, o.measurement_file));
    if (m.model != measurement_model_key(spec))
      return make_error(ErrorKind::invalid_argument, o.measurement_file, ": measured on a different model (", m.model,
                        "), this one is ", measurement_model_key(spec));
    if (static_cast<int>(m.blocks.size()) != 2 * spec.n_layers)
      return make_error(ErrorKind::format, o.measurement_file, ": ", m.blocks.size(), " blocks measured, the model has ",
                        2 * spec.n_layers);
    in.reused_measurement = std::make_unique<Measurement>(std::move(m));
  }
  const std::int64_t hidden = static_cast<std::int64_t>(in.resolved.rows) * in.resolved.length * spec.hidden_size * 4;
  NIBBLE_TRY(check_disk_space(o.output_dir, 2 * estimate_output_bytes(spec, o.bits, o.head_bits) + 2 * hidden));
  NIBBLE_TRY(check_memory(estimate_memory_bytes(spec, in.resolved)));

  if (o.progress) {
    QuantProgress p;
    p.stage = QuantStage::calibration;
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    p.message = "tokenizing the calibration text";
    if (!o.progress(p)) return make_error(ErrorKind::cancelled, "quantization cancelled");
  }
  const std::string cal_name = o.calibration_file.empty() ? "(default)" : fs::path(o.calibration_file).filename().string();
  NIBBLE_ASSIGN_OR_RETURN(in.calibration, make_calibration(*tok, docs, in.resolved.rows, in.resolved.length, cal_name));
  in.measure_rows = spread_rows(in.resolved.rows, in.resolved.measurement_rows);
  NIBBLE_ASSIGN_OR_RETURN(std::string model_hash, hash_model(*in.ws, pool));

  nlohmann::json settings = {{"format", "nibble-exl2-job"},
                             {"version", 1},
                             {"input", model_hash},
                             {"bits", o.bits},
                             {"head_bits", o.head_bits},
                             {"rows", in.resolved.rows},
                             {"length", in.resolved.length},
                             {"measurement_rows", in.resolved.measurement_rows},
                             {"calibration", {{"name", in.calibration.name}, {"ids", ""}}},
                             {"candidates", candidate_table_hash()},
                             {"shard_bytes", o.shard_bytes},
                             {"device", device == "cpu" ? "cpu" : "cuda"}};
  Hasher ids_hash;
  ids_hash.add(in.calibration.ids.data(), in.calibration.ids.size() * sizeof(std::int32_t));
  settings["calibration"]["ids"] = ids_hash.hex();
  bool resumed = false;
  NIBBLE_ASSIGN_OR_RETURN(JobRecord record, JobRecord::open(o.output_dir, settings, resumed));
  Job job(std::move(in), *qc, std::move(record), resumed, start);
  return job.run();
}

}  // namespace

const char* quant_stage_name(QuantStage stage) {
  switch (stage) {
    case QuantStage::validate: return "validate";
    case QuantStage::calibration: return "calibration";
    case QuantStage::measure: return "measure";
    case QuantStage::allocate: return "allocate";
    case QuantStage::quantize: return "quantize";
    case QuantStage::head: return "head";
    case QuantStage::write: return "write";
    case QuantStage::done: return "done";
  }
  return "?";
}

std::string default_calibration_file() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share/nibble/calibration/default.jsonl.gz");
#ifdef NIBBLE_SOURCE_RESOURCES_DIR
  candidates.push_back(fs::path(NIBBLE_SOURCE_RESOURCES_DIR) / "calibration/default.jsonl.gz");
#endif
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return c.string();
  return {};
}

Result<QuantReport> quantize_model(const QuantOptions& options) {
  try {
    return run_job(options);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::out_of_memory, "quantization ran out of memory: lower --rows or --length");
  } catch (const std::exception& e) {
    return make_error(ErrorKind::internal, "quantization failed: ", e.what());
  }
}

}  // namespace nibble
