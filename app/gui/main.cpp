// nibble: builds the object graph (AppController), exposes it to QML as `app` and loads the main
// window. Usage: nibble [MODEL_DIR]; with no argument it opens the bundled demo model.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QUrl>
#include <QtQml/qqmlextensionplugin.h>

#include "AppController.h"
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

  QCommandLineParser parser;
  parser.setApplicationDescription("Chat with and quantize large language models locally.");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("model", "Model folder to open (default: the bundled demo model).");
  parser.process(application);

  AppController controller;
  const QStringList positional = parser.positionalArguments();
  const QString model = positional.isEmpty() ? defaultModelPath() : positional.first();
  if (!model.isEmpty()) controller.setModelPath(model);

  QQmlApplicationEngine engine;
  engine.rootContext()->setContextProperty("app", &controller);
  QObject::connect(&engine, &QQmlApplicationEngine::objectCreationFailed, &application,
                   [] { QCoreApplication::exit(1); }, Qt::QueuedConnection);
  engine.load(QUrl(QStringLiteral("qrc:/qt/qml/Nibble/Ui/qml/Main.qml")));
  if (engine.rootObjects().isEmpty()) return 1;
  return QApplication::exec();
}
