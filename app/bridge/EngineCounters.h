// EngineCounters: the engine's own figures the dashboard shows, published by the engine thread
// (EngineWorker) and read by the dashboard's poller on another thread: what the loaded model
// holds per device by category (Model::memory_use(), the backends' allocation counters), its
// load time, the KV cache in use while a reply runs, and each finished generation's timings.
// One short mutex-guarded copy per read or write; nothing here blocks on the engine.
// Bridge-internal (std types only); owned by EngineController, shared with its worker.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "nibble/model.h"

struct GenerationSample {
  std::uint64_t serial = 0;         // 1, 2, ... over the app's life
  double prefillTokensPerSecond = 0;
  double decodeTokensPerSecond = 0;
  double timeToFirstTokenMs = 0;
  int promptTokens = 0;
  int completionTokens = 0;
  int reusedPrefixTokens = 0;       // prompt tokens whose KV came from a cache (none on the one-sequence path)
  int kvTokens = 0;                 // tokens in the KV cache when the reply ended (prompt + reply)
  int kvCapacityTokens = 0;
};

struct EngineCountersSnapshot {
  bool loaded = false;
  std::string device;               // "cpu", "cuda:0"
  double loadSeconds = 0;
  std::vector<nibble::DeviceMemoryUse> memory;
  int kvCapacityTokens = 0;         // pages x page size
  int kvUsedTokens = 0;             // pages held right now x page size
  bool generating = false;
  std::vector<GenerationSample> generations;  // oldest first, at most kHistory
};

class EngineCounters {
 public:
  static constexpr std::size_t kHistory = 60;

  // Engine thread.
  void modelLoaded(const nibble::Model& model, const std::string& device);
  void modelUnloaded();
  void kvInUse(const nibble::Model& model, bool generating);
  void generationFinished(GenerationSample sample);

  // Any thread.
  EngineCountersSnapshot snapshot() const;

 private:
  mutable std::mutex m_mutex;
  EngineCountersSnapshot m_state;
  std::deque<GenerationSample> m_history;
  std::uint64_t m_serial = 0;
};
