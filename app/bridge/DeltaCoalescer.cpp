// DeltaCoalescer: emission is allowed once per interval (1000 / maxPerSecond ms, rounded up); the
// first text after a quiet period goes out at once so the first token shows without delay.
#include "DeltaCoalescer.h"

#include <cmath>

DeltaCoalescer::DeltaCoalescer(int maxPerSecond) : m_intervalMs(std::ceil(1000.0 / qMax(maxPerSecond, 1))) {}

bool DeltaCoalescer::push(const QString& content, const QString& reasoning, qint64 nowMs) {
  m_content += content;
  m_reasoning += reasoning;
  if (!hasPending()) return false;
  return m_lastEmitMs < 0 || static_cast<double>(nowMs - m_lastEmitMs) >= m_intervalMs;
}

void DeltaCoalescer::take(qint64 nowMs, QString& content, QString& reasoning) {
  content = std::move(m_content);
  reasoning = std::move(m_reasoning);
  m_content.clear();
  m_reasoning.clear();
  m_lastEmitMs = nowMs;
}
