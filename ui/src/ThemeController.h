// ThemeController: applies the appearance settings to the application: the system palette, or a
// light or dark one, and the font size. Tells QML whether the result is dark (for the few colours
// QML mixes itself). Built by main.cpp with AppSettings; reacts to its changes.
#pragma once

#include <QFont>
#include <QObject>
#include <QPalette>
#include <QVariantMap>

class AppSettings;

class ThemeController : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool dark READ dark NOTIFY themeApplied)
  Q_PROPERTY(QString effectiveTheme READ effectiveTheme NOTIFY themeApplied)
  Q_PROPERTY(QFont fixedFont READ fixedFont NOTIFY themeApplied)
  // The application palette's colours by role name ("window", "text", "disabledText", ...):
  // Main.qml sets them on the window, so every control follows the theme, not only those that
  // read the application palette.
  Q_PROPERTY(QVariantMap colors READ colors NOTIFY themeApplied)

 public:
  explicit ThemeController(AppSettings* settings, QObject* parent = nullptr);

  bool dark() const;
  QString effectiveTheme() const;  // "light" or "dark"
  QFont fixedFont() const;         // the system's monospace font at the interface's size
  QVariantMap colors() const;
  // A theme for this run only ("light", "dark", "system"), over the saved setting; "" clears it.
  void setOverride(const QString& theme);

  static QPalette lightPalette();
  static QPalette darkPalette();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 signals:
  void themeApplied();

 private:
  void apply();

  AppSettings* m_settings;
  QFont m_systemFont;
  QString m_override;
  bool m_applying = false;
};
