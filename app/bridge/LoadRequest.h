// LoadRequest: what to load and where (the model card's choices). Made by EngineController on the
// GUI thread and carried to EngineWorker by a queued call.
#pragma once

#include <QMetaType>
#include <QString>

struct LoadRequest {
  quint64 id = 0;
  QString path;        // the model folder
  QString device;      // "cpu", "cuda:N"; empty = the default device
  int context = 0;     // KV cache tokens; 0 = min(the model's maximum, 8192)
  unsigned threads = 0;  // CPU threads; 0 = one per core
};

Q_DECLARE_METATYPE(LoadRequest)
