// ChatGeneration: the oldest turns, never the system prompt or the last message, are dropped
// until the prompt leaves room for a reply. Time to first token counts from the request (render,
// encode and prefill), as the user waits for it.
#include "ChatGeneration.h"

#include <algorithm>

#include <QElapsedTimer>

#include "DeltaCoalescer.h"
#include "ThinkSplitter.h"

namespace {

constexpr int kMinReplyTokens = 16;

bool endsWithOpenThink(const std::string& text) {
  const auto end = text.find_last_not_of(" \n\r\t");
  static const std::string open = "<think>";
  return end != std::string::npos && end + 1 >= open.size() && text.compare(end + 1 - open.size(), open.size(), open) == 0;
}

SamplerSettings samplerSettings(const SamplingSettings& s) {
  SamplerSettings out;
  out.temperature = s.temperature;
  out.topP = s.topP;
  out.topK = s.topK;
  out.minP = s.minP;
  out.repetitionPenalty = s.repetitionPenalty;
  out.seed = s.seed;
  return out;
}

}  // namespace

nibble::Result<ChatGeneration::FittedPrompt> ChatGeneration::fit(const GenerationRequest& request, int context) const {
  QList<ChatTurn> messages = request.messages;
  FittedPrompt out;
  for (;;) {
    BuiltPrompt built = m_prompt.builder->build(messages, request.continueLast);
    NIBBLE_ASSIGN_OR_RETURN(out.ids, m_prompt.tokenizer->encode(built.text, false));
    out.note = built.fallbackNote;
    out.opensReasoning = !request.continueLast && endsWithOpenThink(built.text);
    if (static_cast<int>(out.ids.size()) + kMinReplyTokens <= context) return out;
    const int first = !messages.isEmpty() && messages.first().role == QLatin1String("system") ? 1 : 0;
    if (messages.size() - first <= 1)
      return nibble::make_error(nibble::ErrorKind::invalid_argument, "the prompt is ", out.ids.size(),
                                " tokens and the context holds ", context,
                                ": shorten the message or load the model with a longer context");
    messages.removeAt(first);
    ++out.dropped;
  }
}

nibble::Result<GenerationStats> ChatGeneration::run(const GenerationRequest& request, const StopFn& stopRequested,
                                                     const StartedFn& started, const DeltaFn& delta) {
  QElapsedTimer clock;
  clock.start();
  NIBBLE_ASSIGN_OR_RETURN(FittedPrompt prompt, fit(request, m_generator.contextLength()));
  GenerationStats stats;
  stats.promptTokens = static_cast<int>(prompt.ids.size());
  stats.droppedMessages = prompt.dropped;
  stats.templateNote = prompt.note;
  if (started) started(stats.promptTokens);

  auto stream = m_prompt.tokenizer->make_stream(true);
  ThinkSplitter splitter(prompt.opensReasoning);
  DeltaCoalescer coalescer(60);
  const qint64 prefillStartNs = clock.nsecsElapsed();
  qint64 prefillEndNs = 0;
  qint64 firstTokenNs = 0;

  TokenGenerationOptions options;
  options.maxTokens = std::max(0, request.sampling.maxTokens);
  options.stopAtEos = request.stopAtEos;
  options.sampler = samplerSettings(request.sampling);
  TokenGenerator::Callbacks callbacks;
  callbacks.stopRequested = stopRequested;
  callbacks.prefillDone = [&] { prefillEndNs = clock.nsecsElapsed(); };
  callbacks.token = [&](std::int32_t id) {
    if (stats.completionTokens++ == 0) firstTokenNs = clock.nsecsElapsed();
    QString content, reasoning;
    splitter.push(QString::fromStdString(stream->push(id)), content, reasoning);
    if (coalescer.push(content, reasoning, clock.elapsed())) {
      coalescer.take(clock.elapsed(), content, reasoning);
      delta(content, reasoning);
    }
  };
  auto result = m_generator.generate(prompt.ids, options, callbacks);

  QString content, reasoning;
  splitter.push(QString::fromStdString(stream->flush()), content, reasoning);
  splitter.flush(content, reasoning);
  coalescer.push(content, reasoning, clock.elapsed());
  if (coalescer.hasPending()) {
    coalescer.take(clock.elapsed(), content, reasoning);
    delta(content, reasoning);
  }
  if (!result) return std::move(result).error();

  const qint64 endNs = clock.nsecsElapsed();
  stats.totalMs = static_cast<double>(endNs) / 1e6;
  if (prefillEndNs > prefillStartNs)
    stats.prefillTokensPerSecond = stats.promptTokens / (static_cast<double>(prefillEndNs - prefillStartNs) / 1e9);
  if (stats.completionTokens > 0) {
    const double decodeS = static_cast<double>(endNs - firstTokenNs) / 1e9;
    stats.timeToFirstTokenMs = static_cast<double>(firstTokenNs) / 1e6;
    stats.decodeTokensPerSecond = stats.completionTokens > 1 && decodeS > 0 ? (stats.completionTokens - 1) / decodeS : 0;
  }
  switch (result->stop) {
    case TokenGenerationResult::Stop::Eos: stats.stopReason = QStringLiteral("eos"); break;
    case TokenGenerationResult::Stop::Length: stats.stopReason = QStringLiteral("length"); break;
    case TokenGenerationResult::Stop::Requested: stats.stopReason = QStringLiteral("stopped"); break;
  }
  return stats;
}
