// nibble: builds the object graph (AppGraph: settings, history, engine, view models, AppController),
// exposes it to QML as `app` and loads the main window. Usage: nibble [MODEL_DIR]; with no argument it
// opens the bundled demo model. Developer options make screenshots with a scratch database.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QUrl>
#include <QtQml/qqmlextensionplugin.h>

#include "AppGraph.h"
#include "QmlRegistration.h"
#include "ScreenshotDirector.h"
#include "nibble/version.h"

Q_IMPORT_QML_PLUGIN(Nibble_UiPlugin)

namespace {

// The bundled demo model: installed next to the binary's share dir, or in the source tree.
QString defaultModelPath() {
  const QString app_dir = QCoreApplication::applicationDirPath();
  const QStringList candidates = {
      app_dir + "/../share/nibble/models/dictlm-16m",
      QStringLiteral(NIBBLE_SOURCE_RESOURCES) + "/models/dictlm-16m",
  };
  for (const QString& c : candidates)
    if (QFileInfo::exists(c + "/config.json")) return QDir(c).absolutePath();
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  QApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
  QApplication application(argc, argv);
  QApplication::setApplicationName("Nibble");
  QApplication::setOrganizationName("Nibble");
  QApplication::setApplicationVersion(NIBBLE_VERSION_STRING);
  QApplication::setDesktopFileName("io.github.nibble.Nibble");
  QApplication::setWindowIcon(QIcon::fromTheme("io.github.nibble.Nibble", QIcon(":/icons/nibble.svg")));
  QQuickStyle::setStyle(QStringLiteral("Fusion"));

  QCommandLineParser parser;
  parser.setApplicationDescription("Chat with and quantize large language models locally.");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("model", "Model folder to open (default: the bundled demo model).");
  QCommandLineOption themeOption("theme", "Theme for this run: system, light or dark.", "theme");
  QCommandLineOption historyOption("history", "Use this history database instead of the default one.", "file");
  QCommandLineOption screenshotOption("screenshot", "Developer: save a screenshot of --state to FILE and quit.", "file");
  QCommandLineOption stateOption("state", "Developer: " + ScreenshotDirector::states().join(", ") + ".", "name", "empty");
  parser.addOptions({themeOption, historyOption, screenshotOption, stateOption});
  parser.process(application);
  const bool screenshot = parser.isSet(screenshotOption);

  // Screenshots run on scratch settings and history so they never touch the user's own.
  QTemporaryDir scratch;
  AppGraph::Options options;
  if (screenshot) options.settingsFile = scratch.filePath("settings.ini");
  options.historyPath = parser.isSet(historyOption) ? parser.value(historyOption) : HistoryService::defaultPath();
  if (screenshot) options.historyPath = scratch.filePath("history.db");
  AppGraph graph(options);
  if (parser.isSet(themeOption)) graph.theme.setOverride(parser.value(themeOption));

  registerNibbleQmlTypes();
  QQmlApplicationEngine qml;
  qml.rootContext()->setContextProperty("app", &graph.app);
  qml.rootContext()->setContextProperty("apiServer", &graph.server);
  QObject::connect(&qml, &QQmlApplicationEngine::objectCreationFailed, &application,
                   [] { QCoreApplication::exit(1); }, Qt::QueuedConnection);
  qml.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
  if (qml.rootObjects().isEmpty()) return 1;

  const QStringList positional = parser.positionalArguments();
  const QString model = positional.isEmpty() ? defaultModelPath() : positional.first();
  if (!model.isEmpty()) graph.app.openModel(model);
  graph.refreshViews();

  std::unique_ptr<ScreenshotDirector> director;
  if (screenshot) {
    auto* window = qobject_cast<QQuickWindow*>(qml.rootObjects().first());
    director = std::make_unique<ScreenshotDirector>(
        window, ScreenshotDirector::Services{&graph.engine, &graph.history, &graph.inspector, &graph.chat, &graph.conversations, &graph.quantizer},
        parser.value(stateOption), parser.value(screenshotOption), scratch.path());
    director->start();
  }
  return QApplication::exec();
}
