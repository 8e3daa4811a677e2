// Value types that cross the engine thread: a chat generation request, its outcome and the
// summary of a loaded model. Made by ChatController/EngineController on the GUI thread and by
// EngineWorker on the engine thread; carried by queued signals.
#pragma once

#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVariantMap>
#include <QtGlobal>

struct ChatTurn {
  QString role;     // "system", "user", "assistant"
  QString content;
};

struct SamplingSettings {
  double temperature = 0.7;        // 0 = greedy
  double topP = 0.9;               // (0, 1]
  int topK = 0;                    // 0 = off
  double minP = 0.0;               // 0 = off
  double repetitionPenalty = 1.0;  // 1 = off
  int maxTokens = 1024;            // further capped by the free context
  quint64 seed = 0;                // 0 = a fresh random seed per reply
};

struct GenerationRequest {
  quint64 id = 0;              // assigned by EngineController::startGeneration
  QList<ChatTurn> messages;    // the conversation, system prompt first when there is one
  SamplingSettings sampling;
  bool continueLast = false;   // extend the last (assistant) message instead of answering
  bool stopAtEos = true;       // false: always generate maxTokens (benchmarks, tests)
};

struct GenerationStats {
  int promptTokens = 0;
  int completionTokens = 0;
  double timeToFirstTokenMs = 0;
  double prefillTokensPerSecond = 0;
  double decodeTokensPerSecond = 0;
  double totalMs = 0;
  QString stopReason;          // "eos", "length", "stopped"
  int droppedMessages = 0;     // oldest turns left out to fit the context
  QString templateNote;        // set when the model's chat template failed and ChatML was used

  QVariantMap toVariantMap() const;
};

struct ModelSummary {
  QString path;                // the model folder
  QString name;                // the folder's name
  QString device;              // "cpu", "cuda:0"
  QString deviceName;          // "CPU", "NVIDIA GeForce RTX 4090"; several: "cuda:0 + cuda:1 + CPU"
  QStringList devices;         // every device holding part of the model, in layer order
  QString architecture;
  qint64 parameters = 0;
  QString format;              // "fp16", "exl2 4.00 bpw", "gptq 4-bit"
  int contextLength = 0;       // the KV cache capacity chosen at load
  int maxContextLength = 0;    // the model's max_position_embeddings
  QString templateNote;        // why the chat template is not used, "" when it is

  QVariantMap toVariantMap() const;
};

Q_DECLARE_METATYPE(ChatTurn)
Q_DECLARE_METATYPE(GenerationRequest)
Q_DECLARE_METATYPE(GenerationStats)
Q_DECLARE_METATYPE(ModelSummary)
