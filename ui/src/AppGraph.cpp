// AppGraph: constructs the services in dependency order and tells the user, through the
// AppController's notice, when the history cannot be used or is shared with another Nibble.
#include "AppGraph.h"

#include <QCoreApplication>

AppGraph::AppGraph(const Options& options)
    : settings(options.settingsFile),
      theme(&settings),
      history(options.historyPath.isEmpty() ? HistoryService::defaultPath() : options.historyPath, options.history),
      inspector(),
      presets(&settings),
      conversations(&history),
      library(&history, &inspector, &settings),
      chat(&engine, &history, &presets),
      app(&engine, &history, &inspector, &settings),
      server(&engine, &settings, &history),
      dashboardMonitor(&engine),
      dashboard(&dashboardMonitor),
      quantizeService(&settings),
      quantizer(&quantizeService, &engine, &app, &settings) {
  app.setViews({&chat, &conversations, &library, &presets, &theme, &quantizer});
  app.setDashboard(&dashboard);
  if (!history.available())
    app.setNotice(QCoreApplication::translate("AppGraph", "Conversations cannot be saved: %1 (%2)")
                      .arg(history.openError().title, history.openError().message));
  else if (history.readOnly())
    app.setNotice(QCoreApplication::translate("AppGraph", "Conversations are shown but not saved: %1").arg(history.readOnlyReason()));
  else if (history.sharedWithAnotherInstance())
    app.setNotice(QCoreApplication::translate("AppGraph", "Another Nibble is using this history; replies it is writing are left alone."));
  else if (!quantizer.resumableJobs().isEmpty())
    app.setNotice(QCoreApplication::translate("AppGraph", "An unfinished quantization job can be resumed: open Quantize."));
}

void AppGraph::refreshViews() {
  conversations.refresh();
  library.refresh();
}
