// Model loading (placement of layer ranges on backends) and the forward chain.
#include "model/model_impl.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "backend/cpu/cpu_backend.h"
#if NIBBLE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "model/layout_options.h"
#include "model/model_info.h"
#include "model/weight_source.h"

namespace nibble {
namespace {

// "cuda" -> 0, "cuda:N" -> N; nullopt for anything else.
std::optional<int> parse_cuda_device(const std::string& d) {
  if (d == "cuda") return 0;
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5 || d.size() > 8) return std::nullopt;
  int n = 0;
  for (std::size_t i = 5; i < d.size(); ++i) {
    if (d[i] < '0' || d[i] > '9') return std::nullopt;
    n = n * 10 + (d[i] - '0');
  }
  return n;
}

Status check_options(const LoadOptions& o, const ModelSpec& s) {
  auto bad = [](const std::string& what) { return make_error(ErrorKind::invalid_argument, "load options: ", what); };
  NIBBLE_TRY(
      check_layout_options("load options", o.max_batch_tokens, o.page_size, o.context, o.split_layers, s.n_layers));
  if (o.device != "cpu" && !parse_cuda_device(o.device)) return bad("unknown device '" + o.device + "' (cpu or cuda:N)");
#if !NIBBLE_HAVE_CUDA
  if (o.device != "cpu")
    return make_error(ErrorKind::unsupported, "device '", o.device, "': this build has no CUDA backend; use --device cpu");
#endif
  return {};
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const LoadOptions& options) {
  return ModelImpl::load(path, options);
}

Result<std::unique_ptr<Model>> ModelImpl::load(const std::string& path, const LoadOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  NIBBLE_ASSIGN_OR_RETURN(auto weights, WeightSource::open(path));
  const ModelSpec& spec = weights->spec();
  NIBBLE_TRY(check_options(o, spec));
  std::unique_ptr<ModelImpl> m(new ModelImpl());
  NIBBLE_ASSIGN_OR_RETURN(m->info_, build_model_info(*weights));
  m->spec_ = spec;
  m->max_rows_ = o.max_batch_tokens;
  m->page_size_ = o.page_size;
  m->device_ = o.device == "cuda" ? "cuda:0" : o.device;
  const int context = o.context > 0 ? o.context : std::min(spec.max_positions, 8192);
  const int n_pages = (context + o.page_size - 1) / o.page_size;
  m->pages_ = std::make_unique<PagePool>(n_pages);
  m->pool_ = std::make_unique<ThreadPool>(o.threads);
  if (o.device == "cpu") {
    m->backends_.push_back(make_cpu_backend(*m->pool_));
  } else {
#if NIBBLE_HAVE_CUDA
    NIBBLE_ASSIGN_OR_RETURN(auto gpu, make_cuda_backend(*parse_cuda_device(o.device)));
    m->backends_.push_back(std::move(gpu));
#endif
  }
  const bool on_gpu = o.device != "cpu";

  std::vector<int> bounds = {0};
  bounds.insert(bounds.end(), o.split_layers.begin(), o.split_layers.end());
  bounds.push_back(spec.n_layers);
  const std::size_t n_seg = bounds.size() - 1;
  std::size_t total = 0, done_before = 0;
  for (std::size_t i = 0; i < n_seg; ++i) total += static_cast<std::size_t>(bounds[i + 1] - bounds[i]) + 2;
  for (std::size_t i = 0; i < n_seg; ++i) {
    SegmentOptions so;
    so.first_layer = bounds[i];
    so.last_layer = bounds[i + 1];
    so.has_embedding = i == 0;
    so.has_head = i + 1 == n_seg;
    so.max_rows = o.max_batch_tokens;
    so.kv_pages = n_pages;
    so.page_size = o.page_size;
    switch (o.kv_cache) {
      case KvCacheMode::fp16: so.kv_type = on_gpu ? KvCacheType::fp16 : KvCacheType::fp32; break;
      case KvCacheMode::q8: so.kv_type = KvCacheType::q8; break;
      case KvCacheMode::q4: so.kv_type = KvCacheType::q4; break;
    }
    LoadProgressFn progress;
    if (o.progress)
      progress = [&](std::size_t done, std::size_t) { return o.progress(done_before + done, total); };
    NIBBLE_ASSIGN_OR_RETURN(auto seg, m->backends_.front()->create_segment(spec, *weights, so, progress));
    done_before += static_cast<std::size_t>(so.last_layer - so.first_layer) + 2;
    m->segments_.push_back(std::move(seg));
  }
  if (n_seg > 1) m->boundary_.assign(static_cast<std::size_t>(o.max_batch_tokens) * spec.hidden_size, 0.0f);
  m->load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::unique_ptr<Model>(std::move(m));
}

std::vector<DeviceMemoryUse> ModelImpl::memory_use() const {
  // Every segment lives on the one backend the model was loaded onto.
  DeviceMemoryUse d;
  d.device = device_;
  for (const auto& seg : segments_) {
    const Segment::MemoryUse u = seg->memory_use();
    d.weights += u.weights;
    d.kv_cache += u.kv_cache;
    d.scratch += u.scratch;
  }
  return {d};
}

Status ModelImpl::forward_plan(const BatchPlan& plan, float* logits) {
  const int rows = plan.n_rows();
  NIBBLE_TRY(segments_.front()->embed(plan));
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (i > 0) {
      NIBBLE_TRY(segments_[i - 1]->hidden_to_host(boundary_.data(), rows));
      NIBBLE_TRY(segments_[i]->hidden_from_host(boundary_.data(), rows));
    }
    NIBBLE_TRY(segments_[i]->run_layers(plan));
  }
  return segments_.back()->head(plan, logits);
}

Status ModelImpl::forward(std::span<const ForwardSeq> seqs, std::vector<float>& logits) {
  auto bad = [](auto&&... parts) { return make_error(ErrorKind::invalid_argument, "forward: ", parts...); };
  step_tokens_.clear();
  step_positions_.clear();
  step_logit_rows_.clear();
  BatchPlan plan;
  plan.page_size = page_size_;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const ForwardSeq& s = seqs[i];
    const auto n = static_cast<std::int64_t>(s.tokens.size());
    if (n == 0) return bad("sequence ", i, " has no tokens");
    if (s.pos_begin < 0) return bad("sequence ", i, " has a negative pos_begin");
    if (static_cast<std::int64_t>(step_tokens_.size()) + n > max_rows_)
      return bad("the step carries more than max_batch_tokens (", max_rows_, ") tokens");
    if (static_cast<std::int64_t>(s.pages.size()) * page_size_ < s.pos_begin + n)
      return bad("sequence ", i, ": ", s.pages.size(), " pages do not cover ", s.pos_begin + n, " positions");
    for (auto p : s.pages)
      if (p < 0 || p >= pages_->total()) return bad("sequence ", i, ": page ", p, " is not in the pool");
    for (auto t : s.tokens)
      if (t < 0 || t >= spec_.vocab_size) return bad("token id ", t, " is outside the vocabulary (", spec_.vocab_size, ")");
    SeqEntry e;
    e.token_begin = static_cast<std::int32_t>(step_tokens_.size());
    e.n_tokens = static_cast<std::int32_t>(n);
    e.pos_begin = s.pos_begin;
    e.pages = s.pages;
    for (std::int64_t r = 0; r < n; ++r) {
      if (s.all_logits || r + 1 == n) step_logit_rows_.push_back(static_cast<std::int32_t>(step_tokens_.size()));
      step_tokens_.push_back(s.tokens[static_cast<std::size_t>(r)]);
      step_positions_.push_back(static_cast<std::int32_t>(s.pos_begin + r));
    }
    plan.seqs.push_back(e);
  }
  if (plan.seqs.empty()) return bad("no sequences");
  plan.tokens = step_tokens_;
  plan.positions = step_positions_;
  plan.logit_rows = step_logit_rows_;
  logits.resize(step_logit_rows_.size() * static_cast<std::size_t>(spec_.vocab_size));
  return forward_plan(plan, logits.data());
}

namespace {

class SequenceImpl final : public Sequence {
 public:
  explicit SequenceImpl(ModelImpl& model) : model_(model) {}
  ~SequenceImpl() override { clear(); }

  Status append(std::span<const std::int32_t> ids, bool all_logits, std::vector<float>& logits) override {
    if (ids.empty()) return make_error(ErrorKind::invalid_argument, "append: no ids");
    const std::size_t vocab = static_cast<std::size_t>(model_.vocab_size());
    const std::size_t chunk = static_cast<std::size_t>(model_.max_batch_tokens());
    logits.clear();
    std::vector<float> step;
    for (std::size_t at = 0; at < ids.size(); at += chunk) {
      const auto part = ids.subspan(at, std::min(chunk, ids.size() - at));
      const int need_pages = (length_ + static_cast<int>(part.size()) + model_.page_size() - 1) / model_.page_size();
      if (need_pages > static_cast<int>(pages_.size())) {
        NIBBLE_ASSIGN_OR_RETURN(auto more, model_.allocate_pages(need_pages - static_cast<int>(pages_.size())));
        pages_.insert(pages_.end(), more.begin(), more.end());
      }
      ForwardSeq fs;
      fs.tokens = part;
      fs.pos_begin = length_;
      fs.pages = pages_;
      fs.all_logits = all_logits;
      NIBBLE_TRY(model_.forward(std::span<const ForwardSeq>(&fs, 1), step));
      length_ += static_cast<int>(part.size());
      if (all_logits) logits.insert(logits.end(), step.begin(), step.end());
      else if (at + part.size() == ids.size()) logits.assign(step.end() - static_cast<std::ptrdiff_t>(vocab), step.end());
    }
    return {};
  }

  int length() const override { return length_; }

  void clear() override {
    model_.free_pages(pages_);
    pages_.clear();
    length_ = 0;
  }

 private:
  ModelImpl& model_;
  std::vector<std::int32_t> pages_;
  int length_ = 0;
};

}  // namespace

std::unique_ptr<Sequence> ModelImpl::new_sequence() { return std::make_unique<SequenceImpl>(*this); }

}  // namespace nibble
