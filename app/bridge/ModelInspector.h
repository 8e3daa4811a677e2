// ModelInspector: reads a dropped or chosen model folder off the GUI thread (config, safetensors
// headers, tokenizer, chat template) and describes it for the model card, with memory estimates
// per device and the placement plan (PlacementModel); also scans library folders. Built by
// main.cpp; used by the model card and the library page. Does not load weights (EngineController
// does).
#pragma once

#include <QObject>
#include <QThreadPool>
#include <QVariantList>
#include <QVariantMap>

#include "ErrorInfo.h"
#include "HistoryTypes.h"
#include "MemoryEstimate.h"
#include "PlacementModel.h"

class ModelInspector : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
  Q_PROPERTY(QVariantMap card READ card NOTIFY cardChanged)
  Q_PROPERTY(QVariantMap error READ errorMap NOTIFY cardChanged)
  Q_PROPERTY(bool scanning READ scanning NOTIFY scanningChanged)
  // The card's placement plan (per-device bars, split, CPU offload), re-fed with each card.
  Q_PROPERTY(PlacementModel* placement READ placement CONSTANT)

 public:
  explicit ModelInspector(QObject* parent = nullptr);
  ~ModelInspector() override;

  bool busy() const { return m_pending > 0; }
  bool scanning() const { return m_scanning; }
  QVariantMap card() const { return m_card; }
  const ErrorInfo& error() const { return m_error; }
  QVariantMap errorMap() const { return m_error.toVariantMap(); }
  PlacementModel* placement() const { return m_placement; }

  // Describes the model at `path` (a folder or a file in it): cardReady or inspectFailed.
  Q_INVOKABLE void inspect(const QString& path);
  Q_INVOKABLE void clear();
  // Memory for the current card at `context` tokens with `cacheType` ("fp16", "q8", "q4") on
  // `device`: {weights, kvCache, buffers, total, freeBytes, fits, *Text}.
  Q_INVOKABLE QVariantMap estimate(int context, const QString& cacheType, const QString& device) const;
  // Finds model folders under `roots` and describes each: scanFinished.
  Q_INVOKABLE void scan(const QStringList& roots);

 signals:
  void busyChanged();
  void cardChanged();
  void scanningChanged();
  void cardReady(const QVariantMap& card);
  void inspectFailed(const ErrorInfo& error);
  void scanFinished(const QList<ModelRecordData>& models, const QStringList& failures);

 private:
  QVariantMap m_card;
  ModelShape m_shape;
  QVariantList m_devices;
  PlacementModel* m_placement = nullptr;  // child
  ErrorInfo m_error;
  int m_pending = 0;
  quint64 m_serial = 0;
  bool m_scanning = false;
  QThreadPool m_pool;
};
