// The quantization wizard's view model over the real bridge and quantizer, on the CPU backend
// with the demo model and a small calibration (8 rows x 128 tokens, 2 measurement rows):
// - end to end: source -> 4.0 bpw -> run -> the result's numbers equal quantization_report.json
//   on disk -> "Load now" loads the output -> a chat answer streams from it;
// - cancel at each stage in turn, resuming each time (and once quitting the application in the
//   middle of the quantize stage, then resuming from the job list kept in the settings): the files
//   equal those of the uninterrupted job, byte for byte;
// - bad input: a folder without a model, an EXL2 folder as source, a missing calibration file, an
//   output that cannot be created, is not empty, or lacks free space; a job started anyway on an
//   output that cannot be created fails with a typed error and is not offered for resume;
// - the measurement saved by the first job is reused by a later one for the same model;
// - in the window, every visible control of every step has an accessible name.
#include <QAccessible>
#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtQml/qqmlextensionplugin.h>

#include <algorithm>
#include <cmath>

#include "QmlRegistration.h"
#include "UiFixture.h"

Q_IMPORT_QML_PLUGIN(Nibble_UiPlugin)

namespace {

const QString kExl2Model = QStringLiteral(NIBBLE_TEST_DATA_DIR "/models/dictlm-16m-exl2-4.0");

// Every file under `dir` (relative path -> SHA-256), the job record excluded.
QMap<QString, QByteArray> fileHashes(const QString& dir, const QStringList& skip = {}) {
  QMap<QString, QByteArray> out;
  QDirIterator it(dir, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
  while (it.hasNext()) {
    const QString path = it.next();
    const QString rel = QDir(dir).relativeFilePath(path);
    if (rel.startsWith(QLatin1String(".nibble-job")) || skip.contains(rel)) continue;
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    out.insert(rel, QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256));
  }
  return out;
}

QJsonObject readJson(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}

bool insideCompositeControl(QQuickItem* item) {
  for (QQuickItem* p = item->parentItem(); p; p = p->parentItem()) {
    const QByteArray cls = p->metaObject()->className();
    if (cls.contains("ComboBox") || cls.contains("SpinBox")) return true;
  }
  return false;
}

// Visible controls without an accessible name, and how many controls were checked.
QStringList unnamedControls(QQuickWindow* window, int& checked) {
  QStringList out;
  QList<QQuickItem*> pending{window->contentItem()};
  while (!pending.isEmpty()) {
    QQuickItem* item = pending.takeLast();
    pending.append(item->childItems());
    if (!item->isVisible() || insideCompositeControl(item)) continue;
    QAccessibleInterface* iface = QAccessible::queryAccessibleInterface(item);
    if (!iface) continue;
    switch (iface->role()) {
      case QAccessible::Button: case QAccessible::StaticText: case QAccessible::EditableText: case QAccessible::ComboBox:
      case QAccessible::CheckBox: case QAccessible::RadioButton: case QAccessible::ProgressBar: case QAccessible::Slider:
      case QAccessible::SpinBox: case QAccessible::List: case QAccessible::ListItem:
        ++checked;
        if (iface->text(QAccessible::Name).isEmpty())
          out.append(QStringLiteral("%1 '%2'").arg(QString::fromLatin1(item->metaObject()->className()), item->property("text").toString()));
        break;
      default: break;
    }
  }
  return out;
}

}  // namespace

class TestQuantizeWizard : public QObject {
  Q_OBJECT

  QTemporaryDir m_work;       // outputs shared between the tests (the reference job's folder)
  QString m_reference;        // the uninterrupted 4.0 bpw job's output
  QElapsedTimer m_timer;

  // The demo model as source with the test's small settings, ready on the output step.
  static bool prepare(QuantizeWizard& w, const QString& output) {
    w.setThreads(2);
    w.setEvaluation(4, 128);
    w.setSource(kDemoModel);
    if (!QTest::qWaitFor([&] { return !w.sourceChecking(); }, 30000) || !w.sourceOk()) return false;
    w.applyPreset(QStringLiteral("Balanced"));
    w.setRows(8);
    w.setLength(128);
    w.setMeasurementRows(2);
    w.setReuseMeasurement(false);
    w.setOutputPath(output);
    w.setStep(QuantizeWizard::OutputStep);
    return w.canGoNext();
  }

  // Runs the job to its end; "" when it finished, else the error kind's name.
  static QString waitJob(QuantizeWizard& w, int timeoutMs = 300000) {
    // NIBBLE_TEST_TIME_SCALE: a factor for sanitizer builds, where the quantizer runs slower.
    timeoutMs = static_cast<int>(timeoutMs * std::max(1.0, qEnvironmentVariable("NIBBLE_TEST_TIME_SCALE").toDouble()));
    QSignalSpy done(&w, &QuantizeWizard::jobFinished);
    QSignalSpy failed(&w, &QuantizeWizard::jobFailed);
    if (!QTest::qWaitFor([&] { return !done.isEmpty() || !failed.isEmpty(); }, timeoutMs)) return QStringLiteral("timeout");
    return done.isEmpty() ? ErrorInfo::kindName(w.error().kind) : QString();
  }

 private slots:
  void initTestCase() {
    QVERIFY(m_work.isValid());
    // Saved measurements go under the app data folder: a scratch one, empty at the start.
    qputenv("XDG_DATA_HOME", QFile::encodeName(m_work.filePath(QStringLiteral("data"))));
    qRegisterMetaType<ErrorInfo>();
    registerNibbleQmlTypes();
  }

  void init() { m_timer.start(); }
  void cleanup() { qInfo("%s took %.1f s", QTest::currentTestFunction(), static_cast<double>(m_timer.elapsed()) / 1000.0); }

  void quantizeShowsTheReportLoadsAndChats() {
    UiFixture f(2);
    QuantizeWizard& w = f.graph->quantizer;
    QCOMPARE(w.step(), int(QuantizeWizard::SourceStep));
    QVERIFY(!w.canGoNext());
    m_reference = m_work.filePath(QStringLiteral("reference"));
    QVERIFY(prepare(w, m_reference));
    // Measure and save the measurement for this model (the next job reuses it).
    QVERIFY(!w.measurementAvailable());
    w.setReuseMeasurement(true);

    // Step 1: the inspector's card; step 2: presets and a size prediction.
    QCOMPARE(w.sourceCard().value(QStringLiteral("name")).toString(), QStringLiteral("dictlm-16m"));
    QCOMPARE(w.bits(), 4.0);
    QCOMPARE(w.presetName(), QStringLiteral("Balanced"));
    w.applyPreset(QStringLiteral("Small"));
    QCOMPARE(w.bits(), 3.0);
    w.setBits(4.0);
    const qint64 predicted = w.predictedBytes();
    QVERIFY(predicted > 0);
    QCOMPARE(w.context(), 2048);  // the estimate's context is capped at the model's own
    const QVariantList plan = w.memoryPlan();
    QVERIFY(!plan.isEmpty());
    QVERIFY(plan.last().toMap().value(QStringLiteral("text")).toString().contains(QStringLiteral("2k context")));
    QVERIFY(w.requiredBytes() > predicted);

    QList<QVariantMap> seen;
    connect(&w, &QuantizeWizard::progressChanged, this, [&] { seen.append(w.progress()); });
    w.next();  // Quantize
    QCOMPARE(w.step(), int(QuantizeWizard::RunStep));
    QVERIFY(w.running());
    QCOMPARE(waitJob(w), QString());
    QVERIFY(!w.running());
    QCOMPARE(w.step(), int(QuantizeWizard::ResultStep));
    // Progress walked the stages with per-layer counts, an ETA and error figures.
    QStringList stages;
    bool sawLayer = false, sawEta = false, sawErrors = false;
    for (const QVariantMap& p : seen) {
      const QString stage = p.value(QStringLiteral("stage")).toString();
      if (stages.isEmpty() || stages.last() != stage) stages.append(stage);
      sawLayer = sawLayer || (stage == QLatin1String("quantize") && p.value(QStringLiteral("layers")).toInt() == 8);
      sawEta = sawEta || p.value(QStringLiteral("etaS")).toDouble() > 0;
      sawErrors = sawErrors || p.value(QStringLiteral("errorText")).toString().contains(QStringLiteral("error"));
    }
    disconnect(&w, &QuantizeWizard::progressChanged, this, nullptr);
    QVERIFY2(stages.contains(QStringLiteral("measure")) && stages.contains(QStringLiteral("quantize")) &&
             stages.contains(QStringLiteral("evaluate")) && stages.last() == QLatin1String("done"),
             qPrintable(stages.join(QLatin1Char(','))));
    QVERIFY(sawLayer);
    QVERIFY(sawEta);
    QVERIFY(sawErrors);

    // The result page's numbers are the job report's on disk.
    const QVariantMap r = w.result();
    const QString reportPath = r.value(QStringLiteral("reportPath")).toString();
    QCOMPARE(reportPath, m_reference + QStringLiteral("/quantization_report.json"));
    const QJsonObject report = readJson(reportPath);
    QVERIFY(!report.isEmpty());
    QCOMPARE(r.value(QStringLiteral("bitsPerWeight")).toDouble(), report.value(QStringLiteral("bits_per_weight")).toDouble());
    QCOMPARE(r.value(QStringLiteral("calibrationPpl")).toDouble(), report.value(QStringLiteral("calibration_ppl")).toDouble());
    QCOMPARE(r.value(QStringLiteral("calibrationPplFp")).toDouble(), report.value(QStringLiteral("calibration_ppl_fp")).toDouble());
    const QJsonArray layers = report.value(QStringLiteral("layers")).toArray();
    const QVariantList shownLayers = r.value(QStringLiteral("layers")).toList();
    QCOMPARE(shownLayers.size(), layers.size());
    for (int i = 0; i < layers.size(); ++i) {
      const QJsonObject l = layers[i].toObject();
      const QVariantMap s = shownLayers[i].toMap();
      QCOMPARE(s.value(QStringLiteral("attnBpw")).toDouble(), l.value(QStringLiteral("attn_bpw")).toDouble());
      QCOMPARE(s.value(QStringLiteral("mlpBpw")).toDouble(), l.value(QStringLiteral("mlp_bpw")).toDouble());
      QCOMPARE(s.value(QStringLiteral("attnError")).toDouble(), l.value(QStringLiteral("attn_error_quant")).toDouble());
    }
    QVERIFY(w.reportText().contains(QStringLiteral("bits_per_weight")));
    // The achieved bpw is on target; the size is the files' on disk and near the prediction.
    const double bpw = r.value(QStringLiteral("bitsPerWeight")).toDouble();
    QVERIFY2(std::abs(bpw - 4.0) <= 0.05, qPrintable(QString::number(bpw)));
    qint64 onDisk = 0;
    for (const QString& file : r.value(QStringLiteral("files")).toStringList()) onDisk += QFileInfo(m_reference + QLatin1Char('/') + file).size();
    QCOMPARE(r.value(QStringLiteral("sizeBytes")).toLongLong(), onDisk);
    QVERIFY2(std::abs(static_cast<double>(predicted - onDisk)) < 0.15 * static_cast<double>(onDisk),
             qPrintable(QStringLiteral("predicted %1, written %2").arg(predicted).arg(onDisk)));
    // Perplexity before and after on the built-in evaluation text: both measured, the quantized
    // model's no better than 5% below and no worse than 50% above the input's.
    const double before = r.value(QStringLiteral("evalPplBefore")).toDouble();
    const double after = r.value(QStringLiteral("evalPplAfter")).toDouble();
    QVERIFY2(before > 1 && after > before * 0.95 && after < before * 1.5,
             qPrintable(QStringLiteral("%1 -> %2").arg(before).arg(after)));
    QCOMPARE(r.value(QStringLiteral("evalTokens")).toLongLong(), qint64(4 * 127));
    QVERIFY(w.resumableJobs().isEmpty());  // finished: nothing to resume
    QVERIFY(!r.value(QStringLiteral("measurementReused")).toBool());
    QVERIFY(w.measurementAvailable());
    QVERIFY(!QuantizeService::hasJobRecord(m_reference));

    // Load now -> the engine loads the output -> a chat answer streams from it.
    QSignalSpy loaded(&f.graph->engine, &EngineController::modelLoaded);
    w.loadNow();
    QVERIFY(!w.active());
    QVERIFY(loaded.wait(60000));
    QCOMPARE(QDir(f.graph->engine.modelPath()).absolutePath(), QDir(m_reference).absolutePath());
    QVERIFY(f.graph->engine.model().format.contains(QStringLiteral("exl2")));
    f.usePreset(12);
    QSignalSpy deltas(&f.graph->engine, &EngineController::deltaReceived);
    QVERIFY(f.graph->chat.send(QStringLiteral("Define kettle.")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    QVERIFY(deltas.count() >= 1);
    QString text;
    for (const auto& d : deltas) text += d.at(1).toString();
    QVERIFY(!text.trimmed().isEmpty());
  }

  void cancelAtEachStageThenResumeGivesTheSameFiles() {
    QVERIFY2(!m_reference.isEmpty() && QFileInfo::exists(m_reference + QStringLiteral("/config.json")), "needs the reference job");
    const QString out = m_work.filePath(QStringLiteral("resumed"));
    auto f = std::make_unique<UiFixture>(2);
    QVERIFY(prepare(f->graph->quantizer, out));
    const QStringList stages = {QStringLiteral("validate"), QStringLiteral("calibration"), QStringLiteral("measure"),
                                QStringLiteral("allocate"),  QStringLiteral("quantize"),    QStringLiteral("head"),
                                QStringLiteral("write")};
    bool restarted = false;
    for (const QString& stage : stages) {
      QuantizeWizard& w = f->graph->quantizer;
      const bool quitMidway = stage == QLatin1String("quantize");
      if (!quitMidway) f->graph->quantizeService.setCancelAtStage(stage);
      if (w.resumableJobs().isEmpty())
        QVERIFY(w.start());  // nothing recorded yet (cancelled before the record was made)
      else
        QVERIFY(w.resume(out));
      if (quitMidway) {
        // Quit the application while the job runs (at the second layer of the quantize stage),
        // then start it again: the job is offered from the settings.
        QVERIFY(QTest::qWaitFor([&] {
          const QVariantMap p = w.progress();
          return p.value(QStringLiteral("stage")).toString() == stage && p.value(QStringLiteral("layer")).toInt() >= 1;
        }, 120000));
        QVERIFY(w.running());
        f->close();
        f->open(2);
        restarted = true;
        const QVariantList jobs = f->graph->quantizer.resumableJobs();
        QCOMPARE(jobs.size(), 1);
        QCOMPARE(jobs.first().toMap().value(QStringLiteral("output")).toString(), out);
        QVERIFY(f->graph->app.notice().contains(QStringLiteral("quantization")));
        QVERIFY(QuantizeService::hasJobRecord(out));
        continue;
      }
      QCOMPARE(waitJob(w), QStringLiteral("Cancelled"));
      QVERIFY(w.cancelled());
      QCOMPARE(w.progress().value(QStringLiteral("stage")).toString(), stage);
      if (stage == QLatin1String("allocate")) {
        // Other settings on the unfinished folder: refused by the quantizer, and the remembered
        // job keeps its own settings.
        w.setBits(3.0);
        QVERIFY(w.start());
        QCOMPARE(waitJob(w), QStringLiteral("InvalidArgument"));
        QVERIFY2(w.error().message.contains(QStringLiteral("other settings")), qPrintable(w.error().message));
        QCOMPARE(w.resumableJobs().size(), 1);
        QCOMPARE(w.resumableJobs().first().toMap().value(QStringLiteral("bits")).toDouble(), 4.0);
      }
      if (stage != QLatin1String("validate") && stage != QLatin1String("calibration")) {
        QVERIFY2(QuantizeService::hasJobRecord(out), qPrintable(stage));
        QCOMPARE(w.resumableJobs().size(), 1);
      }
    }
    QVERIFY(restarted);
    QuantizeWizard& w = f->graph->quantizer;
    QVERIFY(w.resume(out));
    QCOMPARE(waitJob(w), QString());
    QVERIFY(!w.result().value(QStringLiteral("resumedStage")).toString().isEmpty());
    QVERIFY(w.resumableJobs().isEmpty());

    // Byte-identical to the uninterrupted job; the report differs only in its timings.
    const QString reportName = QStringLiteral("quantization_report.json");
    const auto a = fileHashes(m_reference, {reportName});
    const auto b = fileHashes(out, {reportName});
    QVERIFY(a.size() >= 4);
    QCOMPARE(b.keys(), a.keys());
    for (auto it = a.begin(); it != a.end(); ++it) QVERIFY2(b.value(it.key()) == it.value(), qPrintable(it.key()));
    const QJsonObject ra = readJson(m_reference + QLatin1Char('/') + reportName);
    const QJsonObject rb = readJson(out + QLatin1Char('/') + reportName);
    QCOMPARE(rb.value(QStringLiteral("bits_per_weight")).toDouble(), ra.value(QStringLiteral("bits_per_weight")).toDouble());
    QCOMPARE(rb.value(QStringLiteral("layers")).toArray(), ra.value(QStringLiteral("layers")).toArray());
  }

  void cancelDuringEvaluationKeepsTheFiles() {
    UiFixture f(2);
    QuantizeWizard& w = f.graph->quantizer;
    const QString out = m_work.filePath(QStringLiteral("no-eval"));
    QVERIFY(prepare(w, out));
    QVERIFY(w.measurementAvailable());  // saved by the first job
    w.setReuseMeasurement(true);
    f.graph->quantizeService.setCancelAtStage(QStringLiteral("evaluate"));
    QVERIFY(w.start());
    QCOMPARE(waitJob(w), QString());  // the files were complete: a finished job without perplexity
    QVERIFY(w.result().value(QStringLiteral("measurementReused")).toBool());
    QCOMPARE(w.result().value(QStringLiteral("evalPplAfter")).toDouble(), 0.0);
    QVERIFY(!w.result().value(QStringLiteral("evalNote")).toString().isEmpty());
    QVERIFY(QFileInfo::exists(out + QStringLiteral("/config.json")));
  }

  void badInputIsRefusedBeforeAnyWork() {
    UiFixture f(2);
    QuantizeWizard& w = f.graph->quantizer;
    // A folder without a model.
    QTemporaryDir notModel;
    QFile note(notModel.filePath(QStringLiteral("notes.txt")));
    QVERIFY(note.open(QIODevice::WriteOnly));
    note.write("not a model\n");
    note.close();
    w.setSource(notModel.path());
    QVERIFY(QTest::qWaitFor([&] { return !w.sourceChecking(); }, 30000));
    QVERIFY(!w.sourceOk());
    QVERIFY(!w.canGoNext());
    QVERIFY(w.sourceError().value(QStringLiteral("kind")).toInt() != ErrorKinds::None);
    QVERIFY(w.sourceError().value(QStringLiteral("message")).toString().contains(notModel.path()));

    // An EXL2 folder as source.
    w.setSource(kExl2Model);
    QVERIFY(QTest::qWaitFor([&] { return !w.sourceChecking(); }, 30000));
    QVERIFY(!w.sourceOk());
    QCOMPARE(w.sourceError().value(QStringLiteral("kind")).toInt(), int(ErrorKinds::Unsupported));
    QVERIFY(w.sourceError().value(QStringLiteral("title")).toString().contains(QStringLiteral("already quantized")));
    QCOMPARE(w.sourceCard().value(QStringLiteral("format")).toString(), QStringLiteral("exl2"));

    // A good source, then a calibration file that does not exist.
    QVERIFY(prepare(w, m_work.filePath(QStringLiteral("bad-out"))));
    w.setStep(QuantizeWizard::CalibrationStep);
    w.setCalibrationFile(m_work.filePath(QStringLiteral("missing.jsonl")));
    QVERIFY(!w.calibrationProblem().isEmpty());
    QVERIFY(!w.canGoNext());
    w.setBuiltinCalibration(true);
    QVERIFY(w.canGoNext());
    // The device that runs the job: automatic first, then the CPU; ids not offered are ignored.
    QCOMPARE(w.devices().value(0).toMap().value(QStringLiteral("id")).toString(), QStringLiteral("auto"));
    QCOMPARE(w.devices().value(1).toMap().value(QStringLiteral("id")).toString(), QStringLiteral("cpu"));
    QCOMPARE(w.device(), QStringLiteral("auto"));
    w.setDevice(QStringLiteral("tpu:0"));
    QCOMPARE(w.device(), QStringLiteral("auto"));
    w.setDevice(QStringLiteral("cpu"));
    QCOMPARE(w.jobSettings().device, QStringLiteral("cpu"));
    w.setDevice(QStringLiteral("auto"));
    QCOMPARE(w.jobSettings().device, QStringLiteral("auto"));

    // Outputs: under a file (cannot be created), not empty, the source itself, a full disk.
    w.setStep(QuantizeWizard::OutputStep);
    QFile blocker(m_work.filePath(QStringLiteral("a-file")));
    QVERIFY(blocker.open(QIODevice::WriteOnly));
    blocker.close();
    const QString underFile = blocker.fileName() + QStringLiteral("/out");
    w.setOutputPath(underFile);
    QVERIFY2(w.outputProblem().contains(QStringLiteral("not a folder")), qPrintable(w.outputProblem()));
    QVERIFY(!w.canGoNext());
    w.setOutputPath(notModel.path());
    QVERIFY2(w.outputProblem().contains(QStringLiteral("not empty")), qPrintable(w.outputProblem()));
    w.setOutputPath(kDemoModel);
    QVERIFY(!w.outputProblem().isEmpty());
    const QString fresh = m_work.filePath(QStringLiteral("fresh"));
    w.setOutputPath(fresh);
    QVERIFY2(w.outputProblem().isEmpty(), qPrintable(w.outputProblem()));
    w.setFreeBytesOverride(w.requiredBytes() - 1);
    QVERIFY2(w.outputProblem().contains(QStringLiteral("free space")), qPrintable(w.outputProblem()));
    QVERIFY(!w.canGoNext());
    w.next();
    QCOMPARE(w.step(), int(QuantizeWizard::OutputStep));  // refused: no job started
    QVERIFY(!w.running());
    w.setFreeBytesOverride(-1);
    QVERIFY(w.canGoNext());

    // Started anyway on an output that cannot be created: the quantizer's typed error, nothing kept.
    w.setOutputPath(underFile);
    QVERIFY(w.start());
    const QString kind = waitJob(w, 60000);
    QVERIFY2(kind == QLatin1String("Io") || kind == QLatin1String("InvalidArgument"), qPrintable(kind));
    QVERIFY(w.error().message.contains(blocker.fileName()));
    QVERIFY(w.resumableJobs().isEmpty());
    QVERIFY(w.result().isEmpty());
    // A second job while one runs is refused.
    w.setOutputPath(fresh);
    f.graph->quantizeService.setCancelAtStage(QStringLiteral("measure"));
    QVERIFY(w.start());
    QVERIFY(!w.start());
    QCOMPARE(waitJob(w), QStringLiteral("Cancelled"));
  }

  // The wizard as the window shows it, opened from the top bar: on every step (a running job and
  // its result included) each visible control has an accessible name.
  void everyWizardControlHasAnAccessibleName() {
    UiFixture f(2);
    QQmlApplicationEngine qml;
    qml.rootContext()->setContextProperty("app", &f.graph->app);
    qml.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    auto* window = qobject_cast<QQuickWindow*>(qml.rootObjects().value(0));
    QVERIFY(window);
    QVERIFY(QTest::qWaitForWindowExposed(window));
    QuantizeWizard& w = f.graph->quantizer;
    QVERIFY(!w.active());
    // The top bar's Quantize button opens it.
    QQuickItem* open = nullptr;
    QList<QQuickItem*> pending{window->contentItem()};
    while (!pending.isEmpty() && !open) {
      QQuickItem* item = pending.takeLast();
      pending.append(item->childItems());
      if (item->property("text").toString() == QLatin1String("Quantize") && item->metaObject()->indexOfSignal("clicked()") >= 0) open = item;
    }
    QVERIFY(open);
    QMetaObject::invokeMethod(open, "clicked");
    QTRY_VERIFY(w.active());
    QObject* dialog = window->findChild<QObject*>(QStringLiteral("quantizeWizard"));
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->property("opened").toBool());

    QAccessible::setActive(true);
    const QString out = m_work.filePath(QStringLiteral("a11y"));
    QVERIFY(prepare(w, out));
    w.setReuseMeasurement(true);  // quick: the first test's measurement
    int checked = 0;
    for (int step = QuantizeWizard::SourceStep; step <= QuantizeWizard::OutputStep; ++step) {
      w.setStep(step);
      QTest::qWait(150);
      const QStringList unnamed = unnamedControls(window, checked);
      QVERIFY2(unnamed.isEmpty(), qPrintable(QStringLiteral("step %1: %2").arg(step).arg(unnamed.join(QStringLiteral(", ")))));
    }
    f.graph->quantizeService.setCancelAtStage(QStringLiteral("evaluate"));
    QSignalSpy done(&w, &QuantizeWizard::jobFinished);
    w.next();
    QCOMPARE(w.step(), int(QuantizeWizard::RunStep));
    QTest::qWait(150);
    QStringList unnamed = unnamedControls(window, checked);
    QVERIFY2(unnamed.isEmpty(), qPrintable(QStringLiteral("run: ") + unnamed.join(QStringLiteral(", "))));
    QVERIFY(done.wait(120000));
    QCOMPARE(w.step(), int(QuantizeWizard::ResultStep));
    QTest::qWait(150);
    unnamed = unnamedControls(window, checked);
    QVERIFY2(unnamed.isEmpty(), qPrintable(QStringLiteral("result: ") + unnamed.join(QStringLiteral(", "))));
    QVERIFY2(checked > 60, qPrintable(QString::number(checked)));
  }
};

QTEST_MAIN(TestQuantizeWizard)
#include "test_quantize_wizard.moc"
