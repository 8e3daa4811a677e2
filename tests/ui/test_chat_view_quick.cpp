// Qt Quick Test runner for quick/tst_chat_view.qml: the chat view's states over the real bridge.
// The setup builds the application's object graph on a scratch database seeded with one
// conversation (code, a table, reasoning, two versions of a reply, a failed and a stopped reply)
// and hands it to QML as `app`, as main.cpp does.
#include <QQmlContext>
#include <QQmlEngine>
#include <QtQml/qqmlextensionplugin.h>
#include <QtQuickTest>

#include "QmlRegistration.h"
#include "UiFixture.h"

Q_IMPORT_QML_PLUGIN(Nibble_UiPlugin)

namespace {

qint64 addMessage(HistoryService& h, qint64 conversation, const MessageData& m) {
  qint64 id = 0;
  QObject ctx;
  h.addMessage(conversation, m, &ctx, [&](qint64 v, const ErrorInfo&) { id = v; });
  (void)QTest::qWaitFor([&] { return id != 0; }, 10000);
  return id;
}

MessageData message(const QString& role, const QString& content, qint64 parent, const QString& status = QStringLiteral("complete")) {
  MessageData m;
  m.role = role;
  m.content = content;
  m.parentId = parent;
  m.status = status;
  m.modelId = QStringLiteral("dictlm-16m");
  return m;
}

}  // namespace

class Setup : public QObject {
  Q_OBJECT

 public slots:
  void applicationAvailable() { registerNibbleQmlTypes(); }

  void qmlEngineAvailable(QQmlEngine* engine) {
    m_fixture = std::make_unique<UiFixture>();
    HistoryService& h = m_fixture->graph->history;
    ConversationData c;
    c.title = QStringLiteral("Reversing a list");
    qint64 id = 0;
    QObject ctx;
    h.createConversation(c, &ctx, [&](qint64 v, const ErrorInfo&) { id = v; });
    (void)QTest::qWaitFor([&] { return id != 0; }, 10000);
    const qint64 user = addMessage(h, id, message(QStringLiteral("user"), QStringLiteral("How do I reverse a list?"), 0));
    addMessage(h, id, message(QStringLiteral("assistant"), QStringLiteral("Use `reversed()`."), user));
    MessageData answer = message(QStringLiteral("assistant"),
                                 QStringLiteral("## In place\n\n```python\nxs.reverse()\n```\n\n| way | copies |\n|---|---|\n| reverse() | no |\n"),
                                 user);
    answer.reasoning = QStringLiteral("Show both ways.");
    answer.metrics.completionTokens = 30;
    answer.metrics.decodeTokensPerSecond = 99.5;
    answer.metrics.timeToFirstTokenMs = 12;
    const qint64 second = addMessage(h, id, answer);
    const qint64 q2 = addMessage(h, id, message(QStringLiteral("user"), QStringLiteral("And a tuple?"), second));
    const qint64 failed = addMessage(h, id, message(QStringLiteral("assistant"), {}, q2, QStringLiteral("streaming")));
    MessageMetrics none;
    bool finished = false;
    h.finishMessage(failed, QStringLiteral("error"), QStringLiteral("Out of memory: the KV cache is full"), none, &ctx,
                    [&](const ErrorInfo&) { finished = true; });
    (void)QTest::qWaitFor([&] { return finished; }, 10000);

    engine->rootContext()->setContextProperty(QStringLiteral("app"), &m_fixture->graph->app);
    engine->rootContext()->setContextProperty(QStringLiteral("testModelPath"), kDemoModel);
    engine->rootContext()->setContextProperty(QStringLiteral("seededConversation"), id);
    engine->rootContext()->setContextProperty(QStringLiteral("testHelper"), this);
  }

  void cleanupTestCase() { m_fixture.reset(); }

  // Long greedy replies that ignore the end of turn, so the view can be seen mid-stream.
  Q_INVOKABLE void useLongReplies() {
    m_fixture->usePreset(1500, 1.0);
    m_fixture->graph->chat.setStopAtEos(false);
  }
  Q_INVOKABLE void useShortReplies() {
    m_fixture->usePreset(16, 0.0);
    m_fixture->graph->chat.setStopAtEos(true);
  }

 private:
  std::unique_ptr<UiFixture> m_fixture;
};

QUICK_TEST_MAIN_WITH_SETUP(chat_view, Setup)
#include "test_chat_view_quick.moc"
