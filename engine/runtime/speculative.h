// Speculative decoding pieces that do not touch a model: n-gram (prompt lookup) drafting and the
// per-token verification rule. Verification is the rejection scheme of Leviathan et al. / Chen et
// al.: accept draft token d with probability min(1, p(d) / q(d)), else draw from the normalised
// residual max(0, p - q); the output is distributed exactly as p. Greedy settings (p one-hot)
// reduce it to "accept while the target's argmax equals the draft". Internal to engine/runtime.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "nibble/runtime.h"

namespace nibble {

// Up to `k` tokens following the most recent earlier occurrence of the context's last n tokens,
// trying n from n_max down to n_min. Empty when nothing matches.
std::vector<std::int32_t> ngram_propose(std::span<const std::int32_t> tokens, int n_min, int n_max, int k);

struct DraftVerdict {
  bool accepted = false;
  std::int32_t token = 0;  // the draft token when accepted, else the replacement
};

// p: the target's processed distribution at this position [V]; q: the draft's distribution the
// draft token was drawn from [V], or empty for a deterministic proposal (one-hot at `draft`).
// `greedy` draws nothing from rng.
DraftVerdict verify_draft_token(std::span<const float> p, std::span<const float> q, std::int32_t draft, bool greedy,
                                SamplerRng& rng);

}  // namespace nibble
