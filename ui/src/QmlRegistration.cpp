// Registers the bridge types QML names directly; the objects themselves are handed to QML by
// main.cpp through AppController.
#include "QmlRegistration.h"

#include <QtQml/qqml.h>

#include "AppSettings.h"
#include "ChatController.h"
#include "ConversationListModel.h"
#include "DashboardViewModel.h"
#include "EngineController.h"
#include "ErrorInfo.h"
#include "HistoryService.h"
#include "MessageListModel.h"
#include "ModelInspector.h"
#include "ModelLibraryModel.h"
#include "PlacementModel.h"
#include "PresetModel.h"
#include "QuantizeWizard.h"
#include "ThemeController.h"

void registerNibbleQmlTypes() {
  static bool done = false;
  if (done) return;
  done = true;
  const char* uri = "Nibble.Bridge";
  const QString why = QStringLiteral("created by the application");
  qmlRegisterUncreatableType<EngineController>(uri, 1, 0, "EngineController", why);
  qmlRegisterUncreatableMetaObject(ErrorKinds::staticMetaObject, uri, 1, 0, "ErrorKinds", why);
  qmlRegisterUncreatableType<HistoryService>(uri, 1, 0, "HistoryService", why);
  qmlRegisterUncreatableType<ModelInspector>(uri, 1, 0, "ModelInspector", why);
  qmlRegisterUncreatableType<AppSettings>(uri, 1, 0, "AppSettings", why);
  qmlRegisterUncreatableType<ChatController>(uri, 1, 0, "ChatController", why);
  qmlRegisterUncreatableType<MessageListModel>(uri, 1, 0, "MessageListModel", why);
  qmlRegisterUncreatableType<ConversationListModel>(uri, 1, 0, "ConversationListModel", why);
  qmlRegisterUncreatableType<ModelLibraryModel>(uri, 1, 0, "ModelLibraryModel", why);
  qmlRegisterUncreatableType<PlacementModel>(uri, 1, 0, "PlacementModel", why);
  qmlRegisterUncreatableType<PresetModel>(uri, 1, 0, "PresetModel", why);
  qmlRegisterUncreatableType<ThemeController>(uri, 1, 0, "ThemeController", why);
  qmlRegisterUncreatableType<DashboardViewModel>(uri, 1, 0, "DashboardViewModel", why);
  qmlRegisterUncreatableType<QuantizeWizard>(uri, 1, 0, "QuantizeWizard", why);
}
