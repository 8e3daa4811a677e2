// EngineController: the GUI thread's face of the engine. Owns the engine QThread and its
// EngineWorker; exposes model state, load progress, devices and generation as properties and
// signals. Never blocks: every request is a queued call, every cancel an atomic store. Built by
// main.cpp (or a test) and handed to AppController, ChatController and the QML.
#pragma once

#include <memory>

#include <QObject>
#include <QThread>
#include <QThreadPool>
#include <QVariantList>
#include <QVariantMap>

#include "ErrorInfo.h"
#include "GenerationTypes.h"
#include "LoadRequest.h"

class EngineWorker;
class EngineCounters;
struct CancelState;
struct PromptContext;

class EngineController : public QObject {
  Q_OBJECT
  Q_PROPERTY(ModelState modelState READ modelState NOTIFY modelStateChanged)
  Q_PROPERTY(double loadProgress READ loadProgress NOTIFY loadProgressChanged)
  Q_PROPERTY(QString modelName READ modelName NOTIFY modelChanged)
  Q_PROPERTY(QString modelPath READ modelPath NOTIFY modelChanged)
  Q_PROPERTY(QVariantMap model READ modelMap NOTIFY modelChanged)
  Q_PROPERTY(int contextLength READ contextLength NOTIFY modelChanged)
  Q_PROPERTY(QString deviceName READ deviceName NOTIFY deviceChanged)
  Q_PROPERTY(QString defaultDevice READ defaultDevice NOTIFY devicesChanged)
  Q_PROPERTY(QVariantList devices READ devices NOTIFY devicesChanged)
  Q_PROPERTY(bool generating READ generating NOTIFY generatingChanged)
  Q_PROPERTY(QVariantMap lastError READ lastErrorMap NOTIFY lastErrorChanged)
  Q_PROPERTY(QString loadingPath READ loadingPath NOTIFY modelStateChanged)

 public:
  enum ModelState { NoModel, Loading, Loaded, Unloading, Failed };
  Q_ENUM(ModelState)

  explicit EngineController(QObject* parent = nullptr);
  ~EngineController() override;  // stops generation and loading, then joins the engine thread

  ModelState modelState() const { return m_state; }
  double loadProgress() const { return m_loadProgress; }
  QString modelName() const { return m_model.name; }
  QString modelPath() const { return m_model.path; }
  const ModelSummary& model() const { return m_model; }
  QVariantMap modelMap() const { return m_model.toVariantMap(); }
  int contextLength() const { return m_model.contextLength; }
  QString deviceName() const;
  QString defaultDevice() const { return m_defaultDevice; }
  QVariantList devices() const { return m_devices; }
  bool generating() const { return m_activeGeneration != 0; }
  const ErrorInfo& lastError() const { return m_lastError; }
  QVariantMap lastErrorMap() const { return m_lastError.toVariantMap(); }
  QString loadingPath() const { return m_loadingPath; }

  // `path`: a model folder or a file in it; `device` empty = the default device; `context` 0 = the
  // engine's default. A running generation is stopped first.
  Q_INVOKABLE void loadModel(const QString& path, const QString& device = {}, int context = 0);
  // Loads with a placement (the model card's plan): `choices` gives context, KV cache type, the
  // layer ranges per device and the GPU reserve; its id, path and threads are set here.
  void loadModel(const QString& path, const LoadRequest& choices);
  Q_INVOKABLE void cancelLoad();
  Q_INVOKABLE void unloadModel();
  Q_INVOKABLE void clearError();
  // CPU threads for the next load (0 = one per core).
  void setCpuThreads(unsigned threads) { m_cpuThreads = threads; }

  // Starts a reply; returns its id (0 when no model is loaded). Stops any running one first.
  quint64 startGeneration(GenerationRequest request);
  Q_INVOKABLE void stopGeneration();
  quint64 activeGeneration() const { return m_activeGeneration; }

  // The engine's own figures (memory per device, load time, KV use, generation timings), written
  // by the engine thread; read them from any thread with EngineCounters::snapshot().
  std::shared_ptr<const EngineCounters> counters() const { return m_counters; }

  // Counts the tokens of the prompt `messages` would make, and of `draft` alone, off the GUI
  // thread; answers with tokenCountReady(serial, ...). 0 when no model is loaded.
  int requestTokenCount(const QList<ChatTurn>& messages, const QString& draft);

 signals:
  void modelStateChanged();
  void loadProgressChanged();
  void modelChanged();
  void deviceChanged();
  void devicesChanged();
  void generatingChanged();
  void lastErrorChanged();
  void modelLoaded();
  void loadFailed(const ErrorInfo& error);
  void generationStarted(quint64 id, int promptTokens);
  void deltaReceived(quint64 id, const QString& content, const QString& reasoning);
  void generationFinished(quint64 id, const GenerationStats& stats);
  void generationFailed(quint64 id, const ErrorInfo& error);
  void tokenCountReady(int serial, int promptTokens, int draftTokens);

 private:
  void setState(ModelState state);
  void startLoad(LoadRequest request);
  void onLoadProgressed(quint64 id, double fraction);
  void onModelLoaded(quint64 id, const ModelSummary& summary, const std::shared_ptr<const PromptContext>& prompt);
  void onLoadFailed(quint64 id, const ErrorInfo& error, bool modelKept);
  void onGenerationEnded(quint64 id);

  std::shared_ptr<CancelState> m_cancel;
  std::shared_ptr<EngineCounters> m_counters;
  QThread m_thread;
  EngineWorker* m_worker = nullptr;  // owned by m_thread (deleted when it finishes)
  std::shared_ptr<const PromptContext> m_prompt;
  ModelState m_state = NoModel;
  double m_loadProgress = 0;
  ModelSummary m_model;
  QString m_loadingPath;
  QVariantList m_devices;
  QString m_defaultDevice = QStringLiteral("cpu");
  ErrorInfo m_lastError;
  quint64 m_nextId = 1;
  quint64 m_activeLoad = 0;
  quint64 m_activeGeneration = 0;
  unsigned m_cpuThreads = 0;
  int m_countSerial = 0;
  QThreadPool m_counter;  // token counting; declared last so it is joined first
};
