// DeviceLinear: one linear layer uploaded to the GPU in the layout the kernels read. Dense
// fp16/bf16/fp32 weights become fp16 [N, K] (HF layout); EXL2 keeps its packed codes (columns
// padded to 128) with the group table, split plan and row permutation; GPTQ is converted to the
// same quantized layout (rows regrouped by g_idx, zero points kept). Built by CudaSegment.
#pragma once

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

// Whether a quantized layer runs on the uniform 4-bit GEMV (kernels::qgemv_uniform4 of its groups);
// false for dense layers.
Result<bool> linear_uniform4(const LinearDesc& desc);

// Uploads `desc`. The split-K plan fills `sm_count` SMs given that the layer is launched together
// with others totalling `launch_tiles` column tiles of 128 (its own tiles when 0); `uniform_launch`
// says whether every layer of that launch is uniform 4-bit (linear_uniform4). Errors name the tensor.
Result<DeviceLinear> upload_linear(const LinearDesc& desc, int sm_count, int launch_tiles = 0, bool uniform_launch = true);

// Column tiles of 128 a layer of N outputs occupies in a GEMV launch.
inline int gemv_tiles(int n) { return (n + 127) / 128; }

}  // namespace nibble::cuda
