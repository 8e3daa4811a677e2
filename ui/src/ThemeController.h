// ThemeController: applies the appearance settings to the application: the system palette, or a
// light or dark one, and the font size. Tells QML whether the result is dark (for the few colours
// QML mixes itself). Built by main.cpp with AppSettings; reacts to its changes.
#pragma once

#include <QFont>
#include <QObject>
#include <QPalette>

class AppSettings;

class ThemeController : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool dark READ dark NOTIFY themeApplied)
  Q_PROPERTY(QString effectiveTheme READ effectiveTheme NOTIFY themeApplied)
  Q_PROPERTY(QFont fixedFont READ fixedFont NOTIFY themeApplied)

 public:
  explicit ThemeController(AppSettings* settings, QObject* parent = nullptr);

  bool dark() const;
  QString effectiveTheme() const;  // "light" or "dark"
  QFont fixedFont() const;         // the system's monospace font at the interface's size
  // A theme for this run only ("light", "dark", "system"), over the saved setting; "" clears it.
  void setOverride(const QString& theme);

  static QPalette lightPalette();
  static QPalette darkPalette();

 signals:
  void themeApplied();

 private:
  void apply();

  AppSettings* m_settings;
  QPalette m_systemPalette;
  QFont m_systemFont;
  QString m_override;
};
