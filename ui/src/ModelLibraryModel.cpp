// ModelLibraryModel: a refresh replaces the rows with a model reset (the library is small and
// changes rarely); a rescan upserts every folder found, which refreshes through modelsChanged.
#include "ModelLibraryModel.h"

#include <algorithm>

#include "AppSettings.h"
#include "HistoryService.h"
#include "MemoryEstimate.h"
#include "ModelInspector.h"

ModelLibraryModel::ModelLibraryModel(HistoryService* history, ModelInspector* inspector, AppSettings* settings, QObject* parent)
    : QAbstractListModel(parent), m_history(history), m_inspector(inspector), m_settings(settings) {
  connect(m_history, &HistoryService::modelsChanged, this, &ModelLibraryModel::refresh);
  connect(m_inspector, &ModelInspector::scanFinished, this, [this](const QList<ModelRecordData>& found, const QStringList& failures) {
    if (!m_scanning) return;
    for (const ModelRecordData& m : found) m_history->upsertModel(m);
    m_failures = failures;
    m_scanning = false;
    emit scanningChanged();
    refresh();
  });
}

int ModelLibraryModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(m_items.size()); }

QHash<int, QByteArray> ModelLibraryModel::roleNames() const {
  return {{IdRole, "modelId"},       {NameRole, "name"},       {PathRole, "path"},
          {FormatRole, "format"},     {ArchitectureRole, "architecture"}, {ParametersRole, "parameters"},
          {SizeRole, "size"},         {ContextRole, "contextLength"},     {LastUsedRole, "lastUsedAt"}};
}

QVariant ModelLibraryModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const ModelRecordData& m = m_items[index.row()];
  switch (role) {
    case Qt::DisplayRole:
    case NameRole: return m.name;
    case IdRole: return m.id;
    case PathRole: return m.path;
    case FormatRole: return m.quantization.isEmpty() ? m.format : m.quantization;
    case ArchitectureRole: return m.architecture;
    case ParametersRole:
      return m.parameters >= 1'000'000'000 ? QStringLiteral("%1 B").arg(static_cast<double>(m.parameters) / 1e9, 0, 'f', 1)
                                           : QStringLiteral("%1 M").arg(static_cast<double>(m.parameters) / 1e6, 0, 'f', 1);
    case SizeRole: return m.sizeBytes > 0 ? formatBytes(m.sizeBytes) : QString();
    case ContextRole: return m.contextLength;
    case LastUsedRole: return m.lastUsedAt;
    default: return {};
  }
}

void ModelLibraryModel::refresh() {
  const quint64 serial = ++m_serial;
  m_history->listModels(this, [this, serial](const QList<ModelRecordData>& models, const ErrorInfo&) {
    if (serial != m_serial) return;
    QList<ModelRecordData> sorted = models;
    std::stable_sort(sorted.begin(), sorted.end(), [](const ModelRecordData& a, const ModelRecordData& b) {
      if (a.lastUsedAt != b.lastUsedAt) return a.lastUsedAt > b.lastUsedAt;
      return a.name.compare(b.name, Qt::CaseInsensitive) < 0;
    });
    setItems(sorted);
    emit refreshed();
  });
}

void ModelLibraryModel::setItems(const QList<ModelRecordData>& items) {
  if (items == m_items) return;
  beginResetModel();
  m_items = items;
  endResetModel();
  emit countChanged();
}

void ModelLibraryModel::rescan() {
  if (m_scanning) return;
  m_scanning = true;
  emit scanningChanged();
  m_inspector->scan(m_settings->modelRoots());
}

void ModelLibraryModel::remove(qint64 id) { m_history->removeModel(id); }
