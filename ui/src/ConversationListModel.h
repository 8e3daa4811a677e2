// ConversationListModel: the sidebar's conversations (pinned first, then most recent), or the
// conversations matching the search box (history full-text search, with a snippet). Owns the
// sidebar actions: rename, pin, move to trash with undo. Reads and writes through HistoryService.
#pragma once

#include <QAbstractListModel>
#include <QTimer>

#include "HistoryTypes.h"

class HistoryService;

class ConversationListModel : public QAbstractListModel {
  Q_OBJECT
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
  Q_PROPERTY(QString searchText READ searchText WRITE setSearchText NOTIFY searchTextChanged)
  Q_PROPERTY(bool searching READ searching NOTIFY searchTextChanged)
  Q_PROPERTY(bool undoAvailable READ undoAvailable NOTIFY undoChanged)
  Q_PROPERTY(QString undoTitle READ undoTitle NOTIFY undoChanged)

 public:
  enum Role {
    IdRole = Qt::UserRole + 1,
    TitleRole,
    PinnedRole,
    UpdatedAtRole,   // Unix ms
    SnippetRole,     // rich text with <b> around matched words; "" outside a search
    SectionRole,     // "Pinned", "Today", "Previous 7 days", "Older" (translated)
  };
  Q_ENUM(Role)

  explicit ConversationListModel(HistoryService* history, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  QString searchText() const { return m_search; }
  void setSearchText(const QString& text);
  bool searching() const { return !m_search.trimmed().isEmpty(); }
  bool undoAvailable() const { return m_undoId != 0; }
  QString undoTitle() const { return m_undoTitle; }

  // Reloads from the history (called on every change the history reports).
  Q_INVOKABLE void refresh();
  Q_INVOKABLE void rename(qint64 id, const QString& title);
  Q_INVOKABLE void setPinned(qint64 id, bool pinned);
  // Moves to the trash; undo() restores it while undoAvailable.
  Q_INVOKABLE void moveToTrash(qint64 id);
  Q_INVOKABLE void undo();
  Q_INVOKABLE void dismissUndo();
  Q_INVOKABLE int rowOf(qint64 id) const;

  // Replaces the rows, moving/inserting/removing only what changed (selection survives).
  void setItems(const QList<ConversationData>& items);

 signals:
  void countChanged();
  void searchTextChanged();
  void undoChanged();
  void conversationTrashed(qint64 id);
  void refreshed();

 private:
  QString sectionOf(const ConversationData& c) const;

  HistoryService* m_history;
  QList<ConversationData> m_items;
  QString m_search;
  QTimer m_searchDelay;
  QTimer m_refreshDelay;
  quint64 m_serial = 0;
  qint64 m_undoId = 0;
  QString m_undoTitle;
  QTimer m_undoTimeout;
};
