// EngineController drives the real engine on its worker thread with the demo model on the CPU:
// load -> progress -> loaded; broken folders fail with the right error kind; cancel; a greedy
// reply streams the text transformers produced for the same prompt (tests/data/refs), with
// stats; a stop ends a reply early; deltas arrive at most 60 times a second.
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "EngineController.h"

namespace {

const QString kDemo = QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m");

bool copyDemo(const QString& to) {
  QDir().mkpath(to);
  for (const QString& name : QDir(kDemo).entryList(QDir::Files))
    if (!QFile::copy(kDemo + QLatin1Char('/') + name, to + QLatin1Char('/') + name)) return false;
  return true;
}

bool loadDemo(EngineController& engine, int context = 0) {
  QSignalSpy loaded(&engine, &EngineController::modelLoaded);
  engine.loadModel(kDemo, QStringLiteral("cpu"), context);
  return loaded.wait(60000) || loaded.count() == 1;
}

struct Reply {
  QString content;
  QString reasoning;
  int deltas = 0;
  GenerationStats stats;
  ErrorInfo error;
  bool finished = false;
  QList<qint64> deltaTimesMs;
};

// Runs one request to its end (or calls `onFirstDelta` after the first delta).
Reply run(EngineController& engine, GenerationRequest request, const std::function<void()>& onFirstDelta = {}) {
  Reply r;
  QElapsedTimer clock;
  clock.start();
  quint64 id = 0;
  QEventLoop loop;
  auto c1 = QObject::connect(&engine, &EngineController::deltaReceived, [&](quint64 gid, const QString& c, const QString& t) {
    if (gid != id) return;
    r.content += c;
    r.reasoning += t;
    r.deltaTimesMs.append(clock.elapsed());
    if (r.deltas++ == 0 && onFirstDelta) onFirstDelta();
  });
  auto c2 = QObject::connect(&engine, &EngineController::generationFinished, [&](quint64 gid, const GenerationStats& s) {
    if (gid != id) return;
    r.stats = s;
    r.finished = true;
    loop.quit();
  });
  auto c3 = QObject::connect(&engine, &EngineController::generationFailed, [&](quint64 gid, const ErrorInfo& e) {
    if (gid != id) return;
    r.error = e;
    loop.quit();
  });
  id = engine.startGeneration(request);
  if (id != 0) {
    QTimer::singleShot(240000, &loop, &QEventLoop::quit);
    loop.exec();
  }
  QObject::disconnect(c1);
  QObject::disconnect(c2);
  QObject::disconnect(c3);
  return r;
}

QJsonArray greedyRefs() {
  QFile f(QStringLiteral(NIBBLE_TEST_DATA_DIR "/refs/dictlm-16m/greedy.json"));
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).array();
}

}  // namespace

class TestEngineController : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { qRegisterMetaType<ErrorInfo>(); }

  void loadReportsProgressThenLoaded() {
    EngineController engine;
    QCOMPARE(engine.modelState(), EngineController::NoModel);
    QSignalSpy state(&engine, &EngineController::modelStateChanged);
    QSignalSpy progress(&engine, &EngineController::loadProgressChanged);
    QSignalSpy loaded(&engine, &EngineController::modelLoaded);
    QSignalSpy failed(&engine, &EngineController::loadFailed);
    engine.loadModel(kDemo + QStringLiteral("/config.json"), QStringLiteral("cpu"), 1024);
    QCOMPARE(engine.modelState(), EngineController::Loading);
    QCOMPARE(engine.loadingPath(), kDemo);
    QVERIFY(loaded.wait(60000));
    QCOMPARE(failed.count(), 0);
    QCOMPARE(engine.modelState(), EngineController::Loaded);
    QVERIFY(state.count() >= 2);  // Loading, Loaded

    // Progress only grows and ends at 1 before `loaded`.
    QVERIFY(progress.count() >= 2);
    QCOMPARE(engine.loadProgress(), 1.0);
    QCOMPARE(engine.modelName(), QStringLiteral("dictlm-16m"));
    QCOMPARE(engine.modelPath(), kDemo);
    QCOMPARE(engine.contextLength(), 1024);
    const ModelSummary& m = engine.model();
    QCOMPARE(m.architecture, QStringLiteral("LlamaForCausalLM"));
    QCOMPARE(m.maxContextLength, 2048);
    QCOMPARE(m.device, QStringLiteral("cpu"));
    QVERIFY(m.format.startsWith(QStringLiteral("fp16")));
    QVERIFY(m.templateNote.isEmpty());
    QVERIFY(!engine.deviceName().isEmpty());
  }

  void progressIsMonotonic() {
    EngineController engine;
    QList<double> seen;
    connect(&engine, &EngineController::loadProgressChanged, this, [&] { seen.append(engine.loadProgress()); });
    QVERIFY(loadDemo(engine));
    QVERIFY(!seen.isEmpty());
    for (qsizetype i = 1; i < seen.size(); ++i) QVERIFY(seen[i] >= seen[i - 1]);
    QCOMPARE(seen.last(), 1.0);
  }

  void brokenFoldersFailWithTheirKind_data() {
    QTest::addColumn<QString>("breakage");
    QTest::addColumn<int>("kind");
    QTest::newRow("missing folder") << "missing" << int(ErrorKinds::NotFound);
    QTest::newRow("no weights") << "no-weights" << int(ErrorKinds::NotFound);
    QTest::newRow("truncated safetensors") << "truncated" << int(ErrorKinds::Format);
    QTest::newRow("unsupported architecture") << "mamba" << int(ErrorKinds::Unsupported);
    QTest::newRow("config is not JSON") << "bad-config" << int(ErrorKinds::Format);
  }

  void brokenFoldersFailWithTheirKind() {
    QFETCH(QString, breakage);
    QFETCH(int, kind);
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(QStringLiteral("model"));
    if (breakage != QLatin1String("missing")) QVERIFY(copyDemo(dir));
    if (breakage == QLatin1String("no-weights")) QVERIFY(QFile::remove(dir + QStringLiteral("/model.safetensors")));
    if (breakage == QLatin1String("truncated")) {
      QFile f(dir + QStringLiteral("/model.safetensors"));
      QVERIFY(f.resize(f.size() / 2));
    }
    if (breakage == QLatin1String("mamba") || breakage == QLatin1String("bad-config")) {
      QFile f(dir + QStringLiteral("/config.json"));
      QVERIFY(f.open(QIODevice::ReadOnly));
      QJsonObject config = QJsonDocument::fromJson(f.readAll()).object();
      f.close();
      config[QStringLiteral("architectures")] = QJsonArray{QStringLiteral("MambaForCausalLM")};
      config[QStringLiteral("model_type")] = QStringLiteral("mamba");
      config[QStringLiteral("hidden_act")] = QStringLiteral("gelu");
      QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
      f.write(breakage == QLatin1String("mamba") ? QJsonDocument(config).toJson() : QByteArray("{\"architectures\": ["));
    }

    EngineController engine;
    QSignalSpy failed(&engine, &EngineController::loadFailed);
    QSignalSpy loaded(&engine, &EngineController::modelLoaded);
    engine.loadModel(dir, QStringLiteral("cpu"));
    QVERIFY(failed.wait(60000));
    QCOMPARE(loaded.count(), 0);
    const ErrorInfo error = failed.first().first().value<ErrorInfo>();
    QVERIFY2(int(error.kind) == kind, qPrintable(ErrorInfo::kindName(error.kind) + QStringLiteral(": ") + error.message));
    QCOMPARE(int(engine.lastError().kind), kind);
    QCOMPARE(engine.modelState(), EngineController::Failed);
    QVERIFY(!error.title.isEmpty() && !error.fix.isEmpty());
    if (breakage != QLatin1String("missing")) QVERIFY2(error.message.contains(dir), qPrintable(error.message));
  }

  void aFailedLoadKeepsTheLoadedModel() {
    EngineController engine;
    QVERIFY(loadDemo(engine));
    QSignalSpy failed(&engine, &EngineController::loadFailed);
    engine.loadModel(QStringLiteral("/nonexistent/model"), QStringLiteral("cpu"));
    QVERIFY(failed.wait(30000));
    QCOMPARE(engine.modelState(), EngineController::Loaded);
    QCOMPARE(engine.modelName(), QStringLiteral("dictlm-16m"));
  }

  void cancelLoad() {
    EngineController engine;
    QSignalSpy failed(&engine, &EngineController::loadFailed);
    QSignalSpy loaded(&engine, &EngineController::modelLoaded);
    engine.loadModel(kDemo, QStringLiteral("cpu"));
    engine.cancelLoad();
    QVERIFY(failed.wait(30000));
    QCOMPARE(failed.first().first().value<ErrorInfo>().kind, ErrorKinds::Cancelled);
    QCOMPARE(loaded.count(), 0);
    QCOMPARE(engine.modelState(), EngineController::NoModel);
    QVERIFY(!engine.lastError().isError());  // a cancel is no error to show
  }

  // The greedy reply equals transformers' greedy continuation of the same prompt up to the end
  // of turn; the stats count the prompt tokens transformers counted.
  void greedyReplyMatchesTransformers() {
    EngineController engine;
    QVERIFY(loadDemo(engine));
    const QJsonArray refs = greedyRefs();
    QVERIFY(refs.size() >= 2);
    for (int i = 0; i < 2; ++i) {
      const QJsonObject ref = refs[i].toObject();
      const QString full = ref[QStringLiteral("greedy_text")].toString();
      const QString expected = full.left(full.indexOf(QStringLiteral("<|im_end|>")));
      GenerationRequest request;
      request.messages = {{QStringLiteral("system"), QStringLiteral("You are a helpful dictionary assistant.")},
                          {QStringLiteral("user"), ref[QStringLiteral("question")].toString()}};
      request.sampling.temperature = 0;
      request.sampling.repetitionPenalty = 1.0;
      request.sampling.maxTokens = 64;
      QSignalSpy started(&engine, &EngineController::generationStarted);
      const Reply r = run(engine, request);
      QVERIFY2(r.finished, qPrintable(r.error.message));
      QCOMPARE(r.content, expected);
      QVERIFY(r.reasoning.isEmpty());
      QVERIFY(r.deltas >= 1);
      QCOMPARE(started.count(), 1);
      QCOMPARE(r.stats.promptTokens, ref[QStringLiteral("prompt_ids")].toArray().size());
      QCOMPARE(started.first().at(1).toInt(), r.stats.promptTokens);
      QCOMPARE(r.stats.stopReason, QStringLiteral("eos"));
      // The reply's tokens up to and including <|im_end|> (id 2).
      const QJsonArray ids = ref[QStringLiteral("greedy_ids")].toArray();
      int untilEnd = 0;
      while (untilEnd < ids.size() && ids[untilEnd].toInt() != 2) ++untilEnd;
      QCOMPARE(r.stats.completionTokens, untilEnd + 1);
      QVERIFY(r.stats.timeToFirstTokenMs > 0);
      QVERIFY(r.stats.decodeTokensPerSecond > 0);
      QVERIFY(r.stats.prefillTokensPerSecond > 0);
      QVERIFY(r.stats.totalMs >= r.stats.timeToFirstTokenMs);
      QVERIFY(!engine.generating());
    }
  }

  void stopEndsTheReplyEarly() {
    EngineController engine;
    QVERIFY(loadDemo(engine));
    GenerationRequest request;
    request.messages = {{QStringLiteral("user"), QStringLiteral("Define kettle.")}};
    request.sampling.maxTokens = 1500;
    request.stopAtEos = false;
    QSignalSpy generating(&engine, &EngineController::generatingChanged);
    const Reply r = run(engine, request, [&] { engine.stopGeneration(); });
    QVERIFY(r.finished);
    QCOMPARE(r.stats.stopReason, QStringLiteral("stopped"));
    QVERIFY2(r.stats.completionTokens < 1500, qPrintable(QString::number(r.stats.completionTokens)));
    QVERIFY(!engine.generating());
    QCOMPARE(generating.count(), 2);
  }

  // Without a stop token the reply runs to max tokens; at most 60 deltas in any second.
  void deltasAreCoalesced() {
    EngineController engine;
    QVERIFY(loadDemo(engine));
    GenerationRequest request;
    request.messages = {{QStringLiteral("user"), QStringLiteral("What does \"lexicon\" mean?")}};
    request.sampling.maxTokens = 400;
    request.sampling.seed = 5;
    request.stopAtEos = false;
    const Reply r = run(engine, request);
    QVERIFY(r.finished);
    QCOMPARE(r.stats.completionTokens, 400);
    QCOMPARE(r.stats.stopReason, QStringLiteral("length"));
    QVERIFY(!r.content.isEmpty());
    // Deltas leave the engine thread >= 1/60 s apart; queued delivery may bunch a few together,
    // so count them over sliding one-second windows with a little slack.
    for (qsizetype i = 0; i < r.deltaTimesMs.size(); ++i) {
      qsizetype j = i;
      while (j < r.deltaTimesMs.size() && r.deltaTimesMs[j] - r.deltaTimesMs[i] < 1000) ++j;
      QVERIFY2(j - i <= 62, qPrintable(QStringLiteral("%1 deltas within one second").arg(j - i)));
    }
  }

  void aSeedRepeatsTheReply() {
    EngineController engine;
    QVERIFY(loadDemo(engine));
    GenerationRequest request;
    request.messages = {{QStringLiteral("user"), QStringLiteral("Define nibble.")}};
    request.sampling.temperature = 1.0;
    request.sampling.maxTokens = 40;
    request.sampling.seed = 42;
    const Reply a = run(engine, request);
    const Reply b = run(engine, request);
    QVERIFY(a.finished && b.finished);
    QCOMPARE(a.content, b.content);
  }

  void aPromptLongerThanTheContextFails() {
    EngineController engine;
    QVERIFY(loadDemo(engine, 256));
    GenerationRequest request;
    request.messages = {{QStringLiteral("user"), QString(QStringLiteral("word ")).repeated(400)}};
    const Reply r = run(engine, request);
    QVERIFY(!r.finished);
    QCOMPARE(r.error.kind, ErrorKinds::InvalidArgument);
    QVERIFY(r.error.message.contains(QStringLiteral("context")));
  }

  void olderTurnsAreDroppedToFit() {
    EngineController engine;
    QVERIFY(loadDemo(engine, 256));
    GenerationRequest request;
    request.messages = {{QStringLiteral("system"), QStringLiteral("Be brief.")}};
    for (int i = 0; i < 6; ++i) {
      request.messages.append({QStringLiteral("user"), QString(QStringLiteral("word ")).repeated(30)});
      request.messages.append({QStringLiteral("assistant"), QString(QStringLiteral("answer ")).repeated(10)});
    }
    request.messages.append({QStringLiteral("user"), QStringLiteral("Define kettle.")});
    request.sampling.maxTokens = 8;
    const Reply r = run(engine, request);
    QVERIFY2(r.finished, qPrintable(r.error.message));
    QVERIFY(r.stats.droppedMessages > 0);
    QVERIFY(r.stats.promptTokens + 16 <= 256);
  }

  // A placement from the model card reaches Model::load: two CPU ranges [0, 3) and [3, 8) (the
  // cross-segment path on one device) give transformers' greedy reply; the badge names the one
  // device in use. A placement with a gap is refused by the engine, so the ranges are not ignored.
  void aPlacementReachesTheEngine() {
    EngineController engine;
    LoadRequest choices;
    choices.context = 1024;
    choices.cacheType = QStringLiteral("fp16");
    choices.placement = {{QStringLiteral("cpu"), 0, 3}, {QStringLiteral("cpu"), 3, 8}};
    choices.reserveBytes = 500'000'000;
    QSignalSpy loaded(&engine, &EngineController::modelLoaded);
    QSignalSpy failed(&engine, &EngineController::loadFailed);
    engine.loadModel(kDemo, choices);
    QVERIFY(loaded.wait(60000) || loaded.count() == 1);
    QCOMPARE(failed.count(), 0);
    QCOMPARE(engine.contextLength(), 1024);
    QCOMPARE(engine.model().devices, QStringList{QStringLiteral("cpu")});
    QCOMPARE(engine.deviceName(), QStringLiteral("CPU"));

    const QJsonObject ref = greedyRefs().at(0).toObject();
    const QString full = ref[QStringLiteral("greedy_text")].toString();
    GenerationRequest request;
    request.messages = {{QStringLiteral("system"), QStringLiteral("You are a helpful dictionary assistant.")},
                        {QStringLiteral("user"), ref[QStringLiteral("question")].toString()}};
    request.sampling.temperature = 0;
    request.sampling.repetitionPenalty = 1.0;
    request.sampling.maxTokens = 64;
    const Reply r = run(engine, request);
    QVERIFY2(r.finished, qPrintable(r.error.message));
    QCOMPARE(r.content, full.left(full.indexOf(QStringLiteral("<|im_end|>"))));

    choices.placement = {{QStringLiteral("cpu"), 0, 3}, {QStringLiteral("cpu"), 4, 8}};
    engine.loadModel(kDemo, choices);
    QVERIFY(failed.wait(60000) || failed.count() == 1);
    QCOMPARE(failed.last().at(0).value<ErrorInfo>().kind, ErrorKinds::InvalidArgument);

    // An unknown cache type is refused before anything loads.
    choices.placement = {};
    choices.cacheType = QStringLiteral("int3");
    engine.loadModel(kDemo, choices);
    QVERIFY(failed.wait(60000) || failed.count() == 2);
    QCOMPARE(failed.last().at(0).value<ErrorInfo>().kind, ErrorKinds::InvalidArgument);
  }

  void noModelNoGeneration() {
    EngineController engine;
    QCOMPARE(engine.startGeneration({}), quint64(0));
  }
};

QTEST_GUILESS_MAIN(TestEngineController)
#include "test_engine_controller.moc"
