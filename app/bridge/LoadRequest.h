// LoadRequest: what to load and where (the model card's choices). Made by EngineController on the
// GUI thread and carried to EngineWorker by a queued call.
#pragma once

#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

// One device's layers in a placement (engine LayerPlacement, Qt-side): [firstLayer, lastLayer).
struct LayerRange {
  QString device;      // "cpu", "cuda:N"
  int firstLayer = 0;
  int lastLayer = 0;
  bool operator==(const LayerRange&) const = default;
};

struct LoadRequest {
  quint64 id = 0;
  QString path;        // the model folder
  QString device;      // "cpu", "cuda:N"; empty = the default device (ignored when `placement` is set)
  int context = 0;     // KV cache tokens; 0 = min(the model's maximum, 8192)
  unsigned threads = 0;  // CPU threads; 0 = one per core
  QString cacheType;   // KV cache "fp16", "q8", "q4"; empty = fp16
  // Layers per device in layer order covering every layer (the model card's plan); empty = every
  // layer on `device`.
  QList<LayerRange> placement;
  // Tensor parallelism: every layer shared among these GPUs ("cuda:N", two or more); when set,
  // `device` and `placement` are ignored.
  QStringList tensorParallel;
  qint64 reserveBytes = 0;  // left free on every GPU, checked before anything is allocated
};

Q_DECLARE_METATYPE(LoadRequest)
