// AppGraph: the application's object graph in one place: settings, theme, history, engine,
// inspector, view models and the AppController QML sees as `app`, wired as the app runs. Built
// by main.cpp and, the same way, by the UI tests; members are declared in construction order so
// that teardown stops a streaming reply (saved as interrupted) before the engine thread is joined
// and the history is closed last.
#pragma once

#include <QString>

#include "AppController.h"
#include "AppSettings.h"
#include "ChatController.h"
#include "ConversationListModel.h"
#include "DashboardMonitor.h"
#include "DashboardViewModel.h"
#include "EngineController.h"
#include "HistoryService.h"
#include "ModelInspector.h"
#include "ModelLibraryModel.h"
#include "PresetModel.h"
#include "ServerController.h"
#include "QuantizeService.h"
#include "QuantizeWizard.h"
#include "ThemeController.h"

class AppGraph {
 public:
  struct Options {
    QString settingsFile;          // "" = the standard QSettings location
    QString historyPath;           // "" = HistoryService::defaultPath()
    HistoryService::Options history;
  };

  explicit AppGraph(const Options& options);
  AppGraph(const AppGraph&) = delete;
  AppGraph& operator=(const AppGraph&) = delete;

  // Fills the sidebar and the library from the history (call once QML is loaded).
  void refreshViews();

  AppSettings settings;
  ThemeController theme;
  HistoryService history;
  EngineController engine;
  ModelInspector inspector;
  PresetModel presets;
  ConversationListModel conversations;
  ModelLibraryModel library;
  ChatController chat;
  AppController app;
  ServerController server;  // the local API server (settings: serverEnabled/Port/ApiKey/SaveHistory)
  DashboardMonitor dashboardMonitor;   // destroyed first: waits for a poll in flight
  DashboardViewModel dashboard;
  QuantizeService quantizeService;
  QuantizeWizard quantizer;
};
