// PresetModel: built-in presets come first and cannot be changed; user presets follow in the
// order they were saved.
#include "PresetModel.h"

#include "AppSettings.h"

PresetModel::PresetModel(AppSettings* settings, QObject* parent) : QAbstractListModel(parent), m_settings(settings) {
  load();
}

namespace {

SamplingSettings builtIn(double temperature, double topP, int topK, double minP, double repetitionPenalty) {
  SamplingSettings s;
  s.temperature = temperature;
  s.topP = topP;
  s.topK = topK;
  s.minP = minP;
  s.repetitionPenalty = repetitionPenalty;
  s.maxTokens = 1024;
  return s;
}

}  // namespace

SamplingSettings PresetModel::fromMap(const QVariantMap& m) {
  const SamplingSettings d = builtIn(0.7, 0.9, 40, 0.0, 1.1);
  SamplingSettings s;
  s.temperature = qBound(0.0, m.value(QStringLiteral("temperature"), d.temperature).toDouble(), 5.0);
  s.topP = qBound(0.01, m.value(QStringLiteral("topP"), d.topP).toDouble(), 1.0);
  s.topK = qBound(0, m.value(QStringLiteral("topK"), d.topK).toInt(), 1 << 20);
  s.minP = qBound(0.0, m.value(QStringLiteral("minP"), d.minP).toDouble(), 0.99);
  s.repetitionPenalty = qBound(1.0, m.value(QStringLiteral("repetitionPenalty"), d.repetitionPenalty).toDouble(), 3.0);
  s.maxTokens = qBound(1, m.value(QStringLiteral("maxTokens"), d.maxTokens).toInt(), 1 << 20);
  return s;
}

QVariantMap PresetModel::toMap(const Preset& p) {
  return {{QStringLiteral("name"), p.name},
          {QStringLiteral("temperature"), p.sampling.temperature},
          {QStringLiteral("topP"), p.sampling.topP},
          {QStringLiteral("topK"), p.sampling.topK},
          {QStringLiteral("minP"), p.sampling.minP},
          {QStringLiteral("repetitionPenalty"), p.sampling.repetitionPenalty},
          {QStringLiteral("maxTokens"), p.sampling.maxTokens},
          {QStringLiteral("builtIn"), p.builtIn}};
}

void PresetModel::load() {
  m_presets = {
      {QStringLiteral("Precise"), builtIn(0.0, 1.0, 0, 0.0, 1.0), true},
      {QStringLiteral("Balanced"), builtIn(0.7, 0.9, 40, 0.0, 1.1), true},
      {QStringLiteral("Creative"), builtIn(1.0, 0.95, 0, 0.05, 1.05), true},
  };
  for (const QVariant& v : m_settings->userPresets()) {
    const QVariantMap m = v.toMap();
    const QString name = m.value(QStringLiteral("name")).toString().trimmed();
    if (name.isEmpty() || indexOf(name) >= 0) continue;
    m_presets.append({name, fromMap(m), false});
  }
}

void PresetModel::store() const {
  QVariantList list;
  for (const Preset& p : m_presets) {
    if (p.builtIn) continue;
    QVariantMap m = toMap(p);
    m.remove(QStringLiteral("builtIn"));
    list.append(m);
  }
  m_settings->setUserPresets(list);
}

int PresetModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(m_presets.size()); }

QHash<int, QByteArray> PresetModel::roleNames() const {
  return {{NameRole, "name"},
          {TemperatureRole, "temperature"},
          {TopPRole, "topP"},
          {TopKRole, "topK"},
          {MinPRole, "minP"},
          {RepetitionPenaltyRole, "repetitionPenalty"},
          {MaxTokensRole, "maxTokens"},
          {BuiltInRole, "builtIn"}};
}

QVariant PresetModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Preset& p = m_presets[index.row()];
  switch (role) {
    case Qt::DisplayRole:
    case NameRole: return p.name;
    case TemperatureRole: return p.sampling.temperature;
    case TopPRole: return p.sampling.topP;
    case TopKRole: return p.sampling.topK;
    case MinPRole: return p.sampling.minP;
    case RepetitionPenaltyRole: return p.sampling.repetitionPenalty;
    case MaxTokensRole: return p.sampling.maxTokens;
    case BuiltInRole: return p.builtIn;
    default: return {};
  }
}

int PresetModel::indexOf(const QString& name) const {
  for (qsizetype i = 0; i < m_presets.size(); ++i)
    if (m_presets[i].name.compare(name, Qt::CaseInsensitive) == 0) return static_cast<int>(i);
  return -1;
}

SamplingSettings PresetModel::sampling(const QString& name) const {
  const int i = indexOf(name);
  return m_presets[i >= 0 ? i : indexOf(defaultPresetName())].sampling;
}

QVariantMap PresetModel::preset(const QString& name) const {
  const int i = indexOf(name);
  return toMap(m_presets[i >= 0 ? i : indexOf(defaultPresetName())]);
}

bool PresetModel::save(const QString& name, const QVariantMap& values) {
  const QString n = name.trimmed();
  const int existing = indexOf(n);
  if (n.isEmpty() || (existing >= 0 && m_presets[existing].builtIn)) return false;
  const SamplingSettings s = fromMap(values);
  if (existing >= 0) {
    m_presets[existing].sampling = s;
    emit dataChanged(index(existing), index(existing));
  } else {
    const int row = static_cast<int>(m_presets.size());
    beginInsertRows({}, row, row);
    m_presets.append({n, s, false});
    endInsertRows();
    emit countChanged();
  }
  store();
  return true;
}

bool PresetModel::remove(const QString& name) {
  const int i = indexOf(name);
  if (i < 0 || m_presets[i].builtIn) return false;
  beginRemoveRows({}, i, i);
  m_presets.removeAt(i);
  endRemoveRows();
  emit countChanged();
  store();
  return true;
}
