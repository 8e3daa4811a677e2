// ThinkSplitter: routes streamed model text into the answer and the reasoning ("<think>...</think>"
// sections), even when a tag is split across deltas. Fills the API server's `reasoning_content`;
// the app's chat uses it through the bridge's QString adapter (app/bridge/ThinkSplitter.h).
#pragma once

#include <string>

namespace nibble::server {

class ThinkSplitter {
 public:
  // `start_in_reasoning`: the prompt already opened a <think> section (templates that prefill it).
  explicit ThinkSplitter(bool start_in_reasoning = false) : in_reasoning_(start_in_reasoning) {}

  // Splits `text` (appended to what came before) into the two outputs (appended to).
  void push(const std::string& text, std::string& content, std::string& reasoning);
  // Releases text held back because it could have been the start of a tag.
  void flush(std::string& content, std::string& reasoning);
  bool in_reasoning() const { return in_reasoning_; }

 private:
  bool in_reasoning_;
  std::string held_;
};

}  // namespace nibble::server
