// The dashboard's view model over the real bridge and the demo model on the CPU backend: after
// replies its numbers are the engine's own (the timings each generation reported through
// EngineController::generationFinished, the CPU backend's allocation counters, Model::load's
// time), the categories add up to our total, NVML's absence
// hides the GPU telemetry without an error, and the QML page loads with its chart.
#include <QAccessible>
#include <QQmlApplicationEngine>
#include <QQmlExtensionPlugin>
#include <QQmlContext>
#include <QQuickItem>
#include <QQuickWindow>

#include "QmlRegistration.h"
#include "UiFixture.h"

Q_IMPORT_QML_PLUGIN(Nibble_UiPlugin)

class TestDashboard : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    // No NVML here on purpose (and none on the CI machines): the page must hide GPU telemetry.
    qputenv("NIBBLE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1");
    qRegisterMetaType<ErrorInfo>();
    qRegisterMetaType<GenerationStats>();
  }

  void showsTheEngineCountersAfterGenerations() {
    UiFixture f(2);
    QVERIFY(f.loadDemo(1024));
    f.usePreset(24);
    DashboardViewModel& vm = f.graph->dashboard;
    QSignalSpy finished(&f.graph->engine, &EngineController::generationFinished);
    for (const char* prompt : {"Define kettle.", "Define harbour.", "What is a lexicon?"}) {
      QVERIFY(f.graph->chat.send(QString::fromUtf8(prompt)));
      QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    }
    QTRY_COMPARE(finished.count(), 3);

    QSignalSpy changed(&vm, &DashboardViewModel::changed);
    vm.setActive(true);
    QVERIFY(vm.active());
    QVERIFY(changed.wait(5000));

    QVERIFY(vm.modelLoaded());
    QCOMPARE(vm.device(), QStringLiteral("cpu"));
    QVERIFY(vm.loadSeconds() > 0);
    QVERIFY(vm.loadSeconds() < 60);
    QVERIFY(!vm.showGpus());       // a CPU-only build lists no GPU
    QVERIFY(!vm.nvmlAvailable());  // absent: hidden, not an error
    QVERIFY(f.graph->engine.lastError().kind == ErrorKinds::None);

    // Each generation as the engine reported it.
    const QVariantList gens = vm.generations();
    QCOMPARE(gens.size(), 3);
    for (int i = 0; i < 3; ++i) {
      const auto stats = finished.at(i).at(1).value<GenerationStats>();
      const QVariantMap g = gens.at(i).toMap();
      QCOMPARE(g.value(QStringLiteral("serial")).toLongLong(), qint64(i + 1));
      QCOMPARE(g.value(QStringLiteral("promptTokens")).toInt(), stats.promptTokens);
      QCOMPARE(g.value(QStringLiteral("completionTokens")).toInt(), stats.completionTokens);
      QCOMPARE(g.value(QStringLiteral("prefillTokensPerSecond")).toDouble(), stats.prefillTokensPerSecond);
      QCOMPARE(g.value(QStringLiteral("decodeTokensPerSecond")).toDouble(), stats.decodeTokensPerSecond);
      QCOMPARE(g.value(QStringLiteral("timeToFirstTokenMs")).toDouble(), stats.timeToFirstTokenMs);
      QVERIFY(stats.prefillTokensPerSecond > 0);
      QVERIFY(stats.decodeTokensPerSecond > 0);
      QCOMPARE(g.value(QStringLiteral("reusedPrefixTokens")).toInt(), 0);  // one-sequence path: no prefix cache
      QCOMPARE(g.value(QStringLiteral("kvCapacityTokens")).toInt(), 1024);
      QCOMPARE(g.value(QStringLiteral("kvTokens")).toInt(), stats.promptTokens + stats.completionTokens);
      QVERIFY(g.value(QStringLiteral("kvFill")).toDouble() > 0);
    }
    QCOMPARE(vm.last().value(QStringLiteral("serial")).toLongLong(), qint64(3));
    double maxTps = 0;
    for (int i = 0; i < 3; ++i) {
      const auto stats = finished.at(i).at(1).value<GenerationStats>();
      maxTps = qMax(maxTps, qMax(stats.prefillTokensPerSecond, stats.decodeTokensPerSecond));
    }
    QCOMPARE(vm.maxTokensPerSecond(), maxTps);

    // Our bytes: the categories add up, and they are the demo model's CPU footprint at 1024 tokens
    // (fp32 KV: 2 x 8 layers x 1024 positions x 2 heads x 64 x 4 bytes; weights: the 31.5 MB of
    // fp16 tensors plus the norms widened to fp32).
    const QVariantMap ours = vm.ours();
    const qint64 w = ours.value(QStringLiteral("weights")).toLongLong();
    const qint64 kv = ours.value(QStringLiteral("kvCache")).toLongLong();
    const qint64 sc = ours.value(QStringLiteral("scratch")).toLongLong();
    QCOMPARE(w + kv + sc, ours.value(QStringLiteral("total")).toLongLong());
    QVERIFY(ours.value(QStringLiteral("sumMatches")).toBool());
    QCOMPARE(kv, qint64(2) * 8 * 1024 * 2 * 64 * 4);
    QVERIFY(w > 31'000'000 && w < 32'000'000);
    QVERIFY(sc > 0);
    // The model card's estimate (ModelInspector over engine/plan) predicted exactly these bytes.
    QSignalSpy card(&f.graph->inspector, &ModelInspector::cardReady);
    f.graph->inspector.inspect(kDemoModel);
    QVERIFY(card.wait(30000));
    const QVariantMap estimate = f.graph->inspector.estimate(1024, QStringLiteral("fp16"), QStringLiteral("cpu"));
    QCOMPARE(estimate.value(QStringLiteral("weights")).toLongLong(), w);
    QCOMPARE(estimate.value(QStringLiteral("kvCache")).toLongLong(), kv);
    QCOMPARE(estimate.value(QStringLiteral("buffers")).toLongLong(), sc);

    const QVariantMap host = vm.host();
    QVERIFY(host.value(QStringLiteral("totalBytes")).toLongLong() > 0);
    QVERIFY(host.value(QStringLiteral("rssBytes")).toLongLong() > w);  // the weights live in our RSS
    QCOMPARE(vm.kvFill(), 0.0);  // no reply running: every page is back in the pool
    QVERIFY(!vm.generating());

    // Live polling continues at the set interval.
    f.graph->dashboardMonitor.setIntervalMs(100);
    const int polls = vm.polls();
    QTRY_VERIFY(vm.polls() >= polls + 2);
    vm.setActive(false);
    QVERIFY(!vm.active());
  }

  void kvFillIsLiveDuringAReply() {
    UiFixture f(1);
    QVERIFY(f.loadDemo(2048));
    f.usePreset(400);
    DashboardViewModel& vm = f.graph->dashboard;
    f.graph->dashboardMonitor.setIntervalMs(20);
    // Every poll is looked at (not only the state when the test checks).
    bool seenRunning = false;
    QString runningText;
    connect(&vm, &DashboardViewModel::changed, this, [&] {
      if (vm.generating() && vm.kvFill() > 0 && !seenRunning) {
        seenRunning = true;
        runningText = vm.kvText();
      }
    });
    vm.setActive(true);
    // A long prompt keeps the cache busy for a while on one thread.
    QString prompt;
    for (int i = 0; i < 120; ++i) prompt += QStringLiteral("The harbour kettle sings at night. ");
    QVERIFY(f.graph->chat.send(prompt + QStringLiteral("Define kettle.")));
    QTRY_VERIFY_WITH_TIMEOUT(seenRunning || !f.graph->chat.busy(), 120000);
    QVERIFY(seenRunning);
    QVERIFY(runningText.contains(QStringLiteral("2,048")) || runningText.contains(QStringLiteral("2048")));
    f.graph->chat.stop();
    f.waitReply();
    QTRY_VERIFY(!vm.generating());
  }

  void withoutAModelThePageIsEmptyNotAnError() {
    UiFixture f;
    QSignalSpy updated(&f.graph->dashboardMonitor, &DashboardMonitor::updated);
    f.graph->dashboardMonitor.pollNow();
    // The poll runs on the monitor's own thread; its result arrives as a queued call.
    QVERIFY(updated.wait(5000));
    QVERIFY(!f.graph->dashboard.modelLoaded());
    QCOMPARE(f.graph->dashboard.loadTimeText(), QStringLiteral("—"));
    QVERIFY(f.graph->dashboard.generations().isEmpty());
    QCOMPARE(f.graph->dashboard.ours().value(QStringLiteral("total")).toLongLong(), qint64(0));
    QVERIFY(f.graph->dashboard.host().value(QStringLiteral("rssBytes")).toLongLong() > 0);
  }

  void pageLoadsWithItsChartAndNamesItsControls() {
    UiFixture f;
    QVERIFY(f.loadDemo(512));
    f.usePreset(16);
    QVERIFY(f.graph->chat.send(QStringLiteral("Define kettle.")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    registerNibbleQmlTypes();
    QQmlApplicationEngine qml;
    qml.rootContext()->setContextProperty(QStringLiteral("app"), &f.graph->app);
    qml.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    QVERIFY(!qml.rootObjects().isEmpty());
    auto* window = qobject_cast<QQuickWindow*>(qml.rootObjects().first());
    QVERIFY(window);
    QVERIFY(!window->findChild<QQuickItem*>(QStringLiteral("dashboardPage")));  // not loaded until shown
    window->setProperty("page", 2);
    QQuickItem* page = nullptr;
    QTRY_VERIFY((page = window->findChild<QQuickItem*>(QStringLiteral("dashboardPage"))) != nullptr);
    QTRY_VERIFY(f.graph->dashboard.active());
    QTRY_VERIFY(f.graph->dashboard.modelLoaded());
    QTRY_COMPARE(f.graph->dashboard.generations().size(), 1);
    QTest::qWait(200);

    // Every visible control of the page has an accessible name.
    QAccessible::setActive(true);
    int checked = 0;
    QList<QQuickItem*> pending{page};
    while (!pending.isEmpty()) {
      QQuickItem* item = pending.takeLast();
      pending.append(item->childItems());
      if (!item->isVisible()) continue;
      QAccessibleInterface* iface = QAccessible::queryAccessibleInterface(item);
      if (!iface) continue;
      const QAccessible::Role role = iface->role();
      if (role == QAccessible::Button || role == QAccessible::StaticText || role == QAccessible::ProgressBar ||
          role == QAccessible::Chart) {
        ++checked;
        QVERIFY2(!iface->text(QAccessible::Name).isEmpty(),
                 qPrintable(QStringLiteral("unnamed %1 '%2'").arg(QString::fromLatin1(item->metaObject()->className()),
                                                                   item->property("text").toString())));
      }
    }
    QVERIFY2(checked > 15, qPrintable(QString::number(checked)));

    window->setProperty("page", 0);
    QTRY_VERIFY(!f.graph->dashboard.active());  // polling stops with the page
  }
};

QTEST_MAIN(TestDashboard)
#include "test_dashboard.moc"
