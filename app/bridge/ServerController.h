// ServerController: the app's OpenAI-compatible API server (app/server's ApiServer) for the model
// the app has loaded, switched on and configured in the settings (serverEnabled, serverPort,
// serverApiKey). Loading the server's copy of the model, starting and stopping run off the GUI
// thread; state, URL and the live request count are properties for the settings dialog's status
// line. Chat completions from the API are written to the conversation history only when the user
// opts in (serverSaveHistory): each finished one becomes a conversation titled "API: <first user
// message>", through HistoryService's asynchronous writes. Built by AppGraph; exposed to QML as
// `apiServer`.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>
#include <QString>

#include "HistoryTypes.h"

class AppSettings;
class EngineController;
class HistoryService;

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
  // `history` may be null: API conversations are then never saved.
  ServerController(EngineController* engine, AppSettings* settings, HistoryService* history = nullptr,
                   QObject* parent = nullptr);
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
  // An API chat completion was saved as conversation `conversationId` (serverSaveHistory on).
  void conversationSaved(qint64 conversationId);
  // Saving one failed (the history is unavailable, read-only or the disk is full).
  void conversationSaveFailed(const QString& reason);

 private:
  struct Instance;
  void reconcile();  // starts, restarts or stops to match the settings and the loaded model
  void finishStart(quint64 serial, std::shared_ptr<Instance> instance, const QString& url, const QString& error);
  void setActive(int active);
  void stopInstance();
  void joinWorker();
  void sampleTraffic();  // GUI thread, from m_trafficTimer
  // GUI thread: a finished API chat completion to write as a new conversation.
  struct ApiConversation {
    QString title;
    QString systemPrompt;
    QList<MessageData> messages;  // parents are filled in as they are written
  };
  void saveConversation(const ApiConversation& conversation);
  void saveMessages(qint64 conversationId, qint64 parentId, std::shared_ptr<QList<MessageData>> messages, int index);

  EngineController* m_engine;
  AppSettings* m_settings;
  HistoryService* m_history;
  // serverSaveHistory as the server's HTTP threads see it (set on the GUI thread).
  std::shared_ptr<std::atomic<bool>> m_saveHistory = std::make_shared<std::atomic<bool>>(false);
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
