// MemoryEstimate: how much memory a model needs on a device (weights, KV cache at a context length
// and cache type, working buffers), computed from the model's shape. A stand-in until engine/plan
// offers the estimate; used by ModelInspector for the model card. Pure computation, no engine types.
#pragma once

#include <QString>
#include <QtGlobal>

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
};

struct MemoryEstimate {
  qint64 weights = 0;
  qint64 kvCache = 0;
  qint64 buffers = 0;     // activations for one forward step, logits, backend workspace
  qint64 total() const { return weights + kvCache + buffers; }
};

// `context` in tokens (rounded up to whole 64-token pages); `maxBatchTokens` the rows of one step.
MemoryEstimate estimateMemory(const ModelShape& shape, bool onGpu, CacheType cacheType, int context,
                              int maxBatchTokens = 512);

// "1.2 GB", "640 MB", "12 KB": decimal units, as the interface shows sizes.
QString formatBytes(qint64 bytes);
