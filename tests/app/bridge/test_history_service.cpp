// HistoryService against a scratch database: answers arrive on the GUI thread; writes go through
// the store's writer thread; the instance lock lets only the first Nibble on a database recover
// replies left `streaming`, and a database that is not SQLite opens as unavailable with a
// typed error.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include "HistoryService.h"

namespace {

template <class T>
struct Answer {
  T value{};
  ErrorInfo error;
  bool arrived = false;
  bool onGuiThread = false;
};

template <class T, class Call>
Answer<T> wait(Call call) {
  Answer<T> a;
  QObject context;
  call(&context, [&](const T& v, const ErrorInfo& e) {
    a.value = v;
    a.error = e;
    a.arrived = true;
    a.onGuiThread = QThread::currentThread() == qApp->thread();
  });
  if (!QTest::qWaitFor([&] { return a.arrived; }, 10000)) qWarning("no answer within 10 s");
  return a;
}

ErrorInfo waitDone(const std::function<void(QObject*, HistoryService::Done)>& call) {
  ErrorInfo error;
  bool done = false;
  QObject context;
  call(&context, [&](const ErrorInfo& e) {
    error = e;
    done = true;
  });
  if (!QTest::qWaitFor([&] { return done; }, 10000)) return ErrorInfo::make(ErrorKinds::Internal, QStringLiteral("no answer"), ErrorInfo::Context::History);
  return error;
}

HistoryService::Options fast() {
  HistoryService::Options o;
  o.durableCommits = false;
  o.flushIntervalMs = 20;
  return o;
}

MessageData message(const QString& role, const QString& content, qint64 parent, const QString& status = QStringLiteral("complete")) {
  MessageData m;
  m.role = role;
  m.content = content;
  m.parentId = parent;
  m.status = status;
  return m;
}

}  // namespace

class TestHistoryService : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { qRegisterMetaType<ErrorInfo>(); }

  void writesAndReadsComeBackOnTheGuiThread() {
    QTemporaryDir dir;
    HistoryService h(dir.filePath(QStringLiteral("history.db")), fast());
    QVERIFY(h.available());
    QVERIFY(h.ownsDatabase());
    ConversationData c;
    c.title = QStringLiteral("Kettles");
    auto created = wait<qint64>([&](QObject* ctx, auto cb) { h.createConversation(c, ctx, cb); });
    QVERIFY(created.onGuiThread);
    QVERIFY(created.value > 0);
    auto user = wait<qint64>([&](QObject* ctx, auto cb) {
      h.addMessage(created.value, message(QStringLiteral("user"), QStringLiteral("Define kettle."), 0), ctx, cb);
    });
    auto reply = wait<qint64>([&](QObject* ctx, auto cb) {
      h.addMessage(created.value, message(QStringLiteral("assistant"), {}, user.value, QStringLiteral("streaming")), ctx, cb);
    });
    h.appendDelta(reply.value, QStringLiteral("A pot "), QStringLiteral("think"));
    h.appendDelta(reply.value, QStringLiteral("for water."), {});
    MessageMetrics metrics;
    metrics.completionTokens = 5;
    metrics.decodeTokensPerSecond = 100;
    QVERIFY(!waitDone([&](QObject* ctx, auto done) {
               h.finishMessage(reply.value, QStringLiteral("complete"), {}, metrics, ctx, done);
             }).isError());
    auto tree = wait<ConversationTreeData>([&](QObject* ctx, auto cb) { h.loadTree(created.value, ctx, cb); });
    QVERIFY(tree.onGuiThread);
    QCOMPARE(tree.value.conversation.title, QStringLiteral("Kettles"));
    QCOMPARE(tree.value.path.size(), 2);
    QCOMPARE(tree.value.path[1].content, QStringLiteral("A pot for water."));
    QCOMPARE(tree.value.path[1].reasoning, QStringLiteral("think"));
    QCOMPARE(tree.value.path[1].status, QStringLiteral("complete"));
    QCOMPARE(tree.value.path[1].metrics.completionTokens, 5);
    QCOMPARE(tree.value.path[1].metrics.promptTokens, -1);

    auto hits = wait<QList<ConversationData>>([&](QObject* ctx, auto cb) { h.search(QStringLiteral("wat"), ctx, cb); });
    QCOMPARE(hits.value.size(), 1);
    QVERIFY(hits.value[0].snippet.contains(QStringLiteral("<b>water</b>")));
  }

  void aSecondInstanceLeavesStreamingRepliesAlone() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("history.db"));
    qint64 conversation = 0, reply = 0;
    {
      auto first = std::make_unique<HistoryService>(path, fast());
      QVERIFY(first->ownsDatabase());
      conversation = wait<qint64>([&](QObject* ctx, auto cb) { first->createConversation({}, ctx, cb); }).value;
      reply = wait<qint64>([&](QObject* ctx, auto cb) {
                first->addMessage(conversation, message(QStringLiteral("assistant"), QStringLiteral("A po"), 0, QStringLiteral("streaming")), ctx, cb);
              }).value;
      QVERIFY(reply > 0);

      // Another Nibble on the same database while the first one streams: it may read and write,
      // but it must not mark the reply interrupted.
      HistoryService second(path, fast());
      QVERIFY(second.available());
      QVERIFY(!second.ownsDatabase());
      QVERIFY(second.sharedWithAnotherInstance());
      QVERIFY(!first->sharedWithAnotherInstance());
      QCOMPARE(second.recoveredMessages(), 0);
      auto tree = wait<ConversationTreeData>([&](QObject* ctx, auto cb) { second.loadTree(conversation, ctx, cb); });
      QCOMPARE(tree.value.path.value(0).status, QStringLiteral("streaming"));
      // The first one dies without finishing the reply (its store is closed, the lock stays held
      // by this process until the object goes).
    }
    HistoryService next(path, fast());
    QVERIFY(next.ownsDatabase());
    QCOMPARE(next.recoveredMessages(), 1);
    auto tree = wait<ConversationTreeData>([&](QObject* ctx, auto cb) { next.loadTree(conversation, ctx, cb); });
    QCOMPARE(tree.value.path.value(0).status, QStringLiteral("interrupted"));
    QCOMPARE(tree.value.path.value(0).content, QStringLiteral("A po"));
  }

  void notADatabaseIsATypedError() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("history.db"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray(8192, 'x'));
    f.close();
    HistoryService h(path, fast());
    QVERIFY(!h.available());
    QCOMPARE(h.openError().kind, ErrorKinds::Format);
    QVERIFY(h.openError().message.contains(QStringLiteral("history.db")));
    // Every call answers with the open error instead of crashing or hanging.
    auto list = wait<QList<ConversationData>>([&](QObject* ctx, auto cb) { h.listConversations(false, ctx, cb); });
    QCOMPARE(list.value.size(), 0);
    QCOMPARE(list.error.kind, ErrorKinds::Format);
    QCOMPARE(waitDone([&](QObject* ctx, auto done) { h.rename(1, QStringLiteral("x"), ctx, done); }).kind, ErrorKinds::Format);
    QFile after(path);
    QVERIFY(after.open(QIODevice::ReadOnly));
    QCOMPARE(after.readAll(), QByteArray(8192, 'x'));  // the user's file is untouched
  }

  void answersForAGoneContextAreDropped() {
    QTemporaryDir dir;
    HistoryService h(dir.filePath(QStringLiteral("history.db")), fast());
    bool called = false;
    {
      QObject context;
      h.listConversations(false, &context, [&](const QList<ConversationData>&, const ErrorInfo&) { called = true; });
    }
    QTest::qWait(300);
    QVERIFY(!called);
  }

  void branchesAndTrash() {
    QTemporaryDir dir;
    HistoryService h(dir.filePath(QStringLiteral("history.db")), fast());
    QSignalSpy changed(&h, &HistoryService::conversationsChanged);
    const qint64 c = wait<qint64>([&](QObject* ctx, auto cb) { h.createConversation({}, ctx, cb); }).value;
    const qint64 u = wait<qint64>([&](QObject* ctx, auto cb) { h.addMessage(c, message(QStringLiteral("user"), QStringLiteral("q"), 0), ctx, cb); }).value;
    const qint64 a1 = wait<qint64>([&](QObject* ctx, auto cb) { h.addMessage(c, message(QStringLiteral("assistant"), QStringLiteral("one"), u), ctx, cb); }).value;
    const qint64 a2 = wait<qint64>([&](QObject* ctx, auto cb) { h.addMessage(c, message(QStringLiteral("assistant"), QStringLiteral("two"), u), ctx, cb); }).value;
    auto tree = wait<ConversationTreeData>([&](QObject* ctx, auto cb) { h.loadTree(c, ctx, cb); });
    QCOMPARE(tree.value.path.last().content, QStringLiteral("two"));
    QCOMPARE(tree.value.path.last().siblingIds, (QList<qint64>{a1, a2}));
    QVERIFY(!waitDone([&](QObject* ctx, auto done) { h.selectBranch(a1, ctx, done); }).isError());
    tree = wait<ConversationTreeData>([&](QObject* ctx, auto cb) { h.loadTree(c, ctx, cb); });
    QCOMPARE(tree.value.path.last().content, QStringLiteral("one"));

    QVERIFY(!waitDone([&](QObject* ctx, auto done) { h.moveToTrash(c, ctx, done); }).isError());
    auto list = wait<QList<ConversationData>>([&](QObject* ctx, auto cb) { h.listConversations(false, ctx, cb); });
    QCOMPARE(list.value.size(), 0);
    auto trashed = wait<QList<ConversationData>>([&](QObject* ctx, auto cb) { h.listConversations(true, ctx, cb); });
    QCOMPARE(trashed.value.size(), 1);
    QVERIFY(!waitDone([&](QObject* ctx, auto done) { h.restore(c, ctx, done); }).isError());
    list = wait<QList<ConversationData>>([&](QObject* ctx, auto cb) { h.listConversations(false, ctx, cb); });
    QCOMPARE(list.value.size(), 1);
    QVERIFY(changed.count() >= 3);
  }
};

QTEST_GUILESS_MAIN(TestHistoryService)
#include "test_history_service.moc"
