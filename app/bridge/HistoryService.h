// HistoryService: the GUI thread's face of the SQLite history store. Reads run on a small thread
// pool, writes on the store's own writer thread; every answer comes back on the GUI thread as a
// callback, dropped if its context object is gone. Owns the store and the database's instance lock
// (one Nibble recovers interrupted replies; a second one leaves them alone). Built by main.cpp (or
// a test) and used by ChatController, the conversation and library view models.
#pragma once

#include <functional>
#include <memory>

#include <QLockFile>
#include <QObject>
#include <QPointer>
#include <QThreadPool>

#include "ErrorInfo.h"
#include "HistoryTypes.h"

namespace nibble::history {
class HistoryStore;
}

class HistoryService : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool available READ available CONSTANT)
  Q_PROPERTY(bool readOnly READ readOnly CONSTANT)
  Q_PROPERTY(QString path READ path CONSTANT)
  Q_PROPERTY(QVariantMap openError READ openErrorMap CONSTANT)
  Q_PROPERTY(bool ownsDatabase READ ownsDatabase CONSTANT)

 public:
  struct Options {
    // On open, mark replies left `streaming` by a Nibble that died as `interrupted`; done only
    // when this instance holds the database's lock (PATH.lock), never under another running one.
    bool recoverInterrupted = true;
    bool durableCommits = true;
    int flushIntervalMs = 250;
  };
  template <class T>
  using Callback = std::function<void(const T& value, const ErrorInfo& error)>;
  using Done = std::function<void(const ErrorInfo& error)>;

  // Opens (or creates) the store at `path`; open errors leave it unavailable (see openError).
  HistoryService(const QString& path, const Options& options, QObject* parent = nullptr);
  ~HistoryService() override;  // waits for reads, commits queued writes, closes

  bool available() const { return m_store != nullptr; }
  bool readOnly() const;
  QString readOnlyReason() const { return m_readOnlyReason; }
  QString path() const { return m_path; }
  const ErrorInfo& openError() const { return m_openError; }
  QVariantMap openErrorMap() const { return m_openError.toVariantMap(); }
  qint64 recoveredMessages() const { return m_recovered; }
  // True when this instance holds the database's lock (and so recovered interrupted replies).
  bool ownsDatabase() const { return m_lock && m_lock->isLocked(); }
  // Another running Nibble holds the lock (not merely an unwritable folder).
  bool sharedWithAnotherInstance() const { return m_lock && m_lock->error() == QLockFile::LockFailedError; }
  static QString defaultPath();  // $XDG_DATA_HOME/nibble/history.db

  // ---- Reads ----
  void listConversations(bool trashed, QObject* context, Callback<QList<ConversationData>> callback);
  // One row per matching conversation (best hit first), `snippet` as rich text with <b> matches.
  void search(const QString& query, QObject* context, Callback<QList<ConversationData>> callback);
  void loadTree(qint64 conversationId, QObject* context, Callback<ConversationTreeData> callback);
  void listModels(QObject* context, Callback<QList<ModelRecordData>> callback);
  void retentionDays(QObject* context, Callback<int> callback);

  // ---- Writes ----
  void createConversation(const ConversationData& conversation, QObject* context, Callback<qint64> callback);
  void rename(qint64 id, const QString& title, QObject* context = nullptr, Done done = {});
  void setPinned(qint64 id, bool pinned, QObject* context = nullptr, Done done = {});
  void setSystemPrompt(qint64 id, const QString& prompt, QObject* context = nullptr, Done done = {});
  void setSettingsJson(qint64 id, const QString& json, QObject* context = nullptr, Done done = {});
  void moveToTrash(qint64 id, QObject* context = nullptr, Done done = {});
  void restore(qint64 id, QObject* context = nullptr, Done done = {});
  // `message.status` "streaming" for a reply about to be generated. A parent that already has
  // children gets a new branch, which becomes the selected one.
  void addMessage(qint64 conversationId, const MessageData& message, QObject* context, Callback<qint64> callback);
  void selectBranch(qint64 messageId, QObject* context = nullptr, Done done = {});
  void appendDelta(qint64 messageId, const QString& content, const QString& reasoning);
  void finishMessage(qint64 messageId, const QString& status, const QString& error, const MessageMetrics& metrics,
                     QObject* context = nullptr, Done done = {});
  void upsertModel(const ModelRecordData& model, QObject* context = nullptr, Callback<qint64> callback = {});
  void removeModel(qint64 id, QObject* context = nullptr, Done done = {});
  void setRetentionDays(int days, QObject* context = nullptr, Done done = {});
  // Everything queued before is committed when `done` runs.
  void flush(QObject* context, Done done);

 signals:
  void conversationsChanged();  // a write changed what the conversation list shows
  void modelsChanged();
  void backgroundError(const ErrorInfo& error);  // a streamed write failed (disk full, ...)

 private:
  friend struct HistoryWriteDone;
  template <class T>
  void deliver(QPointer<QObject> context, Callback<T> callback, T value, ErrorInfo error);
  void deliverDone(QPointer<QObject> context, Done done, ErrorInfo error, bool conversations, bool models);
  template <class Fn>
  void read(Fn fn);
  // False (and `done` told why) when the store is not open.
  bool ready(QObject* context, Done& done);

  QString m_path;
  std::unique_ptr<QLockFile> m_lock;
  ErrorInfo m_openError;
  qint64 m_recovered = 0;
  QString m_readOnlyReason;
  std::unique_ptr<nibble::history::HistoryStore> m_store;
  QThreadPool m_readers;
};
