// PlacementModel: inputs -> nibble::PlacementOptions -> plan_placement -> rows. GB are decimal
// (1e9 bytes), as formatBytes shows sizes.
#include "PlacementModel.h"

#include <algorithm>
#include <cmath>

#include <QCoreApplication>

#include "MemoryEstimate.h"
#include "nibble/plan.h"

namespace {

constexpr double kGb = 1e9;

QString tr(const char* text) { return QCoreApplication::translate("PlacementModel", text); }

qint64 gbToBytes(double gb) { return static_cast<qint64>(std::llround(std::max(0.0, gb) * kGb)); }

// "embedding + layers 0–5 + head", "layer 7", "head".
QString layersText(const nibble::DevicePlacement& d, bool shared) {
  if (shared) return d.head ? tr("a share of every layer + head") : tr("a share of every layer");
  QStringList parts;
  if (d.embedding) parts << tr("embedding");
  const int n = d.last_layer - d.first_layer;
  if (n == 1)
    parts << tr("layer %1").arg(d.first_layer);
  else if (n > 1)
    parts << tr("layers %1–%2").arg(d.first_layer).arg(d.last_layer - 1);
  if (d.head) parts << tr("head");
  return parts.join(QStringLiteral(" + "));
}

QString deviceLabel(const QString& id) {
  return id == QLatin1String("cpu") ? tr("CPU") : id;
}

}  // namespace

PlacementModel::PlacementModel(QObject* parent) : QAbstractListModel(parent) {}

PlacementModel::~PlacementModel() = default;

int PlacementModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

QHash<int, QByteArray> PlacementModel::roleNames() const {
  return {{DeviceRole, "device"},           {NameRole, "name"},
          {LayersTextRole, "layersText"},   {FirstLayerRole, "firstLayer"},
          {LastLayerRole, "lastLayer"},     {EmbeddingRole, "embedding"},
          {HeadRole, "head"},               {WeightsRole, "weights"},
          {KvCacheRole, "kvCache"},         {ScratchRole, "scratch"},
          {RuntimeRole, "runtime"},         {ReserveRole, "reserve"},
          {FreeBytesRole, "freeBytes"},     {BudgetRole, "budget"},
          {NeededRole, "needed"},           {UnusedRole, "unused"},
          {ScaleRole, "scale"},             {FitsRole, "fits"},
          {WeightsTextRole, "weightsText"}, {KvCacheTextRole, "kvCacheText"},
          {ScratchTextRole, "scratchText"}, {ReserveTextRole, "reserveText"},
          {FreeTextRole, "freeText"},       {NeededTextRole, "neededText"},
          {BudgetTextRole, "budgetText"},   {UnusedTextRole, "unusedText"},
          {IsGpuRole, "isGpu"}};
}

QVariant PlacementModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() < 0 || index.row() >= rowCount()) return {};
  const Row& r = m_rows[static_cast<std::size_t>(index.row())];
  switch (role) {
    case DeviceRole: return r.device;
    case NameRole: return r.name;
    case LayersTextRole: return r.layersText;
    case FirstLayerRole: return r.firstLayer;
    case LastLayerRole: return r.lastLayer;
    case EmbeddingRole: return r.embedding;
    case HeadRole: return r.head;
    case WeightsRole: return r.weights;
    case KvCacheRole: return r.kvCache;
    case ScratchRole: return r.scratch;
    case RuntimeRole: return r.runtime;
    case ReserveRole: return r.reserve;
    case FreeBytesRole: return r.freeBytes;
    case BudgetRole: return r.budget;
    case NeededRole: return r.needed;
    case UnusedRole: return r.unused;
    case ScaleRole: return r.scale;
    case FitsRole: return r.fits;
    case WeightsTextRole: return formatBytes(r.weights);
    case KvCacheTextRole: return formatBytes(r.kvCache);
    case ScratchTextRole: return formatBytes(r.scratch);
    case ReserveTextRole: return formatBytes(r.reserve);
    case FreeTextRole: return formatBytes(r.freeBytes);
    case NeededTextRole: return formatBytes(r.needed);
    case BudgetTextRole: return formatBytes(r.budget);
    case UnusedTextRole: return formatBytes(r.unused);
    case IsGpuRole: return r.isGpu;
    default: return {};
  }
}

QVariantMap PlacementModel::rowMap(const Row& r) const {
  QVariantMap m;
  const QHash<int, QByteArray> names = roleNames();
  const int i = static_cast<int>(&r - m_rows.data());
  for (auto it = names.cbegin(); it != names.cend(); ++it)
    m.insert(QString::fromLatin1(it.value()), data(index(i), it.key()));
  return m;
}

QVariantList PlacementModel::ranges() const {
  QVariantList out;
  for (const Row& r : m_rows) out.append(rowMap(r));
  return out;
}

QString PlacementModel::summary() const {
  QStringList parts;
  for (const Row& r : m_rows) parts << QStringLiteral("%1 %2").arg(deviceLabel(r.device), r.layersText);
  return parts.join(QStringLiteral(" · "));
}

void PlacementModel::setPlanner(std::shared_ptr<const nibble::MemoryPlanner> planner) {
  m_planner = std::move(planner);
  m_layerCount = m_planner ? m_planner->layers() : 0;
  if (m_cpuLayers > m_layerCount) m_cpuLayers = -1;
  emit inputsChanged();
  replan();
}

void PlacementModel::setContext(int tokens) {
  tokens = std::max(tokens, 1);
  if (tokens == m_context) return;
  m_context = tokens;
  emit inputsChanged();
  replan();
}

void PlacementModel::setCacheType(const QString& type) {
  const CacheType parsed = parseCacheType(type);  // the card offers fp16, q8 and q4
  const QString t = parsed == CacheType::Fp32 ? QStringLiteral("fp16") : cacheTypeName(parsed);
  if (t == m_cacheType) return;
  m_cacheType = t;
  emit inputsChanged();
  replan();
}

void PlacementModel::setMode(const QString& mode) {
  const QString m = (mode == QLatin1String("manual") || mode == QLatin1String("fit") || mode == QLatin1String("shared"))
                        ? mode
                        : QStringLiteral("auto");
  if (m == m_mode) return;
  m_mode = m;
  emit inputsChanged();
  replan();
}

void PlacementModel::setTarget(const QString& target) {
  bool known = target == QLatin1String("cpu") || target == QLatin1String("gpus");
  for (const QVariant& d : m_devices) known = known || d.toMap().value(QStringLiteral("id")).toString() == target;
  const QString t = known ? target : QStringLiteral("cpu");
  if (t == m_target) return;
  m_target = t;
  resetSplit();
  emit gpusChanged();
  emit inputsChanged();
  replan();
}

QVariantList PlacementModel::gpuSplitGb() const {
  QVariantList out;
  for (double gb : m_splitGb) out.append(gb);
  return out;
}

void PlacementModel::setGpuSplitGb(const QVariantList& gb) {
  std::vector<double> v;
  for (const QVariant& x : gb) v.push_back(std::max(0.0, x.toDouble()));
  if (v == m_splitGb) return;
  m_splitGb = std::move(v);
  emit inputsChanged();
  replan();
}

void PlacementModel::setGpuSplit(int gpu, double gb) {
  if (gpu < 0 || gpu >= static_cast<int>(m_splitGb.size())) return;
  gb = std::max(0.0, gb);
  if (m_splitGb[static_cast<std::size_t>(gpu)] == gb) return;
  m_splitGb[static_cast<std::size_t>(gpu)] = gb;
  emit inputsChanged();
  replan();
}

void PlacementModel::setCpuLayers(int layers) {
  layers = std::clamp(layers, -1, std::max(m_layerCount, 0));
  if (layers == m_cpuLayers) return;
  m_cpuLayers = layers;
  emit inputsChanged();
  replan();
}

void PlacementModel::setReserveGb(double gb) {
  gb = std::clamp(gb, 0.0, 1024.0);
  if (gb == m_reserveGb) return;
  m_reserveGb = gb;
  emit inputsChanged();
  replan();
}

qint64 PlacementModel::reserveBytes() const { return gbToBytes(m_reserveGb); }

void PlacementModel::setDevices(const QVariantList& devices) {
  m_devices = devices;
  bool anyGpu = false;
  for (const QVariant& d : m_devices) anyGpu = anyGpu || d.toMap().value(QStringLiteral("id")).toString() != QLatin1String("cpu");
  m_target = anyGpu ? QStringLiteral("gpus") : QStringLiteral("cpu");
  resetSplit();
  emit devicesChanged();
  emit gpusChanged();
  emit inputsChanged();
  replan();
}

QVariantList PlacementModel::targets() const {
  QVariantList out;
  int gpuCount = 0;
  for (const QVariant& d : m_devices)
    if (d.toMap().value(QStringLiteral("id")).toString() != QLatin1String("cpu")) ++gpuCount;
  if (gpuCount > 1)
    out.append(QVariantMap{{QStringLiteral("id"), QStringLiteral("gpus")},
                           {QStringLiteral("name"), tr("All %1 GPUs").arg(gpuCount)}});
  for (const QVariant& d : m_devices) {
    const QVariantMap m = d.toMap();
    const QString id = m.value(QStringLiteral("id")).toString();
    if (id == QLatin1String("cpu")) continue;
    out.append(QVariantMap{{QStringLiteral("id"), gpuCount == 1 ? QStringLiteral("gpus") : id},
                           {QStringLiteral("name"), QStringLiteral("%1 (%2)").arg(m.value(QStringLiteral("name")).toString(), id)}});
  }
  out.append(QVariantMap{{QStringLiteral("id"), QStringLiteral("cpu")}, {QStringLiteral("name"), tr("CPU only")}});
  return out;
}

std::vector<QVariantMap> PlacementModel::targetGpus() const {
  std::vector<QVariantMap> out;
  if (m_target == QLatin1String("cpu")) return out;
  for (const QVariant& d : m_devices) {
    const QVariantMap m = d.toMap();
    const QString id = m.value(QStringLiteral("id")).toString();
    if (id == QLatin1String("cpu")) continue;
    if (m_target == QLatin1String("gpus") || m_target == id) out.push_back(m);
  }
  return out;
}

QVariantList PlacementModel::gpus() const {
  QVariantList out;
  for (const QVariantMap& m : targetGpus()) {
    QVariantMap g = m;
    g[QStringLiteral("freeGb")] = m.value(QStringLiteral("freeBytes")).toDouble() / kGb;
    out.append(g);
  }
  return out;
}

void PlacementModel::resetSplit() {
  // Manual mode starts from what auto would allow: free - reserve, in whole tenths of a GB.
  m_splitGb.clear();
  for (const QVariantMap& m : targetGpus()) {
    const double gb = (m.value(QStringLiteral("freeBytes")).toDouble() - static_cast<double>(reserveBytes())) / kGb;
    m_splitGb.push_back(std::max(0.0, std::floor(gb * 10.0) / 10.0));
  }
}

void PlacementModel::replan() {
  beginResetModel();
  m_rows.clear();
  m_layers.clear();
  m_shared.clear();
  m_advice.clear();
  m_error.clear();
  m_fits = false;
  m_ready = false;
  m_resultContext = 0;
  m_cpuLayerCount = 0;

  if (m_planner) {
    nibble::PlacementOptions o;
    o.plan.context = m_context;
    o.plan.max_batch_tokens = 512;
    o.plan.page_size = 64;
    nibble::parse_kv_cache_mode(m_cacheType.toStdString(), o.plan.kv_cache);
    for (const QVariantMap& m : targetGpus())
      o.gpus.push_back({m.value(QStringLiteral("id")).toString().toStdString(), m.value(QStringLiteral("name")).toString().toStdString(),
                        static_cast<std::size_t>(std::max<qint64>(0, m.value(QStringLiteral("freeBytes")).toLongLong()))});
    for (const QVariant& d : m_devices) {
      const QVariantMap m = d.toMap();
      if (m.value(QStringLiteral("id")).toString() != QLatin1String("cpu")) continue;
      o.cpu.name = m.value(QStringLiteral("name")).toString().toStdString();
      o.cpu.free_bytes = static_cast<std::size_t>(std::max<qint64>(0, m.value(QStringLiteral("freeBytes")).toLongLong()));
    }
    o.mode = m_mode == QLatin1String("manual") ? nibble::SplitMode::manual
             : m_mode == QLatin1String("fit")  ? nibble::SplitMode::fit_context
                                               : nibble::SplitMode::auto_fill;
    if (o.mode == nibble::SplitMode::manual)
      for (std::size_t i = 0; i < o.gpus.size(); ++i)
        o.gpu_split_bytes.push_back(static_cast<std::size_t>(gbToBytes(i < m_splitGb.size() ? m_splitGb[i] : 0.0)));
    o.reserve_bytes = static_cast<std::size_t>(reserveBytes());
    // Without a GPU every layer is the CPU's; the slider only applies beside GPUs.
    o.cpu_layers = o.gpus.empty() ? -1 : m_cpuLayers;
    o.tensor_parallel = m_mode == QLatin1String("shared") && o.gpus.size() >= 2;  // one GPU: a plain split

    auto placement = nibble::plan_placement(*m_planner, o);
    if (!placement) {
      m_error = QString::fromStdString(placement.error().to_string());
    } else {
      m_ready = true;
      m_fits = placement->fits;
      m_resultContext = placement->context;
      m_cpuLayerCount = placement->cpu_layer_count;
      for (const std::string& a : placement->advice) m_advice << QString::fromStdString(a);
      for (const nibble::LayerPlacement& l : placement->layers())
        m_layers.append({QString::fromStdString(l.device), l.first_layer, l.last_layer});
      for (const std::string& d : placement->tensor_parallel_devices()) m_shared << QString::fromStdString(d);
      for (const nibble::DevicePlacement& d : placement->ranges) {
        Row r;
        r.device = QString::fromStdString(d.device);
        r.name = QString::fromStdString(d.name);
        r.isGpu = r.device != QLatin1String("cpu");
        r.firstLayer = d.first_layer;
        r.lastLayer = d.last_layer;
        r.embedding = d.embedding;
        r.head = d.head;
        r.layersText = layersText(d, placement->tensor_parallel);
        r.weights = static_cast<qint64>(d.bytes.weights);
        r.kvCache = static_cast<qint64>(d.bytes.kv_cache);
        r.runtime = static_cast<qint64>(d.runtime_overhead);
        r.scratch = static_cast<qint64>(d.bytes.scratch + d.runtime_overhead);
        r.reserve = r.isGpu ? reserveBytes() : 0;
        r.freeBytes = static_cast<qint64>(d.free_bytes);
        r.budget = static_cast<qint64>(d.budget_bytes);
        r.needed = static_cast<qint64>(d.needed());
        r.fits = d.needed() <= d.budget_bytes;
        r.unused = std::max<qint64>(0, r.freeBytes - r.needed - r.reserve);
        r.scale = std::max(r.freeBytes, r.needed + r.reserve);
        m_rows.push_back(r);
      }
    }
  }
  endResetModel();
  emit planChanged();
}
