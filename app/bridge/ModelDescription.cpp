// ModelDescription: bits per weight as the parameter-weighted mean over layer types; devices from
// nibble::list_gpus() and nibble::host_memory().
#include "ModelDescription.h"

#include <QCoreApplication>
#include <QVariantMap>

#include "nibble/devices.h"

double bitsPerWeight(const nibble::ModelInfo& info) {
  double bits = 0;
  double params = 0;
  for (const auto& t : info.layer_types) {
    bits += t.bits_per_weight * static_cast<double>(t.params);
    params += static_cast<double>(t.params);
  }
  if (params > 0) return bits / params;
  return info.parameters > 0 ? 8.0 * static_cast<double>(info.weight_bytes) / static_cast<double>(info.parameters) : 0;
}

QString formatName(const nibble::ModelInfo& info) {
  if (!info.quant_method.empty()) return QString::fromStdString(info.quant_method);
  const QString dtype = QString::fromStdString(info.dtype);
  if (dtype.contains(QLatin1String("bfloat16")) || dtype == QLatin1String("bf16")) return QStringLiteral("bf16");
  if (dtype.contains(QLatin1String("float32")) || dtype == QLatin1String("fp32")) return QStringLiteral("fp32");
  return QStringLiteral("fp16");
}

QString formatDescription(const nibble::ModelInfo& info) {
  return QCoreApplication::translate("ModelDescription", "%1, %2 bpw")
      .arg(formatName(info))
      .arg(bitsPerWeight(info), 0, 'f', 2);
}

ModelShape modelShape(const nibble::ModelInfo& info) {
  ModelShape s;
  s.weightBytes = static_cast<qint64>(info.weight_bytes);
  s.parameters = info.parameters;
  s.quantized = !info.quant_method.empty();
  s.layers = info.layers;
  s.hidden = info.hidden_size;
  s.intermediate = info.intermediate_size;
  s.heads = info.heads;
  s.kvHeads = info.kv_heads;
  s.headDim = info.head_dim;
  s.vocab = info.vocab_size;
  return s;
}

QVariantList listDevices() {
  QVariantList out;
  for (const auto& gpu : nibble::list_gpus())
    out.append(QVariantMap{{QStringLiteral("id"), QStringLiteral("cuda:%1").arg(gpu.index)},
                           {QStringLiteral("name"), QString::fromStdString(gpu.name)},
                           {QStringLiteral("totalBytes"), static_cast<qint64>(gpu.total_bytes)},
                           {QStringLiteral("freeBytes"), static_cast<qint64>(gpu.free_bytes)}});
  const auto host = nibble::host_memory();
  out.append(QVariantMap{{QStringLiteral("id"), QStringLiteral("cpu")},
                         {QStringLiteral("name"), QCoreApplication::translate("ModelDescription", "CPU")},
                         {QStringLiteral("totalBytes"), static_cast<qint64>(host.total_bytes)},
                         {QStringLiteral("freeBytes"), static_cast<qint64>(host.available_bytes)}});
  return out;
}

QString deviceDisplayName(const QVariantList& devices, const QString& id) {
  for (const QVariant& d : devices) {
    const QVariantMap m = d.toMap();
    if (m.value(QStringLiteral("id")).toString() == id) return m.value(QStringLiteral("name")).toString();
  }
  return id == QLatin1String("cpu") ? QCoreApplication::translate("ModelDescription", "CPU") : id;
}

QString devicesDisplayName(const QVariantList& devices, const QStringList& ids) {
  if (ids.size() == 1) return deviceDisplayName(devices, ids.front());
  // In the order the devices are listed (GPUs by index, the CPU last); ids not listed after them.
  QStringList ordered;
  for (const QVariant& d : devices) {
    const QString id = d.toMap().value(QStringLiteral("id")).toString();
    if (ids.contains(id) && !ordered.contains(id)) ordered << id;
  }
  for (const QString& id : ids)
    if (!ordered.contains(id)) ordered << id;
  QStringList parts;
  for (const QString& id : ordered)
    parts << (id == QLatin1String("cpu") ? QCoreApplication::translate("ModelDescription", "CPU") : id);
  return parts.join(QStringLiteral(" + "));
}
