// Placement: which decoder layers go on which device, from the memory plan's per-segment byte
// counts. The chain is CPU layers first (the CPU also takes the embedding, a table lookup), then
// the GPUs in order, the last one holding the final norm + head, so the per-token head GEMV never
// runs on the CPU. Arithmetic only: cheap enough to rerun as the user drags a slider.
#include <algorithm>
#include <cstdio>
#include <string>

#include "model/layout_options.h"
#include "nibble/plan.h"

namespace nibble {

std::vector<LayerPlacement> Placement::layers() const {
  std::vector<LayerPlacement> out;
  if (tensor_parallel) return out;
  for (const DevicePlacement& r : ranges) out.push_back({r.device, r.first_layer, r.last_layer});
  return out;
}

std::vector<std::string> Placement::tensor_parallel_devices() const {
  std::vector<std::string> out;
  if (!tensor_parallel) return out;
  for (const DevicePlacement& r : ranges) out.push_back(r.device);
  return out;
}

namespace {

constexpr std::size_t kGiB = std::size_t{1} << 30;

std::string gib(std::size_t bytes) {
  const double g = static_cast<double>(bytes) / static_cast<double>(kGiB);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", g);
  return buf;
}

std::size_t minus(std::size_t a, std::size_t b) { return a > b ? a - b : 0; }

// The placement at one context and one number of CPU layers (the first `cpu_layers`).
struct Attempt {
  Placement p;
  bool gpus_hold_rest = false;  // the GPU ranges reach the last layer with the head
};

Attempt place(const MemoryPlanner& planner, const PlacementOptions& o, const PlanOptions& po, int cpu_layers,
              std::size_t runtime_overhead) {
  const int n = planner.layers();
  Attempt a;
  Placement& p = a.p;
  p.cpu_layer_count = cpu_layers;
  p.fits = true;
  const bool cpu_head = cpu_layers == n || o.gpus.empty();
  if (cpu_layers > 0 || cpu_head) {
    DevicePlacement c;
    c.device = o.cpu.device.empty() ? "cpu" : o.cpu.device;
    c.name = o.cpu.name;
    c.first_layer = 0;
    c.last_layer = cpu_head ? n : cpu_layers;
    c.embedding = true;
    c.head = cpu_head;
    c.bytes = planner.segment(po, c.first_layer, c.last_layer, true, c.head).cpu;
    c.free_bytes = o.cpu.free_bytes;
    c.budget_bytes = o.cpu.free_bytes;
    p.fits = p.fits && c.needed() <= c.budget_bytes;
    p.ranges.push_back(c);
    if (cpu_head) {
      p.cpu_layer_count = n;
      a.gpus_hold_rest = true;
      return a;
    }
  }
  int at = cpu_layers;
  for (std::size_t g = 0; g < o.gpus.size() && at < n; ++g) {
    const PlacementDevice& dev = o.gpus[g];
    const std::size_t free_budget = minus(dev.free_bytes, o.reserve_bytes);
    const std::size_t budget = o.mode == SplitMode::manual ? std::min(o.gpu_split_bytes[g], free_budget) : free_budget;
    const bool embedding = at == 0;
    const bool last_gpu = g + 1 == o.gpus.size();
    auto cost = [&](int last) {
      return planner.segment(po, at, last, embedding, last == n).cuda.total() + runtime_overhead;
    };
    // The most layers that fit; the last GPU takes everything left (over budget -> no fit).
    int last = at;
    while (last < n && cost(last + 1) <= budget) ++last;
    if (last_gpu) last = n;
    if (last == at) continue;  // nothing fits here: the next GPU starts at the same layer
    DevicePlacement r;
    r.device = dev.device;
    r.name = dev.name;
    r.first_layer = at;
    r.last_layer = last;
    r.embedding = embedding;
    r.head = last == n;
    r.bytes = planner.segment(po, at, last, embedding, r.head).cuda;
    r.runtime_overhead = runtime_overhead;
    r.free_bytes = dev.free_bytes;
    r.budget_bytes = budget;
    p.fits = p.fits && r.needed() <= budget;
    p.ranges.push_back(r);
    at = last;
  }
  a.gpus_hold_rest = at == n;
  p.fits = p.fits && a.gpus_hold_rest;
  return a;
}

// The least number of first layers on the CPU that makes the plan fit; -1 when none does. The GPUs'
// side fits for every k past some k0 and the CPU's side up to some k1, so a binary search for k0
// on the GPUs' verdict and one check of the whole plan at k0 decide it.
int least_cpu_layers(const MemoryPlanner& planner, const PlacementOptions& o, const PlanOptions& po, std::size_t rt) {
  const int n = planner.layers();
  auto gpus_fit = [&](int k) {
    const Placement p = place(planner, o, po, k, rt).p;
    for (const DevicePlacement& r : p.ranges)
      if (r.device.rfind("cuda", 0) == 0 && r.needed() > r.budget_bytes) return false;
    return true;
  };
  int lo = 0, hi = n;  // gpus_fit(n) holds: nothing is on the GPUs
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (gpus_fit(mid)) hi = mid;
    else lo = mid + 1;
  }
  return place(planner, o, po, lo, rt).p.fits ? lo : -1;
}

// The longest context (whole pages, <= max positions) that fits with `cpu_layers` CPU layers; 0 when none.
int longest_context(const MemoryPlanner& planner, const PlacementOptions& o, int cpu_layers, std::size_t rt) {
  PlanOptions po = o.plan;
  const int page = po.page_size;
  int lo = 0, hi = std::max(1, planner.max_positions() / page);  // in pages; lo fits (0 = none yet)
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    po.context = mid * page;
    if (place(planner, o, po, cpu_layers, rt).p.fits) lo = mid;
    else hi = mid - 1;
  }
  return lo * page;
}

// Tensor parallelism: one range per GPU over every layer, with that GPU's share of the bytes.
Placement place_shared(const MemoryPlanner& planner, const PlacementOptions& o, const PlanOptions& po, std::size_t rt) {
  Placement p;
  p.tensor_parallel = true;
  p.fits = true;
  const int shards = static_cast<int>(o.gpus.size());
  for (int i = 0; i < shards; ++i) {
    const PlacementDevice& g = o.gpus[static_cast<std::size_t>(i)];
    DevicePlacement r;
    r.device = g.device;
    r.name = g.name;
    r.first_layer = 0;
    r.last_layer = planner.layers();
    r.embedding = true;
    r.head = i == 0;
    r.bytes = planner.tensor_parallel_share(po, shards, i);
    r.runtime_overhead = rt;
    r.free_bytes = g.free_bytes;
    r.budget_bytes = g.free_bytes > o.reserve_bytes ? g.free_bytes - o.reserve_bytes : 0;
    p.fits = p.fits && r.needed() <= r.budget_bytes;
    p.ranges.push_back(r);
  }
  return p;
}

Result<Placement> plan_shared(const MemoryPlanner& planner, const PlacementOptions& o, std::size_t rt) {
  if (o.gpus.size() < 2)
    return make_error(ErrorKind::invalid_argument, "placement: tensor parallelism needs two or more GPUs (",
                      o.gpus.size(), " given)");
  PlanOptions po = o.plan;
  po.split_layers.clear();
  Placement p = place_shared(planner, o, po, rt);
  const int ctx_tokens = po.context > 0 ? po.context : std::min(planner.max_positions(), 8192);
  p.context = (ctx_tokens + po.page_size - 1) / po.page_size * po.page_size;
  if (p.fits) return p;
  for (const DevicePlacement& r : p.ranges)
    if (r.needed() > r.budget_bytes)
      p.advice.push_back(r.device + " would need " + gib(r.needed()) + " for its share of every layer but has " +
                         gib(r.budget_bytes) + " to use (free memory less the reserve)");
  int lo = 0, hi = std::max(1, planner.max_positions() / po.page_size);  // pages
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    PlanOptions c = po;
    c.context = mid * po.page_size;
    if (place_shared(planner, o, c, rt).fits) lo = mid;
    else hi = mid - 1;
  }
  if (lo > 0 && lo * po.page_size < p.context)
    p.advice.push_back("Use a context of " + std::to_string(lo * po.page_size) + " tokens or less");
  if (o.plan.kv_cache != KvCacheMode::q4) {
    PlanOptions q = po;
    q.kv_cache = o.plan.kv_cache == KvCacheMode::fp16 ? KvCacheMode::q8 : KvCacheMode::q4;
    if (place_shared(planner, o, q, rt).fits) p.advice.push_back(std::string("Use the ") + kv_cache_mode_name(q.kv_cache) + " KV cache");
  }
  p.advice.push_back("Split the layers across the GPUs instead, where some can run on the CPU (tensor parallelism keeps "
                     "every layer on the GPUs)");
  return p;
}

}  // namespace

Result<Placement> plan_placement(const MemoryPlanner& planner, const PlacementOptions& o) {
  auto bad = [](const std::string& what) { return make_error(ErrorKind::invalid_argument, "placement: ", what); };
  const int n = planner.layers();
  if (n <= 0) return bad("no model (MemoryPlanner::open first)");
  NIBBLE_TRY(check_layout_options("placement", o.plan.max_batch_tokens, o.plan.page_size, o.plan.context, {}, n));
  if (o.tensor_parallel) {
    for (const PlacementDevice& d : o.gpus)
      if (d.device.rfind("cuda", 0) != 0) return bad("'" + d.device + "' is not a GPU (cuda:N)");
    NIBBLE_ASSIGN_OR_RETURN(MemoryPlan base, planner.plan(o.plan));
    return plan_shared(planner, o, base.cuda_runtime_overhead);
  }
  if (o.cpu_layers < -1 || o.cpu_layers > n)
    return bad("cpu_layers must be -1 (auto) or 0.." + std::to_string(n) + ", not " + std::to_string(o.cpu_layers));
  if (o.gpus.empty() && o.cpu_layers == 0) return bad("no GPU to place layers on, and the CPU is not allowed (cpu_layers 0)");
  if (o.mode == SplitMode::manual && o.gpu_split_bytes.size() != o.gpus.size())
    return bad("a manual split needs one size per GPU (" + std::to_string(o.gpus.size()) + " GPUs, " +
               std::to_string(o.gpu_split_bytes.size()) + " sizes)");
  for (const PlacementDevice& d : o.gpus)
    if (d.device.rfind("cuda", 0) != 0) return bad("'" + d.device + "' is not a GPU (cuda:N)");
  NIBBLE_ASSIGN_OR_RETURN(MemoryPlan base, planner.plan(o.plan));
  const std::size_t rt = base.cuda_runtime_overhead;

  PlanOptions po = o.plan;
  po.split_layers.clear();
  const bool auto_cpu = o.cpu_layers < 0;
  int cpu_layers = auto_cpu ? 0 : o.cpu_layers;
  if (o.mode == SplitMode::fit_context) {
    const int ctx = longest_context(planner, o, cpu_layers, rt);
    po.context = ctx > 0 ? ctx : po.page_size;
  } else if (auto_cpu && !o.gpus.empty()) {
    const int k = least_cpu_layers(planner, o, po, rt);
    cpu_layers = k >= 0 ? k : 0;
  }
  Attempt a = place(planner, o, po, cpu_layers, rt);
  Placement p = std::move(a.p);
  const int ctx_tokens = po.context > 0 ? po.context : std::min(planner.max_positions(), 8192);
  p.context = (ctx_tokens + po.page_size - 1) / po.page_size * po.page_size;

  // Advice: what would make it fit, or what the fit costs.
  if (!p.fits) {
    for (const DevicePlacement& r : p.ranges)
      if (r.needed() > r.budget_bytes)
        p.advice.push_back(r.device + " would need " + gib(r.needed()) + " for layers " + std::to_string(r.first_layer) +
                           "-" + std::to_string(r.last_layer - 1) + " but has " + gib(r.budget_bytes) +
                           (r.device == "cpu" ? " available" : " to use (free memory less the reserve)"));
    if (!o.gpus.empty()) {
      const int k = least_cpu_layers(planner, o, po, rt);
      if (k > 0 && k != cpu_layers)
        p.advice.push_back("Put " + std::to_string(k) + " layers on the CPU (--cpu-layers " + std::to_string(k) +
                           "); decoding will be slower");
      const int ctx = longest_context(planner, o, auto_cpu ? 0 : cpu_layers, rt);
      if (ctx > 0 && ctx < p.context)
        p.advice.push_back("Use a context of " + std::to_string(ctx) + " tokens or less");
      if (o.plan.kv_cache != KvCacheMode::q4) {
        PlacementOptions q = o;
        q.plan.kv_cache = o.plan.kv_cache == KvCacheMode::fp16 ? KvCacheMode::q8 : KvCacheMode::q4;
        PlanOptions qpo = po;
        qpo.kv_cache = q.plan.kv_cache;
        if (place(planner, q, qpo, auto_cpu ? 0 : cpu_layers, rt).p.fits)
          p.advice.push_back(std::string("Use the ") + kv_cache_mode_name(q.plan.kv_cache) + " KV cache");
      }
    }
    if (p.advice.size() <= 1)
      p.advice.push_back("The model does not fit in the memory of these devices; choose a smaller quantization");
  } else if (auto_cpu && cpu_layers > 0) {
    const int ctx = longest_context(planner, o, 0, rt);
    std::string line = std::to_string(cpu_layers) + " layers run on the CPU because the GPUs are full; decoding will be slower";
    if (ctx > 0) line += " (a context of " + std::to_string(ctx) + " tokens keeps every layer on the GPUs)";
    p.advice.push_back(line);
  }
  return p;
}

}  // namespace nibble
