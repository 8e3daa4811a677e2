// DashboardMonitor: one poll = one task on a one-thread pool that reads the counters and the
// devices and posts the result back to the GUI thread as a queued call.
#include "DashboardMonitor.h"

#include <QDateTime>
#include <QPointer>
#include <QVariantList>

#include "EngineController.h"
#include "EngineCounters.h"
#include "nibble/devices.h"

namespace {

QVariantMap collect(const std::shared_ptr<const EngineCounters>& counters) {
  const EngineCountersSnapshot c = counters ? counters->snapshot() : EngineCountersSnapshot{};
  QVariantMap out;
  out[QStringLiteral("loaded")] = c.loaded;
  out[QStringLiteral("device")] = QString::fromStdString(c.device);
  out[QStringLiteral("loadSeconds")] = c.loadSeconds;
  out[QStringLiteral("generating")] = c.generating;
  out[QStringLiteral("polledAtMs")] = QDateTime::currentMSecsSinceEpoch();

  auto ours = [&](const std::string& device) {
    for (const auto& m : c.memory)
      if (m.device == device) return m;
    return nibble::DeviceMemoryUse{};
  };
  auto put_ours = [](QVariantMap& m, const nibble::DeviceMemoryUse& u) {
    m[QStringLiteral("ourWeights")] = static_cast<qint64>(u.weights);
    m[QStringLiteral("ourKvCache")] = static_cast<qint64>(u.kv_cache);
    m[QStringLiteral("ourScratch")] = static_cast<qint64>(u.scratch);
    m[QStringLiteral("ourTotal")] = static_cast<qint64>(u.total());
  };

  const auto telemetry = nibble::gpu_telemetry();
  out[QStringLiteral("nvmlAvailable")] = nibble::nvml_available();
  QVariantList gpus;
  for (const auto& g : nibble::list_gpus()) {
    QVariantMap m;
    m[QStringLiteral("index")] = g.index;
    m[QStringLiteral("name")] = QString::fromStdString(g.name);
    m[QStringLiteral("totalBytes")] = static_cast<qint64>(g.total_bytes);
    m[QStringLiteral("freeBytes")] = static_cast<qint64>(g.free_bytes);
    const qint64 used = static_cast<qint64>(g.total_bytes - std::min(g.free_bytes, g.total_bytes));
    m[QStringLiteral("usedBytes")] = used;
    const auto u = ours("cuda:" + std::to_string(g.index));
    put_ours(m, u);
    // Everything the driver counts as used that is not one of our buffers: other processes, and
    // our own CUDA context and library workspaces.
    m[QStringLiteral("otherBytes")] = std::max<qint64>(0, used - static_cast<qint64>(u.total()));
    bool have = false;
    for (const auto& t : telemetry)
      if (t.index == g.index) {
        have = true;
        m[QStringLiteral("utilization")] = t.utilization_percent;
        m[QStringLiteral("memoryUtilization")] = t.memory_utilization_percent;
        m[QStringLiteral("temperature")] = t.temperature_c;
      }
    m[QStringLiteral("telemetry")] = have;
    gpus.append(m);
  }
  out[QStringLiteral("gpus")] = gpus;

  const auto host = nibble::host_memory();
  QVariantMap h;
  h[QStringLiteral("totalBytes")] = static_cast<qint64>(host.total_bytes);
  h[QStringLiteral("availableBytes")] = static_cast<qint64>(host.available_bytes);
  h[QStringLiteral("usedBytes")] = static_cast<qint64>(host.total_bytes - std::min(host.available_bytes, host.total_bytes));
  h[QStringLiteral("rssBytes")] = static_cast<qint64>(nibble::process_rss_bytes());
  put_ours(h, ours("cpu"));
  out[QStringLiteral("host")] = h;

  QVariantMap kv;
  kv[QStringLiteral("capacityTokens")] = c.kvCapacityTokens;
  kv[QStringLiteral("usedTokens")] = c.kvUsedTokens;
  kv[QStringLiteral("fill")] = c.kvCapacityTokens > 0 ? static_cast<double>(c.kvUsedTokens) / c.kvCapacityTokens : 0.0;
  out[QStringLiteral("kv")] = kv;

  QVariantList gens;
  for (const auto& g : c.generations)
    gens.append(QVariantMap{{QStringLiteral("serial"), static_cast<qint64>(g.serial)},
                            {QStringLiteral("prefillTokensPerSecond"), g.prefillTokensPerSecond},
                            {QStringLiteral("decodeTokensPerSecond"), g.decodeTokensPerSecond},
                            {QStringLiteral("timeToFirstTokenMs"), g.timeToFirstTokenMs},
                            {QStringLiteral("promptTokens"), g.promptTokens},
                            {QStringLiteral("completionTokens"), g.completionTokens},
                            {QStringLiteral("reusedPrefixTokens"), g.reusedPrefixTokens},
                            {QStringLiteral("kvTokens"), g.kvTokens},
                            {QStringLiteral("kvCapacityTokens"), g.kvCapacityTokens},
                            {QStringLiteral("kvFill"), g.kvCapacityTokens > 0 ? static_cast<double>(g.kvTokens) / g.kvCapacityTokens : 0.0}});
  out[QStringLiteral("generations")] = gens;
  return out;
}

}  // namespace

DashboardMonitor::DashboardMonitor(EngineController* engine, QObject* parent) : QObject(parent), m_engine(engine) {
  m_pool.setMaxThreadCount(1);
  m_pool.setObjectName(QStringLiteral("nibble-dashboard"));
  m_timer.setInterval(1000);
  connect(&m_timer, &QTimer::timeout, this, &DashboardMonitor::pollNow);
}

DashboardMonitor::~DashboardMonitor() {
  m_timer.stop();
  m_pool.waitForDone();
}

void DashboardMonitor::setActive(bool active) {
  if (active == m_timer.isActive()) return;
  if (active) {
    m_timer.start();
    pollNow();
  } else {
    m_timer.stop();
  }
  emit activeChanged();
}

void DashboardMonitor::setIntervalMs(int ms) {
  ms = qMax(50, ms);
  if (ms == m_timer.interval()) return;
  m_timer.setInterval(ms);
  emit intervalChanged();
}

void DashboardMonitor::pollNow() {
  if (m_inFlight) return;
  m_inFlight = true;
  auto counters = m_engine ? m_engine->counters() : std::shared_ptr<const EngineCounters>{};
  QPointer<DashboardMonitor> self(this);
  m_pool.start([self, counters] {
    const QVariantMap snapshot = collect(counters);
    // The monitor outlives the task (its destructor waits), so the queued call finds it.
    QMetaObject::invokeMethod(self.data(), [self, snapshot] { if (self) self->deliver(snapshot); }, Qt::QueuedConnection);
  });
}

void DashboardMonitor::deliver(const QVariantMap& snapshot) {
  m_inFlight = false;
  m_snapshot = snapshot;
  ++m_polls;
  emit updated();
}
