// ServerController: the app's OpenAI-compatible API server (app/server's ApiServer) for the model
// the app has loaded, switched on and configured in the settings (serverEnabled, serverPort,
// serverApiKey). Loading the server's copy of the model, starting and stopping run off the GUI
// thread; state, URL and the live request count are properties for the settings dialog's status
// line. Requests from the API are never written to the conversation history. Built by AppGraph;
// exposed to QML as `apiServer`.
#pragma once

#include <memory>
#include <mutex>
#include <thread>

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>
#include <QString>

class AppSettings;
class EngineController;

class ServerController : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool running READ running NOTIFY stateChanged)
  Q_PROPERTY(bool starting READ starting NOTIFY stateChanged)
  Q_PROPERTY(QString url READ url NOTIFY stateChanged)
  Q_PROPERTY(QString status READ status NOTIFY stateChanged)
  Q_PROPERTY(int activeRequests READ activeRequests NOTIFY requestsChanged)
  Q_PROPERTY(int totalRequests READ totalRequests NOTIFY requestsChanged)
  // Traffic for the dashboard, read from the server's counters once a second while it runs.
  Q_PROPERTY(qint64 completionTokens READ completionTokens NOTIFY trafficChanged)
  Q_PROPERTY(double tokensPerSecond READ tokensPerSecond NOTIFY trafficChanged)
  Q_PROPERTY(qint64 memoryBytes READ memoryBytes NOTIFY trafficChanged)  // the server's model copy

 public:
  ServerController(EngineController* engine, AppSettings* settings, QObject* parent = nullptr);
  ~ServerController() override;  // stops the server and joins its worker

  bool running() const { return m_running; }
  bool starting() const { return m_starting; }
  QString url() const { return m_url; }
  QString status() const { return m_status; }
  int activeRequests() const { return m_active; }
  int totalRequests() const { return m_total; }
  qint64 completionTokens() const { return m_completionTokens; }
  double tokensPerSecond() const { return m_tokensPerSecond; }
  qint64 memoryBytes() const { return m_memoryBytes; }

 signals:
  void stateChanged();
  void requestsChanged();
  void trafficChanged();

 private:
  struct Instance;
  void reconcile();  // starts, restarts or stops to match the settings and the loaded model
  void finishStart(quint64 serial, std::shared_ptr<Instance> instance, const QString& url, const QString& error);
  void setActive(int active);
  void stopInstance();
  void joinWorker();
  void sampleTraffic();  // GUI thread, from m_trafficTimer

  EngineController* m_engine;
  AppSettings* m_settings;
  std::shared_ptr<Instance> m_instance;  // GUI thread only
  std::thread m_worker;                  // loads/starts or stops; joined before the next one
  quint64 m_serial = 0;                  // the wanted configuration; stale starts are dropped
  QString m_wantedKey;                   // model path + port + key the running server was made for
  bool m_running = false;
  bool m_starting = false;
  QString m_url;
  QString m_status;
  int m_active = 0;
  int m_total = 0;
  QTimer* m_trafficTimer;
  QElapsedTimer m_trafficClock;
  qint64 m_completionTokens = 0;
  double m_tokensPerSecond = 0;
  qint64 m_memoryBytes = 0;
};
