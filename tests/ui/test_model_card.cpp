// The model card's placement plan in the real window (Main.qml over AppGraph), with the devices
// injected into the card's PlacementModel (fake GPUs; this machine may have none): one bar row
// per device in use, the manual split fields and the CPU slider drive the plan, a setup too
// small for the model shows the planner's advice and Load stays off and refuses; a CPU plan
// loads through Load, and the device badge names the devices the loaded model uses. Every
// control of the card has an accessible name.
#include <QAccessible>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtQml/qqmlextensionplugin.h>

#include "PlacementModel.h"
#include "QmlRegistration.h"
#include "UiFixture.h"

Q_IMPORT_QML_PLUGIN(Nibble_UiPlugin)

namespace {

QVariantMap device(const QString& id, const QString& name, qint64 freeBytes) {
  return {{QStringLiteral("id"), id}, {QStringLiteral("name"), name}, {QStringLiteral("freeBytes"), freeBytes}};
}

QList<QQuickItem*> itemsOf(QObject* popup) {
  QList<QQuickItem*> out;
  QList<QQuickItem*> pending;
  for (const char* part : {"contentItem", "footer"})
    if (auto* item = popup->property(part).value<QQuickItem*>()) pending.append(item);
  while (!pending.isEmpty()) {
    QQuickItem* item = pending.takeLast();
    out.append(item);
    pending.append(item->childItems());
  }
  return out;
}

QQuickItem* named(QObject* popup, const QString& objectName) {
  for (QQuickItem* item : itemsOf(popup))
    if (item->objectName() == objectName) return item;
  return nullptr;
}

bool visibleInTree(QQuickItem* item) { return item && item->isVisible(); }

// Accessible names of the card's visible items with `role` (the bars are charts), or of any role
// when the name starts with `prefix`.
QStringList accessibleNames(QObject* popup, const QString& prefix, QAccessible::Role role = QAccessible::NoRole) {
  QStringList out;
  for (QQuickItem* item : itemsOf(popup)) {
    if (!item->isVisible()) continue;
    QAccessibleInterface* iface = QAccessible::queryAccessibleInterface(item);
    if (!iface || (role != QAccessible::NoRole && iface->role() != role)) continue;
    if (iface->text(QAccessible::Name).startsWith(prefix)) out << iface->text(QAccessible::Name);
  }
  return out;
}

int layersOn(const PlacementModel& m, const QString& device) {
  int n = 0;
  for (const PlacementModel::Row& r : m.rows())
    if (r.device == device) n += r.lastLayer - r.firstLayer;
  return n;
}

bool insideCompositeControl(QQuickItem* item) {
  for (QQuickItem* p = item->parentItem(); p; p = p->parentItem()) {
    const QByteArray cls = p->metaObject()->className();
    if (cls.contains("ComboBox") || cls.contains("SpinBox") || cls.contains("Slider")) return true;
  }
  return false;
}

}  // namespace

class TestModelCard : public QObject {
  Q_OBJECT

  struct Window {
    UiFixture f;
    QQmlApplicationEngine qml;
    QQuickWindow* window = nullptr;
    QObject* card = nullptr;
    PlacementModel* plan = nullptr;
  };

  // Opens the window and the demo model's card.
  bool open(Window& w) {
    w.qml.rootContext()->setContextProperty("app", &w.f.graph->app);
    w.qml.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    w.window = qobject_cast<QQuickWindow*>(w.qml.rootObjects().value(0));
    if (!w.window || !QTest::qWaitForWindowExposed(w.window)) return false;
    w.card = w.window->findChild<QObject*>(QStringLiteral("modelCard"));
    w.plan = w.f.graph->inspector.placement();
    QSignalSpy ready(&w.f.graph->inspector, &ModelInspector::cardReady);
    w.f.graph->inspector.inspect(kDemoModel);
    if (!ready.wait(30000)) return false;
    return QTest::qWaitFor([&] { return w.card->property("opened").toBool(); }, 5000);
  }

 private slots:
  void initTestCase() {
    registerNibbleQmlTypes();
    QAccessible::setActive(true);
  }

  // Two fake GPUs each with room for the model: bars for each device in use, layers in order;
  // the manual split moves layers to the second GPU, the slider puts N layers on the CPU.
  void planRowsFollowTheControls() {
    Window w;
    QVERIFY(open(w));
    QVERIFY(w.plan->ready());
    // What the whole model takes on one GPU (the plan's own figure, runtime allowance included).
    w.plan->setDevices({device(QStringLiteral("cuda:0"), QStringLiteral("Big GPU"), 80'000'000'000),
                        device(QStringLiteral("cpu"), QStringLiteral("CPU"), 16'000'000'000)});
    QCOMPARE(w.plan->rowCount(), 1);
    const qint64 whole = w.plan->rows().front().needed;
    const qint64 runtime = w.plan->rows().front().runtime;
    const qint64 gpuFree = qint64(500'000'000) + whole + 200'000'000;
    w.plan->setDevices({device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU A"), gpuFree),
                        device(QStringLiteral("cuda:1"), QStringLiteral("Fake GPU B"), gpuFree),
                        device(QStringLiteral("cpu"), QStringLiteral("CPU"), 16'000'000'000)});
    QVERIFY(w.plan->ready());
    QCOMPARE(w.plan->target(), QStringLiteral("gpus"));
    QCOMPARE(layersOn(*w.plan, QStringLiteral("cuda:0")), 8);  // auto fills cuda:0 first
    // The bars: one chart per row of the plan.
    QTRY_COMPARE(accessibleNames(w.card, {}, QAccessible::Chart).size(), w.plan->rowCount());
    QVERIFY(accessibleNames(w.card, {}, QAccessible::Chart).front().startsWith(QStringLiteral("cuda:0: weights")));
    QVERIFY(visibleInTree(named(w.card, QStringLiteral("cpuSlider"))));

    // Manual split from the card's mode box: the GB fields appear, one per GPU.
    auto* modeBox = named(w.card, QStringLiteral("modeBox"));
    QVERIFY(modeBox);
    modeBox->setProperty("currentIndex", 1);
    QMetaObject::invokeMethod(modeBox, "activated", Q_ARG(int, 1));
    QTRY_COMPARE(w.plan->mode(), QStringLiteral("manual"));
    QTRY_VERIFY(visibleInTree(named(w.card, QStringLiteral("gpuSplit0"))));
    QVERIFY(visibleInTree(named(w.card, QStringLiteral("gpuSplit1"))));
    // Half the model's bytes for cuda:0: some layers move to cuda:1.
    auto* split0 = named(w.card, QStringLiteral("gpuSplit0"));
    const int tenths = int((runtime + (whole - runtime) / 2) / 100'000'000) + 1;
    w.plan->setGpuSplit(0, static_cast<double>(runtime + (whole - runtime) / 2) / 1e9);
    const int on0 = layersOn(*w.plan, QStringLiteral("cuda:0"));
    const int on1 = layersOn(*w.plan, QStringLiteral("cuda:1"));
    QVERIFY2(on0 > 0 && on0 < 8 && on0 + on1 == 8, qPrintable(w.plan->summary()));
    QCOMPARE(w.plan->cpuLayerCount(), 0);
    QTRY_COMPARE(accessibleNames(w.card, {}, QAccessible::Chart).size(), 2);
    // The field shows the budget in tenths of a GB.
    QTRY_VERIFY(qAbs(split0->property("value").toInt() - tenths) <= 1);

    // The slider: 3 layers on the CPU.
    auto* slider = named(w.card, QStringLiteral("cpuSlider"));
    slider->setProperty("value", 3);
    QMetaObject::invokeMethod(slider, "moved");
    QCOMPARE(w.plan->cpuLayers(), 3);
    QCOMPARE(w.plan->cpuLayerCount(), 3);
    QCOMPARE(layersOn(*w.plan, QStringLiteral("cpu")), 3);
    QTRY_VERIFY(!accessibleNames(w.card, QStringLiteral("cpu: weights"), QAccessible::Chart).isEmpty());

    // Every visible control of the card has an accessible name.
    int checked = 0;
    for (QQuickItem* item : itemsOf(w.card)) {
      if (!item->isVisible() || insideCompositeControl(item)) continue;
      QAccessibleInterface* iface = QAccessible::queryAccessibleInterface(item);
      if (!iface) continue;
      const QAccessible::Role role = iface->role();
      if (role == QAccessible::Button || role == QAccessible::StaticText || role == QAccessible::EditableText ||
          role == QAccessible::ComboBox || role == QAccessible::SpinBox || role == QAccessible::Slider ||
          role == QAccessible::Chart) {
        ++checked;
        QVERIFY2(!iface->text(QAccessible::Name).isEmpty(),
                 qPrintable(QStringLiteral("unnamed %1 '%2'").arg(QString::fromLatin1(item->metaObject()->className()),
                                                                   item->property("text").toString())));
      }
    }
    QVERIFY2(checked > 25, qPrintable(QString::number(checked)));
  }

  // A GPU and host RAM far too small: the verdict and the planner's advice lines show, Load is
  // off, and asking to load anyway starts nothing.
  void tooSmallShowsAdviceAndRefusesLoad() {
    Window w;
    QVERIFY(open(w));
    w.plan->setDevices({device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU"), 600'000'000),
                        device(QStringLiteral("cpu"), QStringLiteral("CPU"), 5'000'000)});
    QVERIFY(w.plan->ready());
    QVERIFY(!w.plan->fits());
    QVERIFY(!w.plan->advice().isEmpty());
    QVERIFY(!w.card->property("canLoad").toBool());
    auto* loadButton = named(w.card, QStringLiteral("loadButton"));
    QVERIFY(loadButton);
    QTRY_VERIFY(!loadButton->isEnabled());
    QTRY_COMPARE(accessibleNames(w.card, QStringLiteral("Advice: ")).size(), w.plan->advice().size());
    auto* verdict = named(w.card, QStringLiteral("placementVerdict"));
    QVERIFY(verdict && verdict->property("text").toString().startsWith(QStringLiteral("✗")));

    QVariant result;
    QMetaObject::invokeMethod(w.card, "load", Q_RETURN_ARG(QVariant, result));
    QCOMPARE(result.toBool(), false);
    QVERIFY(!w.f.graph->app.openPlanned(kDemoModel));
    QCOMPARE(w.f.graph->engine.modelState(), EngineController::NoModel);
    QVERIFY(w.card->property("opened").toBool());
  }

  // The "reserve per GPU" setting (0.5 GB by default, 0-64) is what the card's plan leaves free.
  void reserveSettingFeedsThePlan() {
    Window w;
    QCOMPARE(w.f.graph->settings.gpuReserveGb(), 0.5);
    w.f.graph->settings.setGpuReserveGb(99);
    QCOMPARE(w.f.graph->settings.gpuReserveGb(), 64.0);
    w.f.graph->settings.setGpuReserveGb(-1);
    QCOMPARE(w.f.graph->settings.gpuReserveGb(), 0.0);
    w.f.graph->settings.setGpuReserveGb(1.5);
    QVERIFY(open(w));
    QCOMPARE(w.plan->reserveGb(), 1.5);
    w.plan->setDevices({device(QStringLiteral("cuda:0"), QStringLiteral("Fake GPU"), 80'000'000'000),
                        device(QStringLiteral("cpu"), QStringLiteral("CPU"), 16'000'000'000)});
    QCOMPARE(w.plan->rows().front().reserve, qint64(1'500'000'000));
    QCOMPARE(w.plan->rows().front().budget, qint64(78'500'000'000));
  }

  // CPU only: Load uses the plan; the model loads with its context, and the badge names the CPU.
  void loadUsesThePlan() {
    Window w;
    QVERIFY(open(w));
    w.plan->setDevices({device(QStringLiteral("cpu"), QStringLiteral("CPU"), 16'000'000'000)});
    QVERIFY(w.plan->fits());
    QCOMPARE(w.plan->layerRanges().size(), 1);
    QTRY_VERIFY(w.card->property("canLoad").toBool());
    QSignalSpy loaded(&w.f.graph->engine, &EngineController::modelLoaded);
    QVariant result;
    QMetaObject::invokeMethod(w.card, "load", Q_RETURN_ARG(QVariant, result));
    QCOMPARE(result.toBool(), true);
    QVERIFY(loaded.wait(60000) || loaded.count() == 1);
    QTRY_VERIFY(!w.card->property("visible").toBool());
    QCOMPARE(w.f.graph->engine.contextLength(), w.plan->resultContext());
    QCOMPARE(w.f.graph->engine.model().devices, QStringList{QStringLiteral("cpu")});
    QCOMPARE(w.f.graph->app.deviceName(), QStringLiteral("CPU"));
  }
};

QTEST_MAIN(TestModelCard)
#include "test_model_card.moc"
