// ChatController: every action is a short chain of history writes (each answered on the GUI
// thread) ending in EngineController::startGeneration. Rows appear at once with temporary
// (negative) ids and take their database ids as the writes commit; the view never waits.
#include "ChatController.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QJsonDocument>
#include <QJsonObject>

#include "EngineController.h"
#include "HistoryService.h"
#include "PresetModel.h"

namespace {

// The first line of the first message, cut at a word boundary near 60 characters.
QString titleFrom(const QString& text) {
  QString line = text.trimmed().section(QLatin1Char('\n'), 0, 0).simplified();
  if (line.size() > 60) {
    line.truncate(60);
    const qsizetype space = line.lastIndexOf(QLatin1Char(' '));
    if (space > 30) line.truncate(space);
    line += QStringLiteral("…");
  }
  return line;
}

MessageData newMessage(qint64 id, qint64 parentId, const QString& role, const QString& content, const QString& status) {
  MessageData m;
  m.id = id;
  m.parentId = parentId;
  m.role = role;
  m.content = content;
  m.status = status;
  m.siblingIds = {id};
  return m;
}

}  // namespace

ChatController::ChatController(EngineController* engine, HistoryService* history, PresetModel* presets, QObject* parent)
    : QObject(parent), m_engine(engine), m_history(history), m_presets(presets), m_presetName(PresetModel::defaultPresetName()) {
  m_countDelay.setSingleShot(true);
  m_countDelay.setInterval(150);
  connect(&m_countDelay, &QTimer::timeout, this, [this] {
    m_countSerial = m_engine->requestTokenCount(withSystemPrompt(m_messages.turns()), m_draft);
  });
  connect(m_engine, &EngineController::tokenCountReady, this, [this](int serial, int prompt, int draft) {
    if (serial != m_countSerial) return;
    m_promptTokens = prompt;
    m_draftTokens = draft;
    emit tokenCountChanged();
  });
  connect(m_engine, &EngineController::modelStateChanged, this, &ChatController::canSendChanged);
  connect(m_engine, &EngineController::modelChanged, this, &ChatController::scheduleTokenCount);
  connect(m_engine, &EngineController::modelChanged, this, &ChatController::tokenCountChanged);
  connect(m_engine, &EngineController::deltaReceived, this, &ChatController::onDelta);
  connect(m_engine, &EngineController::generationFinished, this, &ChatController::onFinished);
  connect(m_engine, &EngineController::generationFailed, this, &ChatController::onFailed);
}

ChatController::~ChatController() {
  if (m_replyId > 0) {
    m_engine->stopGeneration();
    m_history->finishMessage(m_replyId, QStringLiteral("interrupted"), QString(), MessageMetrics{});
  }
}

bool ChatController::canSend() const {
  return !m_busy && m_engine->modelState() == EngineController::Loaded && m_history->available() && !m_history->readOnly();
}

int ChatController::contextLength() const { return m_engine->contextLength(); }

double ChatController::contextFill() const {
  const int context = contextLength();
  return context > 0 ? qMin(1.0, static_cast<double>(m_promptTokens + m_draftTokens) / context) : 0.0;
}

void ChatController::setBusy(bool busy) {
  if (busy == m_busy) return;
  m_busy = busy;
  emit busyChanged();
  emit canSendChanged();
}

void ChatController::setError(const ErrorInfo& error) {
  m_lastError = error;
  emit lastErrorChanged();
}

void ChatController::clearError() { setError({}); }

void ChatController::setNotice(const QString& notice) {
  if (notice == m_notice) return;
  m_notice = notice;
  emit noticeChanged();
}

void ChatController::clearNotice() { setNotice({}); }

QString ChatController::settingsJson() const {
  return QString::fromUtf8(QJsonDocument(QJsonObject{{QStringLiteral("preset"), m_presetName}}).toJson(QJsonDocument::Compact));
}

void ChatController::setSystemPrompt(const QString& prompt) {
  if (prompt == m_systemPrompt) return;
  m_systemPrompt = prompt;
  if (m_conversationId > 0) m_history->setSystemPrompt(m_conversationId, prompt);
  emit settingsChanged();
  scheduleTokenCount();
}

void ChatController::setPresetName(const QString& name) {
  const QString resolved = m_presets->preset(name).value(QStringLiteral("name")).toString();
  if (resolved == m_presetName) return;
  m_presetName = resolved;
  if (m_conversationId > 0) m_history->setSettingsJson(m_conversationId, settingsJson());
  emit settingsChanged();
}

void ChatController::setDraft(const QString& draft) {
  if (draft == m_draft) return;
  m_draft = draft;
  emit draftChanged();
  scheduleTokenCount();
}

void ChatController::scheduleTokenCount() { m_countDelay.start(); }

QList<ChatTurn> ChatController::withSystemPrompt(const QList<ChatTurn>& turns) const {
  QList<ChatTurn> out;
  if (!m_systemPrompt.trimmed().isEmpty()) out.append({QStringLiteral("system"), m_systemPrompt});
  out.append(turns);
  return out;
}

void ChatController::newChat() {
  ++m_openSerial;
  m_conversationId = 0;
  m_title.clear();
  m_systemPrompt.clear();
  m_presetName = PresetModel::defaultPresetName();
  m_messages.clear();
  setNotice({});
  emit conversationChanged();
  emit settingsChanged();
  scheduleTokenCount();
}

void ChatController::openConversation(qint64 id) {
  if (id <= 0) return newChat();
  if (id == m_conversationId) return;
  m_conversationId = id;
  m_messages.clear();
  setNotice({});
  reload();
}

void ChatController::reload() {
  const quint64 serial = ++m_openSerial;
  const qint64 id = m_conversationId;
  m_history->loadTree(id, this, [this, serial, id](const ConversationTreeData& tree, const ErrorInfo& error) {
    if (serial != m_openSerial || id != m_conversationId) return;
    if (error.isError()) {
      setError(error);
      return;
    }
    m_title = tree.conversation.title;
    m_systemPrompt = tree.conversation.systemPrompt;
    const QJsonObject settings = QJsonDocument::fromJson(tree.conversation.settingsJson.toUtf8()).object();
    m_presetName = m_presets->preset(settings.value(QStringLiteral("preset")).toString()).value(QStringLiteral("name")).toString();
    QList<MessageData> path = tree.path;
    // The reply streaming right now is ahead of what the database has committed.
    const int live = m_messages.rowOf(m_replyId);
    for (MessageData& m : path)
      if (m_replyId > 0 && m.id == m_replyId && live >= 0) m = m_messages.at(live);
    m_messages.setMessages(path);
    emit conversationChanged();
    emit settingsChanged();
    emit conversationLoaded();
    scheduleTokenCount();
  });
}

void ChatController::ensureConversation(const QString& firstText, const IdCallback& then) {
  if (m_conversationId > 0) return then(m_conversationId);
  ConversationData c;
  c.title = titleFrom(firstText);
  c.systemPrompt = m_systemPrompt;
  c.settingsJson = settingsJson();
  c.modelRef = m_engine->modelName();
  const quint64 serial = m_openSerial;
  m_history->createConversation(c, this, [this, then, serial, title = c.title](qint64 id, const ErrorInfo& error) {
    if (error.isError()) {
      setError(error);
      return then(-1);
    }
    if (serial == m_openSerial && m_conversationId == 0) {
      m_conversationId = id;
      m_title = title;
      emit conversationChanged();
    }
    then(id);
  });
}

void ChatController::addMessage(qint64 conversationId, const MessageData& message, qint64 tempId, const IdCallback& then) {
  m_history->addMessage(conversationId, message, this,
                        [this, tempId, then](qint64 id, const ErrorInfo& error) {
                          if (error.isError()) return failPending(tempId, error);
                          m_messages.assignId(tempId, id);
                          then(id);
                        });
}

void ChatController::failPending(qint64 tempId, const ErrorInfo& error) {
  m_messages.finish(tempId, QStringLiteral("error"), error.title, MessageMetrics{});
  setError(error);
  setBusy(false);
  emit replyFinished(tempId, QStringLiteral("error"));
}

bool ChatController::send(const QString& text) {
  const QString content = text.trimmed();
  if (content.isEmpty() || !canSend()) return false;
  setBusy(true);
  m_stopRequested = false;
  const qint64 parent = m_messages.rowCount() > 0 ? m_messages.at(m_messages.rowCount() - 1).id : 0;
  const qint64 userTemp = nextTempId();
  m_messages.append(newMessage(userTemp, parent, QStringLiteral("user"), content, QStringLiteral("complete")));
  const QList<ChatTurn> turns = m_messages.turns();
  const qint64 replyTemp = nextTempId();
  MessageData reply = newMessage(replyTemp, userTemp, QStringLiteral("assistant"), QString(), QStringLiteral("streaming"));
  reply.modelId = m_engine->modelName();
  m_messages.append(reply);
  ensureConversation(content, [this, parent, userTemp, content, reply, turns](qint64 conversation) mutable {
    if (conversation <= 0) return failPending(reply.id, m_lastError);
    MessageData user = newMessage(userTemp, parent, QStringLiteral("user"), content, QStringLiteral("complete"));
    m_history->addMessage(conversation, user, this, [this, conversation, userTemp, reply, turns](qint64 userId, const ErrorInfo& error) {
      if (error.isError()) return failPending(reply.id, error);
      m_messages.assignId(userTemp, userId);
      startReply(conversation, userId, reply, turns, false);
    });
  });
  return true;
}

void ChatController::startReply(qint64 conversationId, qint64 parentId, const MessageData& reply,
                                const QList<ChatTurn>& turns, bool continueLast) {
  MessageData saved = reply;
  saved.parentId = parentId;
  saved.modelId = m_engine->modelName();
  const qint64 tempId = reply.id;
  addMessage(conversationId, saved, tempId, [this, turns, continueLast](qint64 replyId) {
    m_replyId = replyId;
    if (m_stopRequested) return onFinished(0, GenerationStats{0, 0, 0, 0, 0, 0, QStringLiteral("stopped"), 0, {}});
    GenerationRequest request;
    request.messages = withSystemPrompt(turns);
    request.sampling = m_presets->sampling(m_presetName);
    request.continueLast = continueLast;
    request.stopAtEos = m_stopAtEos;
    m_generationId = m_engine->startGeneration(request);
    if (m_generationId == 0)
      return onFailed(0, ErrorInfo::make(ErrorKinds::InvalidArgument, tr("No model is loaded."), ErrorInfo::Context::Generation));
    emit replyStarted(replyId);
  });
}

void ChatController::stop() {
  if (!m_busy) return;
  m_stopRequested = true;
  m_engine->stopGeneration();
}

void ChatController::onDelta(quint64 id, const QString& content, const QString& reasoning) {
  if (id != m_generationId || m_replyId <= 0) return;
  m_messages.appendText(m_replyId, content, reasoning);
  m_history->appendDelta(m_replyId, content, reasoning);
}

void ChatController::onFinished(quint64 id, const GenerationStats& stats) {
  if (id != m_generationId || m_replyId <= 0) return;
  MessageMetrics metrics;
  metrics.promptTokens = stats.promptTokens;
  metrics.completionTokens = stats.completionTokens;
  if (stats.completionTokens > 0) {
    metrics.timeToFirstTokenMs = stats.timeToFirstTokenMs;
    metrics.prefillTokensPerSecond = stats.prefillTokensPerSecond;
    metrics.decodeTokensPerSecond = stats.decodeTokensPerSecond;
  }
  const QString status = stats.stopReason == QLatin1String("stopped") ? QStringLiteral("interrupted") : QStringLiteral("complete");
  const qint64 replyId = m_replyId;
  m_history->finishMessage(replyId, status, QString(), metrics, this, [this, replyId, status](const ErrorInfo& error) {
    if (error.isError()) setError(error);
    emit replyFinished(replyId, status);
  });
  m_messages.finish(replyId, status, QString(), metrics);
  m_replyId = 0;
  m_generationId = 0;
  if (!stats.templateNote.isEmpty())
    setNotice(stats.templateNote);
  else if (stats.droppedMessages > 0)
    setNotice(stats.droppedMessages == 1
                  ? tr("The oldest message was left out so the conversation fits the context.")
                  : tr("The oldest %1 messages were left out so the conversation fits the context.").arg(stats.droppedMessages));
  setBusy(false);
  scheduleTokenCount();
}

void ChatController::onFailed(quint64 id, const ErrorInfo& error) {
  if (id != m_generationId || m_replyId <= 0) return;
  const qint64 replyId = m_replyId;
  const QString text = error.message.isEmpty() ? error.title : error.title + QStringLiteral(": ") + error.message;
  m_history->finishMessage(replyId, QStringLiteral("error"), text, MessageMetrics{}, this, [this, replyId](const ErrorInfo&) {
    emit replyFinished(replyId, QStringLiteral("error"));
  });
  m_messages.finish(replyId, QStringLiteral("error"), text, MessageMetrics{});
  m_replyId = 0;
  m_generationId = 0;
  setError(error);
  setBusy(false);
}

// ---- Branches: regenerate, edit, continue, switch ----

bool ChatController::regenerate(int row) {
  if (row < 0)
    for (int r = m_messages.rowCount() - 1; r >= 0 && row < 0; --r)
      if (m_messages.at(r).role == QLatin1String("assistant")) row = r;
  if (row < 1 || row >= m_messages.rowCount() || !canSend() || m_conversationId <= 0) return false;
  const MessageData old = m_messages.at(row);
  if (old.role != QLatin1String("assistant") || old.id <= 0) return false;
  setBusy(true);
  m_stopRequested = false;
  const QList<ChatTurn> turns = m_messages.turns(row - 1);
  m_messages.truncateAfter(row - 1);
  MessageData reply = newMessage(nextTempId(), old.parentId, QStringLiteral("assistant"), QString(), QStringLiteral("streaming"));
  reply.modelId = m_engine->modelName();
  reply.siblingIds = old.siblingIds + QList<qint64>{reply.id};
  m_messages.append(reply);
  startReply(m_conversationId, old.parentId, reply, turns, false);
  return true;
}

bool ChatController::editMessage(int row, const QString& text) {
  const QString content = text.trimmed();
  if (row < 0 || row >= m_messages.rowCount() || content.isEmpty() || !canSend() || m_conversationId <= 0) return false;
  const MessageData old = m_messages.at(row);
  if (old.role != QLatin1String("user") || old.id <= 0) return false;
  setBusy(true);
  m_stopRequested = false;
  QList<ChatTurn> turns = m_messages.turns(row - 1);
  turns.append({QStringLiteral("user"), content});
  m_messages.truncateAfter(row - 1);
  MessageData user = newMessage(nextTempId(), old.parentId, QStringLiteral("user"), content, QStringLiteral("complete"));
  user.siblingIds = old.siblingIds + QList<qint64>{user.id};
  m_messages.append(user);
  MessageData reply = newMessage(nextTempId(), user.id, QStringLiteral("assistant"), QString(), QStringLiteral("streaming"));
  reply.modelId = m_engine->modelName();
  m_messages.append(reply);
  const qint64 conversation = m_conversationId;
  addMessage(conversation, user, user.id, [this, conversation, reply, turns](qint64 userId) {
    startReply(conversation, userId, reply, turns, false);
  });
  return true;
}

bool ChatController::continueMessage(int row) {
  if (row < 0) row = m_messages.rowCount() - 1;
  if (row < 0 || row != m_messages.rowCount() - 1 || !canSend() || m_conversationId <= 0) return false;
  const MessageData old = m_messages.at(row);
  if (old.role != QLatin1String("assistant") || old.id <= 0) return false;
  setBusy(true);
  m_stopRequested = false;
  const QList<ChatTurn> turns = m_messages.turns(row);
  m_messages.truncateAfter(row - 1);
  MessageData reply = newMessage(nextTempId(), old.parentId, QStringLiteral("assistant"), old.content, QStringLiteral("streaming"));
  reply.modelId = m_engine->modelName();
  reply.reasoning = old.reasoning;
  reply.siblingIds = old.siblingIds + QList<qint64>{reply.id};
  m_messages.append(reply);
  startReply(m_conversationId, old.parentId, reply, turns, true);
  return true;
}

bool ChatController::switchBranch(int row, int step) {
  if (row < 0 || row >= m_messages.rowCount() || m_busy) return false;
  const MessageData& m = m_messages.at(row);
  const qsizetype target = m.siblingIds.indexOf(m.id) + step;
  if (target < 0 || target >= m.siblingIds.size()) return false;
  m_history->selectBranch(m.siblingIds[target], this, [this](const ErrorInfo& error) {
    if (error.isError()) return setError(error);
    reload();
  });
  return true;
}

void ChatController::copyMessage(int row) {
  if (row < 0 || row >= m_messages.rowCount()) return;
  copyText(m_messages.data(m_messages.index(row), MessageListModel::ContentRole).toString());
}

void ChatController::copyText(const QString& text) {
  if (QClipboard* clipboard = QGuiApplication::clipboard()) clipboard->setText(text);
}
