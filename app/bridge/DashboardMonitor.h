// DashboardMonitor: the VRAM / tokens-per-second dashboard's data source. While active it polls,
// once a second on its own thread (never the GUI thread, never waiting for the engine thread),
// the engine's counters (EngineController::counters(): our bytes per device by category, load
// time, KV use, each generation's timings) and the machine: per GPU total/free memory from the
// CUDA runtime (cudaMemGetInfo, in CUDA builds), utilisation and temperature from NVML when the
// driver library is present, host memory and this process's resident set. Each poll replaces
// `snapshot` (plain maps and lists, below) and emits updated(). Built by AppGraph; read by the
// dashboard view model.
//
// snapshot: {
//   loaded, device, loadSeconds, generating, nvmlAvailable, polledAtMs,
//   gpus: [{index, name, totalBytes, usedBytes, freeBytes, ourWeights, ourKvCache, ourScratch, ourTotal,
//           otherBytes, telemetry, utilization, memoryUtilization, temperature}],
//   host: {totalBytes, availableBytes, usedBytes, rssBytes, ourWeights, ourKvCache, ourScratch, ourTotal},
//   kv: {capacityTokens, usedTokens, fill},
//   generations: [{serial, prefillTokensPerSecond, decodeTokensPerSecond, timeToFirstTokenMs,
//                  promptTokens, completionTokens, reusedPrefixTokens, kvTokens, kvCapacityTokens, kvFill}]
// }
#pragma once

#include <QObject>
#include <QThreadPool>
#include <QTimer>
#include <QVariantMap>

class EngineController;

class DashboardMonitor : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool active READ active WRITE setActive NOTIFY activeChanged)
  Q_PROPERTY(QVariantMap snapshot READ snapshot NOTIFY updated)
  Q_PROPERTY(int intervalMs READ intervalMs WRITE setIntervalMs NOTIFY intervalChanged)

 public:
  explicit DashboardMonitor(EngineController* engine, QObject* parent = nullptr);
  ~DashboardMonitor() override;  // waits for a poll in flight (it touches no GUI object)

  bool active() const { return m_timer.isActive(); }
  void setActive(bool active);
  int intervalMs() const { return m_timer.interval(); }
  void setIntervalMs(int ms);
  QVariantMap snapshot() const { return m_snapshot; }
  int polls() const { return m_polls; }

  // Starts a poll now (when none is in flight); updated() follows.
  Q_INVOKABLE void pollNow();

 signals:
  void activeChanged();
  void intervalChanged();
  void updated();

 private:
  void deliver(const QVariantMap& snapshot);

  EngineController* m_engine;
  QTimer m_timer;
  QThreadPool m_pool;
  QVariantMap m_snapshot;
  bool m_inFlight = false;
  int m_polls = 0;
};
