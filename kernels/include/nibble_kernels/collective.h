// One-shot collectives among the GPUs of one host that can address each other's memory (peer
// access over NVLink or PCIe), for tensor parallelism: each rank's kernel reads every rank's
// buffer directly, after a barrier of flags written into each rank's PeerSignal. A decode step's
// messages are a few kilobytes, where the barrier's latency is the whole cost; these kernels are
// plain launches, so they capture into each GPU's decode graph. Host API: raw pointers and a
// stream. Implemented in collective.cu; called by the CUDA backend's tensor-parallel segment.
//
// Contract: every rank launches the same sequence of collectives with the same sizes; a rank does
// not rewrite a source buffer until the next collective of the sequence has begun (its barrier
// proves that every rank has finished reading).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace nibble::kernels {

constexpr int kPeerMaxRanks = 8;
constexpr int kPeerMaxBlocks = 128;

// Zero-initialised, one per rank in that rank's memory (cudaMemset before first use).
struct PeerSignal {
  unsigned flag[kPeerMaxBlocks][kPeerMaxRanks];  // flag[b][r]: rank r's block b has arrived (epoch)
  unsigned epoch[kPeerMaxBlocks];                // this rank's barriers so far, per block
};

struct PeerCollectiveArgs {
  int rank = 0;
  int ranks = 0;
  PeerSignal* signals[kPeerMaxRanks] = {};  // every rank's signal block (peer-addressable)
};

// out[i] += src[0][i] + src[1][i] + ... (fp32, added in rank order, so every rank gets the same bits),
// i < n. src[r] is rank r's buffer.
int peer_all_reduce_add_f32(const PeerCollectiveArgs& c, const float* const* src, float* out, long n, cudaStream_t stream);

// out[row, r * width + j] = src[r][row * width + j] for every rank r (fp16): each rank's
// [rows, width] block side by side in this rank's [rows, ldo].
int peer_all_gather_f16(const PeerCollectiveArgs& c, const __half* const* src, __half* out, int rows, int width, int ldo,
                        cudaStream_t stream);

}  // namespace nibble::kernels
