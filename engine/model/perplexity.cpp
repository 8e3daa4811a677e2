// Perplexity protocols over token ids (see BENCHMARKS.md): ppl_raw windows and ppl_chat dialogs.
// Log-softmax and sums run in double. Dialogs are packed several to a forward step.
#include <algorithm>
#include <cmath>

#include "io/text_file.h"
#include "nibble/model.h"

namespace nibble {
namespace {

// -log softmax(row)[target] in double.
double nll(const float* row, int vocab, std::int32_t target) {
  float mx = row[0];
  for (int i = 1; i < vocab; ++i) mx = std::max(mx, row[i]);
  double sum = 0.0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
  return std::log(sum) + mx - static_cast<double>(row[target]);
}

PerplexityResult finish(double total, std::int64_t count, int sequences) {
  PerplexityResult r;
  r.tokens_scored = count;
  r.sequences = sequences;
  r.mean_nll = count > 0 ? total / static_cast<double>(count) : 0.0;
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

}  // namespace

Result<PerplexityResult> perplexity_windows(Model& model, std::span<const std::int32_t> ids, int windows, int window_len,
                                            const ProgressFn& progress) {
  if (windows < 1 || window_len < 2) return make_error(ErrorKind::invalid_argument, "perplexity: need windows >= 1 and window_len >= 2");
  const int fit = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(windows), ids.size() / static_cast<std::size_t>(window_len)));
  if (fit < 1)
    return make_error(ErrorKind::invalid_argument, "perplexity: ", ids.size(), " tokens do not fill one window of ", window_len);
  const int vocab = model.vocab_size();
  double total = 0.0;
  std::int64_t count = 0;
  std::vector<float> logits;
  for (int w = 0; w < fit; ++w) {
    const auto window = ids.subspan(static_cast<std::size_t>(w) * window_len, static_cast<std::size_t>(window_len));
    auto seq = model.new_sequence();
    NIBBLE_TRY(seq->append(window.first(window.size() - 1), true, logits));
    for (std::size_t i = 0; i + 1 < window.size(); ++i) total += nll(logits.data() + i * vocab, vocab, window[i + 1]);
    count += window_len - 1;
    if (progress && !progress(static_cast<std::size_t>(w + 1), static_cast<std::size_t>(fit)))
      return make_error(ErrorKind::cancelled, "perplexity cancelled");
  }
  return finish(total, count, fit);
}

Result<PerplexityResult> perplexity_dialogs(Model& model, const std::vector<std::vector<std::int32_t>>& dialogs,
                                            const ProgressFn& progress) {
  const int vocab = model.vocab_size(), rows_max = model.max_batch_tokens(), page = model.page_size();
  double total = 0.0;
  std::int64_t count = 0;
  std::vector<float> logits;
  std::size_t next = 0;
  while (next < dialogs.size()) {
    // Pack whole dialogs (minus their last token, which predicts nothing) into one step.
    std::vector<ForwardSeq> step;
    std::vector<std::vector<std::int32_t>> pages;
    std::size_t first = next;
    int rows = 0;
    while (next < dialogs.size()) {
      const auto& d = dialogs[next];
      const int n = static_cast<int>(d.size()) - 1;
      if (n < 1) {
        ++next;
        continue;
      }
      if (n > rows_max) {
        if (!pages.empty()) break;
        auto seq = model.new_sequence();  // too long for one step: chunked through a Sequence
        NIBBLE_TRY(seq->append(std::span<const std::int32_t>(d.data(), static_cast<std::size_t>(n)), true, logits));
        for (int i = 0; i < n; ++i) total += nll(logits.data() + static_cast<std::size_t>(i) * vocab, vocab, d[static_cast<std::size_t>(i) + 1]);
        count += n;
        ++next;
        continue;
      }
      if (rows + n > rows_max || model.pages_free() < (n + page - 1) / page) break;
      NIBBLE_ASSIGN_OR_RETURN(auto p, model.allocate_pages((n + page - 1) / page));
      pages.push_back(std::move(p));
      rows += n;
      ++next;
    }
    if (!pages.empty()) {
      std::size_t pi = 0;
      for (std::size_t i = first; i < next; ++i) {
        const auto& d = dialogs[i];
        if (d.size() < 2 || static_cast<int>(d.size()) - 1 > rows_max) continue;
        ForwardSeq fs;
        fs.tokens = std::span<const std::int32_t>(d.data(), d.size() - 1);
        fs.pages = pages[pi++];
        fs.all_logits = true;
        step.push_back(fs);
      }
      const Status st = model.forward(step, logits);
      for (const auto& p : pages) model.free_pages(p);
      NIBBLE_TRY(st);
      std::size_t row = 0;
      for (const auto& fs : step) {
        const std::int32_t* d = fs.tokens.data();
        for (std::size_t i = 0; i < fs.tokens.size(); ++i, ++row) total += nll(logits.data() + row * vocab, vocab, d[i + 1]);
        count += static_cast<std::int64_t>(fs.tokens.size());
      }
    } else if (next < dialogs.size() && first == next) {
      return make_error(ErrorKind::out_of_memory, "perplexity: the KV cache cannot hold one dialog");
    }
    if (progress && !progress(next, dialogs.size())) return make_error(ErrorKind::cancelled, "perplexity cancelled");
  }
  return finish(total, count, static_cast<int>(dialogs.size()));
}

Result<std::string> read_corpus_file(const std::string& path) { return read_text_file(path); }

}  // namespace nibble
