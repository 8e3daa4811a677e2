// DeviceLinear: one linear layer uploaded to the GPU in the layout the kernels read. Dense
// fp16/bf16/fp32 weights become fp16 [N, K] (HF layout); EXL2 keeps its packed codes (columns
// padded to 128) with the group table, split plan and row permutation; GPTQ is converted to the
// same quantized layout (rows regrouped by g_idx, zero points kept). Built by CudaSegment.
#pragma once

#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "formats/linear.h"
#include "nibble_kernels/dgemv.h"
#include "nibble_kernels/qgemv.h"

namespace nibble::cuda {

struct DeviceLinear {
  bool quantized = false;
  int K = 0;
  int N = 0;
  kernels::DMatrix dense;        // when !quantized
  kernels::QMatrix quant;        // when quantized
  std::vector<DeviceBuffer> buffers;

  std::size_t bytes() const;
};

// Host-side layout of a quantized layer before upload (also what tests compare against).
struct QuantHost {
  int K = 0, N = 0, n_pad = 0;
  std::vector<std::uint32_t> q_weight;     // [words, n_pad], or empty when q_weight_src is set
  const std::uint8_t* q_weight_src = nullptr;  // the file's codes when they are already [words, n_pad]
  std::size_t q_words = 0;                 // int32 rows of codes
  std::vector<std::uint32_t> q_scale;      // [G, n_pad / 8] (EXL2) or empty
  std::vector<std::uint16_t> q_scale_max;  // [G] fp16 (EXL2) or empty
  std::vector<std::uint16_t> scales;       // [G, n_pad] fp16 (GPTQ) or empty
  std::vector<std::uint16_t> zeros;        // [G, n_pad] fp16 (GPTQ, asymmetric) or empty
  std::vector<kernels::QGroup> groups;
  std::vector<std::int32_t> perm;          // [K]
  std::vector<std::uint16_t> bias;         // [N] fp16 or empty
};

Result<QuantHost> quant_host_layout(const LinearDesc& desc);

// One GPU's share of a linear layer under tensor parallelism: some of its output columns (in the
// order given), and/or the rows [k_begin, k_end) of its permuted K axis, cut at group boundaries.
// A row share reads its input already in permuted order (the matching column share of the layer
// before produced exactly those inputs), so its own permutation is the identity. Dense layers have
// no permutation: their rows are the file's rows.
struct LinearShard {
  std::vector<int> cols;  // empty: every column
  int k_begin = 0;
  int k_end = -1;         // -1: every row
  bool bias = true;       // row shares keep the bias on one GPU only (the partial sums are added up)
};

// The share `s` of a host layout (q_weight words, scale codes, GPTQ scales/zeros, groups, bias).
// invalid_argument when a row cut is not at a group boundary or a column is out of range.
Result<QuantHost> shard_quant_host(const QuantHost& h, const LinearShard& s);

// Cuts of [0, K) into `ranks` row shares as even as the groups allow: each cut at a group boundary
// (quantized; `groups` along the permuted K) or a multiple of 128 rows (dense: `groups` empty).
// ranks + 1 values from 0 to K; invalid_argument when some share would be empty.
Result<std::vector<int>> shard_row_cuts(const std::vector<kernels::QGroup>& groups, int K, int ranks);

// Whether a quantized layer runs on the uniform 4-bit GEMV (kernels::qgemv_uniform4 of its groups);
// false for dense layers.
Result<bool> linear_uniform4(const LinearDesc& desc);

// Uploads `desc`. The split-K plan fills `sm_count` SMs given that the layer is launched together
// with others totalling `launch_tiles` column tiles of 128 (its own tiles when 0); `uniform_launch`
// says whether every layer of that launch is uniform 4-bit (linear_uniform4). Errors name the tensor.
// With `shard`, only that share of the layer is uploaded (shard_quant_host; dense layers likewise).
Result<DeviceLinear> upload_linear(const LinearDesc& desc, int sm_count, int launch_tiles = 0, bool uniform_launch = true,
                                   const LinearShard* shard = nullptr);
// Uploads a host layout already built (and perhaps sharded); `name` is the tensor for errors.
Result<DeviceLinear> upload_quant(const QuantHost& h, const std::string& name, int sm_count, int launch_tiles,
                                  bool uniform_launch);

// Column tiles of 128 a layer of N outputs occupies in a GEMV launch.
inline int gemv_tiles(int n) { return (n + 127) / 128; }

}  // namespace nibble::cuda
