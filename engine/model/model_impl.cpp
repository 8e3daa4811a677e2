// Model loading (placement of layer ranges on backends) and the forward chain.
#include "model/model_impl.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "backend/cpu/cpu_backend.h"
#if NIBBLE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "model/layout_options.h"
#include "model/model_info.h"
#include "model/weight_source.h"
#include "nibble/devices.h"
#include "nibble/plan.h"

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

Status check_device(const std::string& what, const std::string& device) {
  if (device != "cpu" && !parse_cuda_device(device))
    return make_error(ErrorKind::invalid_argument, what, ": unknown device '", device, "' (cpu or cuda:N)");
#if !NIBBLE_HAVE_CUDA
  if (device != "cpu")
    return make_error(ErrorKind::unsupported, "device '", device, "': this build has no CUDA backend; use --device cpu");
#endif
  return {};
}

// The ranges to load: LoadOptions::placement, or `device` cut at split_layers.
Result<std::vector<LayerPlacement>> resolve_placement(const LoadOptions& o, const ModelSpec& s) {
  NIBBLE_TRY(check_layout_options("load options", o.max_batch_tokens, o.page_size, o.context,
                                  o.placement.empty() ? o.split_layers : std::vector<int>{}, s.n_layers));
  std::vector<LayerPlacement> ranges;
  if (o.placement.empty()) {
    NIBBLE_TRY(check_device("load options", o.device));
    const std::string dev = o.device == "cuda" ? "cuda:0" : o.device;
    int at = 0;
    for (int b : o.split_layers) {
      ranges.push_back({dev, at, b});
      at = b;
    }
    ranges.push_back({dev, at, s.n_layers});
    return ranges;
  }
  int at = 0;
  for (std::size_t i = 0; i < o.placement.size(); ++i) {
    LayerPlacement r = o.placement[i];
    const std::string what = "load options: placement range " + std::to_string(i);
    NIBBLE_TRY(check_device(what, r.device));
    if (r.device == "cuda") r.device = "cuda:0";
    if (r.first_layer != at || r.last_layer <= r.first_layer || r.last_layer > s.n_layers)
      return make_error(ErrorKind::invalid_argument, what, " (", r.device, " layers ", r.first_layer, "..", r.last_layer,
                        "): ranges must cover layers 0..", s.n_layers, " in order, each at least one layer, "
                        "this one starting at ", at);
    at = r.last_layer;
    ranges.push_back(r);
  }
  if (at != s.n_layers)
    return make_error(ErrorKind::invalid_argument, "load options: placement ends at layer ", at, " of ", s.n_layers,
                      "; the last range must reach the last layer");
  return ranges;
}

std::string gib(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / static_cast<double>(std::size_t{1} << 30));
  return buf;
}

// Before anything is allocated: each device's share by the memory plan (plus, on a GPU, the CUDA
// runtime allowance and the reserve) against what it has free (host RAM available for the CPU). out_of_memory naming the device,
// the numbers and what to change. A model the planner cannot read is left to the load's own checks.
// With `tensor_parallel` (GPU ordinals), each GPU's share under tensor parallelism instead
// (MemoryPlanner::tensor_parallel_share).
Status check_memory(const WeightSource& weights, const std::vector<LayerPlacement>& ranges, const LoadOptions& o,
                    const std::vector<int>& tensor_parallel = {}) {
  auto planner = MemoryPlanner::from_weights(weights);
  if (!planner.ok()) return {};
  PlanOptions po;
  po.context = o.context;
  po.max_batch_tokens = o.max_batch_tokens;
  po.page_size = o.page_size;
  po.kv_cache = o.kv_cache;
  auto base = planner->plan(po);
  if (!base.ok()) return {};
  struct Need {
    std::string device;
    MemorySplit bytes;
  };
  std::vector<Need> needs;
  for (std::size_t i = 0; i < tensor_parallel.size(); ++i)
    needs.push_back({"cuda:" + std::to_string(tensor_parallel[i]),
                     planner->tensor_parallel_share(po, static_cast<int>(tensor_parallel.size()), static_cast<int>(i))});
  for (std::size_t i = 0; i < ranges.size() && tensor_parallel.empty(); ++i) {
    const LayerPlacement& r = ranges[i];
    const SegmentMemory m = planner->segment(po, r.first_layer, r.last_layer, i == 0, i + 1 == ranges.size());
    auto it = std::find_if(needs.begin(), needs.end(), [&](const Need& n) { return n.device == r.device; });
    if (it == needs.end()) it = needs.insert(needs.end(), Need{r.device, {}});
    const MemorySplit& b = r.device == "cpu" ? m.cpu : m.cuda;
    it->bytes.weights += b.weights;
    it->bytes.kv_cache += b.kv_cache;
    it->bytes.scratch += b.scratch;
  }
  // Only the GPUs the placement names are asked (asking creates a context on each).
  std::vector<GpuInfo> gpus;
#if NIBBLE_HAVE_CUDA
  for (const Need& n : needs)
    if (n.device != "cpu")
      if (auto d = cuda_device(*parse_cuda_device(n.device)))
        gpus.push_back({d->index, d->name, d->total_bytes, d->free_bytes});
#endif
  for (const Need& n : needs) {
    std::size_t free = 0, extra = 0;
    if (n.device == "cpu") {
      free = host_memory().available_bytes;
      if (free == 0) continue;  // unknown
    } else {
      const int idx = *parse_cuda_device(n.device);
      auto g = std::find_if(gpus.begin(), gpus.end(), [&](const GpuInfo& x) { return x.index == idx; });
      if (g == gpus.end()) continue;  // the backend reports a missing GPU itself
      free = g->free_bytes;
      extra = base->cuda_runtime_overhead;
    }
    const std::size_t reserve = n.device == "cpu" ? 0 : o.reserve_bytes;  // the reserve is per GPU
    const std::size_t needed = n.bytes.total() + extra + reserve;
    if (needed <= free) continue;
    std::string msg = n.device + " has " + gib(free) + " free, but this model needs " + gib(needed) + " there (weights " +
                      gib(n.bytes.weights) + ", KV cache " + gib(n.bytes.kv_cache) + " for " + std::to_string(base->context) +
                      " tokens, working buffers " + gib(n.bytes.scratch);
    if (extra) msg += ", CUDA runtime " + gib(extra);
    if (reserve) msg += ", reserve " + gib(reserve);
    msg += "). Nothing was loaded.";
    // What would fit: the planner's advice for these GPUs.
    PlacementOptions pl;
    pl.plan = po;
    pl.reserve_bytes = o.reserve_bytes;
    pl.tensor_parallel = !tensor_parallel.empty();
    pl.cpu.free_bytes = host_memory().available_bytes;
    for (const GpuInfo& g : gpus) pl.gpus.push_back({"cuda:" + std::to_string(g.index), g.name, g.free_bytes});
    if (auto advice = plan_placement(*planner, pl); advice.ok() && !advice->advice.empty()) {
      msg += " To fit:";
      for (const std::string& a : advice->advice) msg += " " + a + ";";
      msg.back() = '.';
    } else {
      msg += " Use a shorter context, the q8/q4 KV cache, or put layers on the CPU.";
    }
    return make_error(ErrorKind::out_of_memory, msg);
  }
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
  std::vector<int> tp_gpus;
  std::vector<LayerPlacement> ranges;
  if (!o.tensor_parallel.empty()) {
    NIBBLE_TRY(check_layout_options("load options", o.max_batch_tokens, o.page_size, o.context, {}, spec.n_layers));
    for (const std::string& d : o.tensor_parallel) {
      NIBBLE_TRY(check_device("load options: tensor_parallel", d));
      const std::optional<int> g = parse_cuda_device(d);
      if (!g)
        return make_error(ErrorKind::invalid_argument, "load options: tensor_parallel names '", d,
                          "'; only GPUs (cuda:N) share layers");
      tp_gpus.push_back(*g);
    }
    if (tp_gpus.size() < 2)
      return make_error(ErrorKind::invalid_argument, "load options: tensor parallelism needs two or more GPUs (got ",
                        tp_gpus.size(), ")");
    ranges.push_back({"cuda:" + std::to_string(tp_gpus[0]), 0, spec.n_layers});
    NIBBLE_TRY(check_memory(*weights, ranges, o, tp_gpus));
  } else {
    NIBBLE_ASSIGN_OR_RETURN(ranges, resolve_placement(o, spec));
    NIBBLE_TRY(check_memory(*weights, ranges, o));
  }
  std::unique_ptr<ModelImpl> m(new ModelImpl());
  NIBBLE_ASSIGN_OR_RETURN(m->info_, build_model_info(*weights));
  m->spec_ = spec;
  m->max_rows_ = o.max_batch_tokens;
  m->page_size_ = o.page_size;
  const int context = o.context > 0 ? o.context : std::min(spec.max_positions, 8192);
  const int n_pages = (context + o.page_size - 1) / o.page_size;
  m->pages_ = std::make_unique<PagePool>(n_pages);
  m->pool_ = std::make_unique<ThreadPool>(o.threads);

  const std::size_t n_seg = ranges.size();
  std::size_t total = 0, done_before = 0;
  for (const LayerPlacement& r : ranges) total += static_cast<std::size_t>(r.last_layer - r.first_layer) + 2;
  for (std::size_t i = 0; i < n_seg; ++i) {
    const LayerPlacement& r = ranges[i];
    const bool on_gpu = r.device != "cpu";
    // One backend per range: two ranges on one GPU get their own streams and handles.
    if (!tp_gpus.empty()) {
      // Tensor parallelism: one segment over every GPU of the group (no backend of its own).
    } else if (on_gpu) {
#if NIBBLE_HAVE_CUDA
      NIBBLE_ASSIGN_OR_RETURN(auto gpu, make_cuda_backend(*parse_cuda_device(r.device)));
      m->backends_.push_back(std::move(gpu));
#endif
    } else {
      m->backends_.push_back(make_cpu_backend(*m->pool_));
    }
    SegmentOptions so;
    so.first_layer = r.first_layer;
    so.last_layer = r.last_layer;
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
    std::unique_ptr<Segment> seg;
    if (!tp_gpus.empty()) {
#if NIBBLE_HAVE_CUDA
      NIBBLE_ASSIGN_OR_RETURN(seg, make_tensor_parallel_segment(tp_gpus, spec, *weights, so, progress));
#endif
    } else {
      NIBBLE_ASSIGN_OR_RETURN(seg, m->backends_.back()->create_segment(spec, *weights, so, progress));
    }
    done_before += static_cast<std::size_t>(so.last_layer - so.first_layer) + 2;
    m->segments_.push_back(std::move(seg));
    m->devices_.push_back(r.device);
  }
  // GPU -> GPU boundaries hand the hidden state over directly (peer copy or pinned bounce);
  // anything with the CPU on one side goes through boundary_.
  m->direct_handoff_.assign(n_seg, false);
  for (std::size_t i = 1; i < n_seg; ++i) m->direct_handoff_[i] = ranges[i - 1].device != "cpu" && ranges[i].device != "cpu";
  if (n_seg > 1) m->boundary_.assign(static_cast<std::size_t>(o.max_batch_tokens) * spec.hidden_size, 0.0f);
  m->load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::unique_ptr<Model>(std::move(m));
}

std::vector<DeviceMemoryUse> ModelImpl::memory_use() const {
  // One entry per device, in the order the layers first reach it.
  std::vector<DeviceMemoryUse> out;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    auto it = std::find_if(out.begin(), out.end(), [&](const DeviceMemoryUse& d) { return d.device == devices_[i]; });
    if (it == out.end()) {
      out.push_back({});
      it = out.end() - 1;
      it->device = devices_[i];
    }
    const Segment::MemoryUse u = segments_[i]->memory_use();
    it->weights += u.weights;
    it->kv_cache += u.kv_cache;
    it->scratch += u.scratch;
  }
  // A segment over several GPUs (tensor parallelism) counts each GPU's share on that GPU.
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const auto shares = segments_[i]->memory_by_device();
    if (shares.empty()) continue;
    auto own = std::find_if(out.begin(), out.end(), [&](const DeviceMemoryUse& d) { return d.device == devices_[i]; });
    if (own != out.end()) out.erase(own);
    for (const auto& share : shares) {
      const std::string& device = share.first;
      const Segment::MemoryUse& u = share.second;
      auto it = std::find_if(out.begin(), out.end(), [&](const DeviceMemoryUse& d) { return d.device == device; });
      if (it == out.end()) {
        out.push_back({});
        it = out.end() - 1;
        it->device = device;
      }
      it->weights += u.weights;
      it->kv_cache += u.kv_cache;
      it->scratch += u.scratch;
    }
  }
  return out;
}

Status ModelImpl::run_plan(const BatchPlan& plan) {
  const int rows = plan.n_rows();
  NIBBLE_TRY(segments_.front()->embed(plan));
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (i > 0 && direct_handoff_[i]) {
      NIBBLE_TRY(segments_[i - 1]->hidden_to_segment(*segments_[i], rows));  // GPU -> GPU
    } else if (i > 0) {
      NIBBLE_TRY(segments_[i - 1]->hidden_to_host(boundary_.data(), rows));
      NIBBLE_TRY(segments_[i]->hidden_from_host(boundary_.data(), rows));
    }
    NIBBLE_TRY(segments_[i]->run_layers(plan));
  }
  return {};
}

Status ModelImpl::forward_plan(const BatchPlan& plan, float* logits) {
  NIBBLE_TRY(run_plan(plan));
  return segments_.back()->head(plan, logits);
}

Status ModelImpl::build_plan(std::span<const ForwardSeq> seqs, BatchPlan& plan) {
  auto bad = [](auto&&... parts) { return make_error(ErrorKind::invalid_argument, "forward: ", parts...); };
  step_tokens_.clear();
  step_positions_.clear();
  step_logit_rows_.clear();
  plan = BatchPlan{};
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
  return {};
}

Status ModelImpl::forward(std::span<const ForwardSeq> seqs, std::vector<float>& logits) {
  BatchPlan plan;
  NIBBLE_TRY(build_plan(seqs, plan));
  logits.resize(step_logit_rows_.size() * static_cast<std::size_t>(spec_.vocab_size));
  return forward_plan(plan, logits.data());
}

Status ModelImpl::forward_sample(std::span<const ForwardSeq> seqs, std::span<const DeviceSampling> sampling,
                                 std::vector<std::int32_t>& ids) {
  if (sampling.size() != seqs.size())
    return make_error(ErrorKind::invalid_argument, "forward_sample: ", sampling.size(), " sampler settings for ",
                      seqs.size(), " sequences");
  for (const ForwardSeq& s : seqs)
    if (s.all_logits) return make_error(ErrorKind::invalid_argument, "forward_sample: all_logits is not supported");
  // Asked before the layers run, so a backend without it leaves the caches untouched.
  if (!segments_.back()->can_sample())
    return make_error(ErrorKind::unsupported, "sampling on the device: not on ", devices_.back());
  BatchPlan plan;
  NIBBLE_TRY(build_plan(seqs, plan));
  NIBBLE_TRY(run_plan(plan));
  ids.resize(seqs.size());
  return segments_.back()->head_sample(plan, sampling, ids.data());
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
