// AppController: the application-level facade the QML sees as `app`. Holds the bridge services
// (engine, history, inspector, settings) and the view objects main.cpp hands it, the loaded model's
// name and the device badge, and app-wide actions (open a model, history retention). Lives on the
// GUI thread; owns nothing it is given.
#pragma once

#include <QObject>
#include <QString>

#include "AppSettings.h"
#include "EngineController.h"
#include "HistoryService.h"
#include "ModelInspector.h"

class AppController : public QObject {
  Q_OBJECT
  Q_PROPERTY(EngineController* engine READ engine CONSTANT)
  Q_PROPERTY(HistoryService* history READ history CONSTANT)
  Q_PROPERTY(ModelInspector* inspector READ inspector CONSTANT)
  Q_PROPERTY(AppSettings* settings READ settings CONSTANT)
  Q_PROPERTY(QObject* chat READ chat CONSTANT)
  Q_PROPERTY(QObject* conversations READ conversations CONSTANT)
  Q_PROPERTY(QObject* library READ library CONSTANT)
  Q_PROPERTY(QObject* presets READ presets CONSTANT)
  Q_PROPERTY(QObject* theme READ theme CONSTANT)
  Q_PROPERTY(QObject* dashboard READ dashboard CONSTANT)
  Q_PROPERTY(QObject* quantizer READ quantizer CONSTANT)
  Q_PROPERTY(QString modelName READ modelName NOTIFY modelChanged)
  Q_PROPERTY(QString modelPath READ modelPath NOTIFY modelChanged)
  Q_PROPERTY(QString deviceName READ deviceName NOTIFY deviceChanged)
  Q_PROPERTY(int retentionDays READ retentionDays WRITE setRetentionDays NOTIFY retentionDaysChanged)
  Q_PROPERTY(QString notice READ notice NOTIFY noticeChanged)

 public:
  struct Views {
    QObject* chat = nullptr;
    QObject* conversations = nullptr;
    QObject* library = nullptr;
    QObject* presets = nullptr;
    QObject* theme = nullptr;
    QObject* quantizer = nullptr;  // the quantization wizard
  };

  AppController(EngineController* engine, HistoryService* history, ModelInspector* inspector, AppSettings* settings,
                QObject* parent = nullptr);

  // The view objects QML reaches through `app` (set once, before the QML loads).
  void setViews(const Views& views) { m_views = views; }

  EngineController* engine() const { return m_engine; }
  HistoryService* history() const { return m_history; }
  ModelInspector* inspector() const { return m_inspector; }
  AppSettings* settings() const { return m_settings; }
  QObject* chat() const { return m_views.chat; }
  QObject* conversations() const { return m_views.conversations; }
  QObject* library() const { return m_views.library; }
  QObject* presets() const { return m_views.presets; }
  QObject* theme() const { return m_views.theme; }
  // The VRAM / tokens-per-second dashboard's view model (set once, before QML loads).
  void setDashboard(QObject* dashboard) { m_dashboard = dashboard; }
  QObject* dashboard() const { return m_dashboard; }
  QObject* quantizer() const { return m_views.quantizer; }

  // The loaded model's folder name, or the one being loaded.
  QString modelName() const;
  QString modelPath() const;
  QString deviceName() const;
  int retentionDays() const { return m_retentionDays; }
  void setRetentionDays(int days);
  // A one-line message for the status area ("History opened read-only ...").
  QString notice() const { return m_notice; }
  void setNotice(const QString& notice);

  // Loads the model at `path` (folder or file in it) with the settings' context; `device` empty =
  // the default device.
  Q_INVOKABLE void openModel(const QString& path, const QString& device = {}, int context = -1);
  // Loads the model at `path` with the model card's plan (the inspector's PlacementModel: its
  // layer ranges per device, context, KV cache type and reserve). Refuses (false, nothing
  // starts) when the plan is not computed or does not fit; the card shows the plan's advice.
  Q_INVOKABLE bool openPlanned(const QString& path);

 signals:
  void modelChanged();
  void deviceChanged();
  void retentionDaysChanged();
  void noticeChanged();

 private:
  void rememberLoadedModel();

  EngineController* m_engine;
  HistoryService* m_history;
  ModelInspector* m_inspector;
  AppSettings* m_settings;
  Views m_views;
  QObject* m_dashboard = nullptr;
  int m_retentionDays = 30;
  QString m_notice;
};
