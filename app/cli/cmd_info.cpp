// nibble-cli info: a model's architecture, sizes, parameter count, format and bits per weight per
// layer type, context and special tokens, read from config.json and the tensor headers (no
// weights are loaded). Text or --json.
#include <cstdio>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "nibble/model.h"

namespace nibble::cli {
namespace {

constexpr const char* usage = "Usage: nibble-cli info MODEL_DIR [--json]\n";

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

}  // namespace

int cmd_info(int argc, char** argv, CommandIo io) {
  Args args(argc, argv, {});
  if (!args.error().empty() || args.flag("help")) {
    (args.flag("help") ? io.out : io.err) << usage;
    return args.flag("help") ? 0 : 2;
  }
  if (auto bad = args.unknown({"json", "help"})) {
    io.err << "nibble-cli info: unknown option " << *bad << "\n" << usage;
    return 2;
  }
  if (args.positionals().size() != 1) {
    io.err << usage;
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
