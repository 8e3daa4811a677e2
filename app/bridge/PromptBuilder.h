// PromptBuilder: turns a conversation into the model's prompt text with its chat template, falling
// back to plain ChatML (and saying why) when the model has none or it fails. Bridge-internal;
// immutable after construction, so the engine thread and the token counter share one instance.
#pragma once

#include <memory>
#include <string>

#include <QList>
#include <QString>

#include "GenerationTypes.h"
#include "nibble/chat_template.h"
#include "nibble/tokenizer.h"

struct BuiltPrompt {
  std::string text;
  QString fallbackNote;  // non-empty when ChatML was used instead of the model's template
};

class PromptBuilder {
 public:
  // Reads the model folder's chat templates; a missing or broken template means ChatML fallback.
  explicit PromptBuilder(const std::string& modelDir);

  // The prompt for the assistant's next reply, or (continueLast) one that ends inside the last
  // assistant message so generation extends it.
  BuiltPrompt build(const QList<ChatTurn>& messages, bool continueLast) const;
  // The note shown in the model card ("" when the model's own template is used).
  const QString& templateNote() const { return m_note; }

 private:
  std::shared_ptr<const nibble::ChatTemplate> m_template;
  std::string m_bos;
  std::string m_eos;
  QString m_note;
};

// What the token counter needs from a loaded model, shared with the GUI side's worker pool.
struct PromptContext {
  std::shared_ptr<const nibble::Tokenizer> tokenizer;
  std::shared_ptr<const PromptBuilder> builder;
  int contextLength = 0;
};
