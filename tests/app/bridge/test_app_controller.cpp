// AppController: the model name follows the folder (or a file inside it) and changes are signalled.
#include <QSignalSpy>
#include <QtTest>

#include "AppController.h"

class TestAppController : public QObject {
  Q_OBJECT

 private slots:
  void nameFromFolderOrFile() {
    AppController c;
    QSignalSpy spy(&c, &AppController::modelChanged);
    c.setModelPath(QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m"));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(c.modelName(), QStringLiteral("dictlm-16m"));
    c.setModelPath(QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m/config.json"));
    QCOMPARE(c.modelName(), QStringLiteral("dictlm-16m"));
    QCOMPARE(spy.count(), 2);
  }
};

QTEST_MAIN(TestAppController)
#include "test_app_controller.moc"
