// DashboardViewModel: reshapes each snapshot into display rows and texts (no engine access).
#include "DashboardViewModel.h"

#include <QCoreApplication>
#include <QLocale>

#include "DashboardMonitor.h"
#include "MemoryEstimate.h"

namespace {

QString bytesText(qint64 b) { return formatBytes(b); }

QString tpsText(double v) {
  return v > 0 ? QCoreApplication::translate("Dashboard", "%1 tok/s").arg(v, 0, 'f', v >= 100 ? 0 : 1)
               : QCoreApplication::translate("Dashboard", "—");
}

// Adds the *Text twins of the byte fields in `m`.
void addTexts(QVariantMap& m, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    const QString key = QString::fromLatin1(k);
    if (m.contains(key)) m[key + QStringLiteral("Text")] = bytesText(m.value(key).toLongLong());
  }
}

}  // namespace

DashboardViewModel::DashboardViewModel(DashboardMonitor* monitor, QObject* parent) : QObject(parent), m_monitor(monitor) {
  connect(m_monitor, &DashboardMonitor::updated, this, &DashboardViewModel::rebuild);
  connect(m_monitor, &DashboardMonitor::activeChanged, this, &DashboardViewModel::activeChanged);
  connect(m_monitor, &DashboardMonitor::intervalChanged, this, &DashboardViewModel::intervalChanged);
}

int DashboardViewModel::intervalMs() const { return m_monitor->intervalMs(); }
void DashboardViewModel::setIntervalMs(int ms) { m_monitor->setIntervalMs(ms); }

bool DashboardViewModel::active() const { return m_monitor->active(); }
void DashboardViewModel::setActive(bool active) { m_monitor->setActive(active); }
void DashboardViewModel::refresh() { m_monitor->pollNow(); }

void DashboardViewModel::rebuild() {
  const QVariantMap s = m_monitor->snapshot();
  m_polls = m_monitor->polls();
  m_loaded = s.value(QStringLiteral("loaded")).toBool();
  m_device = s.value(QStringLiteral("device")).toString();
  m_loadSeconds = s.value(QStringLiteral("loadSeconds")).toDouble();
  m_loadTimeText = m_loaded ? tr("%1 s").arg(m_loadSeconds, 0, 'f', m_loadSeconds < 10 ? 2 : 1) : tr("—");
  m_generating = s.value(QStringLiteral("generating")).toBool();
  m_nvml = s.value(QStringLiteral("nvmlAvailable")).toBool();

  const char* byteKeys[] = {"totalBytes", "usedBytes", "freeBytes", "availableBytes", "rssBytes", "ourWeights",
                            "ourKvCache", "ourScratch", "ourTotal", "otherBytes"};
  auto texts = [&](QVariantMap& m) {
    for (const char* k : byteKeys) addTexts(m, {k});
  };
  m_gpus.clear();
  QVariantMap deviceRow;
  for (const QVariant& v : s.value(QStringLiteral("gpus")).toList()) {
    QVariantMap g = v.toMap();
    texts(g);
    const bool tel = g.value(QStringLiteral("telemetry")).toBool();
    g[QStringLiteral("utilizationText")] = tel ? tr("%1%").arg(g.value(QStringLiteral("utilization")).toInt()) : QString();
    g[QStringLiteral("temperatureText")] = tel ? tr("%1 °C").arg(g.value(QStringLiteral("temperature")).toInt()) : QString();
    const double total = g.value(QStringLiteral("totalBytes")).toDouble();
    for (const char* k : {"ourWeights", "ourKvCache", "ourScratch", "otherBytes", "usedBytes"})
      g[QString::fromLatin1(k) + QStringLiteral("Fraction")] = total > 0 ? g.value(QString::fromLatin1(k)).toDouble() / total : 0.0;
    if (m_device == QStringLiteral("cuda:%1").arg(g.value(QStringLiteral("index")).toInt())) deviceRow = g;
    m_gpus.append(g);
  }
  m_host = s.value(QStringLiteral("host")).toMap();
  texts(m_host);
  const double hostTotal = m_host.value(QStringLiteral("totalBytes")).toDouble();
  for (const char* k : {"ourWeights", "ourKvCache", "ourScratch", "rssBytes", "usedBytes"})
    m_host[QString::fromLatin1(k) + QStringLiteral("Fraction")] = hostTotal > 0 ? m_host.value(QString::fromLatin1(k)).toDouble() / hostTotal : 0.0;
  if (m_device == QLatin1String("cpu")) deviceRow = m_host;

  const qint64 w = deviceRow.value(QStringLiteral("ourWeights")).toLongLong();
  const qint64 kv = deviceRow.value(QStringLiteral("ourKvCache")).toLongLong();
  const qint64 sc = deviceRow.value(QStringLiteral("ourScratch")).toLongLong();
  const qint64 total = deviceRow.value(QStringLiteral("ourTotal")).toLongLong();
  m_ours = {{QStringLiteral("weights"), w},        {QStringLiteral("kvCache"), kv},
            {QStringLiteral("scratch"), sc},       {QStringLiteral("total"), total},
            {QStringLiteral("weightsText"), bytesText(w)}, {QStringLiteral("kvCacheText"), bytesText(kv)},
            {QStringLiteral("scratchText"), bytesText(sc)}, {QStringLiteral("totalText"), bytesText(total)},
            {QStringLiteral("sumMatches"), w + kv + sc == total}};

  const QVariantMap kvMap = s.value(QStringLiteral("kv")).toMap();
  m_kvFill = kvMap.value(QStringLiteral("fill")).toDouble();
  m_kvText = m_loaded ? tr("%1 of %2 tokens")
                            .arg(QLocale().toString(kvMap.value(QStringLiteral("usedTokens")).toInt()),
                                 QLocale().toString(kvMap.value(QStringLiteral("capacityTokens")).toInt()))
                      : tr("—");

  m_generations.clear();
  m_maxTps = 0;
  for (const QVariant& v : s.value(QStringLiteral("generations")).toList()) {
    QVariantMap g = v.toMap();
    const double p = g.value(QStringLiteral("prefillTokensPerSecond")).toDouble();
    const double d = g.value(QStringLiteral("decodeTokensPerSecond")).toDouble();
    m_maxTps = qMax(m_maxTps, qMax(p, d));
    g[QStringLiteral("prefillText")] = tpsText(p);
    g[QStringLiteral("decodeText")] = tpsText(d);
    g[QStringLiteral("ttftText")] = tr("%1 ms").arg(g.value(QStringLiteral("timeToFirstTokenMs")).toDouble(), 0, 'f', 0);
    g[QStringLiteral("kvFillText")] = tr("%1%").arg(g.value(QStringLiteral("kvFill")).toDouble() * 100, 0, 'f', 1);
    m_generations.append(g);
  }
  m_last = m_generations.isEmpty() ? QVariantMap{} : m_generations.last().toMap();
  emit changed();
}
