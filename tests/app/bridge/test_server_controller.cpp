// ServerController: the app's API server follows the settings and the loaded model: off until
// both the switch is on and a model is loaded; then /v1/models answers on the chosen port with the
// key required; the live request count moves; switching off stops it (the port is free again).
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "AppSettings.h"
#include "EngineController.h"
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
};

QTEST_GUILESS_MAIN(TestServerController)
#include "test_server_controller.moc"
