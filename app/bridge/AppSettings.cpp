// AppSettings: each property is one QSettings key; values are checked on the way in so a bad
// file cannot put the interface into an odd state.
#include "AppSettings.h"

#include <QDir>
#include <QUrl>

namespace {

QString localPath(const QString& pathOrUrl) {
  return pathOrUrl.startsWith(QLatin1String("file:")) ? QUrl(pathOrUrl).toLocalFile() : pathOrUrl;
}

}  // namespace

AppSettings::AppSettings(const QString& file, QObject* parent)
    : QObject(parent),
      m_settings(file.isEmpty() ? std::make_unique<QSettings>() : std::make_unique<QSettings>(file, QSettings::IniFormat)) {}

QString AppSettings::theme() const {
  const QString t = m_settings->value(QStringLiteral("appearance/theme"), QStringLiteral("system")).toString();
  return (t == QLatin1String("light") || t == QLatin1String("dark")) ? t : QStringLiteral("system");
}

void AppSettings::setTheme(const QString& theme) {
  if (theme == this->theme()) return;
  m_settings->setValue(QStringLiteral("appearance/theme"), theme);
  emit themeChanged();
}

double AppSettings::fontPointSize() const {
  const double size = m_settings->value(QStringLiteral("appearance/fontPointSize"), 0.0).toDouble();
  return size >= 6.0 && size <= 40.0 ? size : 0.0;
}

void AppSettings::setFontPointSize(double size) {
  if (qFuzzyCompare(size + 1.0, fontPointSize() + 1.0)) return;
  m_settings->setValue(QStringLiteral("appearance/fontPointSize"), size);
  emit fontPointSizeChanged();
}

QString AppSettings::defaultModelFolder() const {
  return m_settings->value(QStringLiteral("models/defaultFolder"), QDir::homePath()).toString();
}

void AppSettings::setDefaultModelFolder(const QString& folder) {
  const QString path = localPath(folder);
  if (path == defaultModelFolder()) return;
  m_settings->setValue(QStringLiteral("models/defaultFolder"), path);
  emit defaultModelFolderChanged();
}

int AppSettings::defaultContext() const {
  const int tokens = m_settings->value(QStringLiteral("models/defaultContext"), 0).toInt();
  return tokens >= 0 && tokens <= (1 << 20) ? tokens : 0;
}

void AppSettings::setDefaultContext(int tokens) {
  if (tokens == defaultContext()) return;
  m_settings->setValue(QStringLiteral("models/defaultContext"), tokens);
  emit defaultContextChanged();
}

QString AppSettings::cacheType() const {
  const QString t = m_settings->value(QStringLiteral("models/cacheType"), QStringLiteral("fp16")).toString();
  return (t == QLatin1String("q8") || t == QLatin1String("q4")) ? t : QStringLiteral("fp16");
}

void AppSettings::setCacheType(const QString& type) {
  if (type == cacheType()) return;
  m_settings->setValue(QStringLiteral("models/cacheType"), type);
  emit cacheTypeChanged();
}

double AppSettings::gpuReserveGb() const {
  bool ok = false;
  const double gb = m_settings->value(QStringLiteral("models/gpuReserveGb"), 0.5).toDouble(&ok);
  return ok && gb >= 0 && gb <= 64 ? gb : 0.5;
}

void AppSettings::setGpuReserveGb(double gb) {
  gb = qBound(0.0, gb, 64.0);
  if (qFuzzyCompare(gb + 1, gpuReserveGb() + 1)) return;
  m_settings->setValue(QStringLiteral("models/gpuReserveGb"), gb);
  emit gpuReserveGbChanged();
}

QStringList AppSettings::modelRoots() const { return m_settings->value(QStringLiteral("models/roots")).toStringList(); }

void AppSettings::setModelRoots(const QStringList& roots) {
  if (roots == modelRoots()) return;
  m_settings->setValue(QStringLiteral("models/roots"), roots);
  emit modelRootsChanged();
}

void AppSettings::addModelRoot(const QString& root) {
  const QString path = QDir::cleanPath(localPath(root));
  QStringList roots = modelRoots();
  if (path.isEmpty() || roots.contains(path)) return;
  roots.append(path);
  setModelRoots(roots);
}

void AppSettings::removeModelRoot(const QString& root) {
  QStringList roots = modelRoots();
  if (roots.removeAll(root) > 0) setModelRoots(roots);
}

QVariantList AppSettings::userPresets() const { return m_settings->value(QStringLiteral("presets/user")).toList(); }

void AppSettings::setUserPresets(const QVariantList& presets) {
  m_settings->setValue(QStringLiteral("presets/user"), presets);
  emit userPresetsChanged();
}

bool AppSettings::sidebarVisible() const { return m_settings->value(QStringLiteral("ui/sidebarVisible"), true).toBool(); }

void AppSettings::setSidebarVisible(bool visible) {
  if (visible == sidebarVisible()) return;
  m_settings->setValue(QStringLiteral("ui/sidebarVisible"), visible);
  emit sidebarVisibleChanged();
}

QVariant AppSettings::value(const QString& key, const QVariant& fallback) const {
  return m_settings->value(QStringLiteral("ui/") + key, fallback);
}

void AppSettings::setValue(const QString& key, const QVariant& value) { m_settings->setValue(QStringLiteral("ui/") + key, value); }

void AppSettings::sync() { m_settings->sync(); }

bool AppSettings::serverEnabled() const { return m_settings->value(QStringLiteral("server/enabled"), false).toBool(); }

void AppSettings::setServerEnabled(bool enabled) {
  if (enabled == serverEnabled()) return;
  m_settings->setValue(QStringLiteral("server/enabled"), enabled);
  emit serverChanged();
}

int AppSettings::serverPort() const {
  const int port = m_settings->value(QStringLiteral("server/port"), 5001).toInt();
  return port >= 1024 && port <= 65535 ? port : 5001;
}

void AppSettings::setServerPort(int port) {
  if (port == serverPort() || port < 1024 || port > 65535) return;
  m_settings->setValue(QStringLiteral("server/port"), port);
  emit serverChanged();
}

QString AppSettings::serverApiKey() const { return m_settings->value(QStringLiteral("server/apiKey")).toString().trimmed(); }

void AppSettings::setServerApiKey(const QString& key) {
  if (key.trimmed() == serverApiKey()) return;
  m_settings->setValue(QStringLiteral("server/apiKey"), key.trimmed());
  emit serverChanged();
}

bool AppSettings::serverSaveHistory() const {
  return m_settings->value(QStringLiteral("server/saveHistory"), false).toBool();
}

void AppSettings::setServerSaveHistory(bool save) {
  if (save == serverSaveHistory()) return;
  m_settings->setValue(QStringLiteral("server/saveHistory"), save);
  emit serverSaveHistoryChanged();
}
