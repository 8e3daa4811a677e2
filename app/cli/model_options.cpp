// Parsing of the model-loading options and the placement flags.
#include "model_options.h"

#include <algorithm>
#include <cmath>

#include "nibble/devices.h"

namespace nibble::cli {
namespace {

constexpr double kGiB = static_cast<double>(1ull << 30);

bool parse_gib(const std::string& text, std::size_t& out) {
  double g = 0;
  if (!parse_double(text, g) || !(g >= 0) || g > 1e6) return false;
  out = static_cast<std::size_t>(std::llround(g * kGiB));
  return true;
}

}  // namespace

bool parse_placement_flags(const Args& args, const LoadOptions& load, const std::vector<double>& fake_gpus,
                           PlacementOptions& out, std::string& error) {
  out.plan.context = load.context;
  out.plan.max_batch_tokens = load.max_batch_tokens;
  out.plan.page_size = load.page_size;
  out.plan.kv_cache = load.kv_cache;
  out.cpu.free_bytes = host_memory().available_bytes;
  if (!fake_gpus.empty()) {
    for (std::size_t i = 0; i < fake_gpus.size(); ++i)
      out.gpus.push_back({"cuda:" + std::to_string(i), "GPU " + std::to_string(i),
                          static_cast<std::size_t>(fake_gpus[i] * kGiB)});
  } else {
    const bool one = args.value("device").has_value() && load.device.rfind("cuda:", 0) == 0 && !args.value("gpu-split");
    for (const GpuInfo& g : list_gpus()) {
      const std::string dev = "cuda:" + std::to_string(g.index);
      if (!one || dev == load.device) out.gpus.push_back({dev, g.name, g.free_bytes});
    }
  }
  if (auto r = args.value("reserve"); r && !parse_gib(*r, out.reserve_bytes)) {
    error = "--reserve takes GiB like 0.5 (got '" + *r + "')";
    return false;
  }
  out.cpu_layers = 0;
  if (auto c = args.value("cpu-layers")) {
    long long n = 0;
    if (*c == "auto") out.cpu_layers = -1;
    else if (parse_int(*c, n) && n >= 0 && n <= 100000) out.cpu_layers = static_cast<int>(n);
    else {
      error = "--cpu-layers takes a number of layers or auto (got '" + *c + "')";
      return false;
    }
  }
  out.mode = SplitMode::auto_fill;
  if (auto s = args.value("gpu-split"); s && *s != "auto") {
    out.mode = SplitMode::manual;
    std::vector<double> gib;
    bool ok = parse_double_list(*s, gib);
    for (double g : gib) {
      ok = ok && g >= 0 && g <= 1e6;
      out.gpu_split_bytes.push_back(static_cast<std::size_t>(std::llround(g * kGiB)));
    }
    if (!ok) {
      error = "--gpu-split takes auto or GiB per GPU like 20,24 (got '" + *s + "')";
      return false;
    }
    if (out.gpu_split_bytes.size() > out.gpus.size()) {
      error = "--gpu-split names " + std::to_string(out.gpu_split_bytes.size()) + " GPUs but " +
              std::to_string(out.gpus.size()) + " are present";
      return false;
    }
    out.gpus.resize(out.gpu_split_bytes.size());
  }
  if (out.gpus.empty() && out.cpu_layers == 0) {
    error = args.value("gpu-split") ? "--gpu-split: no CUDA GPU found" : "no CUDA GPU found; use --device cpu";
    return false;
  }
  return true;
}

int place_model(const Args& args, const std::string& model_dir, LoadOptions& load, std::string& error) {
  if (args.value("tensor-parallel") && (args.value("gpu-split") || args.value("cpu-layers"))) {
    error = "--tensor-parallel shares every layer among the GPUs; it does not go with --gpu-split or --cpu-layers";
    return 2;
  }
  if (!load.tensor_parallel.empty()) {
    if (auto r = args.value("reserve"); r && !parse_gib(*r, load.reserve_bytes)) {
      error = "--reserve takes GiB like 0.5 (got '" + *r + "')";
      return 2;
    }
    return 0;
  }
  if (!args.value("gpu-split") && !args.value("cpu-layers") && !args.value("reserve")) return 0;
  if (load.device == "cpu" && args.value("device")) {
    error = "--gpu-split, --cpu-layers and --reserve place layers on GPUs; drop --device cpu";
    return 2;
  }
  PlacementOptions po;
  if (!parse_placement_flags(args, load, {}, po, error)) return 2;
  auto planner = MemoryPlanner::open(model_dir);
  if (!planner) {
    error = planner.error().to_string();
    return 1;
  }
  auto p = plan_placement(*planner, po);
  if (!p) {
    error = p.error().to_string();
    return 2;
  }
  if (!p->fits) {
    error = "the model does not fit on these devices.";
    for (const std::string& a : p->advice) error += "\n  " + a;
    return 1;
  }
  load.placement = p->layers();
  load.reserve_bytes = po.reserve_bytes;
  return 0;
}

bool parse_model_options(const Args& args, LoadOptions& out, std::string& error) {
  out.device = args.value_or("device", "cpu");
  if (out.device != "cpu" && out.device.rfind("cuda:", 0) != 0) {
    error = "--device must be cpu or cuda:N";
    return false;
  }
  long long v;
  if (auto t = args.value("threads")) {
    if (!parse_int(*t, v) || v < 1 || v > 1024) {
      error = "--threads must be an integer in [1, 1024]";
      return false;
    }
    out.threads = static_cast<unsigned>(v);
  }
  if (auto c = args.value("context")) {
    if (!parse_int(*c, v) || v < 1 || v > (1 << 24)) {
      error = "--context must be a positive number of tokens";
      return false;
    }
    out.context = static_cast<int>(v);
  }
  if (auto t = args.value("tensor-parallel")) {
    out.tensor_parallel.clear();
    if (*t == "auto") {
      for (const GpuInfo& g : list_gpus()) out.tensor_parallel.push_back("cuda:" + std::to_string(g.index));
      if (out.tensor_parallel.size() < 2) {
        error = "--tensor-parallel auto: " + std::to_string(out.tensor_parallel.size()) +
                " CUDA GPU(s) found; sharing layers needs two or more";
        return false;
      }
    } else {
      std::size_t at = 0;
      while (at <= t->size()) {
        const std::size_t comma = std::min(t->find(',', at), t->size());
        const std::string d = t->substr(at, comma - at);
        if (d.rfind("cuda:", 0) != 0 || d.size() == 5) {
          error = "--tensor-parallel takes auto or GPUs like cuda:0,cuda:1 (got '" + *t + "')";
          return false;
        }
        out.tensor_parallel.push_back(d);
        at = comma + 1;
      }
      if (out.tensor_parallel.size() < 2) {
        error = "--tensor-parallel needs two or more GPUs (got '" + *t + "')";
        return false;
      }
    }
  }
  return true;
}

}  // namespace nibble::cli
