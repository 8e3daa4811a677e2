// EngineWorker: load = inspect (fast validation) -> tokenizer -> chat template -> Model::load with
// progress; generation goes through ChatGeneration. Everything here runs on the engine thread.
#include "EngineWorker.h"

#include <algorithm>

#include <QElapsedTimer>

#include "ChatGeneration.h"
#include "EngineErrors.h"
#include "ModelDescription.h"
#include "ModelFolder.h"
#include "TokenGenerator.h"
#include "nibble/devices.h"
#include "nibble/plan.h"
#include "nibble/tokenizer.h"

EngineWorker::EngineWorker(std::shared_ptr<CancelState> cancel, std::shared_ptr<EngineCounters> counters, QObject* parent)
    : QObject(parent), m_cancel(std::move(cancel)), m_counters(std::move(counters)) {}

EngineWorker::~EngineWorker() { releaseModel(); }

void EngineWorker::releaseModel() {
  m_prompt.reset();
  m_model.reset();
  if (m_counters) m_counters->modelUnloaded();
}

void EngineWorker::queryDevices() {
  emit devicesFound(listDevices(), QString::fromStdString(nibble::default_device()));
}

void EngineWorker::loadModel(const LoadRequest& request) {
  auto cancelled = [&] { return m_cancel->loadsUpTo.load() >= request.id; };
  auto fail = [&](const nibble::Error& e) {
    emit loadFailed(request.id, toErrorInfo(e, ErrorInfo::Context::ModelLoad), m_model != nullptr);
  };
  if (cancelled()) return fail(nibble::make_error(nibble::ErrorKind::cancelled, "loading was cancelled"));

  const std::string dir = request.path.toStdString();
  auto info = nibble::inspect_model(dir);
  if (!info) return fail(info.error());
  auto tokenizer = nibble::Tokenizer::load(dir);
  if (!tokenizer) return fail(tokenizer.error());
  auto builder = std::make_shared<const PromptBuilder>(dir);
  if (cancelled()) return fail(nibble::make_error(nibble::ErrorKind::cancelled, "loading was cancelled"));
  // The folder looks loadable: free the current model's memory before placing the new one.
  releaseModel();

  nibble::LoadOptions options;
  options.device = request.device.isEmpty() ? nibble::default_device() : request.device.toStdString();
  options.context = request.context;
  options.threads = request.threads;
  if (!request.cacheType.isEmpty() && !nibble::parse_kv_cache_mode(request.cacheType.toStdString(), options.kv_cache))
    return fail(nibble::make_error(nibble::ErrorKind::invalid_argument,
                                   "unknown KV cache type '" + request.cacheType.toStdString() + "': use fp16, q8 or q4"));
  for (const LayerRange& r : request.placement)
    options.placement.push_back({r.device.toStdString(), r.firstLayer, r.lastLayer});
  if (!options.placement.empty()) options.device = options.placement.front().device;
  for (const QString& d : request.tensorParallel) options.tensor_parallel.push_back(d.toStdString());
  if (!options.tensor_parallel.empty()) {
    options.placement.clear();
    options.device = options.tensor_parallel.front();
  }
  options.reserve_bytes = static_cast<std::size_t>(std::max<qint64>(0, request.reserveBytes));
  QElapsedTimer sinceReport;
  sinceReport.start();
  options.progress = [&](std::size_t done, std::size_t total) {
    // Progress is reported at most ~30 times a second; the last step always.
    if (total > 0 && (done == total || sinceReport.elapsed() >= 33)) {
      sinceReport.restart();
      emit loadProgressed(request.id, static_cast<double>(done) / static_cast<double>(total));
    }
    return !cancelled();
  };
  auto model = nibble::Model::load(dir, options);
  if (!model) return fail(model.error());
  if (cancelled()) return fail(nibble::make_error(nibble::ErrorKind::cancelled, "loading was cancelled"));

  m_model = std::move(*model);
  auto prompt = std::make_shared<PromptContext>();
  prompt->tokenizer = std::shared_ptr<const nibble::Tokenizer>(std::move(*tokenizer));
  prompt->builder = builder;
  prompt->contextLength = m_model->pages_total() * m_model->page_size();
  m_prompt = prompt;
  if (m_counters) m_counters->modelLoaded(*m_model, options.device);

  ModelSummary s;
  s.path = request.path;
  s.name = modelNameFor(request.path);
  s.device = QString::fromStdString(options.device);
  const QVariantList devices = listDevices();
  for (const nibble::DeviceMemoryUse& use : m_model->memory_use()) {
    const QString id = QString::fromStdString(use.device);
    if (!s.devices.contains(id)) s.devices.append(id);
  }
  if (s.devices.isEmpty()) s.devices.append(s.device);
  s.deviceName = devicesDisplayName(devices, s.devices);
  s.architecture = QString::fromStdString(info->architecture);
  s.parameters = info->parameters;
  s.format = formatDescription(*info);
  s.contextLength = prompt->contextLength;
  s.maxContextLength = info->context_length;
  s.templateNote = builder->templateNote();
  emit modelLoaded(request.id, s, m_prompt);
}

void EngineWorker::unloadModel() {
  releaseModel();
  emit modelUnloaded();
}

void EngineWorker::generate(const GenerationRequest& request) {
  if (!m_model || !m_prompt) {
    emit generationFailed(request.id, ErrorInfo::make(ErrorKinds::InvalidArgument,
                                                      tr("No model is loaded."), ErrorInfo::Context::Generation));
    return;
  }
  ModelTokenGenerator generator(*m_model);
  ChatGeneration generation(generator, *m_prompt);
  const quint64 id = request.id;
  auto result = generation.run(
      request, [&] { return m_cancel->generationsUpTo.load() >= id; },
      [&](int promptTokens) {
        if (m_counters) m_counters->kvInUse(*m_model, true);
        emit generationStarted(id, promptTokens);
      },
      [&](const QString& content, const QString& reasoning) {
        if (m_counters) m_counters->kvInUse(*m_model, true);
        emit deltaProduced(id, content, reasoning);
      });
  if (m_counters) {
    m_counters->kvInUse(*m_model, false);
    if (result) {
      GenerationSample g;
      g.prefillTokensPerSecond = result->prefillTokensPerSecond;
      g.decodeTokensPerSecond = result->decodeTokensPerSecond;
      g.timeToFirstTokenMs = result->timeToFirstTokenMs;
      g.promptTokens = result->promptTokens;
      g.completionTokens = result->completionTokens;
      g.kvCapacityTokens = m_prompt->contextLength;
      g.kvTokens = std::min(result->promptTokens + result->completionTokens, g.kvCapacityTokens);
      m_counters->generationFinished(g);
    }
  }
  if (!result)
    emit generationFailed(id, toErrorInfo(result.error(), ErrorInfo::Context::Generation));
  else
    emit generationFinished(id, *result);
}
