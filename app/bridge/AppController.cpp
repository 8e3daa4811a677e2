// AppController: model selection and the device badge text.
#include "AppController.h"

#include <QDir>
#include <QFileInfo>

AppController::AppController(QObject* parent) : QObject(parent), m_deviceName(tr("CPU")) {}

void AppController::setModelPath(const QString& path) {
  const QFileInfo info(path);
  m_modelPath = info.absoluteFilePath();
  m_modelName = info.isDir() ? QDir(m_modelPath).dirName() : info.dir().dirName();
  emit modelChanged();
}
