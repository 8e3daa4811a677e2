// ChatGeneration: one chat reply on the engine thread: fits the conversation into the context,
// renders it with the chat template and encodes it, runs a TokenGenerator, and streams UTF-8-safe
// text split into answer and reasoning, coalesced to at most 60 deltas a second.
// Bridge-internal; called by EngineWorker.
#pragma once

#include <functional>

#include "GenerationTypes.h"
#include "PromptBuilder.h"
#include "TokenGenerator.h"
#include "nibble/error.h"

class ChatGeneration {
 public:
  using StartedFn = std::function<void(int promptTokens)>;
  using DeltaFn = std::function<void(const QString& content, const QString& reasoning)>;
  using StopFn = std::function<bool()>;

  ChatGeneration(TokenGenerator& generator, const PromptContext& prompt) : m_generator(generator), m_prompt(prompt) {}

  // Blocks until the reply ends (a stop token, max tokens, or `stopRequested` turned true, checked
  // during prefill and after every token). A stop is not an error: the stats say "stopped".
  nibble::Result<GenerationStats> run(const GenerationRequest& request, const StopFn& stopRequested,
                                      const StartedFn& started, const DeltaFn& delta);

 private:
  struct FittedPrompt {
    std::vector<std::int32_t> ids;
    int dropped = 0;
    QString note;
    bool opensReasoning = false;
  };
  nibble::Result<FittedPrompt> fit(const GenerationRequest& request, int context) const;

  TokenGenerator& m_generator;
  const PromptContext& m_prompt;
};
