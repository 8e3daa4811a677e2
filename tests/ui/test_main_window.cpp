// The main window loads from the QML module with the real AppController: title, model name,
// and an accessible name on every visible control.
#include <QAccessible>
#include <QApplication>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtQml/qqmlextensionplugin.h>
#include <QtTest>

#include "AppController.h"

Q_IMPORT_QML_PLUGIN(Nibble_UiPlugin)

class TestMainWindow : public QObject {
  Q_OBJECT

 private slots:
  void loadsWithDemoModel() {
    AppController controller;
    controller.setModelPath(QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m"));
    QQmlApplicationEngine engine;
    engine.rootContext()->setContextProperty("app", &controller);
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    QCOMPARE(engine.rootObjects().size(), 1);
    auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
    QVERIFY(window);
    QCOMPARE(window->title(), QStringLiteral("Nibble — dictlm-16m"));
    QVERIFY(QTest::qWaitForWindowExposed(window));

    // Every visible item that exposes itself to assistive technology has a name.
    QAccessible::setActive(true);
    int checked = 0;
    QList<QQuickItem*> items;
    QList<QQuickItem*> pending{window->contentItem()->parentItem() ? window->contentItem()->parentItem()
                                                                    : window->contentItem()};
    while (!pending.isEmpty()) {
      QQuickItem* it = pending.takeLast();
      items.append(it);
      pending.append(it->childItems());
    }
    for (QQuickItem* item : items) {
      if (!item->isVisible()) continue;
      QAccessibleInterface* iface = QAccessible::queryAccessibleInterface(item);
      if (!iface) continue;
      const QAccessible::Role role = iface->role();
      if (role == QAccessible::Button || role == QAccessible::StaticText || role == QAccessible::EditableText ||
          role == QAccessible::ToolBar || role == QAccessible::ComboBox || role == QAccessible::CheckBox) {
        ++checked;
        QVERIFY2(!iface->text(QAccessible::Name).isEmpty(),
                 qPrintable(QStringLiteral("unnamed %1").arg(QString::fromLatin1(item->metaObject()->className()))));
      }
    }
    QVERIFY(checked > 0);
  }

  void titleWithoutModel() {
    AppController controller;
    QQmlApplicationEngine engine;
    engine.rootContext()->setContextProperty("app", &controller);
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().value(0));
    QVERIFY(window);
    QCOMPARE(window->title(), QStringLiteral("Nibble"));
  }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
