// Public quantizer API: turns an fp16/bf16 Hugging Face model folder into an EXL2 folder (shards,
// config.json with quantization_config, tokenizer files, a JSON report) as a resumable job.
// Implemented in engine/quant; used by `nibble-cli quantize`, the GUI wizard (through the bridge)
// and tests. One job per call; the call blocks on the caller's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "nibble/error.h"

namespace nibble {

enum class QuantStage : std::uint8_t { validate, calibration, measure, allocate, quantize, head, write, done };
const char* quant_stage_name(QuantStage stage);  // "validate", "calibration", "measure", ...

struct QuantProgress {
  QuantStage stage = QuantStage::validate;
  int layer = 0;           // layers of this stage finished so far
  int layers = 0;          // layers this stage walks (0 when it does not walk layers)
  double fraction = 0;     // of the whole job's estimated work, 0..1
  double elapsed_s = 0;    // since the call started
  double eta_s = -1;       // seconds left (-1 while unknown)
  std::string message;     // one line for a log ("layer 3: attn 4.13 bpw, error 0.0021")
};

// Called on the job's thread between units of work; return false to cancel.
using QuantProgressFn = std::function<bool(const QuantProgress&)>;

// One linear layer as the solver dequantized it: [N][K] fp32 row-major (nn.Linear layout), for
// verification tools and tests that compare it with what the written file unpacks to.
using QuantLinearHook = std::function<void(const std::string& name, int K, int N, const std::vector<float>& weight)>;

struct QuantOptions {
  std::string input_dir;            // HF folder: config.json, *.safetensors (fp16/bf16), tokenizer
  std::string output_dir;           // created; must be empty, absent, or hold this job's record
  double bits = 4.0;                // target bits per weight over the decoder layers, 2.0 to 8.0
  int head_bits = 6;                // lm_head width: 2, 3, 4, 5, 6 or 8
  std::string calibration_file;     // "" = the default set; else text or JSONL ({"text": ...}), gz ok
  int rows = 0;                     // calibration rows (0 = 100)
  int length = 0;                   // tokens per row (0 = 2048, capped by max_position_embeddings)
  int measurement_rows = 0;         // rows used to measure candidates (0 = min(rows, 16))
  std::string measurement_file;     // reused when it exists; otherwise the measurement is saved there
  bool measure_only = false;        // stop after saving the measurement (needs measurement_file); no output
  std::string device = "cpu";       // "cpu", "cuda:N", or "auto" (cuda:0 when a GPU is usable, else cpu)
  unsigned threads = 0;             // CPU worker threads, 0 = one per core
  std::int64_t shard_bytes = 8ll << 30;  // largest output shard
  bool keep_job_record = false;     // leave OUT/.nibble-job after success (it is removed otherwise)
  QuantProgressFn progress;
  const std::atomic<bool>* cancel = nullptr;  // set to true from any thread to stop at the next unit
  QuantLinearHook on_linear;        // called for each quantized linear (including lm_head)
};

struct QuantLayerReport {
  int layer = 0;
  std::string attn_choice, mlp_choice;  // candidate names from the measurement
  double attn_bpw = 0, mlp_bpw = 0;     // stored bits over weights of the block's linears
  double attn_error = 0, mlp_error = 0; // measured relative output error of the chosen candidate
  double attn_error_quant = 0, mlp_error_quant = 0;  // same, measured while quantizing (all rows)
};

struct QuantReport {
  double bits_per_weight = 0;       // achieved: stored bits of every decoder linear over its weights
  double head_bits_per_weight = 0;
  std::int64_t decoder_weights = 0;
  std::vector<QuantLayerReport> layers;
  double calibration_ppl = 0;       // quantized model on the measurement rows
  double calibration_ppl_fp = 0;    // the input model on the same rows (0 when the measurement was reused)
  std::vector<std::pair<std::string, double>> stage_seconds;  // in stage order
  double total_seconds = 0;
  int resumed_at_layer = -1;        // -1: fresh job; else the layer (of the resumed stage) it went on from
  std::string resumed_stage;        // "" or the stage name
  bool measurement_reused = false;
  std::vector<std::string> files;   // written into output_dir, in writing order
  std::string report_path;          // output_dir/quantization_report.json
};

// Validates everything first (architecture, tensors, finite weights, options, output folder, disk
// space, memory) and only then starts work. Errors name the file, tensor or setting; a cancelled
// job returns ErrorKind::cancelled and leaves its record in output_dir so that the same call resumes.
Result<QuantReport> quantize_model(const QuantOptions& options);

// The bundled calibration set (resources/calibration/default.jsonl.gz), or "" when not found.
std::string default_calibration_file();

}  // namespace nibble
