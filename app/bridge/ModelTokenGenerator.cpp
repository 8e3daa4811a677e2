// ModelTokenGenerator: a fresh Sequence per reply (its pages go back to the pool when it ends);
// the prompt goes in max_batch_tokens at a time so a stop request lands within one chunk, then one
// forward step per token. Runs on the engine thread.
#include <algorithm>

#include "TokenGenerator.h"
#include "nibble/model.h"

int ModelTokenGenerator::contextLength() const { return m_model.pages_total() * m_model.page_size(); }

nibble::Result<TokenGenerationResult> ModelTokenGenerator::generate(std::span<const std::int32_t> prompt,
                                                                    const TokenGenerationOptions& options,
                                                                    const Callbacks& callbacks) {
  using nibble::ErrorKind;
  if (prompt.empty()) return nibble::make_error(ErrorKind::invalid_argument, "the prompt is empty");
  const int context = contextLength();
  if (static_cast<int>(prompt.size()) >= context)
    return nibble::make_error(ErrorKind::invalid_argument, "the prompt is ", prompt.size(), " tokens and the context holds ",
                              context, ": shorten the conversation or load the model with a longer context");
  auto stop = [&] { return callbacks.stopRequested && callbacks.stopRequested(); };

  TokenGenerationResult out;
  out.stop = TokenGenerationResult::Stop::Requested;
  auto sequence = m_model.new_sequence();
  std::vector<float> logits;
  const std::size_t chunk = static_cast<std::size_t>(std::max(1, m_model.max_batch_tokens()));
  for (std::size_t at = 0; at < prompt.size(); at += chunk) {
    if (stop()) return out;
    NIBBLE_TRY(sequence->append(prompt.subspan(at, std::min(chunk, prompt.size() - at)), false, logits));
  }
  if (callbacks.prefillDone) callbacks.prefillDone();

  Sampler sampler(options.sampler);
  std::vector<std::int32_t> history(prompt.begin(), prompt.end());
  const auto& stops = m_model.stop_ids();
  const int room = context - static_cast<int>(prompt.size());
  const int limit = std::min(options.maxTokens, room);
  while (static_cast<int>(out.ids.size()) < limit) {
    if (stop()) return out;
    const std::int32_t id = sampler.sample(logits, history);
    out.ids.push_back(id);
    history.push_back(id);
    if (callbacks.token) callbacks.token(id);
    if (options.stopAtEos && std::find(stops.begin(), stops.end(), id) != stops.end()) {
      out.stop = TokenGenerationResult::Stop::Eos;
      return out;
    }
    if (static_cast<int>(out.ids.size()) == limit) break;
    NIBBLE_TRY(sequence->append(std::span<const std::int32_t>(&id, 1), false, logits));
  }
  out.stop = TokenGenerationResult::Stop::Length;
  return out;
}
