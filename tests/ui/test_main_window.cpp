// The main window as `nibble` opens it (README command 1): the QML from the module over the real
// AppGraph, the demo model loading on the CPU: the title names the model, the empty chat says it
// is ready, Enter in the composer sends, Esc stops, Ctrl+N starts a new chat, and every visible
// control has an accessible name.
#include <QAccessible>
#include <QDropEvent>
#include <QMimeData>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtQml/qqmlextensionplugin.h>

#include "QmlRegistration.h"
#include "UiFixture.h"

Q_IMPORT_QML_PLUGIN(Nibble_UiPlugin)

namespace {

QQuickItem* find(QQuickWindow* window, const char* name) {
  return window->findChild<QQuickItem*>(QString::fromLatin1(name));
}

// Inner parts of a composite control (a ComboBox's text field, a SpinBox's editor) that the
// control presents under its own name.
bool insideCompositeControl(QQuickItem* item) {
  for (QQuickItem* p = item->parentItem(); p; p = p->parentItem()) {
    const QByteArray cls = p->metaObject()->className();
    if (cls.contains("ComboBox") || cls.contains("SpinBox")) return true;
  }
  return false;
}

void sendKey(QQuickWindow* window, Qt::Key key, Qt::KeyboardModifiers modifiers = Qt::NoModifier) {
  QTest::keyClick(window, key, modifiers);
}

// The events a file manager's drag produces over the middle of the window.
void dropPath(QQuickWindow* window, const QString& path) {
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(path)});
  const QPoint at(window->width() / 2, window->height() / 2);
  QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(window, &enter);
  QDragMoveEvent move(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(window, &move);
  QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(window, &drop);
}

void typeText(QQuickWindow* window, const QString& text) {
  for (const QChar c : text) QTest::keyClick(window, c.toLatin1());
}

}  // namespace

class TestMainWindow : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { registerNibbleQmlTypes(); }

  void opensReadyToChatWithTheDemoModel() {
    UiFixture f;
    QQmlApplicationEngine qml;
    qml.rootContext()->setContextProperty("app", &f.graph->app);
    qml.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    QCOMPARE(qml.rootObjects().size(), 1);
    auto* window = qobject_cast<QQuickWindow*>(qml.rootObjects().first());
    QVERIFY(window);
    QCOMPARE(window->title(), QStringLiteral("Nibble"));
    f.graph->app.openModel(kDemoModel);  // as main.cpp does: the default device
    f.graph->refreshViews();
    QVERIFY(QTest::qWaitForWindowExposed(window));
    QTRY_COMPARE_WITH_TIMEOUT(f.graph->engine.modelState(), EngineController::Loaded, 60000);
    QCOMPARE(window->title(), QStringLiteral("Nibble — dictlm-16m"));

    QQuickItem* title = find(window, "emptyTitle");
    QVERIFY(title);
    QTRY_COMPARE(title->property("text").toString(), QStringLiteral("dictlm-16m is ready"));
    QVERIFY(find(window, "emptyState")->isVisible());
    QQuickItem* input = find(window, "composerInput");
    QVERIFY(input && input->isEnabled());
    QQuickItem* send = find(window, "sendButton");
    QVERIFY(send && !send->isEnabled());  // nothing typed yet

    // Typing and Enter sends; the button turns into Stop; Esc stops the reply.
    f.usePreset(1500, 1.0);
    f.graph->chat.setStopAtEos(false);
    input->forceActiveFocus();
    typeText(window, QStringLiteral("Define kettle."));
    QTRY_VERIFY(send->isEnabled());
    QSignalSpy finished(&f.graph->chat, &ChatController::replyFinished);
    sendKey(window, Qt::Key_Return);
    QTRY_VERIFY(f.graph->chat.busy());
    QCOMPARE(send->property("text").toString(), QStringLiteral("Stop"));
    QCOMPARE(input->property("text").toString(), QString());
    QTRY_VERIFY(find(window, "messageList")->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(!f.graph->chat.messages()->data(f.graph->chat.messages()->index(1), MessageListModel::ContentRole)
                                  .toString().isEmpty(), 60000);
    sendKey(window, Qt::Key_Escape);
    QVERIFY(finished.wait(30000) || finished.count() == 1);
    QCOMPARE(finished.first().at(1).toString(), QStringLiteral("interrupted"));
    QTRY_COMPARE(send->property("text").toString(), QStringLiteral("Send"));

    // Shift+Enter is a new line, not a send.
    input->forceActiveFocus();
    typeText(window, QStringLiteral("one"));
    sendKey(window, Qt::Key_Return, Qt::ShiftModifier);
    typeText(window, QStringLiteral("two"));
    QCOMPARE(input->property("text").toString(), QStringLiteral("one\ntwo"));
    QVERIFY(!f.graph->chat.busy());

    // Ctrl+N: a new, empty chat.
    sendKey(window, Qt::Key_N, Qt::ControlModifier);
    QTRY_COMPARE(f.graph->chat.messages()->rowCount(), 0);
    QCOMPARE(f.graph->chat.conversationId(), 0);
    QTRY_VERIFY(find(window, "emptyState")->isVisible());
  }

  // A model file dropped anywhere on the window: the model card for its folder; a folder of an
  // unsupported model: the error dialog with its kind and fix.
  void droppingAModelOpensItsCard() {
    UiFixture f;
    QQmlApplicationEngine qml;
    qml.rootContext()->setContextProperty("app", &f.graph->app);
    qml.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    auto* window = qobject_cast<QQuickWindow*>(qml.rootObjects().value(0));
    QVERIFY(window);
    QVERIFY(QTest::qWaitForWindowExposed(window));
    QObject* card = window->findChild<QObject*>(QStringLiteral("modelCard"));
    QObject* errorDialog = window->findChild<QObject*>(QStringLiteral("errorDialog"));
    QVERIFY(card && errorDialog);

    QSignalSpy ready(&f.graph->inspector, &ModelInspector::cardReady);
    dropPath(window, kDemoModel + QStringLiteral("/model.safetensors"));
    QVERIFY(ready.wait(30000));
    QTRY_VERIFY(card->property("opened").toBool());
    QCOMPARE(card->property("title").toString(), QStringLiteral("dictlm-16m"));
    const QVariantMap info = f.graph->inspector.card();
    QCOMPARE(info.value(QStringLiteral("architecture")).toString(), QStringLiteral("LlamaForCausalLM"));
    QCOMPARE(info.value(QStringLiteral("contextLength")).toInt(), 2048);
    QCOMPARE(info.value(QStringLiteral("hasChatTemplate")).toBool(), true);
    QVERIFY(info.value(QStringLiteral("formatText")).toString().startsWith(QStringLiteral("fp16")));
    const QVariantMap estimate = f.graph->inspector.estimate(2048, QStringLiteral("fp16"), QStringLiteral("cpu"));
    QCOMPARE(estimate.value(QStringLiteral("kvCache")).toLongLong(), qint64(2) * 8 * 2 * 64 * 2048 * 4);  // fp32 on the CPU
    QVERIFY(estimate.value(QStringLiteral("fits")).toBool());
    QMetaObject::invokeMethod(card, "close");
    QTRY_VERIFY(!card->property("visible").toBool());

    QTemporaryDir broken;
    QFile config(broken.filePath(QStringLiteral("config.json")));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(R"({"architectures": ["MambaForCausalLM"], "model_type": "mamba"})");
    config.close();
    QSignalSpy failed(&f.graph->inspector, &ModelInspector::inspectFailed);
    dropPath(window, broken.path());
    QVERIFY(failed.wait(30000));
    QTRY_VERIFY(errorDialog->property("opened").toBool());
    const QVariantMap error = errorDialog->property("error").toMap();
    QCOMPARE(error.value(QStringLiteral("kindName")).toString(), QStringLiteral("NotFound"));  // no weights
    QVERIFY(!error.value(QStringLiteral("fix")).toString().isEmpty());
  }

  void everyVisibleControlHasAnAccessibleName() {
    UiFixture f;
    QQmlApplicationEngine qml;
    qml.rootContext()->setContextProperty("app", &f.graph->app);
    qml.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
    auto* window = qobject_cast<QQuickWindow*>(qml.rootObjects().value(0));
    QVERIFY(window);
    QVERIFY(f.loadDemo());
    f.usePreset(24);
    QVERIFY(f.graph->chat.send(QStringLiteral("Define kettle.")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    QVERIFY(QTest::qWaitForWindowExposed(window));
    QTest::qWait(200);

    QAccessible::setActive(true);
    int checked = 0;
    QList<QQuickItem*> pending{window->contentItem()};
    while (!pending.isEmpty()) {
      QQuickItem* item = pending.takeLast();
      pending.append(item->childItems());
      if (!item->isVisible() || insideCompositeControl(item)) continue;
      QAccessibleInterface* iface = QAccessible::queryAccessibleInterface(item);
      if (!iface) continue;
      const QAccessible::Role role = iface->role();
      if (role == QAccessible::Button || role == QAccessible::StaticText || role == QAccessible::EditableText ||
          role == QAccessible::ComboBox || role == QAccessible::CheckBox || role == QAccessible::ProgressBar ||
          role == QAccessible::List || role == QAccessible::ListItem) {
        ++checked;
        QVERIFY2(!iface->text(QAccessible::Name).isEmpty(),
                 qPrintable(QStringLiteral("unnamed %1 '%2'").arg(QString::fromLatin1(item->metaObject()->className()),
                                                                   item->property("text").toString())));
      }
    }
    QVERIFY2(checked > 20, qPrintable(QString::number(checked)));
  }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
