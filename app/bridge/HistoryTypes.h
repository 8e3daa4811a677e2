// Qt value types for the conversation history as the interface sees it: conversations, the
// messages of the selected branch (with their siblings), search hits and library models.
// Made by HistoryService from the engine's history types; read by the view models.
#pragma once

#include <QList>
#include <QMetaType>
#include <QString>
#include <QtGlobal>

struct ConversationData {
  qint64 id = 0;
  QString title;
  bool pinned = false;
  qint64 createdAt = 0;  // Unix ms
  qint64 updatedAt = 0;
  QString systemPrompt;
  QString modelRef;
  QString settingsJson = QStringLiteral("{}");
  qint64 messageCount = 0;
  QString snippet;       // a search hit's text, when the list shows search results
  bool operator==(const ConversationData&) const = default;
};

struct MessageMetrics {
  qint64 promptTokens = -1;       // -1 = unknown
  qint64 completionTokens = -1;
  double timeToFirstTokenMs = -1;
  double prefillTokensPerSecond = -1;
  double decodeTokensPerSecond = -1;
  bool operator==(const MessageMetrics&) const = default;
};

struct MessageData {
  qint64 id = 0;
  qint64 parentId = 0;            // 0 = a first message
  QString role;                   // "system", "user", "assistant", "tool"
  QString content;
  QString reasoning;
  QString status;                 // "complete", "streaming", "interrupted", "error"
  QString error;
  QString modelId;
  MessageMetrics metrics;
  qint64 createdAt = 0;
  QList<qint64> siblingIds;       // the versions of this message (itself included), oldest first
  bool operator==(const MessageData&) const = default;
};

struct ConversationTreeData {
  ConversationData conversation;
  QList<MessageData> path;        // the selected branch, first message first
};

struct ModelRecordData {
  qint64 id = 0;
  QString path;
  QString name;
  QString format;
  QString architecture;
  QString quantization;
  double bitsPerWeight = 0;
  qint64 parameters = 0;
  qint64 contextLength = 0;
  qint64 sizeBytes = 0;
  qint64 lastUsedAt = 0;
  bool operator==(const ModelRecordData&) const = default;
};

Q_DECLARE_METATYPE(ConversationData)
Q_DECLARE_METATYPE(MessageData)
Q_DECLARE_METATYPE(ConversationTreeData)
Q_DECLARE_METATYPE(ModelRecordData)
