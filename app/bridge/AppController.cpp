// AppController: forwards the engine's model and device to the title bar and badge, remembers
// each loaded model in the library (history database) and reads/writes the trash retention.
#include "AppController.h"

#include <QDateTime>

#include "AppSettings.h"
#include "EngineController.h"
#include "HistoryService.h"
#include "ModelFolder.h"
#include "ModelInspector.h"
#include "PlacementModel.h"

AppController::AppController(EngineController* engine, HistoryService* history, ModelInspector* inspector,
                             AppSettings* settings, QObject* parent)
    : QObject(parent), m_engine(engine), m_history(history), m_inspector(inspector), m_settings(settings) {
  connect(m_engine, &EngineController::modelChanged, this, &AppController::modelChanged);
  connect(m_engine, &EngineController::modelStateChanged, this, &AppController::modelChanged);
  connect(m_engine, &EngineController::deviceChanged, this, &AppController::deviceChanged);
  connect(m_engine, &EngineController::modelLoaded, this, &AppController::rememberLoadedModel);
  if (m_history->available()) {
    m_history->retentionDays(this, [this](int days, const ErrorInfo& error) {
      if (error.isError() || days == m_retentionDays) return;
      m_retentionDays = days;
      emit retentionDaysChanged();
    });
  }
}

QString AppController::modelName() const {
  if (m_engine->modelState() == EngineController::Loading) return modelNameFor(m_engine->loadingPath());
  return m_engine->modelName();
}

QString AppController::modelPath() const {
  if (m_engine->modelState() == EngineController::Loading) return m_engine->loadingPath();
  return m_engine->modelPath();
}

QString AppController::deviceName() const { return m_engine->deviceName(); }

void AppController::setRetentionDays(int days) {
  if (days < 1 || days == m_retentionDays) return;
  m_retentionDays = days;
  emit retentionDaysChanged();
  m_history->setRetentionDays(days);
}

void AppController::setNotice(const QString& notice) {
  if (notice == m_notice) return;
  m_notice = notice;
  emit noticeChanged();
}

void AppController::openModel(const QString& path, const QString& device, int context) {
  m_engine->loadModel(path, device, context >= 0 ? context : m_settings->defaultContext());
}

bool AppController::openPlanned(const QString& path) {
  const PlacementModel* plan = m_inspector->placement();
  if (!plan->ready() || !plan->fits() || (plan->layerRanges().isEmpty() && plan->tensorParallelDevices().isEmpty()))
    return false;
  LoadRequest choices;
  choices.context = plan->resultContext();
  choices.cacheType = plan->cacheType();
  choices.placement = plan->layerRanges();
  choices.tensorParallel = plan->tensorParallelDevices();
  choices.reserveBytes = plan->reserveBytes();
  m_engine->loadModel(path, choices);
  return true;
}

void AppController::rememberLoadedModel() {
  const ModelSummary& m = m_engine->model();
  ModelRecordData r;
  r.path = m.path;
  r.name = m.name;
  r.architecture = m.architecture;
  r.quantization = m.format;
  r.format = m.format.section(QLatin1Char(','), 0, 0);
  r.parameters = m.parameters;
  r.contextLength = m.maxContextLength;
  r.lastUsedAt = QDateTime::currentMSecsSinceEpoch();
  m_history->upsertModel(r);
}
