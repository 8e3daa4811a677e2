// ModelInspector: the card is a QVariantMap QML binds to directly; requests carry a serial so
// only the latest drop's answer is shown.
#include "ModelInspector.h"

#include <QCoreApplication>
#include <QLocale>

#include "EngineErrors.h"
#include "ModelDescription.h"
#include "ModelFolder.h"
#include "nibble/chat_template.h"
#include "nibble/model.h"
#include "nibble/plan.h"
#include "nibble/tokenizer.h"

namespace {

QString parametersText(qint64 n) {
  if (n >= 1'000'000'000) return QStringLiteral("%1 B").arg(static_cast<double>(n) / 1e9, 0, 'f', 1);
  if (n >= 1'000'000) return QStringLiteral("%1 M").arg(static_cast<double>(n) / 1e6, 0, 'f', 1);
  return QLocale().toString(n);
}

struct Inspection {
  QVariantMap card;
  ModelShape shape;
  QVariantList devices;
  ErrorInfo error;
};

Inspection inspectFolder(const QString& folder) {
  Inspection out;
  const std::string dir = folder.toStdString();
  auto info = nibble::inspect_model(dir);
  if (!info) {
    out.error = toErrorInfo(info.error(), ErrorInfo::Context::ModelLoad);
    return out;
  }
  QString tokenizerText;
  auto tok = nibble::Tokenizer::load(dir);
  if (tok)
    tokenizerText = QCoreApplication::translate("ModelInspector", "%1 tokens").arg((*tok)->vocab_size());
  else
    tokenizerText = QCoreApplication::translate("ModelInspector", "unusable: %1").arg(QString::fromStdString(tok.error().to_string()));
  QString templateText;
  auto templates = nibble::load_chat_templates(dir);
  const std::string* source = templates ? nibble::select_chat_template(templates->templates, false) : nullptr;
  if (source && nibble::ChatTemplate::parse(*source))
    templateText = QCoreApplication::translate("ModelInspector", "yes");
  else if (source)
    templateText = QCoreApplication::translate("ModelInspector", "present but unusable (ChatML will be used)");
  else
    templateText = QCoreApplication::translate("ModelInspector", "none (ChatML will be used)");

  out.shape = modelShape(*info);
  if (auto planner = nibble::MemoryPlanner::open(dir))
    out.shape.planner = std::make_shared<const nibble::MemoryPlanner>(std::move(*planner));
  out.devices = listDevices();
  out.card = {
      {QStringLiteral("path"), folder},
      {QStringLiteral("name"), modelNameFor(folder)},
      {QStringLiteral("architecture"), QString::fromStdString(info->architecture)},
      {QStringLiteral("family"), QString::fromStdString(info->family)},
      {QStringLiteral("loadedAsLlama"), info->loaded_as_llama},
      {QStringLiteral("parameters"), static_cast<qint64>(info->parameters)},
      {QStringLiteral("parametersText"), parametersText(info->parameters)},
      {QStringLiteral("format"), formatName(*info)},
      {QStringLiteral("formatText"), formatDescription(*info)},
      {QStringLiteral("bitsPerWeight"), bitsPerWeight(*info)},
      {QStringLiteral("contextLength"), info->context_length},
      {QStringLiteral("layers"), info->layers},
      {QStringLiteral("heads"), info->heads},
      {QStringLiteral("kvHeads"), info->kv_heads},
      {QStringLiteral("tokenizer"), tokenizerText},
      {QStringLiteral("tokenizerOk"), tok.ok()},
      {QStringLiteral("chatTemplate"), templateText},
      {QStringLiteral("hasChatTemplate"), source != nullptr},
      {QStringLiteral("weightBytes"), static_cast<qint64>(info->weight_bytes)},
      {QStringLiteral("weightBytesText"), formatBytes(static_cast<qint64>(info->weight_bytes))},
      {QStringLiteral("devices"), out.devices},
  };
  return out;
}

}  // namespace

ModelInspector::ModelInspector(QObject* parent) : QObject(parent), m_placement(new PlacementModel(this)) {
  qRegisterMetaType<ErrorInfo>();
  qRegisterMetaType<QList<ModelRecordData>>();
  m_pool.setMaxThreadCount(1);
}

ModelInspector::~ModelInspector() { m_pool.waitForDone(); }

void ModelInspector::inspect(const QString& path) {
  const quint64 serial = ++m_serial;
  const QString folder = modelFolderFor(path);
  ++m_pending;
  emit busyChanged();
  m_pool.start([this, serial, folder] {
    Inspection result = inspectFolder(folder);
    QMetaObject::invokeMethod(this, [this, serial, result] {
      --m_pending;
      emit busyChanged();
      if (serial != m_serial) return;
      m_card = result.card;
      m_shape = result.shape;
      m_devices = result.devices;
      m_error = result.error;
      m_placement->setDevices(m_devices);
      m_placement->setPlanner(m_shape.planner);
      emit cardChanged();
      if (m_error.isError())
        emit inspectFailed(m_error);
      else
        emit cardReady(m_card);
    }, Qt::QueuedConnection);
  });
}

void ModelInspector::clear() {
  ++m_serial;
  m_card.clear();
  m_error = {};
  emit cardChanged();
}

QVariantMap ModelInspector::estimate(int context, const QString& cacheType, const QString& device) const {
  const bool onGpu = device != QLatin1String("cpu");
  const MemoryEstimate e = estimateMemory(m_shape, onGpu, parseCacheType(cacheType), context);
  qint64 freeBytes = -1;
  for (const QVariant& d : m_devices) {
    const QVariantMap m = d.toMap();
    if (m.value(QStringLiteral("id")).toString() == device) freeBytes = m.value(QStringLiteral("freeBytes")).toLongLong();
  }
  return {{QStringLiteral("weights"), e.weights},
          {QStringLiteral("kvCache"), e.kvCache},
          {QStringLiteral("buffers"), e.buffers},
          {QStringLiteral("total"), e.total()},
          {QStringLiteral("freeBytes"), freeBytes},
          {QStringLiteral("fits"), freeBytes < 0 || e.total() <= freeBytes},
          {QStringLiteral("cacheType"), (onGpu || !m_shape.planner || parseCacheType(cacheType) == CacheType::Fp16)
                                            ? (onGpu ? cacheTypeName(parseCacheType(cacheType)) : QStringLiteral("fp32"))
                                            : cacheTypeName(parseCacheType(cacheType))},
          {QStringLiteral("weightsText"), formatBytes(e.weights)},
          {QStringLiteral("kvCacheText"), formatBytes(e.kvCache)},
          {QStringLiteral("buffersText"), formatBytes(e.buffers)},
          {QStringLiteral("totalText"), formatBytes(e.total())},
          {QStringLiteral("freeText"), freeBytes < 0 ? QString() : formatBytes(freeBytes)}};
}

void ModelInspector::scan(const QStringList& roots) {
  if (m_scanning) return;
  m_scanning = true;
  emit scanningChanged();
  m_pool.start([this, roots] {
    QList<ModelRecordData> found;
    QStringList failures;
    for (const QString& root : roots) {
      for (const QString& folder : findModelFolders(root)) {
        auto info = nibble::inspect_model(folder.toStdString());
        if (!info) {
          failures.append(QStringLiteral("%1: %2").arg(folder, QString::fromStdString(info.error().to_string())));
          continue;
        }
        ModelRecordData r;
        r.path = folder;
        r.name = modelNameFor(folder);
        r.format = formatName(*info);
        r.architecture = QString::fromStdString(info->architecture);
        r.quantization = formatDescription(*info);
        r.bitsPerWeight = bitsPerWeight(*info);
        r.parameters = info->parameters;
        r.contextLength = info->context_length;
        r.sizeBytes = static_cast<qint64>(info->weight_bytes);
        found.append(r);
      }
    }
    QMetaObject::invokeMethod(this, [this, found, failures] {
      m_scanning = false;
      emit scanningChanged();
      emit scanFinished(found, failures);
    }, Qt::QueuedConnection);
  });
}
