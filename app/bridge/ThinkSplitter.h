// ThinkSplitter: routes streamed model text into the answer and the reasoning ("<think>...</think>"
// sections), even when a tag is split across deltas. Used by ChatGeneration on the engine thread.
#pragma once

#include <QString>

class ThinkSplitter {
 public:
  // `startInReasoning`: the prompt already opened a <think> section (templates that prefill it).
  explicit ThinkSplitter(bool startInReasoning = false) : m_inReasoning(startInReasoning) {}

  // Splits `text` (appended to what came before); the parts may be empty.
  void push(const QString& text, QString& content, QString& reasoning);
  // Releases text held back because it could have been the start of a tag.
  void flush(QString& content, QString& reasoning);
  bool inReasoning() const { return m_inReasoning; }

 private:
  bool m_inReasoning;
  QString m_held;
};
