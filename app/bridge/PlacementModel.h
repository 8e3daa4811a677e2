// PlacementModel: the model card's placement plan, one row per device the model would use (layer
// range, weights / KV cache / scratch / reserve / free bytes against the device's free memory),
// with the inputs the card edits (context, KV cache type, split mode, GB per GPU, layers on the
// CPU, reserve) and the verdict (fits, advice, the context the plan gives). Each change re-plans
// through engine/plan's plan_placement, arithmetic over byte counts ModelInspector read off the
// GUI thread, so it runs on the GUI thread. ModelInspector owns one and feeds it each card's
// planner and the devices found; tests inject devices (fake GPUs) with setDevices.
#pragma once

#include <memory>
#include <vector>

#include <QAbstractListModel>
#include <QStringList>
#include <QVariantList>

#include "LoadRequest.h"

namespace nibble {
class MemoryPlanner;  // engine/plan (kept out of this Qt-only header)
}

class PlacementModel : public QAbstractListModel {
  Q_OBJECT
  // Inputs.
  Q_PROPERTY(int context READ context WRITE setContext NOTIFY inputsChanged)           // tokens asked for
  Q_PROPERTY(QString cacheType READ cacheType WRITE setCacheType NOTIFY inputsChanged) // "fp16", "q8", "q4"
  // "auto" (fill the GPUs in order up to free - reserve), "manual" (gpuSplitGb per GPU), "fit" (auto
  // at the longest context that fits), "shared" (tensor parallelism: every layer shared among the
  // GPUs of `target`, two or more).
  Q_PROPERTY(QString mode READ mode WRITE setMode NOTIFY inputsChanged)
  // Which devices: "gpus" (every GPU, then the CPU), "cuda:N" (that GPU, then the CPU), "cpu".
  Q_PROPERTY(QString target READ target WRITE setTarget NOTIFY inputsChanged)
  Q_PROPERTY(QVariantList gpuSplitGb READ gpuSplitGb WRITE setGpuSplitGb NOTIFY inputsChanged)  // manual, per GPU in `gpus`
  Q_PROPERTY(int cpuLayers READ cpuLayers WRITE setCpuLayers NOTIFY inputsChanged)     // -1 auto, 0..layerCount
  Q_PROPERTY(double reserveGb READ reserveGb WRITE setReserveGb NOTIFY inputsChanged)  // left free on each GPU
  // [{id: "cuda:N"|"cpu", name, freeBytes}] as ModelDescription's listDevices gives them.
  Q_PROPERTY(QVariantList devices READ devices WRITE setDevices NOTIFY devicesChanged)
  Q_PROPERTY(QVariantList targets READ targets NOTIFY devicesChanged)  // [{id, name}] for the device box
  Q_PROPERTY(QVariantList gpus READ gpus NOTIFY gpusChanged)           // GPUs of `target`: [{id, name, freeBytes, freeGb}]
  // Outputs.
  Q_PROPERTY(bool ready READ ready NOTIFY planChanged)          // a planner is set and the plan computed
  Q_PROPERTY(int layerCount READ layerCount NOTIFY planChanged)
  Q_PROPERTY(bool fits READ fits NOTIFY planChanged)
  Q_PROPERTY(QStringList advice READ advice NOTIFY planChanged)
  Q_PROPERTY(QString error READ error NOTIFY planChanged)       // the planner's refusal, "" normally
  Q_PROPERTY(int resultContext READ resultContext NOTIFY planChanged)
  Q_PROPERTY(int cpuLayerCount READ cpuLayerCount NOTIFY planChanged)
  Q_PROPERTY(QVariantList ranges READ ranges NOTIFY planChanged)  // the rows as maps (role names as keys)
  Q_PROPERTY(QString summary READ summary NOTIFY planChanged)     // "cuda:0 layers 0–5 · CPU layers 6–7"

 public:
  enum Role {
    DeviceRole = Qt::UserRole + 1, NameRole, LayersTextRole, FirstLayerRole, LastLayerRole, EmbeddingRole, HeadRole,
    WeightsRole, KvCacheRole, ScratchRole, RuntimeRole, ReserveRole, FreeBytesRole, BudgetRole, NeededRole,
    UnusedRole, ScaleRole, FitsRole, WeightsTextRole, KvCacheTextRole, ScratchTextRole, ReserveTextRole,
    FreeTextRole, NeededTextRole, BudgetTextRole, UnusedTextRole, IsGpuRole
  };

  struct Row {
    QString device, name, layersText;
    int firstLayer = 0, lastLayer = 0;
    bool embedding = false, head = false, isGpu = false, fits = false;
    qint64 weights = 0, kvCache = 0, scratch = 0;  // scratch includes the CUDA runtime allowance on a GPU
    qint64 runtime = 0, reserve = 0, freeBytes = 0, budget = 0, needed = 0;
    qint64 unused = 0;  // free - needed - reserve, at least 0
    qint64 scale = 0;   // what the bar spans: max(free, needed + reserve)
  };

  explicit PlacementModel(QObject* parent = nullptr);
  ~PlacementModel() override;

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  // A model's byte counts (null: no model; the plan is empty). Keeps the inputs; re-plans.
  void setPlanner(std::shared_ptr<const nibble::MemoryPlanner> planner);

  int context() const { return m_context; }
  void setContext(int tokens);
  QString cacheType() const { return m_cacheType; }
  void setCacheType(const QString& type);
  QString mode() const { return m_mode; }
  void setMode(const QString& mode);
  QString target() const { return m_target; }
  void setTarget(const QString& target);
  QVariantList gpuSplitGb() const;
  void setGpuSplitGb(const QVariantList& gb);
  Q_INVOKABLE void setGpuSplit(int gpu, double gb);
  int cpuLayers() const { return m_cpuLayers; }
  void setCpuLayers(int layers);
  double reserveGb() const { return m_reserveGb; }
  void setReserveGb(double gb);
  QVariantList devices() const { return m_devices; }
  // Replaces the devices (and resets target and manual split to their defaults); re-plans.
  void setDevices(const QVariantList& devices);
  QVariantList targets() const;
  QVariantList gpus() const;

  bool ready() const { return m_ready; }
  int layerCount() const { return m_layerCount; }
  bool fits() const { return m_fits; }
  QStringList advice() const { return m_advice; }
  QString error() const { return m_error; }
  int resultContext() const { return m_resultContext; }
  int cpuLayerCount() const { return m_cpuLayerCount; }
  QVariantList ranges() const;
  QString summary() const;
  const std::vector<Row>& rows() const { return m_rows; }
  // LoadOptions::placement for this plan (empty when not ready, or under tensor parallelism).
  QList<LayerRange> layerRanges() const { return m_layers; }
  // LoadOptions::tensor_parallel for this plan (empty for a layer split).
  QStringList tensorParallelDevices() const { return m_shared; }
  qint64 reserveBytes() const;

 signals:
  void inputsChanged();
  void devicesChanged();
  void gpusChanged();
  void planChanged();

 private:
  QVariantMap rowMap(const Row& r) const;
  std::vector<QVariantMap> targetGpus() const;
  void resetSplit();
  void replan();

  std::shared_ptr<const nibble::MemoryPlanner> m_planner;
  int m_context = 4096;
  QString m_cacheType = QStringLiteral("fp16");
  QString m_mode = QStringLiteral("auto");
  QString m_target = QStringLiteral("cpu");
  std::vector<double> m_splitGb;
  int m_cpuLayers = -1;
  double m_reserveGb = 0.5;
  QVariantList m_devices;

  bool m_ready = false;
  int m_layerCount = 0;
  bool m_fits = false;
  QStringList m_advice;
  QString m_error;
  int m_resultContext = 0;
  int m_cpuLayerCount = 0;
  std::vector<Row> m_rows;
  QList<LayerRange> m_layers;
  QStringList m_shared;
};
