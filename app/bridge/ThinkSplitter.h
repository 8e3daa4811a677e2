// ThinkSplitter: routes streamed model text into the answer and the reasoning ("<think>...</think>"
// sections), even when a tag is split across deltas. The QString face of the API server's
// Qt-free splitter (app/server/think_splitter.h), so the chat and the server split alike. Used by
// ChatGeneration on the engine thread and by the message view's blocks.
#pragma once

#include <QString>

#include "think_splitter.h"

class ThinkSplitter {
 public:
  // `startInReasoning`: the prompt already opened a <think> section (templates that prefill it).
  explicit ThinkSplitter(bool startInReasoning = false) : m_splitter(startInReasoning) {}

  // Splits `text` (appended to what came before); the parts may be empty.
  void push(const QString& text, QString& content, QString& reasoning);
  // Releases text held back because it could have been the start of a tag.
  void flush(QString& content, QString& reasoning);
  bool inReasoning() const { return m_splitter.in_reasoning(); }

 private:
  nibble::server::ThinkSplitter m_splitter;
};
