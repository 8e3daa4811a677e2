// Sampler: picks the next token from one row of logits: greedy, or temperature with top-k, top-p
// and min-p truncation and a repetition penalty over recent tokens (HF's definitions). Pure
// computation on the engine thread; used by ModelTokenGenerator. engine/runtime's GPU sampler
// replaces it when the runtime drives generation.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

struct SamplerSettings {
  double temperature = 0.7;        // 0 = greedy (argmax, lowest id on ties)
  int topK = 0;                    // 0 = off
  double topP = 1.0;               // (0, 1]
  double minP = 0.0;               // [0, 1): drop tokens below minP * p(best)
  double repetitionPenalty = 1.0;  // >= 1; 1 = off
  int repetitionWindow = 256;      // how many recent tokens the penalty looks at
  std::uint64_t seed = 0;          // 0 = a fresh random seed per reply
};

class Sampler {
 public:
  explicit Sampler(const SamplerSettings& settings);

  // `logits`: [vocab] fp32 of the last position; `recent`: the tokens so far (prompt and reply),
  // of which the last repetitionWindow are penalised.
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> recent);

  const SamplerSettings& settings() const { return m_settings; }

 private:
  SamplerSettings m_settings;
  std::mt19937_64 m_rng;
  std::vector<float> m_work;                              // [vocab] penalised logits
  std::vector<std::pair<float, std::int32_t>> m_candidates;  // (probability, id)
};
