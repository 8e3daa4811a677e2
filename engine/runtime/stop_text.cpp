// StopText: earliest complete match wins; the held-back tail is the longest suffix of the pending
// text that is a proper prefix of some stop string.
#include "runtime/stop_text.h"

namespace nibble {

std::string StopText::push(std::string_view delta, bool check, bool& matched) {
  matched = false;
  pending_.append(delta);
  std::string out;
  if (!check || stops_.empty()) {
    out.swap(pending_);
    return out;
  }
  std::size_t best = std::string::npos, best_len = 0;
  for (const auto& s : stops_) {
    if (s.empty()) continue;
    const std::size_t at = pending_.find(s);
    if (at < best) {
      best = at;
      best_len = s.size();
    }
  }
  if (best != std::string::npos) {
    matched = true;
    out = pending_.substr(0, include_ ? best + best_len : best);
    pending_.clear();
    return out;
  }
  std::size_t hold = 0;
  for (const auto& s : stops_) {
    for (std::size_t k = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); k > hold; --k) {
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopText::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace nibble
