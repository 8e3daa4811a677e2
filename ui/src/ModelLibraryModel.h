// ModelLibraryModel: the model library page: every model folder the history database remembers
// (loaded before, or found by a rescan of the library folders in AppSettings), most recently
// used first. Reads and writes through HistoryService; rescans through ModelInspector.
#pragma once

#include <QAbstractListModel>
#include <QStringList>

#include "HistoryTypes.h"

class AppSettings;
class HistoryService;
class ModelInspector;

class ModelLibraryModel : public QAbstractListModel {
  Q_OBJECT
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
  Q_PROPERTY(bool scanning READ scanning NOTIFY scanningChanged)
  Q_PROPERTY(QStringList scanFailures READ scanFailures NOTIFY scanningChanged)

 public:
  enum Role {
    IdRole = Qt::UserRole + 1,
    NameRole,
    PathRole,
    FormatRole,        // "exl2, 4.13 bpw"
    ArchitectureRole,
    ParametersRole,    // "7.2 B"
    SizeRole,          // "4.1 GB"
    ContextRole,
    LastUsedRole,      // Unix ms, 0 = never loaded
  };
  Q_ENUM(Role)

  ModelLibraryModel(HistoryService* history, ModelInspector* inspector, AppSettings* settings, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  bool scanning() const { return m_scanning; }
  QStringList scanFailures() const { return m_failures; }

  Q_INVOKABLE void refresh();
  // Scans every library folder (AppSettings::modelRoots) and remembers what it finds.
  Q_INVOKABLE void rescan();
  Q_INVOKABLE void remove(qint64 id);

  void setItems(const QList<ModelRecordData>& items);

 signals:
  void countChanged();
  void scanningChanged();
  void refreshed();

 private:
  HistoryService* m_history;
  ModelInspector* m_inspector;
  AppSettings* m_settings;
  QList<ModelRecordData> m_items;
  QStringList m_failures;
  bool m_scanning = false;
  quint64 m_serial = 0;
};
