// TokenGenerator: the one seam between a chat reply and the engine's decoding: prefill a prompt,
// then produce tokens one at a time until a stop token, the length limit or a stop request.
// ModelTokenGenerator implements it on the Model API with the bridge's Sampler (engine thread);
// engine/runtime's scheduler (continuous batching) slots in behind the same interface.
// Bridge-internal; used by ChatGeneration.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "Sampler.h"
#include "nibble/error.h"

namespace nibble {
class Model;
}

struct TokenGenerationOptions {
  int maxTokens = 1024;
  bool stopAtEos = true;  // end after a token of the model's stop list (it is reported, and counted)
  SamplerSettings sampler;
};

struct TokenGenerationResult {
  enum class Stop { Eos, Length, Requested };
  std::vector<std::int32_t> ids;  // the reply's tokens (prompt excluded)
  Stop stop = Stop::Length;
};

class TokenGenerator {
 public:
  struct Callbacks {
    std::function<bool()> stopRequested;        // polled between prefill chunks and after each token
    std::function<void()> prefillDone;          // the prompt is in the cache (before the first token)
    std::function<void(std::int32_t)> token;    // each new token, in order
  };

  virtual ~TokenGenerator() = default;
  // The tokens the context can hold (prompt plus reply).
  virtual int contextLength() const = 0;
  // Blocks until the reply ends. A stop request is no error (stop = Requested); an empty prompt,
  // or one longer than the context, is invalid_argument.
  virtual nibble::Result<TokenGenerationResult> generate(std::span<const std::int32_t> prompt,
                                                         const TokenGenerationOptions& options,
                                                         const Callbacks& callbacks) = 0;
};

// Decodes one sequence at a time with Model::new_sequence() (prefill in max_batch_tokens chunks).
class ModelTokenGenerator : public TokenGenerator {
 public:
  explicit ModelTokenGenerator(nibble::Model& model) : m_model(model) {}
  int contextLength() const override;
  nibble::Result<TokenGenerationResult> generate(std::span<const std::int32_t> prompt, const TokenGenerationOptions& options,
                                                 const Callbacks& callbacks) override;

 private:
  nibble::Model& m_model;
};
