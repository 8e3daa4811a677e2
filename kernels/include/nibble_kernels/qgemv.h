// Quantized GEMV for decode (1-32 rows): EXL2 (every bit width, mixed groups, permutation) and
// GPTQ 4-bit (rows reordered by group at load) in one internal layout. Host API only: raw device
// pointers and a stream; no engine types. Implemented in qgemv.cu; called by the CUDA backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace nibble::kernels {

// One group of rows along the permuted K axis. EXL2 groups are 16-128 rows of one bit width.
struct QGroup {
  int k_begin;     // first permuted row
  int k_end;       // one past the last
  int bits;        // 2, 3, 4, 5, 6 or 8
  int word_begin;  // first int32 row of the group in q_weight
};

// A quantized linear layer on the device. Columns are padded to a multiple of 128 (n_pad).
struct QMatrix {
  const std::uint32_t* q_weight = nullptr;  // [words, n_pad] column bitstreams along permuted K
  const std::uint32_t* q_scale = nullptr;   // [G, n_pad/8] EXL2 4-bit scale codes, or nullptr
  const __half* q_scale_max = nullptr;      // [G] EXL2 per-group maximum scale
  const __half* scales = nullptr;           // [G, n_pad] GPTQ scales (used when q_scale == nullptr)
  const __half* zeros = nullptr;            // [G, n_pad] GPTQ zero point z (w = (q - z) * s); nullptr: z = 2^(bits-1)
  const QGroup* groups = nullptr;           // [G]
  const int* perm = nullptr;                // [K] x index of each permuted row; nullptr = identity
  const int2* splits = nullptr;             // [n_splits] {g_begin, g_end}: split-K ranges
  const __half* bias = nullptr;             // [n] or nullptr
  int k = 0;
  int n = 0;
  int n_pad = 0;
  int groups_count = 0;
  int n_splits = 0;
  int max_split_k = 0;                      // longest split in rows of K (<= 1024; uniform 4-bit <= 4096)
  int max_split_groups = 0;                 // most groups in one split (<= 128)
  int max_split_words = 0;                  // most q_weight rows in one split (<= 128: a 64 KB slab; uniform 4-bit <= 512)
  int uniform_bits = 0;                     // the width of every group when they all match, else 0
  int group_shift = 0;                      // log2(rows per group) when all groups have one power-of-two size >= 32
};

enum class QGemvInput : int {
  fp16 = 0,          // x: __half [rows, k]
  fp32_rmsnorm = 1,  // x: float [rows, k] hidden state, normalised with norm_weight and eps first
};

enum class QGemvOutput : int {
  store_fp32 = 0,  // out[r, n] = y            (float)
  store_fp16 = 1,  // out[r, n] = y            (__half)
  add_fp32 = 2,    // out[r, n] += y           (float residual stream)
  silu_mul = 3,    // two matrices (gate, up) of equal n: out[r, n] = silu(gate) * up  (__half)
};

struct QGemvTarget {
  void* out = nullptr;  // see QGemvOutput; row stride ld elements
  int ld = 0;
};

// Up to 3 matrices sharing one input (q/k/v, or gate/up) in one launch.
struct QGemvArgs {
  QMatrix m[3];
  QGemvTarget target[3];
  int count = 1;
  QGemvInput input = QGemvInput::fp16;
  QGemvOutput output = QGemvOutput::store_fp32;
  const void* x = nullptr;           // [rows, k] (k equal for every matrix)
  int ldx = 0;                       // row stride of x in elements
  const __half* norm_weight = nullptr;  // [k] for fp32_rmsnorm
  float norm_eps = 1e-6f;
  int rows = 1;                      // 1..32
  float* workspace = nullptr;        // split-K partials, qgemv_workspace_floats() floats
  unsigned* counters = nullptr;      // qgemv_counter_count() zero-initialised; left zeroed after use
  // RMSNorm statistic handed from one GEMV to the next, so the consumer skips re-reading the row:
  // with add_fp32 and one matrix whose n is a multiple of 32, ss_out[r * n/32 + j] receives the sum of
  // squares of the updated out[r, 32j .. 32j+31]; with fp32_rmsnorm and k a multiple of 32, ss_in
  // (laid out the same with n = k) replaces the kernel's own pass over x. Summed in a fixed order.
  float* ss_out = nullptr;
  const float* ss_in = nullptr;
};

// Whether a matrix with these groups runs on the uniform 4-bit kernel: every group 4-bit, all of one
// power-of-two size >= 32, in order.
bool qgemv_uniform4(const std::vector<QGroup>& groups);

// Whether 9-32 rows of this uploaded matrix take one pass of the wide kernel (uniform 4-bit planned
// for the uniform kernel); other matrices run such rows in passes of 8.
bool qgemv_wide_rows(const QMatrix& m);

// Split-K plan (host helper used at load) for a matrix launched together with others totalling
// `launch_tiles` column tiles of 128. `uniform_launch`: every matrix of that launch qualifies for the
// uniform 4-bit kernel (qgemv_uniform4), which takes equal whole-group splits of about 1024-4096 rows
// (where the groups allow), at most three blocks per SM in all, so that every block is resident at
// once; otherwise (and for other matrices) contiguous group ranges of at most 1024 rows and 128
// words, enough of them to fill the GPU.
std::vector<int2> qgemv_plan_splits(const std::vector<QGroup>& groups, int launch_tiles, int sm_count,
                                    bool uniform_launch = true);

// Fills max_split_k, max_split_groups, max_split_words, uniform_bits, group_shift of `m` from the host copies of its groups
// and splits.
void qgemv_describe_splits(QMatrix& m, const std::vector<QGroup>& groups, const std::vector<int2>& splits);

std::size_t qgemv_workspace_floats(const QGemvArgs& args);
std::size_t qgemv_counter_count(const QGemvArgs& args);

// Validates the arguments (returns cudaErrorInvalidValue on a bad shape) and launches.
int qgemv(const QGemvArgs& args, cudaStream_t stream);

}  // namespace nibble::kernels
