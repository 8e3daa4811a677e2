// The text the kill-test helper streams, chunk by chunk, so that the test can rebuild exactly what
// was sent: deterministic per seed, with multi-byte UTF-8 and newlines in it. Shared by
// history_kill_helper.cpp and test_history_kill.cpp.
#pragma once

#include <cstdint>
#include <string>

namespace nibble::history::testing {

inline constexpr int kStreamChunks = 4000;
inline constexpr int kChunksPerFlush = 16;

inline std::string stream_chunk(unsigned seed, int i) {
  static constexpr const char* kWords[] = {"the", "quick", "brown", "fox", "jumps", "über", "naïve",
                                           "日本語", "🦀", "lazy", "dog", "\n", "tokens", "stream"};
  constexpr unsigned kCount = sizeof(kWords) / sizeof(kWords[0]);
  std::uint32_t h = seed * 2654435761u ^ (static_cast<std::uint32_t>(i) * 40503u + 0x9e3779b9u);
  h ^= h >> 15;
  return std::string(kWords[h % kCount]) + (i % 7 == 6 ? ". " : " ");
}

inline std::string stream_full(unsigned seed) {
  std::string out;
  for (int i = 0; i < kStreamChunks; ++i) out += stream_chunk(seed, i);
  return out;
}

}  // namespace nibble::history::testing
