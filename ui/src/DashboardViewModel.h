// DashboardViewModel: the dashboard page's view of DashboardMonitor's snapshots: per GPU memory
// (total, used, our weights / KV cache / scratch, other processes) with utilisation and
// temperature when NVML is present, the CPU/RAM side, the model's load time and KV cache fill,
// and the recent generations (prefill and decode tokens/s, time to first token, reused prefix)
// for the timeline chart, with display texts. Polling runs only while `active` (the page is
// shown). Built by AppGraph; read by DashboardPage.qml.
#pragma once

#include <QObject>
#include <QVariantList>
#include <QVariantMap>

class DashboardMonitor;

class DashboardViewModel : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool active READ active WRITE setActive NOTIFY activeChanged)
  Q_PROPERTY(bool modelLoaded READ modelLoaded NOTIFY changed)
  Q_PROPERTY(QString device READ device NOTIFY changed)
  Q_PROPERTY(QString loadTimeText READ loadTimeText NOTIFY changed)
  Q_PROPERTY(double loadSeconds READ loadSeconds NOTIFY changed)
  Q_PROPERTY(bool generating READ generating NOTIFY changed)
  Q_PROPERTY(bool showGpus READ showGpus NOTIFY changed)
  Q_PROPERTY(bool nvmlAvailable READ nvmlAvailable NOTIFY changed)
  Q_PROPERTY(QVariantList gpus READ gpus NOTIFY changed)
  Q_PROPERTY(QVariantMap host READ host NOTIFY changed)
  Q_PROPERTY(QVariantMap ours READ ours NOTIFY changed)
  Q_PROPERTY(double kvFill READ kvFill NOTIFY changed)
  Q_PROPERTY(QString kvText READ kvText NOTIFY changed)
  Q_PROPERTY(QVariantList generations READ generations NOTIFY changed)
  Q_PROPERTY(QVariantMap last READ last NOTIFY changed)
  Q_PROPERTY(double maxTokensPerSecond READ maxTokensPerSecond NOTIFY changed)
  Q_PROPERTY(int polls READ polls NOTIFY changed)
  Q_PROPERTY(int intervalMs READ intervalMs WRITE setIntervalMs NOTIFY intervalChanged)  // polling period

 public:
  explicit DashboardViewModel(DashboardMonitor* monitor, QObject* parent = nullptr);

  bool active() const;
  void setActive(bool active);
  bool modelLoaded() const { return m_loaded; }
  QString device() const { return m_device; }
  QString loadTimeText() const { return m_loadTimeText; }
  double loadSeconds() const { return m_loadSeconds; }
  bool generating() const { return m_generating; }
  bool showGpus() const { return !m_gpus.isEmpty(); }
  bool nvmlAvailable() const { return m_nvml; }
  QVariantList gpus() const { return m_gpus; }
  QVariantMap host() const { return m_host; }
  // Our bytes on the model's device: {weights, kvCache, scratch, total, *Text, sumMatches}.
  QVariantMap ours() const { return m_ours; }
  double kvFill() const { return m_kvFill; }
  QString kvText() const { return m_kvText; }
  QVariantList generations() const { return m_generations; }
  QVariantMap last() const { return m_last; }
  double maxTokensPerSecond() const { return m_maxTps; }
  int polls() const { return m_polls; }
  int intervalMs() const;
  void setIntervalMs(int ms);

  Q_INVOKABLE void refresh();

 signals:
  void activeChanged();
  void intervalChanged();
  void changed();

 private:
  void rebuild();

  DashboardMonitor* m_monitor;
  bool m_loaded = false;
  QString m_device;
  QString m_loadTimeText;
  double m_loadSeconds = 0;
  bool m_generating = false;
  bool m_nvml = false;
  QVariantList m_gpus;
  QVariantMap m_host;
  QVariantMap m_ours;
  double m_kvFill = 0;
  QString m_kvText;
  QVariantList m_generations;
  QVariantMap m_last;
  double m_maxTps = 0;
  int m_polls = 0;
};
