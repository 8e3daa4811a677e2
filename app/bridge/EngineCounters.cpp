// EngineCounters: copies in and out under one mutex.
#include "EngineCounters.h"

void EngineCounters::modelLoaded(const nibble::Model& model, const std::string& device) {
  std::lock_guard lock(m_mutex);
  m_state.loaded = true;
  m_state.device = device;
  m_state.loadSeconds = model.load_seconds();
  m_state.memory = model.memory_use();
  m_state.kvCapacityTokens = model.pages_total() * model.page_size();
  m_state.kvUsedTokens = (model.pages_total() - model.pages_free()) * model.page_size();
  m_state.generating = false;
}

void EngineCounters::modelUnloaded() {
  std::lock_guard lock(m_mutex);
  m_state.loaded = false;
  m_state.device.clear();
  m_state.loadSeconds = 0;
  m_state.memory.clear();
  m_state.kvCapacityTokens = 0;
  m_state.kvUsedTokens = 0;
  m_state.generating = false;
}

void EngineCounters::kvInUse(const nibble::Model& model, bool generating) {
  std::lock_guard lock(m_mutex);
  m_state.kvUsedTokens = (model.pages_total() - model.pages_free()) * model.page_size();
  m_state.generating = generating;
}

void EngineCounters::generationFinished(GenerationSample sample) {
  std::lock_guard lock(m_mutex);
  sample.serial = ++m_serial;
  m_history.push_back(sample);
  while (m_history.size() > kHistory) m_history.pop_front();
}

EngineCountersSnapshot EngineCounters::snapshot() const {
  std::lock_guard lock(m_mutex);
  EngineCountersSnapshot s = m_state;
  s.generations.assign(m_history.begin(), m_history.end());
  return s;
}
