// EngineController: request ids make every answer from the engine thread attributable, so a late
// answer for a cancelled load or a stopped reply is recognised; the state machine is
// NoModel/Failed -> Loading -> Loaded -> (Unloading) -> NoModel.
#include "EngineController.h"

#include <limits>

#include "EngineWorker.h"
#include "ModelDescription.h"
#include "ModelFolder.h"

EngineController::EngineController(QObject* parent)
    : QObject(parent), m_cancel(std::make_shared<CancelState>()), m_counters(std::make_shared<EngineCounters>()) {
  qRegisterMetaType<ErrorInfo>();
  qRegisterMetaType<GenerationRequest>();
  qRegisterMetaType<GenerationStats>();
  qRegisterMetaType<ModelSummary>();
  qRegisterMetaType<LoadRequest>();
  qRegisterMetaType<PromptContextPtr>();
  m_counter.setMaxThreadCount(1);

  m_thread.setObjectName(QStringLiteral("nibble-engine"));
  m_worker = new EngineWorker(m_cancel, m_counters);
  m_worker->moveToThread(&m_thread);
  connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
  connect(m_worker, &EngineWorker::devicesFound, this, [this](const QVariantList& devices, const QString& def) {
    m_devices = devices;
    m_defaultDevice = def;
    emit devicesChanged();
    emit deviceChanged();
  });
  connect(m_worker, &EngineWorker::loadProgressed, this, &EngineController::onLoadProgressed);
  connect(m_worker, &EngineWorker::modelLoaded, this, &EngineController::onModelLoaded);
  connect(m_worker, &EngineWorker::loadFailed, this, &EngineController::onLoadFailed);
  connect(m_worker, &EngineWorker::modelUnloaded, this, [this] {
    if (m_state != Unloading) return;
    m_model = {};
    m_prompt.reset();
    emit modelChanged();
    emit deviceChanged();
    setState(NoModel);
  });
  connect(m_worker, &EngineWorker::generationStarted, this, &EngineController::generationStarted);
  connect(m_worker, &EngineWorker::deltaProduced, this, &EngineController::deltaReceived);
  connect(m_worker, &EngineWorker::generationFinished, this, [this](quint64 id, const GenerationStats& stats) {
    emit generationFinished(id, stats);
    onGenerationEnded(id);
  });
  connect(m_worker, &EngineWorker::generationFailed, this, [this](quint64 id, const ErrorInfo& error) {
    emit generationFailed(id, error);
    onGenerationEnded(id);
  });
  m_thread.start();
  QMetaObject::invokeMethod(m_worker, &EngineWorker::queryDevices, Qt::QueuedConnection);
}

EngineController::~EngineController() {
  m_cancel->loadsUpTo = std::numeric_limits<quint64>::max();
  m_cancel->generationsUpTo = std::numeric_limits<quint64>::max();
  m_counter.waitForDone();
  m_thread.quit();
  m_thread.wait();
}

QString EngineController::deviceName() const {
  if (m_state == Loaded || m_state == Unloading) return m_model.deviceName;
  return deviceDisplayName(m_devices, m_defaultDevice);
}

void EngineController::setState(ModelState state) {
  if (m_state == state) return;
  m_state = state;
  emit modelStateChanged();
  emit deviceChanged();
}

void EngineController::loadModel(const QString& path, const QString& device, int context) {
  LoadRequest request;
  request.path = path;
  request.device = device;
  request.context = context;
  startLoad(request);
}

void EngineController::loadModel(const QString& path, const LoadRequest& choices) {
  LoadRequest request = choices;
  request.path = path;
  startLoad(request);
}

void EngineController::startLoad(LoadRequest request) {
  stopGeneration();
  if (m_activeLoad) m_cancel->loadsUpTo = m_activeLoad;
  request.id = m_nextId++;
  request.path = modelFolderFor(request.path);
  request.threads = m_cpuThreads;
  m_activeLoad = request.id;
  m_loadingPath = request.path;
  m_loadProgress = 0;
  emit loadProgressChanged();
  if (m_state == Loading)
    emit modelStateChanged();
  else
    setState(Loading);
  QMetaObject::invokeMethod(m_worker, [worker = m_worker, request] { worker->loadModel(request); }, Qt::QueuedConnection);
}

void EngineController::cancelLoad() {
  if (m_activeLoad) m_cancel->loadsUpTo = m_activeLoad;
}

void EngineController::unloadModel() {
  if (m_state != Loaded && m_state != Failed) return;
  stopGeneration();
  setState(Unloading);
  QMetaObject::invokeMethod(m_worker, &EngineWorker::unloadModel, Qt::QueuedConnection);
}

void EngineController::clearError() {
  if (!m_lastError.isError()) return;
  m_lastError = {};
  emit lastErrorChanged();
}

void EngineController::onLoadProgressed(quint64 id, double fraction) {
  if (id != m_activeLoad) return;
  m_loadProgress = fraction;
  emit loadProgressChanged();
}

void EngineController::onModelLoaded(quint64 id, const ModelSummary& summary,
                                     const std::shared_ptr<const PromptContext>& prompt) {
  if (id != m_activeLoad) return;
  m_activeLoad = 0;
  m_model = summary;
  m_prompt = prompt;
  m_loadProgress = 1;
  m_loadingPath.clear();
  emit loadProgressChanged();
  emit modelChanged();
  setState(Loaded);
  emit modelLoaded();
}

void EngineController::onLoadFailed(quint64 id, const ErrorInfo& error, bool modelKept) {
  if (!modelKept && !m_model.path.isEmpty()) {
    m_model = {};
    m_prompt.reset();
    emit modelChanged();
  }
  if (id != m_activeLoad) return;
  m_activeLoad = 0;
  m_loadingPath.clear();
  if (error.kind != ErrorKinds::Cancelled) {
    m_lastError = error;
    emit lastErrorChanged();
  }
  setState(modelKept && !m_model.path.isEmpty() ? Loaded : (error.kind == ErrorKinds::Cancelled ? NoModel : Failed));
  emit loadFailed(error);
}

quint64 EngineController::startGeneration(GenerationRequest request) {
  if (m_state != Loaded) return 0;
  stopGeneration();
  request.id = m_nextId++;
  m_activeGeneration = request.id;
  emit generatingChanged();
  QMetaObject::invokeMethod(m_worker, [worker = m_worker, request] { worker->generate(request); }, Qt::QueuedConnection);
  return request.id;
}

void EngineController::stopGeneration() {
  if (m_activeGeneration) m_cancel->generationsUpTo = m_activeGeneration;
}

void EngineController::onGenerationEnded(quint64 id) {
  if (id != m_activeGeneration) return;
  m_activeGeneration = 0;
  emit generatingChanged();
}

int EngineController::requestTokenCount(const QList<ChatTurn>& messages, const QString& draft) {
  if (!m_prompt) return 0;
  const int serial = ++m_countSerial;
  m_counter.start([this, serial, prompt = m_prompt, messages, draft] {
    int promptTokens = 0;
    int draftTokens = 0;
    if (!messages.isEmpty()) {
      auto ids = prompt->tokenizer->encode(prompt->builder->build(messages, false).text, false);
      if (ids) promptTokens = static_cast<int>(ids->size());
    }
    if (!draft.isEmpty()) {
      auto ids = prompt->tokenizer->encode(draft.toStdString(), false);
      if (ids) draftTokens = static_cast<int>(ids->size());
    }
    QMetaObject::invokeMethod(this, [this, serial, promptTokens, draftTokens] {
      emit tokenCountReady(serial, promptTokens, draftTokens);
    }, Qt::QueuedConnection);
  });
  return serial;
}
