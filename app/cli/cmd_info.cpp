// nibble-cli info: a model's architecture, sizes, parameter count, format and bits per weight per
// layer type, context and special tokens, read from config.json and the tensor headers (no
// weights are loaded). Text or --json.
#include <cstdio>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "model_options.h"
#include "nibble/devices.h"
#include "nibble/model.h"
#include "nibble/plan.h"

namespace nibble::cli {
namespace {

constexpr const char* usage =
    "Usage: nibble-cli info MODEL_DIR [--json]\n"
    "       nibble-cli info MODEL_DIR --vram [--context N] [--cache fp16|q8|q4] [--gpu-memory GiB[,GiB...]]...\n"
    "                       [--max-batch N] [--page-size N] [--split-layers L1,L2,...] [--json]\n"
    "       nibble-cli info MODEL_DIR --plan [--gpu-split auto|GB,GB,...] [--cpu-layers N|auto] [--reserve GB]\n"
    "                       [--context N|fit] [--cache fp16|q8|q4] [--gpu-memory GiB[,GiB...]] [--tensor-parallel]\n"
    "                       [--json]\n"
    "  --vram          the memory plan: weights, KV cache and scratch on the GPU (CUDA backend) and on\n"
    "                  the CPU backend, and whether it fits each GPU (--gpu-memory, else the GPUs found)\n"
    "  --plan          the placement: which layers go on which device, each device's bytes against its\n"
    "                  free memory (--gpu-memory: GPUs with that much free, else the GPUs found), and\n"
    "                  what to change when it does not fit; --context fit finds the longest context;\n"
    "                  --tensor-parallel: every layer shared among the GPUs, each GPU's share\n";

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string millions(std::int64_t n) { return fmt("%.2f M", static_cast<double>(n) / 1e6); }

std::string ids_text(const std::vector<int>& ids) {
  std::string s;
  for (int id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s.empty() ? "none" : s;
}

nlohmann::ordered_json to_json(const ModelInfo& i) {
  nlohmann::ordered_json j = {{"path", i.path}, {"architecture", i.architecture}, {"model_type", i.model_type},
                              {"family", i.family}, {"loaded_as_llama", i.loaded_as_llama},
                              {"parameters", i.parameters}, {"layers", i.layers}, {"hidden_size", i.hidden_size},
                              {"intermediate_size", i.intermediate_size}, {"heads", i.heads}, {"kv_heads", i.kv_heads},
                              {"head_dim", i.head_dim}, {"vocab_size", i.vocab_size},
                              {"context_length", i.context_length}, {"sliding_window", i.sliding_window},
                              {"rms_norm_eps", i.rms_norm_eps}, {"rope", i.rope}, {"dtype", i.dtype},
                              {"quant_method", i.quant_method}, {"tied_embeddings", i.tied_embeddings},
                              {"bos_id", i.bos_id ? nlohmann::ordered_json(*i.bos_id) : nlohmann::ordered_json()},
                              {"eos_ids", i.eos_ids}, {"weight_bytes", i.weight_bytes}, {"weight_files", i.weight_files},
                              {"kv_cache_bytes_per_token", static_cast<std::int64_t>(i.layers) * 2 * i.kv_heads * i.head_dim * 4}};
  auto& types = j["layer_types"] = nlohmann::ordered_json::array();
  for (const auto& t : i.layer_types)
    types.push_back({{"name", t.name}, {"format", t.format}, {"bits_per_weight", t.bits_per_weight},
                     {"params", t.params}, {"count", t.count}, {"detail", t.detail}});
  return j;
}

void print_text(const ModelInfo& i, std::ostream& out) {
  auto row = [&](const char* key, const std::string& value) {
    out << key;
    for (std::size_t n = std::string(key).size(); n < 14; ++n) out << ' ';
    out << value << '\n';
  };
  row("model", i.path);
  row("architecture", i.architecture + " (" + (i.loaded_as_llama ? "not a listed architecture, its tensors and config are Llama's; runs as llama" : "runs as " + i.family) + ")");
  row("parameters", millions(i.parameters));
  row("layers", std::to_string(i.layers) + " (hidden " + std::to_string(i.hidden_size) + ", intermediate " +
                    std::to_string(i.intermediate_size) + ")");
  row("attention", std::to_string(i.heads) + " heads, " + std::to_string(i.kv_heads) + " KV heads, head dim " +
                       std::to_string(i.head_dim) +
                       (i.sliding_window ? ", sliding window " + std::to_string(i.sliding_window) : ", full causal"));
  row("context", std::to_string(i.context_length) + " tokens");
  row("rope", i.rope);
  row("vocab", std::to_string(i.vocab_size) + " tokens (bos " + (i.bos_id ? std::to_string(*i.bos_id) : "none") +
                   ", eos " + ids_text(i.eos_ids) + ")");
  row("dtype", i.dtype.empty() ? "unspecified" : i.dtype);
  row("quantization", i.quant_method.empty() ? "none" : i.quant_method);
  row("weights", fmt("%.1f MiB", static_cast<double>(i.weight_bytes) / (1 << 20)) + " in " + i.weight_files);
  row("kv cache", fmt("%.1f KiB per token (fp32, CPU)", static_cast<double>(i.layers) * 2 * i.kv_heads * i.head_dim * 4 / 1024));
  out << "\nlayer type          count  format  bits/weight  params     detail\n";
  for (const auto& t : i.layer_types) {
    char line[256];
    std::snprintf(line, sizeof line, "%-19s %5d  %-6s  %11.3f  %-9s  %s\n", t.name.c_str(), t.count, t.format.c_str(),
                  t.bits_per_weight, millions(t.params).c_str(), t.detail.c_str());
    std::string text = line;
    while (text.size() > 1 && text[text.size() - 2] == ' ') text.erase(text.size() - 2, 1);
    out << text;
  }
}

std::string mib(std::size_t b) { return fmt("%.1f MiB", static_cast<double>(b) / (1 << 20)); }
std::string gib(std::size_t b) { return fmt("%.2f GiB", static_cast<double>(b) / (1ull << 30)); }

nlohmann::ordered_json split_json(const MemorySplit& m) {
  return {{"weights", m.weights}, {"kv_cache", m.kv_cache}, {"scratch", m.scratch}, {"total", m.total()}};
}

nlohmann::ordered_json plan_json(const MemoryPlan& p) {
  nlohmann::ordered_json j = {{"path", p.model_path}, {"context", p.context}, {"kv_cache", kv_cache_mode_name(p.kv_cache)},
                              {"kv_pages", p.kv_pages}, {"page_size", p.page_size},
                              {"max_batch_tokens", p.max_batch_tokens}, {"file_tensor_bytes", p.file_tensor_bytes},
                              {"cuda", split_json(p.cuda)}, {"cuda_runtime_overhead", p.cuda_runtime_overhead},
                              {"cuda_kv_bytes_per_token", p.cuda_kv_bytes_per_token},
                              {"cuda_supports_cache", p.cuda_supports_cache}, {"cpu", split_json(p.cpu)},
                              {"cpu_kv_bytes_per_token", p.cpu_kv_bytes_per_token}};
  auto& gpus = j["gpus"] = nlohmann::ordered_json::array();
  for (const auto& g : p.gpus)
    gpus.push_back({{"capacity_bytes", g.capacity_bytes}, {"needed_bytes", g.needed_bytes}, {"fits", g.fits},
                    {"headroom_bytes", g.headroom_bytes}, {"max_context", g.max_context}});
  return j;
}

void print_plan(const MemoryPlan& p, const std::vector<std::string>& gpu_names, std::ostream& out) {
  out << "model         " << p.model_path << '\n';
  out << "context       " << p.context << " tokens (" << p.kv_pages << " pages of " << p.page_size << "), KV cache "
      << kv_cache_mode_name(p.kv_cache) << ", " << p.max_batch_tokens << " tokens per step\n";
  out << "file tensors  " << mib(p.file_tensor_bytes) << "\n\n";
  out << "              weights      kv cache     scratch      total\n";
  auto row = [&](const char* name, const MemorySplit& m) {
    char line[160];
    std::snprintf(line, sizeof line, "%-13s %-12s %-12s %-12s %s\n", name, mib(m.weights).c_str(), mib(m.kv_cache).c_str(),
                  mib(m.scratch).c_str(), mib(m.total()).c_str());
    out << line;
  };
  row("gpu (cuda)", p.cuda);
  row("cpu", p.cpu);
  out << "\nkv per token  " << fmt("%.1f KiB", p.cuda_kv_bytes_per_token / 1024) << " on the GPU, "
      << fmt("%.1f KiB", p.cpu_kv_bytes_per_token / 1024) << " on the CPU\n";
  out << "cuda runtime  " << mib(p.cuda_runtime_overhead) << " allowance (context, cuBLAS, graphs)\n";
  if (!p.cuda_supports_cache)
    out << "note          the CUDA backend cannot run a " << kv_cache_mode_name(p.kv_cache)
        << " KV cache for this model's head size; it runs on the CPU backend, or use --cache fp16 on the GPU\n";
  for (std::size_t i = 0; i < p.gpus.size(); ++i) {
    const GpuFit& g = p.gpus[i];
    out << (i == 0 ? "\n" : "") << "gpu " << gib(g.capacity_bytes);
    if (i < gpu_names.size() && !gpu_names[i].empty()) out << " (" << gpu_names[i] << ")";
    out << ": needs " << gib(g.needed_bytes) << (g.fits ? ", fits with " + gib(g.headroom_bytes) + " free" : ", does not fit")
        << "; longest context that fits " << g.max_context << " tokens\n";
  }
}

// Every --gpu-memory value ("24", "24,80"), in GiB, each in (0, 1e6].
bool parse_gpu_memory(const Args& args, std::vector<double>& out) {
  out.clear();
  for (const std::string& v : args.values("gpu-memory")) {
    std::vector<double> part;
    if (!parse_double_list(v, part)) return false;
    for (double gb : part)
      if (!(gb > 0 && gb <= 1e6)) return false;
    out.insert(out.end(), part.begin(), part.end());
  }
  return true;
}

int vram_plan(const Args& args, CommandIo io) {
  PlanOptions o;
  long long n = 0;
  auto int_option = [&](const char* name, int& dst, long long lo, long long hi) {
    if (auto v = args.value(name)) {
      if (!parse_int(*v, n) || n < lo || n > hi) {
        io.err << "nibble-cli info: --" << name << " must be a whole number in [" << lo << ", " << hi << "]\n";
        return false;
      }
      dst = static_cast<int>(n);
    }
    return true;
  };
  if (!int_option("context", o.context, 1, 1 << 24) || !int_option("max-batch", o.max_batch_tokens, 1, 65536) ||
      !int_option("page-size", o.page_size, 1, 65536))
    return 2;
  if (auto c = args.value("cache"); c && !parse_kv_cache_mode(*c, o.kv_cache)) {
    io.err << "nibble-cli info: --cache must be fp16, q8 or q4 (got '" << *c << "')\n";
    return 2;
  }
  if (auto s = args.value("split-layers"); s && !parse_int_list(*s, o.split_layers)) {
    io.err << "nibble-cli info: --split-layers takes layer indices like 12,24\n";
    return 2;
  }
  std::vector<std::string> names;
  std::vector<double> sizes;
  if (!parse_gpu_memory(args, sizes)) {
    io.err << "nibble-cli info: --gpu-memory takes sizes in GiB like 24 or 24,80\n";
    return 2;
  }
  for (double gb : sizes) {
    o.gpu_memory_bytes.push_back(static_cast<std::size_t>(gb * static_cast<double>(1ull << 30)));
    names.emplace_back();
  }
  if (o.gpu_memory_bytes.empty())
    for (const auto& g : list_gpus()) {
      o.gpu_memory_bytes.push_back(g.total_bytes);
      names.push_back("cuda:" + std::to_string(g.index) + " " + g.name);
    }
  auto plan = plan_memory(args.positionals()[0], o);
  if (!plan) {
    io.err << "nibble-cli info: " << plan.error().to_string() << "\n";
    return 1;
  }
  if (args.flag("json")) io.out << plan_json(*plan).dump(2) << '\n';
  else print_plan(*plan, names, io.out);
  return 0;
}

int placement_plan(const Args& args, CommandIo io) {
  auto usage_error = [&](const std::string& what) {
    io.err << "nibble-cli info: " << what << "\n";
    return 2;
  };
  LoadOptions load;
  long long n = 0;
  const bool fit = args.value("context") == std::optional<std::string>("fit");
  if (auto c = args.value("context"); c && !fit) {
    if (!parse_int(*c, n) || n < 1 || n > (1 << 24)) return usage_error("--context must be a number of tokens or fit");
    load.context = static_cast<int>(n);
  }
  if (auto c = args.value("cache"); c && !parse_kv_cache_mode(*c, load.kv_cache))
    return usage_error("--cache must be fp16, q8 or q4 (got '" + *c + "')");
  std::vector<double> fake;
  if (!parse_gpu_memory(args, fake)) return usage_error("--gpu-memory takes sizes in GiB like 24 or 24,80");
  PlacementOptions po;
  std::string error;
  if (!parse_placement_flags(args, load, fake, po, error)) return usage_error(error);
  if (!args.value("cpu-layers")) po.cpu_layers = fit ? 0 : -1;  // info shows what auto would do
  if (fit) po.mode = SplitMode::fit_context;
  po.tensor_parallel = args.flag("tensor-parallel");
  if (po.tensor_parallel && (args.value("gpu-split") || args.value("cpu-layers") || fit))
    return usage_error("--tensor-parallel shares every layer among the GPUs; it does not go with --gpu-split, "
                       "--cpu-layers or --context fit");
  auto planner = MemoryPlanner::open(args.positionals()[0]);
  if (!planner) {
    io.err << "nibble-cli info: " << planner.error().to_string() << "\n";
    return 1;
  }
  auto p = plan_placement(*planner, po);
  if (!p) return usage_error(p.error().to_string());
  if (args.flag("json")) {
    nlohmann::ordered_json j = {{"context", p->context}, {"fits", p->fits}, {"cpu_layers", p->cpu_layer_count},
                                {"kv_cache", kv_cache_mode_name(po.plan.kv_cache)}, {"tensor_parallel", p->tensor_parallel}};
    auto& ranges = j["ranges"] = nlohmann::ordered_json::array();
    for (const DevicePlacement& r : p->ranges)
      ranges.push_back({{"device", r.device}, {"name", r.name}, {"first_layer", r.first_layer},
                        {"last_layer", r.last_layer}, {"embedding", r.embedding}, {"head", r.head},
                        {"bytes", split_json(r.bytes)}, {"runtime_overhead", r.runtime_overhead},
                        {"needed_bytes", r.needed()}, {"budget_bytes", r.budget_bytes}, {"free_bytes", r.free_bytes}});
    j["advice"] = p->advice;
    io.out << j.dump(2) << '\n';
    return 0;
  }
  io.out << "context       " << p->context << " tokens, KV cache " << kv_cache_mode_name(po.plan.kv_cache)
         << (p->fits ? "" : "  -- DOES NOT FIT") << "\n\n";
  const int width = p->tensor_parallel ? 26 : 16;  // "share of 0-79 +emb +head"
  char header[256];
  std::snprintf(header, sizeof header, "%-9s %-*s %-12s %-12s %-12s %-12s %s\n", "device", width, "layers", "weights",
                "kv cache", "scratch", "runtime", "needed / budget");
  io.out << header;
  for (const DevicePlacement& r : p->ranges) {
    std::string layers = std::to_string(r.first_layer) + "-" + std::to_string(r.last_layer - 1);
    if (r.embedding) layers += " +emb";
    if (r.head) layers += " +head";
    if (p->tensor_parallel) layers = "share of " + layers;
    char line[256];
    std::snprintf(line, sizeof line, "%-9s %-*s %-12s %-12s %-12s %-12s %s / %s\n", r.device.c_str(), width, layers.c_str(),
                  mib(r.bytes.weights).c_str(), mib(r.bytes.kv_cache).c_str(), mib(r.bytes.scratch).c_str(),
                  mib(r.runtime_overhead).c_str(), gib(r.needed()).c_str(), gib(r.budget_bytes).c_str());
    io.out << line;
  }
  for (const std::string& a : p->advice) io.out << "\n" << a;
  if (!p->advice.empty()) io.out << "\n";
  return 0;
}

}  // namespace

int cmd_info(int argc, char** argv, CommandIo io) {
  Args args(argc, argv,
            {"context", "cache", "gpu-memory", "max-batch", "page-size", "split-layers", "gpu-split", "cpu-layers", "reserve"});
  if (!args.error().empty() || args.flag("help")) {
    (args.flag("help") ? io.out : io.err) << usage;
    return args.flag("help") ? 0 : 2;
  }
  if (auto bad = args.unknown({"json", "help", "vram", "plan", "tensor-parallel"})) {
    io.err << "nibble-cli info: unknown option " << *bad << "\n" << usage;
    return 2;
  }
  if (args.positionals().size() != 1) {
    io.err << usage;
    return 2;
  }
  if (args.flag("plan") && args.flag("vram")) {
    io.err << "nibble-cli info: give one of --vram and --plan\n";
    return 2;
  }
  if (args.flag("plan")) return placement_plan(args, io);
  if (args.value("gpu-split") || args.value("cpu-layers") || args.value("reserve") || args.flag("tensor-parallel")) {
    io.err << "nibble-cli info: --gpu-split, --cpu-layers, --reserve and --tensor-parallel go with --plan\n";
    return 2;
  }
  if (args.flag("vram")) return vram_plan(args, io);
  if (args.value("context") || args.value("cache") || args.value("gpu-memory") || args.value("max-batch") ||
      args.value("page-size") || args.value("split-layers")) {
    io.err << "nibble-cli info: --context, --cache, --gpu-memory, --max-batch, --page-size and --split-layers go with --vram\n";
    return 2;
  }
  auto info = inspect_model(args.positionals()[0]);
  if (!info) {
    io.err << "nibble-cli info: " << info.error().to_string() << "\n";
    return 1;
  }
  if (args.flag("json")) io.out << to_json(*info).dump(2) << '\n';
  else print_text(*info, io.out);
  return 0;
}

}  // namespace nibble::cli
