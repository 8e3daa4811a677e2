// QuantizeService: the job runs as one closure on the service's QThread (queued to a plain QObject
// living there); progress and the end come back as queued calls on the GUI thread. The error
// figures are read from the job record's state (the per-layer report the quantizer saves after
// each layer), so they are the quantizer's own numbers.
#include "QuantizeService.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardPaths>
#include <QStorageInfo>

#include <cmath>
#include <utility>

#include "AppSettings.h"
#include "EngineErrors.h"
#include "ModelDescription.h"
#include "ModelFolder.h"
#include "nibble/devices.h"
#include "nibble/model.h"
#include "nibble/quant.h"
#include "nibble/tokenizer.h"

namespace {

const QString kJobsKey = QStringLiteral("quantize/jobs");

QString tr(const char* text) { return QCoreApplication::translate("QuantizeService", text); }

QString clockText(double s) {
  if (s < 0) return QStringLiteral("--:--");
  const long t = std::lround(s);
  if (t >= 3600) return QStringLiteral("%1:%2:%3").arg(t / 3600).arg(t / 60 % 60, 2, 10, QLatin1Char('0')).arg(t % 60, 2, 10, QLatin1Char('0'));
  return QStringLiteral("%1:%2").arg(t / 60, 2, 10, QLatin1Char('0')).arg(t % 60, 2, 10, QLatin1Char('0'));
}

// The bundled held-out evaluation text: installed under share/nibble, or in the source tree.
QString evaluationTextPath() {
  const QStringList candidates = {
      QCoreApplication::applicationDirPath() + QStringLiteral("/../share/nibble/evaluation/heldout.txt.gz"),
      QStringLiteral(NIBBLE_SOURCE_RESOURCES_DIR "/evaluation/heldout.txt.gz"),
  };
  for (const QString& c : candidates)
    if (QFileInfo::exists(c)) return c;
  return {};
}

// The latest per-layer error figures from OUT/.nibble-job/state.json ("" when none yet).
QString latestErrorFigures(const QString& output) {
  QFile f(output + QStringLiteral("/.nibble-job/state.json"));
  if (!f.open(QIODevice::ReadOnly)) return {};
  const QJsonObject st = QJsonDocument::fromJson(f.readAll()).object();
  const QJsonArray layers = st.value(QStringLiteral("layers")).toArray();
  if (layers.isEmpty()) {
    const QJsonObject alloc = st.value(QStringLiteral("allocation")).toObject();
    if (alloc.isEmpty()) return {};
    return tr("allocation: %1 bpw, summed error %2")
        .arg(alloc.value(QStringLiteral("bpw")).toDouble(), 0, 'f', 3)
        .arg(alloc.value(QStringLiteral("error")).toDouble(), 0, 'e', 2);
  }
  const QJsonObject l = layers.last().toObject();
  return tr("layer %1: attention %2 bpw, error %3; MLP %4 bpw, error %5")
      .arg(l.value(QStringLiteral("layer")).toInt())
      .arg(l.value(QStringLiteral("attn_bpw")).toDouble(), 0, 'f', 2)
      .arg(l.value(QStringLiteral("attn_error_quant")).toDouble(), 0, 'e', 2)
      .arg(l.value(QStringLiteral("mlp_bpw")).toDouble(), 0, 'f', 2)
      .arg(l.value(QStringLiteral("mlp_error_quant")).toDouble(), 0, 'e', 2);
}

QVariantMap progressMap(const QString& stage, int layer, int layers, double fraction, double elapsed, double eta,
                        const QString& message, const QString& errorText) {
  return {{QStringLiteral("stage"), stage},
          {QStringLiteral("layer"), layer},
          {QStringLiteral("layers"), layers},
          {QStringLiteral("fraction"), fraction},
          {QStringLiteral("elapsedS"), elapsed},
          {QStringLiteral("etaS"), eta},
          {QStringLiteral("elapsedText"), clockText(elapsed)},
          {QStringLiteral("etaText"), clockText(eta)},
          {QStringLiteral("message"), message},
          {QStringLiteral("errorText"), errorText}};
}

qint64 folderBytes(const QString& dir, const std::vector<std::string>& files) {
  qint64 n = 0;
  for (const auto& f : files) n += QFileInfo(QDir(dir).filePath(QString::fromStdString(f))).size();
  return n;
}

QVariantMap reportMap(const nibble::QuantReport& r, const QuantJobSettings& s) {
  QVariantList layers;
  for (const auto& l : r.layers)
    layers.append(QVariantMap{{QStringLiteral("layer"), l.layer},
                              {QStringLiteral("attnChoice"), QString::fromStdString(l.attn_choice)},
                              {QStringLiteral("mlpChoice"), QString::fromStdString(l.mlp_choice)},
                              {QStringLiteral("attnBpw"), l.attn_bpw},
                              {QStringLiteral("mlpBpw"), l.mlp_bpw},
                              {QStringLiteral("attnError"), l.attn_error_quant},
                              {QStringLiteral("mlpError"), l.mlp_error_quant}});
  QVariantList stages;
  for (const auto& [name, sec] : r.stage_seconds)
    stages.append(QVariantMap{{QStringLiteral("stage"), QString::fromStdString(name)}, {QStringLiteral("seconds"), sec}});
  QStringList files;
  for (const auto& f : r.files) files.append(QString::fromStdString(f));
  const qint64 size = folderBytes(s.output, r.files);
  return {{QStringLiteral("input"), s.input},
          {QStringLiteral("output"), s.output},
          {QStringLiteral("targetBits"), s.bits},
          {QStringLiteral("bitsPerWeight"), r.bits_per_weight},
          {QStringLiteral("headBitsPerWeight"), r.head_bits_per_weight},
          {QStringLiteral("decoderWeights"), static_cast<qint64>(r.decoder_weights)},
          {QStringLiteral("calibrationPpl"), r.calibration_ppl},
          {QStringLiteral("calibrationPplFp"), r.calibration_ppl_fp},
          {QStringLiteral("sizeBytes"), size},
          {QStringLiteral("sizeText"), formatBytes(size)},
          {QStringLiteral("totalSeconds"), r.total_seconds},
          {QStringLiteral("totalText"), clockText(r.total_seconds)},
          {QStringLiteral("resumedStage"), QString::fromStdString(r.resumed_stage)},
          {QStringLiteral("resumedAtLayer"), r.resumed_at_layer},
          {QStringLiteral("measurementReused"), r.measurement_reused},
          {QStringLiteral("files"), files},
          {QStringLiteral("reportPath"), QString::fromStdString(r.report_path)},
          {QStringLiteral("layers"), layers},
          {QStringLiteral("stageSeconds"), stages},
          {QStringLiteral("evalPplBefore"), 0.0},
          {QStringLiteral("evalPplAfter"), 0.0},
          {QStringLiteral("evalTokens"), 0}};
}

// Perplexity of the model in `dir` on `ids` (ppl_raw windows); 0 when cancelled.
nibble::Result<double> evalPerplexity(const QString& dir, const QuantJobSettings& s, const std::vector<std::int32_t>& ids,
                                      const std::atomic<bool>& cancel, qint64& tokens) {
  nibble::LoadOptions lo;
  lo.device = s.device == QLatin1String("auto") ? nibble::default_device() : s.device.toStdString();
  lo.threads = s.threads;
  lo.context = s.evalLength;
  lo.progress = [&](std::size_t, std::size_t) { return !cancel.load(); };
  NIBBLE_ASSIGN_OR_RETURN(auto model, nibble::Model::load(dir.toStdString(), lo));
  NIBBLE_ASSIGN_OR_RETURN(auto r, nibble::perplexity_windows(*model, ids, s.evalWindows, s.evalLength,
                                                             [&](std::size_t, std::size_t) { return !cancel.load(); }));
  tokens = r.tokens_scored;
  return r.perplexity;
}

}  // namespace

QVariantMap QuantJobSettings::toMap() const {
  return {{QStringLiteral("input"), input},
          {QStringLiteral("output"), output},
          {QStringLiteral("bits"), bits},
          {QStringLiteral("headBits"), headBits},
          {QStringLiteral("calibrationFile"), calibrationFile},
          {QStringLiteral("rows"), rows},
          {QStringLiteral("length"), length},
          {QStringLiteral("measurementRows"), measurementRows},
          {QStringLiteral("measurementFile"), measurementFile},
          {QStringLiteral("device"), device},
          {QStringLiteral("threads"), threads},
          {QStringLiteral("evalWindows"), evalWindows},
          {QStringLiteral("evalLength"), evalLength}};
}

QuantJobSettings QuantJobSettings::fromMap(const QVariantMap& m) {
  QuantJobSettings s;
  s.input = m.value(QStringLiteral("input")).toString();
  s.output = m.value(QStringLiteral("output")).toString();
  s.bits = m.value(QStringLiteral("bits"), s.bits).toDouble();
  s.headBits = m.value(QStringLiteral("headBits"), s.headBits).toInt();
  s.calibrationFile = m.value(QStringLiteral("calibrationFile")).toString();
  s.rows = m.value(QStringLiteral("rows"), s.rows).toInt();
  s.length = m.value(QStringLiteral("length"), s.length).toInt();
  s.measurementRows = m.value(QStringLiteral("measurementRows"), s.measurementRows).toInt();
  s.measurementFile = m.value(QStringLiteral("measurementFile")).toString();
  s.device = m.value(QStringLiteral("device"), s.device).toString();
  s.threads = m.value(QStringLiteral("threads"), s.threads).toUInt();
  s.evalWindows = m.value(QStringLiteral("evalWindows"), s.evalWindows).toInt();
  s.evalLength = m.value(QStringLiteral("evalLength"), s.evalLength).toInt();
  return s;
}

qint64 predictQuantizedBytes(const QuantSourceCheck& source, double bits, int headBits) {
  // Codes at the target width plus about 1% for scales, group tables and permutations (what the
  // achieved bpw already counts), the head at its width, embeddings and norms in fp16.
  const double decoder = static_cast<double>(source.decoderWeights) * bits / 8.0;
  const double head = static_cast<double>(source.headWeights) * (headBits + 0.15) / 8.0;
  return static_cast<qint64>(decoder + head) + source.otherBytes;
}

MemoryEstimate predictRunMemory(const QuantSourceCheck& source, qint64 quantizedBytes, const QString& device,
                                const QString& cacheType, int context) {
  ModelShape shape = source.shape;
  shape.weightBytes = quantizedBytes;
  shape.quantized = true;
  return estimateMemory(shape, device != QLatin1String("cpu"), parseCacheType(cacheType), context);
}

QuantizeService::QuantizeService(AppSettings* settings, QObject* parent) : QObject(parent), m_settings(settings) {
  qRegisterMetaType<ErrorInfo>();
  qRegisterMetaType<QuantSourceCheck>();
  m_pool.setMaxThreadCount(1);
  m_worker = new QObject;
  m_worker->moveToThread(&m_thread);
  connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
  m_thread.setObjectName(QStringLiteral("nibble-quantize"));
  m_thread.start();
}

QuantizeService::~QuantizeService() {
  if (m_cancel) m_cancel->store(true);
  m_thread.quit();
  m_thread.wait();
  m_pool.waitForDone();
}

QVariantList QuantizeService::deviceChoices() {
  const std::vector<nibble::GpuInfo> gpus = nibble::list_gpus();
  auto choice = [](const QString& id, const QString& label) {
    return QVariantMap{{QStringLiteral("id"), id}, {QStringLiteral("label"), label}};
  };
  QVariantList out;
  out << choice(QStringLiteral("auto"), gpus.empty() ? QCoreApplication::translate("QuantizeService", "Automatic (CPU: no GPU found)")
                                                     : QCoreApplication::translate("QuantizeService", "Automatic (GPU 0)"));
  out << choice(QStringLiteral("cpu"), QCoreApplication::translate("QuantizeService", "CPU"));
  for (const auto& g : gpus)
    out << choice(QStringLiteral("cuda:%1").arg(g.index),
                  QCoreApplication::translate("QuantizeService", "GPU %1: %2").arg(g.index).arg(QString::fromStdString(g.name)));
  return out;
}

QString QuantizeService::measurementPathFor(const QString& modelFolder) {
  const QString folder = QDir(modelFolder).absolutePath();
  const QByteArray key = QCryptographicHash::hash(folder.toUtf8(), QCryptographicHash::Sha256).toHex().left(16);
  const QString base = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  return QStringLiteral("%1/measurements/%2-%3.json").arg(base, QFileInfo(folder).fileName(), QString::fromLatin1(key));
}

bool QuantizeService::hasJobRecord(const QString& output) {
  return !output.isEmpty() && QFileInfo::exists(output + QStringLiteral("/.nibble-job/settings.json"));
}

qint64 QuantizeService::freeBytesFor(const QString& path) {
  QFileInfo fi(path);
  while (!fi.exists()) {
    const QString parent = fi.absolutePath();
    if (parent == fi.absoluteFilePath()) return -1;
    fi = QFileInfo(parent);
  }
  QStorageInfo storage(fi.absoluteFilePath());
  if (!storage.isValid()) return -1;
  return storage.bytesAvailable();
}

QVariantList QuantizeService::resumableJobs() const {
  QVariantList out;
  if (!m_settings) return out;
  for (const QVariant& v : m_settings->value(kJobsKey).toList()) {
    const QVariantMap m = v.toMap();
    if (hasJobRecord(m.value(QStringLiteral("output")).toString())) out.append(m);
  }
  return out;
}

void QuantizeService::rememberJob(const QuantJobSettings& s) {
  if (!m_settings) return;
  QVariantList jobs;
  for (const QVariant& v : m_settings->value(kJobsKey).toList())
    if (v.toMap().value(QStringLiteral("output")).toString() != s.output) jobs.append(v);
  jobs.append(s.toMap());
  m_settings->setValue(kJobsKey, jobs);
  m_settings->sync();
  emit resumableJobsChanged();
}

void QuantizeService::forgetJob(const QString& output) {
  if (!m_settings) return;
  QVariantList jobs;
  for (const QVariant& v : m_settings->value(kJobsKey).toList())
    if (v.toMap().value(QStringLiteral("output")).toString() != output) jobs.append(v);
  m_settings->setValue(kJobsKey, jobs);
  m_settings->sync();
  emit resumableJobsChanged();
}

int QuantizeService::checkSource(const QString& path) {
  const int serial = ++m_serial;
  const QString folder = modelFolderFor(path);
  m_pool.start([this, serial, folder] {
    QuantSourceCheck c;
    auto info = nibble::inspect_model(folder.toStdString());
    if (!info) {
      c.error = toErrorInfo(info.error(), ErrorInfo::Context::ModelLoad);
    } else {
      c.format = formatName(*info);
      c.shape = modelShape(*info);
      qint64 head = 0, decoder = 0;
      for (const auto& t : info->layer_types) {
        if (t.name == "lm_head") head = t.params;
        else if (t.name.rfind("self_attn.", 0) == 0 || t.name.rfind("mlp.", 0) == 0) decoder += t.params;
      }
      if (head == 0) head = static_cast<qint64>(info->vocab_size) * info->hidden_size;  // tied: written as its own head
      c.decoderWeights = decoder;
      c.headWeights = head;
      c.otherBytes = 2 * std::max<qint64>(0, info->parameters - decoder - (info->tied_embeddings ? 0 : head));
      if (!info->quant_method.empty()) {
        c.error = ErrorInfo::make(ErrorKinds::Unsupported,
                                  tr("%1 is already quantized (%2)").arg(folder, QString::fromStdString(info->quant_method)),
                                  ErrorInfo::Context::Generation);
        c.error.title = tr("This model is already quantized");
        c.error.fix = tr("Choose the fp16 or bf16 model it was made from (the folder with the original .safetensors files).");
      } else if (decoder == 0) {
        c.error = ErrorInfo::make(ErrorKinds::Unsupported, tr("%1: no decoder layers found").arg(folder),
                                  ErrorInfo::Context::ModelLoad);
      } else {
        c.ok = true;
      }
    }
    QMetaObject::invokeMethod(this, [this, serial, c] { emit sourceChecked(serial, c); }, Qt::QueuedConnection);
  });
  return serial;
}

bool QuantizeService::start(const QuantJobSettings& s) {
  if (m_running) {
    emit failed(ErrorInfo::make(ErrorKinds::Busy, tr("a quantization job is already running"), ErrorInfo::Context::Generation));
    return false;
  }
  m_cancel = std::make_shared<std::atomic<bool>>(false);
  m_running = true;
  m_log.clear();
  m_progress = progressMap(QStringLiteral("validate"), 0, 0, 0, 0, -1, tr("checking the model and the settings"), {});
  m_job = s;
  m_jobRemembered = false;
  emit runningChanged();
  emit progressChanged();
  auto cancel = m_cancel;
  const QString cancelAt = std::exchange(m_cancelAtStage, QString());
  QMetaObject::invokeMethod(m_worker, [this, s, cancel, cancelAt] {
    nibble::QuantOptions o;
    o.input_dir = s.input.toStdString();
    o.output_dir = s.output.toStdString();
    o.bits = s.bits;
    o.head_bits = s.headBits;
    o.calibration_file = s.calibrationFile.toStdString();
    o.rows = s.rows;
    o.length = s.length;
    o.measurement_rows = s.measurementRows;
    o.device = s.device.toStdString();
    o.threads = s.threads;
    o.cancel = cancel.get();
    if (!s.measurementFile.isEmpty()) {
      QDir().mkpath(QFileInfo(s.measurementFile).absolutePath());
      o.measurement_file = s.measurementFile.toStdString();
    }
    QString errorText;
    o.progress = [&](const nibble::QuantProgress& p) {
      if (p.stage == nibble::QuantStage::quantize || p.stage == nibble::QuantStage::head || p.stage == nibble::QuantStage::write ||
          p.stage == nibble::QuantStage::allocate)
        errorText = latestErrorFigures(s.output);
      const QVariantMap m = progressMap(QString::fromLatin1(nibble::quant_stage_name(p.stage)), p.layer, p.layers,
                                        p.fraction * 0.95, p.elapsed_s, p.eta_s, QString::fromStdString(p.message), errorText);
      QMetaObject::invokeMethod(this, [this, m] { onProgress(m); }, Qt::QueuedConnection);
      if (!cancelAt.isEmpty() && cancelAt == QLatin1String(nibble::quant_stage_name(p.stage))) cancel->store(true);
      return !cancel->load();
    };
    auto r = nibble::quantize_model(o);
    if (!r) {
      const ErrorInfo e = toErrorInfo(r.error(), ErrorInfo::Context::Generation);
      QMetaObject::invokeMethod(this, [this, e, s] { onEnded({}, e, s.output); }, Qt::QueuedConnection);
      return;
    }
    QVariantMap result = reportMap(*r, s);
    // Perplexity before and after on the bundled held-out text (skipped when cancelled now: the
    // files are complete and the job is done).
    const QString evalPath = evaluationTextPath();
    if (s.evalWindows > 0 && !evalPath.isEmpty() && !cancel->load()) {
      const double elapsed = r->total_seconds;
      auto post = [&](const QString& message, double fraction) {
        const QVariantMap m = progressMap(QStringLiteral("evaluate"), 0, 0, fraction, elapsed, -1, message, errorText);
        QMetaObject::invokeMethod(this, [this, m] { onProgress(m); }, Qt::QueuedConnection);
      };
      auto text = nibble::read_corpus_file(evalPath.toStdString());
      auto tok = nibble::Tokenizer::load(o.input_dir);
      if (text && tok) {
        auto ids = (*tok)->encode(*text, false);
        if (ids) {
          const std::size_t need = static_cast<std::size_t>(s.evalWindows) * s.evalLength;
          if (ids->size() > need) ids->resize(need);
          qint64 tokens = 0;
          post(tr("perplexity of the input model"), 0.95);
          if (cancelAt == QLatin1String("evaluate")) cancel->store(true);
          auto before = evalPerplexity(s.input, s, *ids, *cancel, tokens);
          post(tr("perplexity of the quantized model"), 0.975);
          auto after = before ? evalPerplexity(s.output, s, *ids, *cancel, tokens) : before;
          if (before && after) {
            result[QStringLiteral("evalPplBefore")] = *before;
            result[QStringLiteral("evalPplAfter")] = *after;
            result[QStringLiteral("evalTokens")] = tokens;
          } else {
            result[QStringLiteral("evalNote")] = QString::fromStdString((before ? after : before).error().to_string());
          }
          result[QStringLiteral("evalText")] = QFileInfo(evalPath).fileName();
        }
      }
    }
    QMetaObject::invokeMethod(this, [this, result, s] { onEnded(result, {}, s.output); }, Qt::QueuedConnection);
  }, Qt::QueuedConnection);
  return true;
}

void QuantizeService::cancel() {
  if (m_cancel) m_cancel->store(true);
}

void QuantizeService::onProgress(const QVariantMap& progress) {
  if (!m_running) return;
  // The record exists from the first stage after calibration on (measure, or a resumed stage):
  // from then on the job is offered for resume until it finishes. A job refused earlier (for
  // example settings that differ from an unfinished record's) leaves the list as it was.
  const QString stage = progress.value(QStringLiteral("stage")).toString();
  if (!m_jobRemembered && stage != QLatin1String("validate") && stage != QLatin1String("calibration")) {
    m_jobRemembered = true;
    rememberJob(m_job);
  }
  m_progress = progress;
  const QString line = progress.value(QStringLiteral("message")).toString();
  if (!line.isEmpty() && (m_log.isEmpty() || m_log.last() != line)) {
    m_log.append(line);
    while (m_log.size() > 200) m_log.removeFirst();
  }
  m_progress[QStringLiteral("log")] = m_log;
  emit progressChanged();
}

void QuantizeService::onEnded(const QVariantMap& result, const ErrorInfo& error, const QString& output) {
  m_running = false;
  m_cancel.reset();
  // A finished job (or one that failed before writing a record) is no longer resumable.
  if (!error.isError() || !hasJobRecord(output)) forgetJob(output);
  if (!error.isError()) {
    m_progress[QStringLiteral("stage")] = QStringLiteral("done");
    m_progress[QStringLiteral("fraction")] = 1.0;
    m_progress[QStringLiteral("etaS")] = 0.0;
    m_progress[QStringLiteral("etaText")] = clockText(0);
    emit progressChanged();
  }
  emit runningChanged();
  if (error.isError())
    emit failed(error);
  else
    emit finished(result);
}
