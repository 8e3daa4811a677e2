// DeltaCoalescer: gathers streamed text (answer and reasoning) on the engine thread and says when
// to hand it to the GUI, so the interface gets at most `maxPerSecond` updates however fast tokens
// come. Owned by ChatGeneration; time is passed in, so tests drive it with a fake clock.
#pragma once

#include <QString>
#include <QtGlobal>

class DeltaCoalescer {
 public:
  explicit DeltaCoalescer(int maxPerSecond = 60);

  // Adds text; true when the pending text should be emitted now (take() it).
  bool push(const QString& content, const QString& reasoning, qint64 nowMs);
  bool hasPending() const { return !m_content.isEmpty() || !m_reasoning.isEmpty(); }
  // Returns and clears the pending text; records `nowMs` as the time of this emission.
  void take(qint64 nowMs, QString& content, QString& reasoning);

 private:
  double m_intervalMs;
  qint64 m_lastEmitMs = -1;
  QString m_content;
  QString m_reasoning;
};
