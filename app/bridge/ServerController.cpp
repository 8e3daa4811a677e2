// ServerController: one worker thread at a time loads the tokenizer and the server's own copy of
// the loaded model (same folder, device and context as the app's) and starts the ApiServer; the
// result comes back to the GUI thread by a queued call. A configuration change while a start is
// running is applied when it lands (the serial number tells stale results apart). With
// serverSaveHistory on, the server's completion hook turns each finished chat completion into Qt
// values on its HTTP thread and queues it to the GUI thread, which writes it through HistoryService
// (conversation, then each message after its parent; the store's writer thread does the I/O).
#include "ServerController.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMetaObject>
#include <QPointer>
#include <QtDebug>

#include "AppSettings.h"
#include "EngineController.h"
#include "HistoryService.h"
#include "api_server.h"
#include "nibble/model.h"
#include "nibble/tokenizer.h"

struct ServerController::Instance {
  std::unique_ptr<nibble::Tokenizer> tokenizer;
  std::unique_ptr<nibble::Model> model;
  std::unique_ptr<nibble::server::ApiServer> server;
  ~Instance() {
    if (server) server->stop();
    server.reset();  // before the model it uses
  }
};

namespace {

// The conversation list's title for an API conversation: its first user message's first line.
QString apiTitle(const QList<MessageData>& messages) {
  QString line;
  for (const MessageData& m : messages)
    if (m.role == QLatin1String("user")) {
      line = m.content.trimmed().section(QLatin1Char('\n'), 0, 0).simplified();
      break;
    }
  if (line.size() > 60) {
    line.truncate(60);
    const qsizetype space = line.lastIndexOf(QLatin1Char(' '));
    if (space > 30) line.truncate(space);
    line += QStringLiteral("…");
  }
  if (line.isEmpty()) line = QCoreApplication::translate("ServerController", "(no user message)");
  return QCoreApplication::translate("ServerController", "API: %1").arg(line);
}

}  // namespace

ServerController::ServerController(EngineController* engine, AppSettings* settings, HistoryService* history,
                                   QObject* parent)
    : QObject(parent), m_engine(engine), m_settings(settings), m_history(history), m_trafficTimer(new QTimer(this)) {
  m_saveHistory->store(m_history && m_settings->serverSaveHistory());
  connect(m_settings, &AppSettings::serverSaveHistoryChanged, this,
          [this] { m_saveHistory->store(m_history && m_settings->serverSaveHistory()); });
  m_trafficTimer->setInterval(1000);
  connect(m_trafficTimer, &QTimer::timeout, this, &ServerController::sampleTraffic);
  connect(m_settings, &AppSettings::serverChanged, this, &ServerController::reconcile);
  connect(m_engine, &EngineController::modelStateChanged, this, &ServerController::reconcile);
  connect(m_engine, &EngineController::modelChanged, this, &ServerController::reconcile);
  reconcile();
}

ServerController::~ServerController() {
  ++m_serial;
  joinWorker();
  m_instance.reset();
}

void ServerController::joinWorker() {
  if (m_worker.joinable()) m_worker.join();
}

void ServerController::stopInstance() {
  if (!m_instance) return;
  joinWorker();
  // Stopping joins the server's threads (a running reply ends within a step): off the GUI thread.
  m_worker = std::thread([instance = std::move(m_instance)]() mutable { instance.reset(); });
  m_instance.reset();
  m_running = false;
  m_url.clear();
  setActive(0);
  m_trafficTimer->stop();
  m_tokensPerSecond = 0;
  m_memoryBytes = 0;
  emit trafficChanged();
}

void ServerController::sampleTraffic() {
  if (!m_instance || !m_instance->server) return;
  // The counters are atomics; memory_use() reads sizes fixed at load.
  const auto stats = m_instance->server->stats();
  const qint64 tokens = static_cast<qint64>(stats.completion_tokens);
  const qint64 ms = m_trafficClock.restart();
  m_tokensPerSecond = ms > 0 && tokens >= m_completionTokens ? (tokens - m_completionTokens) * 1000.0 / ms : 0.0;
  m_completionTokens = tokens;
  qint64 bytes = 0;
  if (m_instance->model)
    for (const auto& d : m_instance->model->memory_use()) bytes += static_cast<qint64>(d.total());
  m_memoryBytes = bytes;
  emit trafficChanged();
}

void ServerController::reconcile() {
  const bool wanted = m_settings->serverEnabled() && m_engine->modelState() == EngineController::Loaded;
  const QString key = wanted ? m_engine->modelPath() + QLatin1Char('|') + QString::number(m_settings->serverPort()) +
                                   QLatin1Char('|') + m_settings->serverApiKey()
                             : QString();
  if (key == m_wantedKey && (m_running || m_starting || !wanted)) {
    if (!wanted) m_status = m_settings->serverEnabled() ? tr("Waiting for a model to be loaded") : tr("Off");
    emit stateChanged();
    return;
  }
  m_wantedKey = key;
  const quint64 serial = ++m_serial;
  stopInstance();
  if (!wanted) {
    m_starting = false;
    m_status = m_settings->serverEnabled() ? tr("Waiting for a model to be loaded") : tr("Off");
    emit stateChanged();
    return;
  }
  m_starting = true;
  m_status = tr("Starting…");
  emit stateChanged();

  const ModelSummary summary = m_engine->model();
  nibble::server::ServerOptions options;
  options.port = m_settings->serverPort();
  options.api_key = m_settings->serverApiKey().toStdString();
  options.defaults.sampler.temperature = 0.7f;
  options.defaults.sampler.top_p = 0.9f;
  options.defaults.max_new_tokens = options.max_tokens_cap;
  nibble::LoadOptions load;
  load.device = summary.device.isEmpty() ? std::string("cpu") : summary.device.toStdString();
  load.context = summary.contextLength;
  const std::string dir = summary.path.toStdString();
  const QString modelName = m_engine->modelName();
  QPointer<ServerController> self(this);
  joinWorker();
  m_worker = std::thread([self, serial, dir, load, options, modelName, save = m_saveHistory] {
    auto instance = std::make_shared<Instance>();
    QString error;
    QString url;
    auto tok = nibble::Tokenizer::load(dir);
    if (!tok) error = QString::fromStdString(tok.error().to_string());
    if (error.isEmpty()) {
      instance->tokenizer = std::move(*tok);
      auto model = nibble::Model::load(dir, load);
      if (!model) error = QString::fromStdString(model.error().to_string());
      else instance->model = std::move(*model);
    }
    if (error.isEmpty()) {
      auto server = nibble::server::ApiServer::create(*instance->model, *instance->tokenizer, dir, options);
      if (!server) error = QString::fromStdString(server.error().to_string());
      else instance->server = std::move(*server);
    }
    if (error.isEmpty()) {
      instance->server->set_activity_hook([self](int active) {
        QMetaObject::invokeMethod(qApp, [self, active] {
          if (self) self->setActive(active);
        }, Qt::QueuedConnection);
      });
      instance->server->set_completion_hook([self, save, modelName](const nibble::server::CompletedChat& chat) {
        if (!save->load()) return;  // the user has not asked for API conversations in the history
        ApiConversation c;
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        for (std::size_t i = 0; i < chat.messages.size(); ++i) {
          const auto& m = chat.messages[i];
          // A leading system message is the conversation's system prompt, as in the chat.
          if (i == 0 && m.role == "system") {
            c.systemPrompt = QString::fromStdString(m.content);
            continue;
          }
          MessageData d;
          d.role = QString::fromStdString(m.role);
          d.content = QString::fromStdString(m.content);
          d.status = QStringLiteral("complete");
          d.createdAt = now;
          c.messages.append(d);
        }
        MessageData reply;
        reply.role = QStringLiteral("assistant");
        reply.content = QString::fromStdString(chat.content);
        reply.reasoning = QString::fromStdString(chat.reasoning);
        reply.status = QStringLiteral("complete");
        reply.modelId = modelName;
        reply.createdAt = now;
        reply.metrics.promptTokens = chat.prompt_tokens;
        reply.metrics.completionTokens = chat.completion_tokens;
        if (chat.seconds > 0) reply.metrics.decodeTokensPerSecond = chat.completion_tokens / chat.seconds;
        c.messages.append(reply);
        c.title = apiTitle(c.messages);
        QMetaObject::invokeMethod(qApp, [self, c] {
          if (self) self->saveConversation(c);
        }, Qt::QueuedConnection);
      });
      if (auto st = instance->server->start(); !st) error = QString::fromStdString(st.error().to_string());
      else url = QString::fromStdString(instance->server->url());
    }
    QMetaObject::invokeMethod(qApp, [self, serial, instance, url, error]() mutable {
      if (self) self->finishStart(serial, std::move(instance), url, error);
    }, Qt::QueuedConnection);
  });
}

void ServerController::finishStart(quint64 serial, std::shared_ptr<Instance> instance, const QString& url,
                                   const QString& error) {
  if (serial != m_serial) return;  // a newer configuration is on its way; `instance` stops here
  joinWorker();
  m_starting = false;
  if (!error.isEmpty()) {
    m_status = tr("Not running: %1").arg(error);
    m_wantedKey.clear();
    emit stateChanged();
    return;
  }
  m_instance = std::move(instance);
  m_running = true;
  m_completionTokens = 0;
  m_trafficClock.start();
  m_trafficTimer->start();
  sampleTraffic();
  m_url = url + QStringLiteral("/v1");
  m_status = tr("Serving %1 at %2").arg(m_engine->modelName(), m_url);
  emit stateChanged();
}

void ServerController::setActive(int active) {
  if (active > m_active) m_total += active - m_active;
  m_active = active;
  emit requestsChanged();
}

void ServerController::saveConversation(const ApiConversation& conversation) {
  if (!m_history || !m_settings->serverSaveHistory()) return;
  ConversationData c;
  c.title = conversation.title;
  c.systemPrompt = conversation.systemPrompt;
  c.modelRef = m_engine->modelName();
  c.settingsJson = QString::fromUtf8(
      QJsonDocument(QJsonObject{{QStringLiteral("source"), QStringLiteral("api")}}).toJson(QJsonDocument::Compact));
  auto messages = std::make_shared<QList<MessageData>>(conversation.messages);
  m_history->createConversation(c, this, [this, messages](qint64 id, const ErrorInfo& error) {
    if (error.isError() || id <= 0) {
      qWarning("API conversation not saved: %s", qPrintable(error.message));
      emit conversationSaveFailed(error.title.isEmpty() ? error.message : error.title + QStringLiteral(": ") + error.message);
      return;
    }
    saveMessages(id, 0, messages, 0);
  });
}

void ServerController::saveMessages(qint64 conversationId, qint64 parentId, std::shared_ptr<QList<MessageData>> messages,
                                    int index) {
  if (index >= messages->size()) {
    emit conversationSaved(conversationId);
    return;
  }
  MessageData m = messages->at(index);
  m.parentId = parentId;
  m_history->addMessage(conversationId, m, this, [this, conversationId, messages, index](qint64 id, const ErrorInfo& error) {
    if (error.isError() || id <= 0) {
      qWarning("API conversation %lld not fully saved: %s", static_cast<long long>(conversationId), qPrintable(error.message));
      emit conversationSaveFailed(error.title.isEmpty() ? error.message : error.title + QStringLiteral(": ") + error.message);
      return;
    }
    saveMessages(conversationId, id, messages, index + 1);
  });
}
