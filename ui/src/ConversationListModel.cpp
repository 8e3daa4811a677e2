// ConversationListModel: refreshes are coalesced (one read for a burst of history changes) and
// answered in order by a serial, so a slow search never overwrites a newer result.
#include "ConversationListModel.h"

#include <algorithm>

#include <QDateTime>

#include "HistoryService.h"

ConversationListModel::ConversationListModel(HistoryService* history, QObject* parent)
    : QAbstractListModel(parent), m_history(history) {
  m_searchDelay.setSingleShot(true);
  m_searchDelay.setInterval(200);
  connect(&m_searchDelay, &QTimer::timeout, this, &ConversationListModel::refresh);
  m_refreshDelay.setSingleShot(true);
  m_refreshDelay.setInterval(50);
  connect(&m_refreshDelay, &QTimer::timeout, this, &ConversationListModel::refresh);
  connect(m_history, &HistoryService::conversationsChanged, &m_refreshDelay, qOverload<>(&QTimer::start));
  m_undoTimeout.setSingleShot(true);
  m_undoTimeout.setInterval(10000);
  connect(&m_undoTimeout, &QTimer::timeout, this, &ConversationListModel::dismissUndo);
}

int ConversationListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(m_items.size());
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
  return {{IdRole, "conversationId"}, {TitleRole, "title"},     {PinnedRole, "pinned"},
          {UpdatedAtRole, "updatedAt"}, {SnippetRole, "snippet"}, {SectionRole, "section"}};
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const ConversationData& c = m_items[index.row()];
  switch (role) {
    case Qt::DisplayRole:
    case TitleRole: return c.title.isEmpty() ? tr("New chat") : c.title;
    case IdRole: return c.id;
    case PinnedRole: return c.pinned;
    case UpdatedAtRole: return c.updatedAt;
    case SnippetRole: return c.snippet;
    case SectionRole: return sectionOf(c);
    default: return {};
  }
}

QString ConversationListModel::sectionOf(const ConversationData& c) const {
  if (searching()) return tr("Search results");
  if (c.pinned) return tr("Pinned");
  const QDate day = QDateTime::fromMSecsSinceEpoch(c.updatedAt).date();
  const QDate today = QDate::currentDate();
  if (day >= today) return tr("Today");
  if (day >= today.addDays(-7)) return tr("Previous 7 days");
  return tr("Older");
}

void ConversationListModel::setSearchText(const QString& text) {
  if (text == m_search) return;
  m_search = text;
  emit searchTextChanged();
  m_searchDelay.start();
}

void ConversationListModel::refresh() {
  const quint64 serial = ++m_serial;
  auto apply = [this, serial](const QList<ConversationData>& items, const ErrorInfo&) {
    if (serial != m_serial) return;
    setItems(items);
    emit refreshed();
  };
  if (searching())
    m_history->search(m_search, this, apply);
  else
    m_history->listConversations(false, this, apply);
}

void ConversationListModel::setItems(const QList<ConversationData>& items) {
  // Remove rows that are gone, then walk the target order, moving or inserting as needed.
  for (qsizetype i = m_items.size() - 1; i >= 0; --i) {
    const qint64 id = m_items[i].id;
    const bool kept = std::any_of(items.begin(), items.end(), [id](const ConversationData& c) { return c.id == id; });
    if (kept) continue;
    beginRemoveRows({}, static_cast<int>(i), static_cast<int>(i));
    m_items.removeAt(i);
    endRemoveRows();
  }
  for (qsizetype i = 0; i < items.size(); ++i) {
    const ConversationData& want = items[i];
    if (i < m_items.size() && m_items[i].id == want.id) {
      if (!(m_items[i] == want)) {
        m_items[i] = want;
        emit dataChanged(index(static_cast<int>(i)), index(static_cast<int>(i)));
      }
      continue;
    }
    const int from = rowOf(want.id);
    if (from >= 0) {
      beginMoveRows({}, from, from, {}, static_cast<int>(i));
      m_items.move(from, i);
      endMoveRows();
      m_items[i] = want;
      emit dataChanged(index(static_cast<int>(i)), index(static_cast<int>(i)));
    } else {
      beginInsertRows({}, static_cast<int>(i), static_cast<int>(i));
      m_items.insert(i, want);
      endInsertRows();
    }
  }
  emit countChanged();
}

int ConversationListModel::rowOf(qint64 id) const {
  for (qsizetype i = 0; i < m_items.size(); ++i)
    if (m_items[i].id == id) return static_cast<int>(i);
  return -1;
}

void ConversationListModel::rename(qint64 id, const QString& title) {
  const QString t = title.simplified();
  if (t.isEmpty()) return;
  m_history->rename(id, t);
}

void ConversationListModel::setPinned(qint64 id, bool pinned) { m_history->setPinned(id, pinned); }

void ConversationListModel::moveToTrash(qint64 id) {
  const int row = rowOf(id);
  m_undoTitle = row >= 0 ? data(index(row), TitleRole).toString() : QString();
  m_undoId = id;
  m_history->moveToTrash(id);
  m_undoTimeout.start();
  emit undoChanged();
  emit conversationTrashed(id);
}

void ConversationListModel::undo() {
  if (!m_undoId) return;
  m_history->restore(m_undoId);
  dismissUndo();
}

void ConversationListModel::dismissUndo() {
  if (!m_undoId) return;
  m_undoId = 0;
  m_undoTitle.clear();
  m_undoTimeout.stop();
  emit undoChanged();
}
