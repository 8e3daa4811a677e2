// A two-state scanner: outside a section it looks for "<think>", inside for "</think>"; a tail that
// is a prefix of the awaited tag waits for the next delta.
#include "think_splitter.h"

#include <algorithm>
#include <string_view>

namespace nibble::server {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
std::size_t partial_tag_length(std::string_view text, std::string_view tag) {
  for (std::size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

}  // namespace

void ThinkSplitter::push(const std::string& text, std::string& content, std::string& reasoning) {
  std::string rest = held_ + text;
  held_.clear();
  std::string_view view = rest;
  while (!view.empty()) {
    const std::string_view tag = in_reasoning_ ? kClose : kOpen;
    std::string& out = in_reasoning_ ? reasoning : content;
    const std::size_t at = view.find(tag);
    if (at == std::string_view::npos) {
      const std::size_t keep = partial_tag_length(view, tag);
      out.append(view.substr(0, view.size() - keep));
      held_.assign(view.substr(view.size() - keep));
      return;
    }
    out.append(view.substr(0, at));
    view.remove_prefix(at + tag.size());
    in_reasoning_ = !in_reasoning_;
  }
}

void ThinkSplitter::flush(std::string& content, std::string& reasoning) {
  (in_reasoning_ ? reasoning : content) += held_;
  held_.clear();
}

}  // namespace nibble::server
