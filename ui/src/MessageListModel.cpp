// MessageListModel: setMessages keeps the common prefix of rows (same ids) and replaces the rest,
// so switching a branch or regenerating repaints only the messages below the change.
#include "MessageListModel.h"

#include <QCoreApplication>

MessageListModel::MessageListModel(QObject* parent) : QAbstractListModel(parent) {}

int MessageListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(m_rows.size()); }

QHash<int, QByteArray> MessageListModel::roleNames() const {
  return {{IdRole, "messageId"},       {MessageRole, "author"},           {ContentRole, "content"},
          {ReasoningRole, "reasoning"}, {ThinkingRole, "thinking"},      {BlocksRole, "blocks"},
          {BlockCountRole, "blockCount"}, {StatusRole, "status"},        {StreamingRole, "streaming"},
          {ErrorRole, "error"},         {SiblingIndexRole, "siblingIndex"}, {SiblingCountRole, "siblingCount"},
          {StatsRole, "stats"},         {ModelRole, "modelName"}};
}

QVariant MessageListModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Row& r = m_rows[index.row()];
  const MessageData& m = r.message;
  switch (role) {
    case Qt::DisplayRole:
    case ContentRole: return r.answer;
    case IdRole: return m.id;
    case MessageRole: return m.role;
    case ReasoningRole: return r.reasoning;
    case ThinkingRole: return m.status == QLatin1String("streaming") && r.reasoningOpen;
    case BlocksRole: return blocksToVariantList(r.blocks);
    case BlockCountRole: return static_cast<int>(r.blocks.size());
    case StatusRole: return m.status;
    case StreamingRole: return m.status == QLatin1String("streaming");
    case ErrorRole: return m.error;
    case SiblingIndexRole: return static_cast<int>(qMax<qsizetype>(m.siblingIds.indexOf(m.id), 0) + 1);
    case SiblingCountRole: return static_cast<int>(qMax<qsizetype>(m.siblingIds.size(), 1));
    case StatsRole: return statsText(m.metrics);
    case ModelRole: return m.modelId;
    default: return {};
  }
}

QString MessageListModel::statsText(const MessageMetrics& m) {
  QStringList parts;
  if (m.completionTokens == 1)
    parts << QCoreApplication::translate("MessageListModel", "1 token");
  else if (m.completionTokens >= 0)
    parts << QCoreApplication::translate("MessageListModel", "%1 tokens").arg(m.completionTokens);
  if (m.decodeTokensPerSecond > 0)
    parts << QCoreApplication::translate("MessageListModel", "%1 tokens/s").arg(m.decodeTokensPerSecond, 0, 'f', 1);
  if (m.timeToFirstTokenMs >= 0)
    parts << QCoreApplication::translate("MessageListModel", "%1 ms to first token").arg(qRound(m.timeToFirstTokenMs));
  return parts.join(QStringLiteral(" · "));
}

MessageListModel::Row MessageListModel::makeRow(const MessageData& message) {
  Row row;
  row.message = message;
  derive(row);
  return row;
}

void MessageListModel::derive(Row& row) {
  const ThinkParts parts = splitThinkSections(row.message.content);
  row.answer = parts.answer;
  row.reasoning = row.message.reasoning + parts.reasoning;
  // Streamed reasoning arrives in its own field: the section is open until answer text appears.
  row.reasoningOpen = parts.reasoningOpen || (!row.message.reasoning.isEmpty() && parts.answer.trimmed().isEmpty());
  QList<MessageBlock> blocks = splitMessageBlocks(row.answer.trimmed().isEmpty() ? QString() : row.answer);
  renderBlocks(blocks, row.blocks);
  row.blocks = std::move(blocks);
}

void MessageListModel::emitRowChanged(int row, const QList<int>& roles) {
  const QModelIndex i = index(row);
  emit dataChanged(i, i, roles);
}

void MessageListModel::setMessages(const QList<MessageData>& messages) {
  qsizetype common = 0;
  while (common < m_rows.size() && common < messages.size() && m_rows[common].message.id == messages[common].id) ++common;
  for (qsizetype i = 0; i < common; ++i) {
    if (m_rows[i].message == messages[i]) continue;
    m_rows[i] = makeRow(messages[i]);
    emitRowChanged(static_cast<int>(i));
  }
  if (common < m_rows.size()) {
    beginRemoveRows({}, static_cast<int>(common), static_cast<int>(m_rows.size() - 1));
    m_rows.resize(common);
    endRemoveRows();
  }
  if (common < messages.size()) {
    beginInsertRows({}, static_cast<int>(common), static_cast<int>(messages.size() - 1));
    for (qsizetype i = common; i < messages.size(); ++i) m_rows.append(makeRow(messages[i]));
    endInsertRows();
  }
  emit countChanged();
}

void MessageListModel::clear() { setMessages({}); }

void MessageListModel::append(const MessageData& message) {
  const int row = static_cast<int>(m_rows.size());
  beginInsertRows({}, row, row);
  m_rows.append(makeRow(message));
  endInsertRows();
  emit countChanged();
}

void MessageListModel::assignId(qint64 oldId, qint64 newId) {
  const int row = rowOf(oldId);
  if (row < 0) return;
  MessageData& m = m_rows[row].message;
  m.id = newId;
  for (qint64& s : m.siblingIds)
    if (s == oldId) s = newId;
  if (m.siblingIds.isEmpty()) m.siblingIds = {newId};
  if (row + 1 < m_rows.size() && m_rows[row + 1].message.parentId == oldId) m_rows[row + 1].message.parentId = newId;
  emitRowChanged(row, {IdRole, SiblingIndexRole});
}

void MessageListModel::appendText(qint64 id, const QString& content, const QString& reasoning) {
  const int row = rowOf(id);
  if (row < 0 || (content.isEmpty() && reasoning.isEmpty())) return;
  Row& r = m_rows[row];
  r.message.content += content;
  r.message.reasoning += reasoning;
  const int blocksBefore = static_cast<int>(r.blocks.size());
  derive(r);
  QList<int> roles{ContentRole, ReasoningRole, ThinkingRole, BlocksRole, Qt::DisplayRole};
  if (blocksBefore != r.blocks.size()) roles << BlockCountRole;
  emitRowChanged(row, roles);
}

void MessageListModel::finish(qint64 id, const QString& status, const QString& error, const MessageMetrics& metrics) {
  const int row = rowOf(id);
  if (row < 0) return;
  Row& r = m_rows[row];
  r.message.status = status;
  r.message.error = error;
  r.message.metrics = metrics;
  derive(r);
  emitRowChanged(row);
}

void MessageListModel::truncateAfter(int row) {
  if (row + 1 >= m_rows.size()) return;
  beginRemoveRows({}, row + 1, static_cast<int>(m_rows.size() - 1));
  m_rows.resize(row + 1);
  endRemoveRows();
  emit countChanged();
}

int MessageListModel::rowOf(qint64 id) const {
  for (qsizetype i = m_rows.size() - 1; i >= 0; --i)
    if (m_rows[i].message.id == id) return static_cast<int>(i);
  return -1;
}

const QList<MessageData> MessageListModel::messages() const {
  QList<MessageData> out;
  out.reserve(m_rows.size());
  for (const Row& r : m_rows) out.append(r.message);
  return out;
}

QList<ChatTurn> MessageListModel::turns(int lastRow) const {
  QList<ChatTurn> out;
  const qsizetype end = lastRow < 0 ? m_rows.size() : qMin<qsizetype>(lastRow + 1, m_rows.size());
  for (qsizetype i = 0; i < end; ++i) out.append({m_rows[i].message.role, m_rows[i].answer});
  return out;
}
