// QuantizeWizard: step checks are plain functions of the collected settings, so QML binds to them
// and the Next button follows; the job itself and every file operation run in QuantizeService.
#include "QuantizeWizard.h"

#include <QCoreApplication>
#include <QDesktopServices>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QUrl>

#include <algorithm>
#include <cmath>

#include "AppController.h"
#include "AppSettings.h"
#include "EngineController.h"
#include "MemoryEstimate.h"

namespace {

QString localPath(const QString& pathOrUrl) {
  const QUrl url(pathOrUrl);
  if (url.isLocalFile()) return url.toLocalFile();
  return pathOrUrl;
}

struct Preset {
  const char* name;
  double bits;
  int headBits;
};
constexpr Preset kPresets[] = {{"Small", 3.0, 6}, {"Balanced", 4.0, 6}, {"Near-lossless", 6.0, 8}};

QString contextText(int tokens) {
  if (tokens >= 1024 && tokens % 1024 == 0) return QStringLiteral("%1k").arg(tokens / 1024);
  return QString::number(tokens);
}

}  // namespace

QuantizeWizard::QuantizeWizard(QuantizeService* service, EngineController* engine, AppController* app,
                               AppSettings* settings, QObject* parent)
    : QObject(parent), m_service(service), m_engine(engine), m_app(app), m_settings(settings) {
  if (m_settings) m_cacheType = m_settings->cacheType();
  connect(m_service, &QuantizeService::runningChanged, this, &QuantizeWizard::runningChanged);
  connect(m_service, &QuantizeService::runningChanged, this, &QuantizeWizard::stateChanged);
  connect(m_service, &QuantizeService::progressChanged, this, &QuantizeWizard::progressChanged);
  connect(m_service, &QuantizeService::resumableJobsChanged, this, &QuantizeWizard::resumableJobsChanged);
  connect(m_service, &QuantizeService::sourceChecked, this, &QuantizeWizard::onSourceChecked);
  connect(m_service, &QuantizeService::finished, this, &QuantizeWizard::onFinished);
  connect(m_service, &QuantizeService::failed, this, &QuantizeWizard::onFailed);
  connect(&m_inspector, &ModelInspector::cardChanged, this, &QuantizeWizard::sourceChanged);
  connect(&m_inspector, &ModelInspector::cardChanged, this, [this] {
    // The estimate's context: at most the model's own, and the card lists the devices.
    const int max = m_inspector.card().value(QStringLiteral("contextLength")).toInt();
    if (max > 0 && m_context > max) m_context = max;
    emit targetChanged();
  });
  connect(&m_inspector, &ModelInspector::busyChanged, this, &QuantizeWizard::sourceChanged);
  for (auto sig : {&QuantizeWizard::sourceChanged, &QuantizeWizard::calibrationChanged, &QuantizeWizard::outputChanged,
                   &QuantizeWizard::stepChanged, &QuantizeWizard::resultChanged})
    connect(this, sig, this, &QuantizeWizard::stateChanged);
  connect(this, &QuantizeWizard::targetChanged, this, &QuantizeWizard::outputChanged);  // required space follows bits
}

void QuantizeWizard::setActive(bool active) {
  if (active == m_active) return;
  m_active = active;
  emit activeChanged();
}

void QuantizeWizard::setStep(int step) {
  step = std::clamp(step, static_cast<int>(SourceStep), static_cast<int>(ResultStep));
  if (step == m_step) return;
  m_step = step;
  emit stepChanged();
}

bool QuantizeWizard::canGoNext() const {
  switch (m_step) {
    case SourceStep: return sourceOk();
    case TargetStep: return m_bits >= 2.0 && m_bits <= 8.0;
    case CalibrationStep: return calibrationProblem().isEmpty();
    case OutputStep: return outputProblem().isEmpty() && !running();
    case RunStep: return !m_result.isEmpty();
    default: return false;
  }
}

void QuantizeWizard::setSource(const QString& path) {
  m_sourcePath = QDir::cleanPath(localPath(path));
  m_context = 8192;
  m_source = {};
  m_sourceError = {};
  m_checkSerial = m_service->checkSource(m_sourcePath);
  m_inspector.inspect(m_sourcePath);
  if (!m_outputEdited) m_outputPath = defaultOutputFor(m_sourcePath, m_bits);
  emit sourceChanged();
  emit outputChanged();
}

void QuantizeWizard::onSourceChecked(int serial, const QuantSourceCheck& check) {
  if (serial != m_checkSerial) return;
  m_checkSerial = 0;
  m_source = check;
  m_sourceError = check.error;
  emit sourceChanged();
  emit targetChanged();
  emit outputChanged();
}

void QuantizeWizard::setBits(double bits) {
  bits = std::clamp(std::round(bits * 20.0) / 20.0, 2.0, 8.0);  // steps of 0.05
  if (bits == m_bits) return;
  m_bits = bits;
  if (!m_outputEdited && !m_sourcePath.isEmpty()) m_outputPath = defaultOutputFor(m_sourcePath, m_bits);
  emit targetChanged();
}

void QuantizeWizard::setHeadBits(int bits) {
  static constexpr int kAllowed[] = {2, 3, 4, 5, 6, 8};
  if (std::find(std::begin(kAllowed), std::end(kAllowed), bits) == std::end(kAllowed) || bits == m_headBits) return;
  m_headBits = bits;
  emit targetChanged();
}

QVariantList QuantizeWizard::presets() const {
  QVariantList out;
  for (const Preset& p : kPresets)
    out.append(QVariantMap{{QStringLiteral("name"), QString::fromLatin1(p.name)},
                           {QStringLiteral("label"), tr(p.name)},
                           {QStringLiteral("bits"), p.bits},
                           {QStringLiteral("headBits"), p.headBits}});
  return out;
}

QString QuantizeWizard::presetName() const {
  for (const Preset& p : kPresets)
    if (p.bits == m_bits && p.headBits == m_headBits) return QString::fromLatin1(p.name);
  return {};
}

void QuantizeWizard::applyPreset(const QString& name) {
  for (const Preset& p : kPresets)
    if (name == QLatin1String(p.name)) {
      setHeadBits(p.headBits);
      setBits(p.bits);
    }
}

void QuantizeWizard::setContext(int tokens) {
  tokens = std::clamp(tokens, 256, 1 << 20);
  if (tokens == m_context) return;
  m_context = tokens;
  emit targetChanged();
}

void QuantizeWizard::setCacheType(const QString& type) {
  const QString t = cacheTypeName(parseCacheType(type));
  if (t == m_cacheType) return;
  m_cacheType = t;
  emit targetChanged();
}

qint64 QuantizeWizard::predictedBytes() const {
  if (!m_source.ok) return 0;
  return predictQuantizedBytes(m_source, m_bits, m_headBits);
}

QString QuantizeWizard::predictedSizeText() const {
  const qint64 n = predictedBytes();
  return n > 0 ? formatBytes(n) : QString();
}

QVariantList QuantizeWizard::memoryPlan() const {
  QVariantList out;
  if (!m_source.ok) return out;
  const qint64 size = predictedBytes();
  for (const QVariant& d : m_inspector.card().value(QStringLiteral("devices")).toList()) {
    const QVariantMap dev = d.toMap();
    const QString id = dev.value(QStringLiteral("id")).toString();
    const MemoryEstimate e = predictRunMemory(m_source, size, id, m_cacheType, m_context);
    const qint64 total = dev.value(QStringLiteral("totalBytes")).toLongLong();
    const bool fits = total <= 0 || e.total() <= total;
    const QString name = dev.value(QStringLiteral("name")).toString();
    const QString where = QStringLiteral("%1 %2").arg(name, total > 0 ? formatBytes(total) : QString()).trimmed();
    const QString cache = id == QLatin1String("cpu") ? QStringLiteral("fp32") : m_cacheType;
    out.append(QVariantMap{
        {QStringLiteral("id"), id},
        {QStringLiteral("name"), name},
        {QStringLiteral("totalBytes"), total},
        {QStringLiteral("neededBytes"), e.total()},
        {QStringLiteral("neededText"), formatBytes(e.total())},
        {QStringLiteral("weightsText"), formatBytes(e.weights)},
        {QStringLiteral("kvCacheText"), formatBytes(e.kvCache)},
        {QStringLiteral("buffersText"), formatBytes(e.buffers)},
        {QStringLiteral("fits"), fits},
        {QStringLiteral("text"), fits ? tr("fits on %1 with %2 context (%3 cache): %4")
                                            .arg(where, contextText(m_context), cache, formatBytes(e.total()))
                                      : tr("does not fit on %1 with %2 context (%3 cache): needs %4")
                                            .arg(where, contextText(m_context), cache, formatBytes(e.total()))}});
  }
  return out;
}

void QuantizeWizard::setBuiltinCalibration(bool builtin) {
  if (builtin == m_builtinCalibration) return;
  m_builtinCalibration = builtin;
  emit calibrationChanged();
}

void QuantizeWizard::setCalibrationFile(const QString& file) {
  const QString path = localPath(file);
  if (path == m_calibrationFile) return;
  m_calibrationFile = path;
  if (!path.isEmpty()) m_builtinCalibration = false;
  emit calibrationChanged();
}

void QuantizeWizard::setRows(int rows) {
  rows = std::clamp(rows, 1, 100000);
  if (rows == m_rows) return;
  m_rows = rows;
  emit calibrationChanged();
  emit outputChanged();
}

void QuantizeWizard::setLength(int length) {
  length = std::clamp(length, 16, 1 << 20);
  if (length == m_length) return;
  m_length = length;
  emit calibrationChanged();
  emit outputChanged();
}

void QuantizeWizard::setMeasurementRows(int rows) {
  rows = std::clamp(rows, 1, 100000);
  if (rows == m_measurementRows) return;
  m_measurementRows = rows;
  emit calibrationChanged();
}

void QuantizeWizard::setDevice(const QString& device) {
  if (device == m_device) return;
  for (const QVariant& c : m_devices)
    if (c.toMap().value(QStringLiteral("id")).toString() == device) {
      m_device = device;
      emit calibrationChanged();
      return;
    }
}

QString QuantizeWizard::calibrationProblem() const {
  if (m_builtinCalibration) return {};
  if (m_calibrationFile.isEmpty()) return tr("Choose a text or JSONL file, or use the built-in set.");
  const QFileInfo fi(m_calibrationFile);
  if (!fi.isFile()) return tr("%1 does not exist or is not a file.").arg(m_calibrationFile);
  if (!fi.isReadable()) return tr("%1 cannot be read.").arg(m_calibrationFile);
  if (fi.size() == 0) return tr("%1 is empty.").arg(m_calibrationFile);
  return {};
}

QString QuantizeWizard::defaultOutputFor(const QString& source, double bits) const {
  const QFileInfo fi(source);
  return fi.absolutePath() + QLatin1Char('/') + fi.fileName() + QStringLiteral("-exl2-%1bpw").arg(bits, 0, 'f', 2);
}

void QuantizeWizard::setOutputPath(const QString& path) {
  const QString p = QDir::cleanPath(localPath(path));
  if (p == m_outputPath) return;
  m_outputPath = p;
  m_outputEdited = true;
  emit outputChanged();
}

QString QuantizeWizard::outputProblem() const {
  if (m_outputPath.isEmpty()) return tr("Choose an output folder.");
  const QFileInfo fi(m_outputPath);
  if (!m_sourcePath.isEmpty() && fi.absoluteFilePath() == QFileInfo(m_sourcePath).absoluteFilePath())
    return tr("The output folder must not be the model's own folder.");
  if (fi.exists() && !fi.isDir()) return tr("%1 is a file, not a folder.").arg(m_outputPath);
  if (fi.isDir() && !QuantizeService::hasJobRecord(m_outputPath) &&
      !QDir(m_outputPath).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden).isEmpty())
    return tr("%1 is not empty. Choose an empty or new folder.").arg(m_outputPath);
  // The nearest existing parent must be a folder we may write.
  QFileInfo parent = fi;
  while (!parent.exists()) {
    const QFileInfo up(parent.absolutePath());
    if (up.absoluteFilePath() == parent.absoluteFilePath()) break;
    parent = up;
  }
  if (!parent.isDir()) return tr("%1 cannot be created: %2 is not a folder.").arg(m_outputPath, parent.absoluteFilePath());
  if (!parent.isWritable()) return tr("%1 cannot be written (no permission).").arg(parent.absoluteFilePath());
  const qint64 free = freeBytes();
  if (free >= 0 && free < requiredBytes())
    return tr("Not enough free space: the job needs about %1, the disk has %2.").arg(requiredText(), freeText());
  return {};
}

qint64 QuantizeWizard::freeBytes() const {
  if (m_freeOverride >= 0) return m_freeOverride;
  return QuantizeService::freeBytesFor(m_outputPath);
}

void QuantizeWizard::setFreeBytesOverride(qint64 bytes) {
  m_freeOverride = bytes;
  emit outputChanged();
}

qint64 QuantizeWizard::requiredBytes() const {
  if (!m_source.ok) return 0;
  // The finished files, their per-layer copies in the job record, and two hidden-state files.
  const qint64 hidden = static_cast<qint64>(m_rows) * m_length * std::max(1, m_source.shape.hidden) * 4;
  return 2 * predictedBytes() + 2 * hidden;
}

QString QuantizeWizard::freeText() const {
  const qint64 n = freeBytes();
  return n < 0 ? tr("unknown") : formatBytes(n);
}

QString QuantizeWizard::requiredText() const { return formatBytes(requiredBytes()); }

QString QuantizeWizard::measurementPath() const {
  return m_sourcePath.isEmpty() ? QString() : QuantizeService::measurementPathFor(m_sourcePath);
}

bool QuantizeWizard::measurementAvailable() const {
  const QString p = measurementPath();
  return !p.isEmpty() && QFileInfo::exists(p);
}

void QuantizeWizard::setReuseMeasurement(bool reuse) {
  if (reuse == m_reuseMeasurement) return;
  m_reuseMeasurement = reuse;
  emit outputChanged();
}

QuantJobSettings QuantizeWizard::jobSettings() const {
  QuantJobSettings s;
  s.input = m_sourcePath;
  s.output = m_outputPath;
  s.bits = m_bits;
  s.headBits = m_headBits;
  s.calibrationFile = m_builtinCalibration ? QString() : m_calibrationFile;
  s.rows = m_rows;
  s.length = m_length;
  s.measurementRows = std::min(m_measurementRows, m_rows);
  s.device = m_device;
  // With reuse on, an existing measurement is read and a missing one is saved for next time;
  // with it off, the job measures and keeps nothing.
  s.measurementFile = m_reuseMeasurement ? measurementPath() : QString();
  s.threads = m_threads;
  s.evalWindows = m_evalWindows;
  s.evalLength = m_evalLength;
  return s;
}

bool QuantizeWizard::start() {
  if (running()) return false;
  m_error = {};
  m_result.clear();
  emit errorChanged();
  emit resultChanged();
  setStep(RunStep);
  return m_service->start(jobSettings());
}

void QuantizeWizard::cancel() { m_service->cancel(); }

void QuantizeWizard::applySettings(const QuantJobSettings& s) {
  m_sourcePath = s.input;
  m_outputPath = s.output;
  m_outputEdited = true;
  m_bits = s.bits;
  m_headBits = s.headBits;
  m_builtinCalibration = s.calibrationFile.isEmpty();
  m_calibrationFile = s.calibrationFile;
  m_rows = s.rows;
  m_length = s.length;
  m_measurementRows = s.measurementRows > 0 ? s.measurementRows : std::min(16, s.rows);
  m_device = s.device.isEmpty() ? QStringLiteral("auto") : s.device;
  m_reuseMeasurement = !s.measurementFile.isEmpty();
  m_threads = s.threads;
  m_evalWindows = s.evalWindows;
  m_evalLength = s.evalLength;
  m_source = {};
  m_sourceError = {};
  m_checkSerial = m_service->checkSource(m_sourcePath);
  m_inspector.inspect(m_sourcePath);
  emit sourceChanged();
  emit targetChanged();
  emit calibrationChanged();
  emit outputChanged();
}

bool QuantizeWizard::resume(const QString& output) {
  if (running()) return false;
  for (const QVariant& v : m_service->resumableJobs()) {
    const QVariantMap m = v.toMap();
    if (m.value(QStringLiteral("output")).toString() != output) continue;
    const QuantJobSettings s = QuantJobSettings::fromMap(m);
    applySettings(s);
    m_error = {};
    m_result.clear();
    emit errorChanged();
    emit resultChanged();
    setStep(RunStep);
    return m_service->start(s);  // the saved settings exactly: the record accepts only those
  }
  return false;
}

void QuantizeWizard::discardJob(const QString& output) { m_service->forgetJob(output); }

void QuantizeWizard::onFinished(const QVariantMap& result) {
  m_result = result;
  emit resultChanged();
  setStep(ResultStep);
  emit jobFinished();
}

void QuantizeWizard::onFailed(const ErrorInfo& error) {
  m_error = error;
  emit errorChanged();
  emit stateChanged();
  emit jobFailed();
}

QString QuantizeWizard::reportText() const {
  const QString path = m_result.value(QStringLiteral("reportPath")).toString();
  if (path.isEmpty()) return {};
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QString::fromUtf8(f.readAll());
}

void QuantizeWizard::loadNow() {
  const QString out = m_result.value(QStringLiteral("output")).toString();
  if (out.isEmpty()) return;
  if (m_app)
    m_app->openModel(out);
  else
    m_engine->loadModel(out);
  setActive(false);
}

bool QuantizeWizard::openFolder() const {
  const QString out = m_result.value(QStringLiteral("output")).toString();
  return !out.isEmpty() && QDesktopServices::openUrl(QUrl::fromLocalFile(out));
}

void QuantizeWizard::reset() {
  if (running()) return;
  m_sourcePath.clear();
  m_source = {};
  m_sourceError = {};
  m_checkSerial = 0;
  m_inspector.clear();
  m_outputPath.clear();
  m_outputEdited = false;
  m_error = {};
  m_result.clear();
  m_step = SourceStep;
  emit sourceChanged();
  emit outputChanged();
  emit errorChanged();
  emit resultChanged();
  emit stepChanged();
}

void QuantizeWizard::next() {
  if (!canGoNext()) return;
  if (m_step == OutputStep) {
    start();
    return;
  }
  setStep(m_step + 1);
}

void QuantizeWizard::back() {
  if (running() || m_step == SourceStep) return;
  setStep(m_step == ResultStep ? static_cast<int>(OutputStep) : m_step - 1);
}
