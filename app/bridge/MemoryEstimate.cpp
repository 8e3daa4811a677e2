// MemoryEstimate: weights as the backend keeps them, K and V for every layer at the requested
// context, and a buffer allowance for one forward step. Numbers are an upper-side estimate, not a
// measurement; engine/plan will own the exact one.
#include "MemoryEstimate.h"

#include <QCoreApplication>

#include "nibble/plan.h"

namespace {

constexpr int kPageTokens = 64;
// A CUDA context, cuBLAS workspace and graph pools take this much before any model byte.
constexpr qint64 kGpuRuntimeOverhead = 400LL * 1000 * 1000;

}  // namespace

double cacheBytesPerElement(CacheType type) {
  switch (type) {
    case CacheType::Fp32: return 4.0;
    case CacheType::Fp16: return 2.0;
    case CacheType::Q8: return 1.0;
    case CacheType::Q4: return 0.5;
  }
  return 2.0;
}

QString cacheTypeName(CacheType type) {
  switch (type) {
    case CacheType::Fp32: return QStringLiteral("fp32");
    case CacheType::Fp16: return QStringLiteral("fp16");
    case CacheType::Q8: return QStringLiteral("q8");
    case CacheType::Q4: return QStringLiteral("q4");
  }
  return QStringLiteral("fp16");
}

CacheType parseCacheType(const QString& name) {
  const QString n = name.toLower();
  if (n == QLatin1String("fp32")) return CacheType::Fp32;
  if (n == QLatin1String("q8")) return CacheType::Q8;
  if (n == QLatin1String("q4")) return CacheType::Q4;
  return CacheType::Fp16;
}

MemoryEstimate estimateMemory(const ModelShape& s, bool onGpu, CacheType cacheType, int context, int maxBatchTokens) {
  MemoryEstimate e;
  if (s.planner) {
    nibble::PlanOptions o;
    o.context = qMax(context, 1);
    o.max_batch_tokens = qBound(1, maxBatchTokens, 1 << 16);
    o.page_size = kPageTokens;
    o.kv_cache = cacheType == CacheType::Q8 ? nibble::KvCacheMode::q8
                 : cacheType == CacheType::Q4 ? nibble::KvCacheMode::q4
                                              : nibble::KvCacheMode::fp16;
    auto plan = s.planner->plan(o);
    if (plan) {
      const nibble::MemorySplit& m = onGpu ? plan->cuda : plan->cpu;
      e.weights = static_cast<qint64>(m.weights);
      e.kvCache = static_cast<qint64>(m.kv_cache);
      e.buffers = static_cast<qint64>(m.scratch + (onGpu ? plan->cuda_runtime_overhead : 0));
      return e;
    }
  }
  e.weights = (!onGpu && s.quantized) ? s.parameters * 4 : s.weightBytes;

  const qint64 tokens = (static_cast<qint64>(qMax(context, 1)) + kPageTokens - 1) / kPageTokens * kPageTokens;
  const double element = onGpu ? cacheBytesPerElement(cacheType) : cacheBytesPerElement(CacheType::Fp32);
  e.kvCache = static_cast<qint64>(2.0 * s.layers * s.kvHeads * s.headDim * static_cast<double>(tokens) * element);

  // One step of `maxBatchTokens` rows: residual, norm and attention outputs, q/k/v, the MLP's
  // gate/up/down, attention scores for one head block, and one row of logits per sequence.
  const qint64 act = onGpu ? 2 : 4;
  const qint64 rows = qMax(maxBatchTokens, 1);
  const qint64 qkv = static_cast<qint64>(s.heads + 2 * s.kvHeads) * s.headDim;
  const qint64 perRow = 3LL * s.hidden + qkv + 3LL * s.intermediate;
  const qint64 scores = static_cast<qint64>(s.heads) * rows * qMin<qint64>(tokens, 4096) * 4 / qMax(s.heads / 8, 1);
  e.buffers = rows * perRow * act + scores + 2LL * s.vocab * 4 * 8;
  if (onGpu) e.buffers += kGpuRuntimeOverhead;
  return e;
}

QString formatBytes(qint64 bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) return QCoreApplication::translate("MemoryEstimate", "%1 GB").arg(b / 1e9, 0, 'f', b >= 1e11 ? 0 : 1);
  if (b >= 1e6) return QCoreApplication::translate("MemoryEstimate", "%1 MB").arg(b / 1e6, 0, 'f', 0);
  if (b >= 1e3) return QCoreApplication::translate("MemoryEstimate", "%1 KB").arg(b / 1e3, 0, 'f', 0);
  return QCoreApplication::translate("MemoryEstimate", "%1 B").arg(bytes);
}
