// EngineWorker: lives on the engine QThread and owns the engine objects (model, tokenizer, chat
// template). Requests arrive as queued slot calls; results leave as signals with value types.
// Cancellation is by shared atomic counters, since a busy worker does not read its queue.
// Bridge-internal: created, moved to its thread and driven only by EngineController.
#pragma once

#include <atomic>
#include <memory>

#include <QObject>

#include "EngineCounters.h"
#include "ErrorInfo.h"
#include "GenerationTypes.h"
#include "LoadRequest.h"
#include "PromptBuilder.h"
#include "nibble/model.h"

// Requests with an id at or below these are cancelled (written by the GUI thread).
struct CancelState {
  std::atomic<quint64> loadsUpTo{0};
  std::atomic<quint64> generationsUpTo{0};
};

using PromptContextPtr = std::shared_ptr<const PromptContext>;
Q_DECLARE_METATYPE(PromptContextPtr)

class EngineWorker : public QObject {
  Q_OBJECT

 public:
  // `counters` (may be null): where the dashboard's figures are published.
  explicit EngineWorker(std::shared_ptr<CancelState> cancel, std::shared_ptr<EngineCounters> counters = {},
                        QObject* parent = nullptr);
  ~EngineWorker() override;

 public slots:
  void queryDevices();
  void loadModel(const LoadRequest& request);
  void unloadModel();
  void generate(const GenerationRequest& request);

 signals:
  void devicesFound(const QVariantList& devices, const QString& defaultDevice);
  void loadProgressed(quint64 id, double fraction);
  void modelLoaded(quint64 id, const ModelSummary& summary, const PromptContextPtr& prompt);
  // `modelKept`: the failure came before the previous model was released (it is still loaded).
  void loadFailed(quint64 id, const ErrorInfo& error, bool modelKept);
  void modelUnloaded();
  void generationStarted(quint64 id, int promptTokens);
  void deltaProduced(quint64 id, const QString& content, const QString& reasoning);
  void generationFinished(quint64 id, const GenerationStats& stats);
  void generationFailed(quint64 id, const ErrorInfo& error);

 private:
  void releaseModel();

  std::shared_ptr<CancelState> m_cancel;
  std::shared_ptr<EngineCounters> m_counters;
  std::unique_ptr<nibble::Model> m_model;
  PromptContextPtr m_prompt;
};
