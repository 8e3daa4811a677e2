// AppController: the application-level facade the QML sees as `app` (model name and path, device
// badge). Lives on the GUI thread; engine work will be posted to the engine worker it owns.
#pragma once

#include <QObject>
#include <QString>

class AppController : public QObject {
  Q_OBJECT
  Q_PROPERTY(QString modelPath READ modelPath NOTIFY modelChanged)
  Q_PROPERTY(QString modelName READ modelName NOTIFY modelChanged)
  Q_PROPERTY(QString deviceName READ deviceName NOTIFY deviceChanged)

 public:
  explicit AppController(QObject* parent = nullptr);

  QString modelPath() const { return m_modelPath; }
  QString modelName() const { return m_modelName; }
  QString deviceName() const { return m_deviceName; }

  // Remembers the model folder to open (the name shown is the folder's name).
  void setModelPath(const QString& path);

 signals:
  void modelChanged();
  void deviceChanged();

 private:
  QString m_modelPath;
  QString m_modelName;
  QString m_deviceName;
};
