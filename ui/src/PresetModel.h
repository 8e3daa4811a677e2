// PresetModel: sampling presets for the conversation settings: a few built in (Precise,
// Balanced, Creative) and the user's own, saved in AppSettings. Used by ChatController (to
// resolve a conversation's preset) and the QML preset picker.
#pragma once

#include <QAbstractListModel>
#include <QVariantMap>

#include "GenerationTypes.h"

class AppSettings;

class PresetModel : public QAbstractListModel {
  Q_OBJECT
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)

 public:
  enum Role {
    NameRole = Qt::UserRole + 1,
    TemperatureRole,
    TopPRole,
    TopKRole,
    MinPRole,
    RepetitionPenaltyRole,
    MaxTokensRole,
    BuiltInRole,
  };
  Q_ENUM(Role)

  explicit PresetModel(AppSettings* settings, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  static QString defaultPresetName() { return QStringLiteral("Balanced"); }
  // The preset's settings; the default preset's for an unknown name.
  SamplingSettings sampling(const QString& name) const;
  Q_INVOKABLE QVariantMap preset(const QString& name) const;
  Q_INVOKABLE int indexOf(const QString& name) const;
  // Saves (or replaces) a user preset from {temperature, topP, topK, minP, repetitionPenalty,
  // maxTokens} (missing keys: the default preset's values); built-in names are refused.
  Q_INVOKABLE bool save(const QString& name, const QVariantMap& values);
  Q_INVOKABLE bool remove(const QString& name);

 signals:
  void countChanged();

 private:
  struct Preset {
    QString name;
    SamplingSettings sampling;
    bool builtIn = false;
  };
  void load();
  void store() const;
  static SamplingSettings fromMap(const QVariantMap& m);
  static QVariantMap toMap(const Preset& p);

  AppSettings* m_settings;
  QList<Preset> m_presets;
};
