// AppSettings: the interface's preferences and UI state, kept in QSettings (the XDG config
// location, ~/.config/Nibble/Nibble.conf): theme, font size, model defaults and library folders,
// user sampling presets. Conversation data lives in the history database, not here.
// Built by main.cpp (tests pass their own file); read and written by QML and the view models.
#pragma once

#include <memory>

#include <QObject>
#include <QSettings>
#include <QStringList>
#include <QVariantList>

class AppSettings : public QObject {
  Q_OBJECT
  Q_PROPERTY(QString theme READ theme WRITE setTheme NOTIFY themeChanged)  // "system", "light", "dark"
  Q_PROPERTY(double fontPointSize READ fontPointSize WRITE setFontPointSize NOTIFY fontPointSizeChanged)  // 0 = system
  Q_PROPERTY(QString defaultModelFolder READ defaultModelFolder WRITE setDefaultModelFolder NOTIFY defaultModelFolderChanged)
  Q_PROPERTY(int defaultContext READ defaultContext WRITE setDefaultContext NOTIFY defaultContextChanged)  // 0 = model's
  Q_PROPERTY(QString cacheType READ cacheType WRITE setCacheType NOTIFY cacheTypeChanged)  // "fp16", "q8", "q4"
  // Memory left free on every GPU when the model card plans a placement (GB, 0-64; default 0.5).
  Q_PROPERTY(double gpuReserveGb READ gpuReserveGb WRITE setGpuReserveGb NOTIFY gpuReserveGbChanged)
  Q_PROPERTY(QStringList modelRoots READ modelRoots WRITE setModelRoots NOTIFY modelRootsChanged)
  Q_PROPERTY(QVariantList userPresets READ userPresets WRITE setUserPresets NOTIFY userPresetsChanged)
  Q_PROPERTY(bool sidebarVisible READ sidebarVisible WRITE setSidebarVisible NOTIFY sidebarVisibleChanged)
  // The local API server (ServerController): on/off, port (1024-65535), API key ("" = none).
  Q_PROPERTY(bool serverEnabled READ serverEnabled WRITE setServerEnabled NOTIFY serverChanged)
  Q_PROPERTY(int serverPort READ serverPort WRITE setServerPort NOTIFY serverChanged)
  Q_PROPERTY(QString serverApiKey READ serverApiKey WRITE setServerApiKey NOTIFY serverChanged)
  // Save each finished chat completion served by the API as a conversation in the history (off by
  // default). Changing it does not restart the server.
  Q_PROPERTY(bool serverSaveHistory READ serverSaveHistory WRITE setServerSaveHistory NOTIFY serverSaveHistoryChanged)

 public:
  // `file` empty: the standard location; otherwise an INI file (tests).
  explicit AppSettings(const QString& file = {}, QObject* parent = nullptr);

  QString theme() const;
  void setTheme(const QString& theme);
  double fontPointSize() const;
  void setFontPointSize(double size);
  QString defaultModelFolder() const;
  void setDefaultModelFolder(const QString& folder);
  int defaultContext() const;
  void setDefaultContext(int tokens);
  QString cacheType() const;
  void setCacheType(const QString& type);
  double gpuReserveGb() const;
  void setGpuReserveGb(double gb);
  QStringList modelRoots() const;
  void setModelRoots(const QStringList& roots);
  Q_INVOKABLE void addModelRoot(const QString& root);
  Q_INVOKABLE void removeModelRoot(const QString& root);
  QVariantList userPresets() const;  // [{name, temperature, topP, maxTokens}]
  void setUserPresets(const QVariantList& presets);
  bool sidebarVisible() const;
  void setSidebarVisible(bool visible);
  bool serverEnabled() const;
  void setServerEnabled(bool enabled);
  int serverPort() const;
  void setServerPort(int port);
  QString serverApiKey() const;
  void setServerApiKey(const QString& key);
  bool serverSaveHistory() const;
  void setServerSaveHistory(bool save);

  // Generic UI state (window geometry, splitter positions): key -> value.
  Q_INVOKABLE QVariant value(const QString& key, const QVariant& fallback = {}) const;
  Q_INVOKABLE void setValue(const QString& key, const QVariant& value);
  void sync();

 signals:
  void themeChanged();
  void fontPointSizeChanged();
  void defaultModelFolderChanged();
  void defaultContextChanged();
  void cacheTypeChanged();
  void gpuReserveGbChanged();
  void modelRootsChanged();
  void userPresetsChanged();
  void sidebarVisibleChanged();
  void serverChanged();
  void serverSaveHistoryChanged();

 private:
  std::unique_ptr<QSettings> m_settings;
};
