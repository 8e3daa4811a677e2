// QuantizeWizard: the view model of the quantization wizard's six steps (source, target,
// calibration, output, run, result) over the bridge's QuantizeService. It checks each step before
// the next one opens (a model folder in fp16/bf16, a calibration file that exists, an output folder
// that can be written with enough free space), predicts the quantized size and the memory to run
// it, runs the job with progress and cancel, offers unfinished jobs for resume, and loads the
// result. Built by AppGraph; QML reaches it as `app.quantizer`.
#pragma once

#include <QObject>
#include <QVariantList>
#include <QVariantMap>

#include "ErrorInfo.h"
#include "ModelInspector.h"
#include "QuantizeService.h"

class AppController;
class AppSettings;
class EngineController;

class QuantizeWizard : public QObject {
  Q_OBJECT
  Q_PROPERTY(bool active READ active WRITE setActive NOTIFY activeChanged)
  Q_PROPERTY(int step READ step WRITE setStep NOTIFY stepChanged)
  Q_PROPERTY(bool canGoNext READ canGoNext NOTIFY stateChanged)
  // 1 source
  Q_PROPERTY(QString sourcePath READ sourcePath NOTIFY sourceChanged)
  Q_PROPERTY(QVariantMap sourceCard READ sourceCard NOTIFY sourceChanged)
  Q_PROPERTY(bool sourceChecking READ sourceChecking NOTIFY sourceChanged)
  Q_PROPERTY(bool sourceOk READ sourceOk NOTIFY sourceChanged)
  Q_PROPERTY(QVariantMap sourceError READ sourceError NOTIFY sourceChanged)
  // 2 target
  Q_PROPERTY(double bits READ bits WRITE setBits NOTIFY targetChanged)
  Q_PROPERTY(int headBits READ headBits WRITE setHeadBits NOTIFY targetChanged)
  Q_PROPERTY(QVariantList presets READ presets CONSTANT)
  Q_PROPERTY(QString presetName READ presetName NOTIFY targetChanged)
  Q_PROPERTY(int context READ context WRITE setContext NOTIFY targetChanged)
  Q_PROPERTY(QString cacheType READ cacheType WRITE setCacheType NOTIFY targetChanged)
  Q_PROPERTY(qint64 predictedBytes READ predictedBytes NOTIFY targetChanged)
  Q_PROPERTY(QString predictedSizeText READ predictedSizeText NOTIFY targetChanged)
  Q_PROPERTY(QVariantList memoryPlan READ memoryPlan NOTIFY targetChanged)
  // 3 calibration
  Q_PROPERTY(bool builtinCalibration READ builtinCalibration WRITE setBuiltinCalibration NOTIFY calibrationChanged)
  Q_PROPERTY(QString calibrationFile READ calibrationFile WRITE setCalibrationFile NOTIFY calibrationChanged)
  Q_PROPERTY(int rows READ rows WRITE setRows NOTIFY calibrationChanged)
  Q_PROPERTY(int length READ length WRITE setLength NOTIFY calibrationChanged)
  Q_PROPERTY(int measurementRows READ measurementRows WRITE setMeasurementRows NOTIFY calibrationChanged)
  Q_PROPERTY(QString calibrationProblem READ calibrationProblem NOTIFY calibrationChanged)
  Q_PROPERTY(QString device READ device WRITE setDevice NOTIFY calibrationChanged)  // "auto", "cpu", "cuda:N"
  Q_PROPERTY(QVariantList devices READ devices CONSTANT)                            // [{id, label}]
  // 4 output
  Q_PROPERTY(QString outputPath READ outputPath WRITE setOutputPath NOTIFY outputChanged)
  Q_PROPERTY(QString outputProblem READ outputProblem NOTIFY outputChanged)
  Q_PROPERTY(bool outputResumable READ outputResumable NOTIFY outputChanged)
  Q_PROPERTY(qint64 freeBytes READ freeBytes NOTIFY outputChanged)
  Q_PROPERTY(qint64 requiredBytes READ requiredBytes NOTIFY outputChanged)
  Q_PROPERTY(QString freeText READ freeText NOTIFY outputChanged)
  Q_PROPERTY(QString requiredText READ requiredText NOTIFY outputChanged)
  Q_PROPERTY(bool measurementAvailable READ measurementAvailable NOTIFY outputChanged)
  Q_PROPERTY(bool reuseMeasurement READ reuseMeasurement WRITE setReuseMeasurement NOTIFY outputChanged)
  Q_PROPERTY(QString measurementPath READ measurementPath NOTIFY outputChanged)
  // 5 run, 6 result
  Q_PROPERTY(bool running READ running NOTIFY runningChanged)
  Q_PROPERTY(QVariantMap progress READ progress NOTIFY progressChanged)
  Q_PROPERTY(QVariantMap error READ errorMap NOTIFY errorChanged)
  Q_PROPERTY(bool cancelled READ cancelled NOTIFY errorChanged)
  Q_PROPERTY(QVariantMap result READ result NOTIFY resultChanged)
  Q_PROPERTY(QString reportText READ reportText NOTIFY resultChanged)
  Q_PROPERTY(QVariantList resumableJobs READ resumableJobs NOTIFY resumableJobsChanged)

 public:
  enum Step { SourceStep, TargetStep, CalibrationStep, OutputStep, RunStep, ResultStep };
  Q_ENUM(Step)

  QuantizeWizard(QuantizeService* service, EngineController* engine, AppController* app, AppSettings* settings,
                 QObject* parent = nullptr);

  bool active() const { return m_active; }
  void setActive(bool active);
  int step() const { return m_step; }
  void setStep(int step);
  bool canGoNext() const;

  QString sourcePath() const { return m_sourcePath; }
  QVariantMap sourceCard() const { return m_inspector.card(); }
  bool sourceChecking() const { return m_checkSerial != 0 || m_inspector.busy(); }
  bool sourceOk() const { return m_source.ok && m_checkSerial == 0; }
  QVariantMap sourceError() const { return m_sourceError.toVariantMap(); }

  double bits() const { return m_bits; }
  void setBits(double bits);
  int headBits() const { return m_headBits; }
  void setHeadBits(int bits);
  QVariantList presets() const;
  QString presetName() const;
  int context() const { return m_context; }
  void setContext(int tokens);
  QString cacheType() const { return m_cacheType; }
  void setCacheType(const QString& type);
  qint64 predictedBytes() const;
  QString predictedSizeText() const;
  QVariantList memoryPlan() const;

  bool builtinCalibration() const { return m_builtinCalibration; }
  void setBuiltinCalibration(bool builtin);
  QString calibrationFile() const { return m_calibrationFile; }
  void setCalibrationFile(const QString& file);
  int rows() const { return m_rows; }
  void setRows(int rows);
  int length() const { return m_length; }
  void setLength(int length);
  int measurementRows() const { return m_measurementRows; }
  void setMeasurementRows(int rows);
  QString device() const { return m_device; }
  void setDevice(const QString& device);
  QVariantList devices() const { return m_devices; }
  QString calibrationProblem() const;

  QString outputPath() const { return m_outputPath; }
  void setOutputPath(const QString& path);
  QString outputProblem() const;
  bool outputResumable() const { return QuantizeService::hasJobRecord(m_outputPath); }
  qint64 freeBytes() const;
  qint64 requiredBytes() const;
  QString freeText() const;
  QString requiredText() const;
  bool measurementAvailable() const;
  bool reuseMeasurement() const { return m_reuseMeasurement; }
  void setReuseMeasurement(bool reuse);
  QString measurementPath() const;

  bool running() const { return m_service->running(); }
  QVariantMap progress() const { return m_service->progress(); }
  const ErrorInfo& error() const { return m_error; }
  QVariantMap errorMap() const { return m_error.toVariantMap(); }
  bool cancelled() const { return m_error.kind == ErrorKinds::Cancelled; }
  QVariantMap result() const { return m_result; }
  QString reportText() const;
  QVariantList resumableJobs() const { return m_service->resumableJobs(); }

  // The job settings the steps add up to.
  QuantJobSettings jobSettings() const;
  // Perplexity windows x tokens scored before/after (0 windows: skip); threads for the job (0 = all).
  void setEvaluation(int windows, int length) { m_evalWindows = windows; m_evalLength = length; }
  void setThreads(unsigned threads) { m_threads = threads; }
  // Tests: pretend the output volume has this many free bytes (-1: ask the volume).
  void setFreeBytesOverride(qint64 bytes);

  // Checks `path` (a folder, a file in it or a file:// URL) as the source; resets later steps' defaults.
  Q_INVOKABLE void setSource(const QString& path);
  Q_INVOKABLE void applyPreset(const QString& name);
  Q_INVOKABLE void next();
  Q_INVOKABLE void back();
  // Starts (or resumes, when the output holds this job's record) and shows the run step.
  Q_INVOKABLE bool start();
  Q_INVOKABLE void cancel();
  // Resumes a remembered unfinished job (by its output folder) with its saved settings.
  Q_INVOKABLE bool resume(const QString& output);
  Q_INVOKABLE void discardJob(const QString& output);
  // Loads the quantized model in the engine and closes the wizard.
  Q_INVOKABLE void loadNow();
  Q_INVOKABLE bool openFolder() const;
  // Back to step 1 with the defaults (keeps nothing of the last job but the remembered ones).
  Q_INVOKABLE void reset();

 signals:
  void activeChanged();
  void stepChanged();
  void stateChanged();
  void sourceChanged();
  void targetChanged();
  void calibrationChanged();
  void outputChanged();
  void runningChanged();
  void progressChanged();
  void errorChanged();
  void resultChanged();
  void resumableJobsChanged();
  void jobFinished();
  void jobFailed();

 private:
  void onSourceChecked(int serial, const QuantSourceCheck& check);
  void onFinished(const QVariantMap& result);
  void onFailed(const ErrorInfo& error);
  void applySettings(const QuantJobSettings& s);
  QString defaultOutputFor(const QString& source, double bits) const;

  QuantizeService* m_service;
  EngineController* m_engine;
  AppController* m_app;
  AppSettings* m_settings;
  ModelInspector m_inspector;  // the wizard's own: the app-wide one opens the model card
  bool m_active = false;
  int m_step = SourceStep;
  QString m_sourcePath;
  QuantSourceCheck m_source;
  ErrorInfo m_sourceError;
  int m_checkSerial = 0;
  double m_bits = 4.0;
  int m_headBits = 6;
  int m_context = 8192;
  QString m_cacheType = QStringLiteral("fp16");
  bool m_builtinCalibration = true;
  QString m_calibrationFile;
  int m_rows = 100;
  int m_length = 2048;
  int m_measurementRows = 16;
  QString m_device = QStringLiteral("auto");
  QVariantList m_devices = QuantizeService::deviceChoices();
  QString m_outputPath;
  bool m_outputEdited = false;
  bool m_reuseMeasurement = true;
  qint64 m_freeOverride = -1;
  ErrorInfo m_error;
  QVariantMap m_result;
  int m_evalWindows = 16;
  int m_evalLength = 512;
  unsigned m_threads = 0;
};
