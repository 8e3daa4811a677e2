// MemoryEstimate: how much memory a model needs on a device (weights, KV cache at a context length
// and cache type, working buffers). With a MemoryPlanner on the shape (ModelInspector opens one off
// the GUI thread) the numbers are engine/plan's, the same as `nibble-cli info --vram`; without one,
// a shape-only approximation. Used by ModelInspector for the model card. Pure computation.
#pragma once

#include <memory>

#include <QString>
#include <QtGlobal>

namespace nibble {
class MemoryPlanner;  // engine/plan (kept out of this Qt-only header)
}

// Element type of the KV cache. The CPU backend always keeps it in fp32.
enum class CacheType { Fp32, Fp16, Q8, Q4 };

double cacheBytesPerElement(CacheType type);
QString cacheTypeName(CacheType type);              // "fp16", "q8", ...
CacheType parseCacheType(const QString& name);      // unknown -> Fp16

struct ModelShape {
  qint64 weightBytes = 0;    // the weight files' tensor bytes
  qint64 parameters = 0;
  bool quantized = false;    // EXL2/GPTQ: the CPU backend dequantizes these to fp32
  int layers = 0, hidden = 0, intermediate = 0, heads = 0, kvHeads = 0, headDim = 0, vocab = 0;
  std::shared_ptr<const nibble::MemoryPlanner> planner;  // the folder's byte counts (exact plan)
};

struct MemoryEstimate {
  qint64 weights = 0;
  qint64 kvCache = 0;
  qint64 buffers = 0;     // activations for one forward step, logits, backend workspace
  qint64 total() const { return weights + kvCache + buffers; }
};

// `context` in tokens (rounded up to whole 64-token pages); `maxBatchTokens` the rows of one step.
// With shape.planner: the plan's split for the CUDA (onGpu) or CPU backend; on the GPU `buffers`
// includes the CUDA runtime allowance. The CPU runs q8/q4 as asked and fp16 as fp32.
MemoryEstimate estimateMemory(const ModelShape& shape, bool onGpu, CacheType cacheType, int context,
                              int maxBatchTokens = 512);

// "1.2 GB", "640 MB", "12 KB": decimal units, as the interface shows sizes.
QString formatBytes(qint64 bytes);
