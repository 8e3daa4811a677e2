// One quantization job from validated inputs to the finished folder: the stage driver behind
// quantize_model. Keeps the job record current after every layer (state, hidden states, layer
// tensors) so a killed job resumes bit-identically, reports progress with an ETA, and honours
// cancel between units of work. Stages: measure -> allocate -> quantize -> head -> write.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "nibble/quant.h"
#include "nibble/tokenizer.h"
#include "quant/calibration.h"
#include "quant/compute.h"
#include "quant/job_record.h"
#include "quant/measure.h"
#include "quant/validate.h"

namespace nibble::quant {

struct JobInputs {
  const QuantOptions* options = nullptr;
  ResolvedOptions resolved;
  std::unique_ptr<WeightSource> ws;
  CalibrationSet calibration;
  std::vector<int> measure_rows;                   // rows of the calibration used for measurement
  std::unique_ptr<Measurement> reused_measurement; // from --measurement FILE when it exists
};

class Job {
 public:
  Job(JobInputs in, QuantCompute& qc, JobRecord record, bool resumed, std::chrono::steady_clock::time_point start);
  Result<QuantReport> run();

 private:
  Status stage_measure();
  Status stage_allocate();
  Status stage_quantize();
  Status stage_head();
  Status stage_write();

  // Progress: reports stage/layer with the fraction of the whole job; false -> cancelled error.
  Status progress(QuantStage stage, int layer, int layers, double stage_fraction, const std::string& message);
  bool cancelled() const;
  void add_stage_seconds(const std::string& stage, double seconds);
  std::vector<std::int32_t> row_ids(const std::vector<int>& rows) const;
  // The stage's starting hidden states: the record's file, or the embeddings of `ids`.
  Result<std::vector<float>> load_hidden_host(std::size_t count, const std::vector<std::int32_t>& ids);
  Result<Activations> load_hidden(std::size_t count, const std::vector<std::int32_t>& ids);
  // Records x as the hidden states after this layer (written in the background, see job.cpp).
  Status save_hidden(const Activations& x, const std::string& name);
  Status finish_save();  // waits for the background write; its error
  Status save_record(const std::vector<std::string>& obsolete = {});  // finish_save, then job_.save
  QuantReport build_report() const;

  JobInputs in_;
  const QuantOptions& o_;
  QuantCompute& qc_;
  JobRecord job_;
  bool resumed_;
  std::chrono::steady_clock::time_point start_;
  double run_fraction_start_ = -1;  // job fraction when this run started reporting (for the ETA)
  double last_fraction_ = 0;
  std::vector<std::string> files_;
  std::vector<float> host_hidden_;  // the hidden states being written by pending_
  std::future<Status> pending_;     // last: destroyed (and waited for) first
};

}  // namespace nibble::quant
