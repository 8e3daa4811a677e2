// ScreenshotDirector: the developer option `nibble --screenshot FILE --state NAME`: puts the
// running window into a named state (empty, conversation, model-card, error, dashboard,
// server-settings, quantize-*), waits for it to settle, saves the window as PNG and quits. Used to make docs/screenshots; main.cpp builds it
// only when asked, always with a scratch history database.
#pragma once

#include <QObject>
#include <QString>

class QQuickWindow;
class ChatController;
class ConversationListModel;
class EngineController;
class HistoryService;
class ModelInspector;
class QuantizeWizard;

class ScreenshotDirector : public QObject {
  Q_OBJECT

 public:
  struct Services {
    EngineController* engine = nullptr;
    HistoryService* history = nullptr;
    ModelInspector* inspector = nullptr;
    ChatController* chat = nullptr;
    ConversationListModel* conversations = nullptr;
    QuantizeWizard* quantizer = nullptr;
  };
  static QStringList states();  // the names --state accepts

  ScreenshotDirector(QQuickWindow* window, const Services& services, QString state, QString file,
                     QString scratchDir, QObject* parent = nullptr);

  // Begins once the model has loaded; the application exits with 0 after saving (1 on failure).
  void start();

 private:
  void stage();
  void seedConversation();
  void stageDashboard();
  // The quantization wizard on the demo model: a step (0-3), a running job or the result.
  void stageQuantizer();
  // Drops `folder` on the window as a file manager would (drag enter, move, drop).
  void dropFolder(const QString& folder);
  void capture(int settleMs);
  void fail(const QString& why);

  QQuickWindow* m_window;
  Services m_s;
  QString m_state;
  QString m_file;
  QString m_scratchDir;
  bool m_started = false;
};
