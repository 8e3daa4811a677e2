// ChatController: the open conversation and everything done to it: send, stop, regenerate (a new
// branch), edit a user message (a new branch), continue, switch branches, per-conversation system
// prompt and sampling preset, and the live token count. Writes every message to the history and
// streams replies from the engine into the MessageListModel it owns. GUI thread only; built by
// main.cpp with the bridge services.
#pragma once

#include <functional>

#include <QObject>
#include <QTimer>

#include "ErrorInfo.h"
#include "GenerationTypes.h"
#include "HistoryTypes.h"
#include "MessageListModel.h"

class EngineController;
class HistoryService;
class PresetModel;

class ChatController : public QObject {
  Q_OBJECT
  Q_PROPERTY(qint64 conversationId READ conversationId NOTIFY conversationChanged)
  Q_PROPERTY(QString title READ title NOTIFY conversationChanged)
  Q_PROPERTY(MessageListModel* messages READ messages CONSTANT)
  Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
  Q_PROPERTY(bool canSend READ canSend NOTIFY canSendChanged)
  Q_PROPERTY(QString systemPrompt READ systemPrompt WRITE setSystemPrompt NOTIFY settingsChanged)
  Q_PROPERTY(QString presetName READ presetName WRITE setPresetName NOTIFY settingsChanged)
  Q_PROPERTY(QString draft READ draft WRITE setDraft NOTIFY draftChanged)
  Q_PROPERTY(int promptTokens READ promptTokens NOTIFY tokenCountChanged)
  Q_PROPERTY(int draftTokens READ draftTokens NOTIFY tokenCountChanged)
  Q_PROPERTY(int contextLength READ contextLength NOTIFY tokenCountChanged)
  Q_PROPERTY(double contextFill READ contextFill NOTIFY tokenCountChanged)
  Q_PROPERTY(QVariantMap lastError READ lastErrorMap NOTIFY lastErrorChanged)
  Q_PROPERTY(QString notice READ notice NOTIFY noticeChanged)

 public:
  ChatController(EngineController* engine, HistoryService* history, PresetModel* presets, QObject* parent = nullptr);
  ~ChatController() override;  // a reply still streaming is saved as `interrupted`

  qint64 conversationId() const { return m_conversationId; }
  QString title() const { return m_title; }
  MessageListModel* messages() { return &m_messages; }
  bool busy() const { return m_busy; }
  bool canSend() const;
  QString systemPrompt() const { return m_systemPrompt; }
  void setSystemPrompt(const QString& prompt);
  QString presetName() const { return m_presetName; }
  void setPresetName(const QString& name);
  QString draft() const { return m_draft; }
  void setDraft(const QString& draft);
  int promptTokens() const { return m_promptTokens; }
  int draftTokens() const { return m_draftTokens; }
  int contextLength() const;
  double contextFill() const;
  const ErrorInfo& lastError() const { return m_lastError; }
  QVariantMap lastErrorMap() const { return m_lastError.toVariantMap(); }
  QString notice() const { return m_notice; }

  Q_INVOKABLE void newChat();
  Q_INVOKABLE void openConversation(qint64 id);
  // Each returns false (doing nothing) when the action is not possible now.
  Q_INVOKABLE bool send(const QString& text);
  Q_INVOKABLE void stop();
  Q_INVOKABLE bool regenerate(int row = -1);      // -1: the last assistant message
  Q_INVOKABLE bool editMessage(int row, const QString& text);
  Q_INVOKABLE bool continueMessage(int row = -1);  // -1: the last message, if the assistant's
  Q_INVOKABLE bool switchBranch(int row, int step);  // step -1 / +1
  Q_INVOKABLE void copyMessage(int row);
  Q_INVOKABLE void copyText(const QString& text);
  Q_INVOKABLE void clearError();
  Q_INVOKABLE void clearNotice();
  // Benchmarks and tests: false makes every reply run to the preset's max tokens.
  void setStopAtEos(bool stop) { m_stopAtEos = stop; }

 signals:
  void conversationChanged();
  void busyChanged();
  void canSendChanged();
  void settingsChanged();
  void draftChanged();
  void tokenCountChanged();
  void lastErrorChanged();
  void noticeChanged();
  void replyStarted(qint64 messageId);
  // The reply ended ("complete", "interrupted", "error") and that is saved in the history.
  void replyFinished(qint64 messageId, const QString& status);
  void conversationLoaded();

 private:
  using IdCallback = std::function<void(qint64 id)>;
  void setBusy(bool busy);
  void setError(const ErrorInfo& error);
  void setNotice(const QString& notice);
  void ensureConversation(const QString& firstText, const IdCallback& then);
  // Saves `message` (shown with `tempId`), gives its row the saved id, then calls `then`.
  void addMessage(qint64 conversationId, const MessageData& message, qint64 tempId, const IdCallback& then);
  // Saves the streaming assistant message `reply` (shown with its temporary id) under `parentId`,
  // then asks the engine for it with `turns` as the conversation.
  void startReply(qint64 conversationId, qint64 parentId, const MessageData& reply, const QList<ChatTurn>& turns,
                  bool continueLast);
  void failPending(qint64 tempId, const ErrorInfo& error);
  void reload();
  void scheduleTokenCount();
  QList<ChatTurn> withSystemPrompt(const QList<ChatTurn>& turns) const;
  QString settingsJson() const;
  qint64 nextTempId() { return --m_tempId; }
  void onDelta(quint64 id, const QString& content, const QString& reasoning);
  void onFinished(quint64 id, const GenerationStats& stats);
  void onFailed(quint64 id, const ErrorInfo& error);

  EngineController* m_engine;
  HistoryService* m_history;
  PresetModel* m_presets;
  MessageListModel m_messages;
  qint64 m_conversationId = 0;
  quint64 m_openSerial = 0;
  QString m_title;
  QString m_systemPrompt;
  QString m_presetName;
  QString m_draft;
  bool m_busy = false;
  bool m_stopRequested = false;
  bool m_stopAtEos = true;
  qint64 m_replyId = 0;         // the assistant message being generated
  quint64 m_generationId = 0;
  qint64 m_tempId = 0;
  int m_promptTokens = 0;
  int m_draftTokens = 0;
  int m_countSerial = 0;
  QTimer m_countDelay;
  ErrorInfo m_lastError;
  QString m_notice;
};
