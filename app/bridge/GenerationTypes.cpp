// GenerationTypes: the maps QML reads for generation stats and the loaded model.
#include "GenerationTypes.h"

QVariantMap GenerationStats::toVariantMap() const {
  return {{QStringLiteral("promptTokens"), promptTokens},
          {QStringLiteral("completionTokens"), completionTokens},
          {QStringLiteral("timeToFirstTokenMs"), timeToFirstTokenMs},
          {QStringLiteral("prefillTokensPerSecond"), prefillTokensPerSecond},
          {QStringLiteral("decodeTokensPerSecond"), decodeTokensPerSecond},
          {QStringLiteral("totalMs"), totalMs},
          {QStringLiteral("stopReason"), stopReason},
          {QStringLiteral("droppedMessages"), droppedMessages},
          {QStringLiteral("templateNote"), templateNote}};
}

QVariantMap ModelSummary::toVariantMap() const {
  return {{QStringLiteral("path"), path},
          {QStringLiteral("name"), name},
          {QStringLiteral("device"), device},
          {QStringLiteral("deviceName"), deviceName},
          {QStringLiteral("devices"), devices},
          {QStringLiteral("architecture"), architecture},
          {QStringLiteral("parameters"), parameters},
          {QStringLiteral("format"), format},
          {QStringLiteral("contextLength"), contextLength},
          {QStringLiteral("maxContextLength"), maxContextLength},
          {QStringLiteral("templateNote"), templateNote}};
}
