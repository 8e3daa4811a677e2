// ServerController: the app's API server follows the settings and the loaded model: off until
// both the switch is on and a model is loaded; then /v1/models answers on the chosen port with the
// key required; the live request count moves; switching off stops it (the port is free again).
// API conversations reach the history only when the user opts in.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "AppSettings.h"
#include "EngineController.h"
#include "HistoryService.h"
#include "ServerController.h"

namespace {

const QString kDemo = QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m");

// A port nothing listens on now (bound and released by the OS).
int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 47811;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

template <class T, class Call>
T answer(Call call) {
  T value{};
  bool arrived = false;
  QObject context;
  call(&context, [&](const T& v, const ErrorInfo& e) {
    if (e.isError()) qWarning("history: %s", qPrintable(e.message));
    value = v;
    arrived = true;
  });
  if (!QTest::qWaitFor([&] { return arrived; }, 10000)) qWarning("no answer from the history within 10 s");
  return value;
}

void flushHistory(HistoryService& history) {
  bool done = false;
  QObject context;
  history.flush(&context, [&](const ErrorInfo&) { done = true; });
  if (!QTest::qWaitFor([&] { return done; }, 10000)) qWarning("the history did not flush within 10 s");
}

}  // namespace

class TestServerController : public QObject {
  Q_OBJECT

 private slots:
  void followsSettingsAndModel() {
    QTemporaryDir dir;
    AppSettings settings(dir.filePath(QStringLiteral("settings.ini")));
    EngineController engine;
    ServerController server(&engine, &settings);
    const int port = freePort();
    settings.setServerPort(port);
    settings.setServerApiKey(QStringLiteral("k3y"));
    QVERIFY(!server.running());
    QCOMPARE(server.status(), QStringLiteral("Off"));

    settings.setServerEnabled(true);  // no model yet: waits
    QVERIFY(!server.running());
    QVERIFY(!server.starting());
    QVERIFY(server.status().contains(QStringLiteral("model")));

    engine.loadModel(kDemo, QStringLiteral("cpu"), 1024);
    QTRY_VERIFY_WITH_TIMEOUT(server.running(), 60000);
    QCOMPARE(server.url(), QStringLiteral("http://127.0.0.1:%1/v1").arg(port));
    QVERIFY(server.status().contains(server.url()));

    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(60);
    auto denied = client.Get("/v1/models");
    QVERIFY(denied);
    QCOMPARE(denied->status, 401);
    auto listed = client.Get("/v1/models", {{"Authorization", "Bearer k3y"}});
    QVERIFY(listed);
    QCOMPARE(listed->status, 200);
    QVERIFY(listed->body.find("dictlm-16m") != std::string::npos);

    QSignalSpy requests(&server, &ServerController::requestsChanged);
    auto chat = client.Post("/v1/chat/completions", {{"Authorization", "Bearer k3y"}},
                            R"({"messages": [{"role": "user", "content": "Define kettle."}], "max_tokens": 4})",
                            "application/json");
    QVERIFY(chat);
    QCOMPARE(chat->status, 200);
    QTRY_COMPARE(server.totalRequests(), 1);
    QTRY_COMPARE(server.activeRequests(), 0);
    QVERIFY(requests.count() >= 2);  // up, then down
    // The dashboard's traffic counters: the tokens the response says it carried, and the server's
    // model copy holds at least the demo model's 31,470,336 bytes of weights.
    const auto body = nlohmann::json::parse(chat->body);
    const qint64 completion = body["usage"]["completion_tokens"].get<qint64>();
    QVERIFY(completion > 0);
    QTRY_COMPARE_WITH_TIMEOUT(server.completionTokens(), completion, 5000);
    QVERIFY2(server.memoryBytes() >= 31470336, qPrintable(QString::number(server.memoryBytes())));

    settings.setServerEnabled(false);
    QTRY_VERIFY(!server.running());
    QCOMPARE(server.status(), QStringLiteral("Off"));
    QTRY_VERIFY_WITH_TIMEOUT(!client.Get("/v1/models"), 10000);  // nothing listens any more
  }

  // Off (the default), a chat completion through the app's server leaves the history alone; on,
  // one request gives one conversation with the user's message and the reply the client got.
  void savesApiConversationsOnlyWhenAsked() {
    QTemporaryDir dir;
    AppSettings settings(dir.filePath(QStringLiteral("settings.ini")));
    HistoryService::Options fast;
    fast.durableCommits = false;
    fast.flushIntervalMs = 20;
    HistoryService history(dir.filePath(QStringLiteral("history.db")), fast);
    QVERIFY(history.available());
    EngineController engine;
    ServerController server(&engine, &settings, &history);
    QSignalSpy saved(&server, &ServerController::conversationSaved);
    QSignalSpy failed(&server, &ServerController::conversationSaveFailed);
    QVERIFY(!settings.serverSaveHistory());  // off unless the user turns it on
    const int port = freePort();
    settings.setServerPort(port);
    settings.setServerEnabled(true);
    engine.loadModel(kDemo, QStringLiteral("cpu"), 1024);
    QTRY_VERIFY_WITH_TIMEOUT(server.running(), 60000);

    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(60);
    const std::string system = "You are a helpful dictionary assistant.";
    auto body = [&](const std::string& question) {
      return nlohmann::json{{"messages", {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", question}}}},
                            {"temperature", 0},
                            {"max_tokens", 12}}
          .dump();
    };
    auto off = client.Post("/v1/chat/completions", body("Define kettle."), "application/json");
    QVERIFY(off);
    QCOMPARE(off->status, 200);
    QTest::qWait(300);  // anything queued for the history would have been written by now
    flushHistory(history);
    QCOMPARE(saved.count(), 0);
    auto none = answer<QList<ConversationData>>([&](QObject* ctx, auto cb) { history.listConversations(false, ctx, cb); });
    QCOMPARE(none.size(), 0);

    settings.setServerSaveHistory(true);
    QVERIFY(server.running());  // the option does not restart the server
    auto on = client.Post("/v1/chat/completions", body("Define lantern."), "application/json");
    QVERIFY(on);
    QCOMPARE(on->status, 200);
    const std::string reply = nlohmann::json::parse(on->body)["choices"][0]["message"]["content"].get<std::string>();
    const qint64 completion = nlohmann::json::parse(on->body)["usage"]["completion_tokens"].get<qint64>();
    QTRY_COMPARE_WITH_TIMEOUT(saved.count(), 1, 10000);
    QCOMPARE(failed.count(), 0);
    const qint64 id = saved.at(0).at(0).toLongLong();
    QVERIFY(id > 0);
    flushHistory(history);

    auto list = answer<QList<ConversationData>>([&](QObject* ctx, auto cb) { history.listConversations(false, ctx, cb); });
    QCOMPARE(list.size(), 1);
    QCOMPARE(list.at(0).id, id);
    QCOMPARE(list.at(0).title, QStringLiteral("API: Define lantern."));
    auto tree = answer<ConversationTreeData>([&](QObject* ctx, auto cb) { history.loadTree(id, ctx, cb); });
    QCOMPARE(tree.conversation.systemPrompt, QString::fromStdString(system));
    QCOMPARE(tree.conversation.modelRef, engine.modelName());
    QVERIFY(tree.conversation.settingsJson.contains(QStringLiteral("\"api\"")));
    QCOMPARE(tree.path.size(), 2);
    QCOMPARE(tree.path.at(0).role, QStringLiteral("user"));
    QCOMPARE(tree.path.at(0).content, QStringLiteral("Define lantern."));
    QCOMPARE(tree.path.at(1).role, QStringLiteral("assistant"));
    QCOMPARE(tree.path.at(1).content, QString::fromStdString(reply));
    QCOMPARE(tree.path.at(1).status, QStringLiteral("complete"));
    QCOMPARE(tree.path.at(1).parentId, tree.path.at(0).id);
    QCOMPARE(tree.path.at(1).metrics.completionTokens, completion);

    // Off again: the next request is not saved.
    settings.setServerSaveHistory(false);
    auto after = client.Post("/v1/chat/completions", body("Define kettle."), "application/json");
    QVERIFY(after);
    QCOMPARE(after->status, 200);
    QTest::qWait(300);
    flushHistory(history);
    QCOMPARE(saved.count(), 1);
    list = answer<QList<ConversationData>>([&](QObject* ctx, auto cb) { history.listConversations(false, ctx, cb); });
    QCOMPARE(list.size(), 1);
  }

  // A history that cannot be written (here: history.db is not a database): the API client still
  // gets its answer, the save is reported as failed, and the file is left as it was.
  void unusableHistoryDoesNotCostTheAnswer() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("history.db"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray(8192, 'x'));
    f.close();
    AppSettings settings(dir.filePath(QStringLiteral("settings.ini")));
    HistoryService history(path, HistoryService::Options{});
    QVERIFY(!history.available());
    EngineController engine;
    ServerController server(&engine, &settings, &history);
    QSignalSpy saved(&server, &ServerController::conversationSaved);
    QSignalSpy failed(&server, &ServerController::conversationSaveFailed);
    const int port = freePort();
    settings.setServerPort(port);
    settings.setServerSaveHistory(true);
    settings.setServerEnabled(true);
    engine.loadModel(kDemo, QStringLiteral("cpu"), 1024);
    QTRY_VERIFY_WITH_TIMEOUT(server.running(), 60000);
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(60);
    auto r = client.Post("/v1/chat/completions",
                         R"({"messages": [{"role": "user", "content": "Define kettle."}], "max_tokens": 4})", "application/json");
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 10000);
    QVERIFY(!failed.at(0).at(0).toString().isEmpty());
    QCOMPARE(saved.count(), 0);
    QFile after(path);
    QVERIFY(after.open(QIODevice::ReadOnly));
    QCOMPARE(after.readAll(), QByteArray(8192, 'x'));
  }
};

QTEST_GUILESS_MAIN(TestServerController)
#include "test_server_controller.moc"
