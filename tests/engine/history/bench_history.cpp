// History benchmark (not a test): builds a database of 10,000 conversations x 100 messages
// (text drawn from a Zipf-distributed vocabulary, with some branches) through the import path,
// then times what the app does: open, first page of the list, full-text search, and appending a
// streamed delta. Prints Markdown rows for docs/PERF.md. Build it Release.
//   bench_history [--db PATH] [--conversations N] [--messages M] [--regenerate]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "nibble/history.h"

using namespace nibble::history;
using nibble::Result;
using nibble::Status;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// CPU time of the calling thread: on a shared machine, what the operation itself costs.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Stats {
  double median = 0, p95 = 0, min = 0;
};

Stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  s.min = v.front();
  s.median = v[v.size() / 2];
  s.p95 = v[std::min(v.size() - 1, static_cast<std::size_t>(std::ceil(v.size() * 0.95)) - 1)];
  return s;
}

class Corpus {
 public:
  explicit Corpus(std::uint64_t seed) : rng_(seed) {
    static constexpr const char* kSyllables[] = {"ka", "lo", "mi", "ren", "tu", "vas", "el", "or", "qui", "sa",
                                                 "po", "dri", "fen", "ga", "ho", "ju", "ne", "ub", "ti", "zo"};
    for (const char* a : kSyllables)
      for (const char* b : kSyllables)
        for (const char* c : {"", "n", "ra", "es"}) words_.push_back(std::string(a) + b + c);
    double total = 0;
    for (std::size_t k = 0; k < words_.size(); ++k) cdf_.push_back(total += 1.0 / std::pow(k + 1.0, 1.07));
    for (double& c : cdf_) c /= total;
  }

  const std::string& word(std::size_t rank) const { return words_[rank]; }

  std::string text(int min_words, int max_words) {
    std::uniform_int_distribution<int> count(min_words, max_words);
    std::uniform_real_distribution<double> u(0, 1);
    int n = count(rng_);
    std::string out;
    for (int i = 0; i < n; ++i) {
      if (i > 0) out += (i % 12 == 0) ? ". " : " ";
      // Rare marker words the search queries look for.
      double r = u(rng_);
      if (r < 0.00002) out += "lisbon";
      else if (r < 0.00006) out += "sourdough";
      else out += words_[std::lower_bound(cdf_.begin(), cdf_.end(), u(rng_)) - cdf_.begin()];
    }
    return out + ".";
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> words_;
  std::vector<double> cdf_;
};

ConversationTree make_conversation(Corpus& corpus, int index, int messages, TimestampMs start) {
  ConversationTree t;
  t.conversation.title = corpus.text(2, 6);
  t.conversation.created_at = start;
  t.conversation.settings_json = R"({"temperature":0.7,"top_p":0.9})";
  TimestampMs now = start;
  std::optional<MessageId> parent;
  for (int i = 0; i < messages; ++i) {
    Message m;
    m.id = i + 1;
    m.role = i % 2 == 0 ? Role::user : Role::assistant;
    // Every tenth conversation has a regenerated reply: message 4 is a sibling of message 3.
    const bool sibling = index % 10 == 0 && i == 3;
    m.parent_id = sibling ? t.messages[1].id : parent;
    if (sibling) m.role = Role::assistant;
    m.content = m.role == Role::user ? corpus.text(8, 40) : corpus.text(30, 110);
    if (m.role == Role::assistant) {
      m.model_id = "Llama-3.1-8B-Instruct";
      m.quantization = "exl2 4.0bpw";
      m.metrics.completion_tokens = static_cast<std::int64_t>(m.content.size() / 4);
      m.metrics.decode_tokens_per_s = 95.0;
    }
    now += 20'000;
    m.created_at = m.updated_at = now;
    t.messages.push_back(m);
    parent = m.id;
  }
  t.conversation.updated_at = now;
  return t;
}

Status generate(const std::string& path, int conversations, int messages) {
  HistoryOptions options;
  options.durable_commits = false;  // generation only; the timed operations below use the default
  auto store = HistoryStore::open(path, options);
  if (!store.ok()) return store.error();
  Corpus corpus(42);
  const TimestampMs base = 1'700'000'000'000;
  const TimestampMs span = 2LL * 365 * 86'400'000;
  constexpr int kBatch = 50;
  std::vector<std::future<Result<std::vector<ConversationId>>>> pending;
  auto start = Clock::now();
  for (int done = 0; done < conversations; done += kBatch) {
    std::vector<ConversationTree> batch;
    for (int i = done; i < std::min(conversations, done + kBatch); ++i)
      batch.push_back(make_conversation(corpus, i, messages, base + span * i / conversations));
    pending.push_back((*store)->import_trees(std::move(batch)));
    if (pending.size() >= 4) {
      auto r = pending.front().get();
      if (!r.ok()) return r.error();
      pending.erase(pending.begin());
    }
    if ((done / kBatch) % 20 == 0)
      std::fprintf(stderr, "\rgenerating: %d/%d conversations, %.0f s", done, conversations, ms_since(start) / 1000);
  }
  for (auto& f : pending) {
    auto r = f.get();
    if (!r.ok()) return r.error();
  }
  Status closed = (*store)->close();
  std::fprintf(stderr, "\rgenerated %d conversations x %d messages in %.1f s\n", conversations, messages,
               ms_since(start) / 1000);
  return closed;
}

void row(const char* measure, const std::string& value, const char* target) {
  std::printf("| history | %s | %s | %s |\n", measure, value.c_str(), target);
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = (fs::temp_directory_path() / "nibble-bench-history.db").string();
  int conversations = 10'000, messages = 100;
  bool regenerate = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--db" && i + 1 < argc) path = argv[++i];
    else if (a == "--conversations" && i + 1 < argc) conversations = std::atoi(argv[++i]);
    else if (a == "--messages" && i + 1 < argc) messages = std::atoi(argv[++i]);
    else if (a == "--regenerate") regenerate = true;
    else {
      std::fprintf(stderr, "usage: bench_history [--db PATH] [--conversations N] [--messages M] [--regenerate]\n");
      return 2;
    }
  }
  if (regenerate || !fs::exists(path)) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
    Status st = generate(path, conversations, messages);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
      return 1;
    }
  }
  std::printf("database: %s, %.0f MiB (page cache warm)\n\n", path.c_str(),
              static_cast<double>(fs::file_size(path)) / (1 << 20));
  std::printf("| area | measure | result | target |\n|---|---|---|---|\n");

  // Open (with startup recovery and trash purge, as the app does), then close.
  std::vector<double> opens, open_cpu;
  for (int i = 0; i < 9; ++i) {
    auto t = Clock::now();
    double c0 = thread_cpu_ms();
    auto store = HistoryStore::open(path);
    open_cpu.push_back(thread_cpu_ms() - c0);
    opens.push_back(ms_since(t));
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.error().to_string().c_str());
      return 1;
    }
  }
  auto open_stats = summarize(opens);
  row("open, with startup recovery and trash purge (wall median of 9; min; CPU median)",
      fmt("%.1f ms; %.1f ms; %.1f ms", open_stats.median, open_stats.min, summarize(open_cpu).median), "< 200 ms");

  auto store = std::move(HistoryStore::open(path)).value();
  auto t = Clock::now();
  auto first = store->list();
  double cold_page = ms_since(t);
  if (!first.ok() || first->items.size() != 50) {
    std::fprintf(stderr, "list failed\n");
    return 1;
  }
  std::vector<double> pages;
  for (int i = 0; i < 200; ++i) {
    t = Clock::now();
    auto p = store->list();
    pages.push_back(ms_since(t));
  }
  auto page_stats = summarize(pages);
  row("first page of the list, 50 items (first call after open; median; p95)",
      fmt("%.2f ms; %.2f ms; %.2f ms", cold_page, page_stats.median, page_stats.p95), "< 10 ms");
  ListQuery deep;
  deep.after = ListCursor{false, 1'700'000'000'000 + 365LL * 86'400'000, 1'000'000'000};
  std::vector<double> deep_pages;
  for (int i = 0; i < 50; ++i) {
    t = Clock::now();
    auto p = store->list(deep);
    deep_pages.push_back(ms_since(t));
  }
  row("a page a year back (keyset cursor; median)", fmt("%.2f ms", summarize(deep_pages).median), "");

  Corpus corpus(42);
  struct Query {
    std::string label;
    std::string text;
  };
  std::vector<Query> queries = {
      {"rare word", "lisbon"},
      {"uncommon word (rank 1500)", corpus.word(1500)},
      {"frequent word (rank 50)", corpus.word(50)},
      {"most frequent word", corpus.word(0)},
      {"two words", corpus.word(10) + " " + corpus.word(300)},
      {"prefix", corpus.word(700).substr(0, 4) + "*"},
      {"prefix of the most frequent word", corpus.word(0).substr(0, 3) + "*"},
      {"phrase", "\"" + corpus.word(0) + " " + corpus.word(1) + "\""},
  };
  for (SearchOrder order : {SearchOrder::relevance, SearchOrder::recent}) {
    for (const auto& q : queries) {
      SearchOptions options;
      options.order = order;
      std::vector<double> times, cpu;
      std::size_t hits = 0;
      for (int i = 0; i < 15; ++i) {
        t = Clock::now();
        double c0 = thread_cpu_ms();
        auto r = store->search(q.text, options);
        cpu.push_back(thread_cpu_ms() - c0);
        times.push_back(ms_since(t));
        hits = r.ok() ? r->size() : 0;
      }
      auto s = summarize(times);
      std::string label = "search, " + std::string(order == SearchOrder::relevance ? "by relevance" : "newest first") +
                          ", " + q.label + " `" + q.text + "` (" + std::to_string(hits) +
                          " hits; wall median; p95; CPU median)";
      row(label.c_str(), fmt("%.1f ms; %.1f ms; %.1f ms", s.median, s.p95, summarize(cpu).median), "< 50 ms");
    }
  }

  // Streaming: the cost of the call the generator makes per token, and of committing it.
  NewConversation nc;
  nc.title = "bench stream";
  ConversationId c = store->create_conversation(nc).get().value();
  NewMessage m;
  m.conversation_id = c;
  m.role = Role::assistant;
  m.status = MessageStatus::streaming;
  MessageId id = store->add_message(m).get().value();
  constexpr int kDeltas = 100'000;
  std::vector<double> calls;
  calls.reserve(kDeltas);
  for (int i = 0; i < kDeltas; ++i) {
    t = Clock::now();
    store->append_delta(id, " token");
    calls.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  auto call_stats = summarize(calls);
  double mean = 0;
  for (double v : calls) mean += v;
  mean /= kDeltas;
  row("append_delta call (100k calls: mean; median; p95)",
      fmt("%.2f us; %.2f us; %.2f us", mean, call_stats.median, call_stats.p95), "< 1 ms");
  (void)store->flush().get();
  std::vector<double> commits;
  for (int i = 0; i < 30; ++i) {
    store->append_delta(id, " one more token");
    t = Clock::now();
    (void)store->flush().get();
    commits.push_back(ms_since(t));
  }
  auto commit_stats = summarize(commits);
  row("commit of a pending delta on the writer thread (flush, fsync on; median; p95)",
      fmt("%.2f ms; %.2f ms", commit_stats.median, commit_stats.p95), "");
  (void)store->finish_message(id, {}).get();
  (void)store->move_to_trash(c).get();
  (void)store->purge(c).get();
  return store->close().ok() ? 0 : 1;
}
