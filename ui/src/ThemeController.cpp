// ThemeController: the light and dark palettes follow the Fusion style's roles, tuned for
// readable contrast (WCAG AA for text on window and base colours).
#include "ThemeController.h"

#include <QEvent>
#include <QFontDatabase>
#include <QGuiApplication>

#include "AppSettings.h"

ThemeController::ThemeController(AppSettings* settings, QObject* parent)
    : QObject(parent), m_settings(settings), m_systemFont(QGuiApplication::font()) {
  connect(m_settings, &AppSettings::themeChanged, this, &ThemeController::apply);
  connect(m_settings, &AppSettings::fontPointSizeChanged, this, &ThemeController::apply);
  if (qApp) qApp->installEventFilter(this);
  apply();
}

bool ThemeController::eventFilter(QObject* watched, QEvent* event) {
  // The desktop switched between light and dark while Nibble follows the system.
  if (watched == qApp && event->type() == QEvent::ApplicationPaletteChange && !m_applying) emit themeApplied();
  return QObject::eventFilter(watched, event);
}

bool ThemeController::dark() const { return QGuiApplication::palette().color(QPalette::Window).lightness() < 128; }

QString ThemeController::effectiveTheme() const { return dark() ? QStringLiteral("dark") : QStringLiteral("light"); }

QFont ThemeController::fixedFont() const {
  QFont font = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  font.setPointSizeF(QGuiApplication::font().pointSizeF() * 0.95);
  return font;
}

QVariantMap ThemeController::colors() const {
  const QPalette p = QGuiApplication::palette();
  const std::pair<const char*, QPalette::ColorRole> roles[] = {
      {"window", QPalette::Window},         {"windowText", QPalette::WindowText},
      {"base", QPalette::Base},             {"alternateBase", QPalette::AlternateBase},
      {"text", QPalette::Text},             {"placeholderText", QPalette::PlaceholderText},
      {"button", QPalette::Button},         {"buttonText", QPalette::ButtonText},
      {"brightText", QPalette::BrightText}, {"highlight", QPalette::Highlight},
      {"highlightedText", QPalette::HighlightedText}, {"link", QPalette::Link},
      {"toolTipBase", QPalette::ToolTipBase}, {"toolTipText", QPalette::ToolTipText},
      {"light", QPalette::Light},           {"midlight", QPalette::Midlight},
      {"mid", QPalette::Mid},               {"dark", QPalette::Dark},
      {"shadow", QPalette::Shadow},
  };
  QVariantMap out;
  for (const auto& [name, role] : roles) out.insert(QString::fromLatin1(name), p.color(QPalette::Active, role));
  out.insert(QStringLiteral("disabledText"), p.color(QPalette::Disabled, QPalette::Text));
  out.insert(QStringLiteral("disabledWindowText"), p.color(QPalette::Disabled, QPalette::WindowText));
  out.insert(QStringLiteral("disabledButtonText"), p.color(QPalette::Disabled, QPalette::ButtonText));
  return out;
}

void ThemeController::setOverride(const QString& theme) {
  m_override = theme;
  apply();
}

void ThemeController::apply() {
  m_applying = true;
  const QString theme = m_override.isEmpty() ? m_settings->theme() : m_override;
  if (theme == QLatin1String("dark"))
    QGuiApplication::setPalette(darkPalette());
  else if (theme == QLatin1String("light"))
    QGuiApplication::setPalette(lightPalette());
  else
    QGuiApplication::setPalette(QPalette());  // no palette of our own: the platform's, live
  QFont font = m_systemFont;
  if (m_settings->fontPointSize() > 0) font.setPointSizeF(m_settings->fontPointSize());
  QGuiApplication::setFont(font);
  m_applying = false;
  emit themeApplied();
}

QPalette ThemeController::lightPalette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0xf4, 0xf5, 0xf7));
  p.setColor(QPalette::WindowText, QColor(0x1d, 0x20, 0x24));
  p.setColor(QPalette::Base, QColor(0xff, 0xff, 0xff));
  p.setColor(QPalette::AlternateBase, QColor(0xec, 0xee, 0xf1));
  p.setColor(QPalette::Text, QColor(0x1d, 0x20, 0x24));
  p.setColor(QPalette::PlaceholderText, QColor(0x6b, 0x70, 0x78));
  p.setColor(QPalette::Button, QColor(0xe9, 0xeb, 0xee));
  p.setColor(QPalette::ButtonText, QColor(0x1d, 0x20, 0x24));
  p.setColor(QPalette::BrightText, Qt::white);
  p.setColor(QPalette::Highlight, QColor(0x2f, 0x6f, 0xd6));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x1f, 0x5f, 0xc4));
  p.setColor(QPalette::ToolTipBase, QColor(0xff, 0xff, 0xe8));
  p.setColor(QPalette::ToolTipText, QColor(0x1d, 0x20, 0x24));
  p.setColor(QPalette::Light, Qt::white);
  p.setColor(QPalette::Midlight, QColor(0xdc, 0xdf, 0xe4));
  p.setColor(QPalette::Mid, QColor(0xb8, 0xbd, 0xc5));
  p.setColor(QPalette::Dark, QColor(0x8a, 0x90, 0x99));
  p.setColor(QPalette::Shadow, QColor(0x4a, 0x4f, 0x57));
  p.setColor(QPalette::Disabled, QPalette::Text, QColor(0x9a, 0x9f, 0xa6));
  p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0x9a, 0x9f, 0xa6));
  p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x9a, 0x9f, 0xa6));
  return p;
}

QPalette ThemeController::darkPalette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0x1f, 0x21, 0x25));
  p.setColor(QPalette::WindowText, QColor(0xe6, 0xe8, 0xeb));
  p.setColor(QPalette::Base, QColor(0x17, 0x19, 0x1c));
  p.setColor(QPalette::AlternateBase, QColor(0x2a, 0x2d, 0x32));
  p.setColor(QPalette::Text, QColor(0xe6, 0xe8, 0xeb));
  p.setColor(QPalette::PlaceholderText, QColor(0x8e, 0x94, 0x9c));
  p.setColor(QPalette::Button, QColor(0x30, 0x33, 0x39));
  p.setColor(QPalette::ButtonText, QColor(0xe6, 0xe8, 0xeb));
  p.setColor(QPalette::BrightText, Qt::white);
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x7e, 0xe6));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x7a, 0xb0, 0xff));
  p.setColor(QPalette::ToolTipBase, QColor(0x30, 0x33, 0x39));
  p.setColor(QPalette::ToolTipText, QColor(0xe6, 0xe8, 0xeb));
  p.setColor(QPalette::Light, QColor(0x45, 0x49, 0x50));
  p.setColor(QPalette::Midlight, QColor(0x38, 0x3b, 0x41));
  p.setColor(QPalette::Mid, QColor(0x2b, 0x2e, 0x33));
  p.setColor(QPalette::Dark, QColor(0x14, 0x15, 0x18));
  p.setColor(QPalette::Shadow, Qt::black);
  p.setColor(QPalette::Disabled, QPalette::Text, QColor(0x6c, 0x71, 0x78));
  p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0x6c, 0x71, 0x78));
  p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x6c, 0x71, 0x78));
  return p;
}
