// MessageListModel: the messages of the conversation's selected branch, one row each, with what
// the message view needs: Markdown split into blocks, the reasoning section, branch position
// ("2/3"), stats and streaming state. Changed only on the GUI thread, by ChatController.
#pragma once

#include <QAbstractListModel>
#include <QList>
#include <QVariantList>

#include "GenerationTypes.h"
#include "HistoryTypes.h"
#include "MessageBlocks.h"

class MessageListModel : public QAbstractListModel {
  Q_OBJECT
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)

 public:
  enum Role {
    IdRole = Qt::UserRole + 1,
    MessageRole,        // "user", "assistant", "system"
    ContentRole,        // the answer text (Markdown), without <think> sections
    ReasoningRole,
    ThinkingRole,       // streaming and still inside the reasoning section
    BlocksRole,         // [{kind, text, language, open}]
    BlockCountRole,
    StatusRole,         // "complete", "streaming", "interrupted", "error"
    StreamingRole,
    ErrorRole,
    SiblingIndexRole,   // 1-based position among the versions of this message
    SiblingCountRole,
    StatsRole,          // "42 tokens · 96.1 tokens/s · 180 ms to first token", "" when unknown
    ModelRole,
  };
  Q_ENUM(Role)

  explicit MessageListModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  // Replaces the rows, keeping rows whose id is unchanged (only their data updates).
  void setMessages(const QList<MessageData>& messages);
  void clear();
  // Appends a row (a message not yet saved may use a negative id, see assignId).
  void append(const MessageData& message);
  void assignId(qint64 oldId, qint64 newId);
  // Streams text into a message (no-op for an id not shown).
  void appendText(qint64 id, const QString& content, const QString& reasoning);
  void finish(qint64 id, const QString& status, const QString& error, const MessageMetrics& metrics);
  // Drops the rows after `row`.
  void truncateAfter(int row);

  int rowOf(qint64 id) const;
  const MessageData& at(int row) const { return m_rows[row].message; }
  const QList<MessageData> messages() const;
  // The conversation up to and including `lastRow` as chat turns (all rows when -1).
  QList<ChatTurn> turns(int lastRow = -1) const;

  static QString statsText(const MessageMetrics& metrics);

 signals:
  void countChanged();

 private:
  struct Row {
    MessageData message;
    QString answer;           // content without <think> sections
    QString reasoning;        // stored reasoning plus any <think> sections of the content
    bool reasoningOpen = false;
    QList<MessageBlock> blocks;
  };
  static Row makeRow(const MessageData& message);
  static void derive(Row& row);
  void emitRowChanged(int row, const QList<int>& roles = {});

  QList<Row> m_rows;
};
