// Everything the quantizer checks before it starts work: the options (target and head widths,
// rows/length, device), the input model (architecture, every tensor present with its shape, finite
// fp16/bf16/fp32 weights, EXL2-compatible sizes), and the machine (disk space for the output and the
// job record, memory for one layer plus the calibration hidden states). Errors name the setting,
// file or tensor. Used by the orchestration and tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "model/weight_source.h"
#include "nibble/quant.h"
#include "util/thread_pool.h"

namespace nibble::quant {

inline constexpr int kDefaultRows = 100;
inline constexpr int kDefaultLength = 2048;
inline constexpr int kDefaultMeasurementRows = 16;

// The option values the job runs with (defaults filled in, length capped by the model).
struct ResolvedOptions {
  int rows = 0, length = 0, measurement_rows = 0;
};

// invalid_argument naming the option.
Status validate_options(const QuantOptions& o);

// Opens and checks the input model; unsupported for quantized inputs or sizes EXL2 cannot hold,
// format for missing/misshapen/non-finite tensors.
Result<std::unique_ptr<WeightSource>> open_source_model(const std::string& dir);

// format error naming the file, tensor and element when any fp16/bf16/fp32 tensor holds NaN or inf.
Status check_finite(const WeightSource& ws, ThreadPool& pool);

ResolvedOptions resolve_options(const QuantOptions& o, const ModelSpec& spec);

// Peak host memory the job needs (bytes), from the shapes and the rows.
std::int64_t estimate_memory_bytes(const ModelSpec& spec, const ResolvedOptions& r);

// io error when the filesystem holding `path` (or its nearest existing parent) has fewer than
// `need` bytes free; the message gives both numbers.
Status check_disk_space(const std::string& path, std::int64_t need);
// out_of_memory when `need` exceeds the host's available memory; names the settings to lower.
Status check_memory(std::int64_t need);

}  // namespace nibble::quant
