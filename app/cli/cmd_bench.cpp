// nibble-cli bench: the synthetic 7B speed benchmarks (docs/BENCHMARKS-PROTOCOL.md) on a device.
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "nibble/bench.h"

namespace nibble::cli {
namespace {

const char* kUsage =
    "Usage: nibble-cli bench [--device cuda:0] [--formats exl2,gptq,fp16] [--decode 512]\n"
    "                        [--prefill 128,512,2048] [--context 4096] [--layers N] [--hidden N]\n"
    "                        [--intermediate N] [--heads N] [--vocab N] [--dir DIR] [--keep] [--json]\n"
    "                        [--devices cuda:0,cuda:1] [--cpu-layers N] [--kv-heads N] [--bits 2.5]\n"
    "                        [--tensor-parallel]\n"
    "  --bits B          EXL2 bits per weight of the decoder layers (2..6; default 4)\n"
    "  --devices         split the layers evenly over these devices (a layer split)\n"
    "  --tensor-parallel share every layer among the --devices GPUs instead (heads and MLP columns)\n"
    "  --cpu-layers N    run the first N layers on the CPU\n"
    "  --write-only      write the models into DIR/<format> (--dir required) and measure nothing\n"
    "Writes synthetic Llama-2-7B-shaped models with random weights and measures load time, batch-1\n"
    "decode (host round trip per token) and prefill. Smaller shapes: --layers/--hidden/...\n";

bool parse_formats(const std::string& text, std::vector<SyntheticFormat>& out) {
  out.clear();
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "exl2") out.push_back(SyntheticFormat::exl2);
    else if (item == "gptq") out.push_back(SyntheticFormat::gptq);
    else if (item == "fp16") out.push_back(SyntheticFormat::fp16);
    else return false;
  }
  return !out.empty();
}

}  // namespace

int cmd_bench(int argc, char** argv, CommandIo io) {
  Args args(argc, argv, {"device", "formats", "decode", "prefill", "context", "layers", "hidden", "intermediate",
                         "heads", "vocab", "dir", "repeats", "devices", "cpu-layers", "kv-heads", "bits"});
  if (args.flag("help")) {
    io.out << kUsage;
    return 0;
  }
  if (!args.error().empty() || args.unknown({"help", "keep", "json", "write-only", "tensor-parallel"}) || !args.positionals().empty()) {
    io.err << "nibble-cli bench: " << (args.error().empty() ? "unexpected argument" : args.error()) << "\n" << kUsage;
    return 2;
  }
  BenchOptions o;
  o.device = args.value_or("device", "cuda:0");
  o.work_dir = args.value_or("dir", "");
  o.keep_files = args.flag("keep");
  o.tensor_parallel = args.flag("tensor-parallel");
  if (auto d = args.value("devices")) {
    std::stringstream ss(*d);
    std::string item;
    while (std::getline(ss, item, ',')) o.devices.push_back(item);
  }
  if (auto f = args.value("formats"); f && !parse_formats(*f, o.formats)) {
    io.err << "nibble-cli bench: --formats takes exl2, gptq and fp16 separated by commas\n";
    return 2;
  }
  struct IntOpt {
    const char* name;
    int* target;
  } ints[] = {{"decode", &o.decode_tokens}, {"context", &o.context},        {"layers", &o.shape.layers},
              {"hidden", &o.shape.hidden},  {"intermediate", &o.shape.intermediate}, {"heads", &o.shape.heads},
              {"vocab", &o.shape.vocab},    {"repeats", &o.repeats},   {"cpu-layers", &o.cpu_layers}};
  for (const auto& opt : ints) {
    if (auto v = args.value(opt.name)) {
      long long n;
      if (!parse_int(*v, n) || n < 1 || n > (1 << 24)) {
        io.err << "nibble-cli bench: --" << opt.name << " takes a positive whole number\n";
        return 2;
      }
      *opt.target = static_cast<int>(n);
    }
  }
  if (args.value("heads")) o.shape.kv_heads = o.shape.heads;
  if (auto v = args.value("kv-heads")) {
    long long n = 0;
    if (!parse_int(*v, n) || n < 1 || n > o.shape.heads || o.shape.heads % n != 0) {
      io.err << "nibble-cli bench: --kv-heads must divide --heads\n";
      return 2;
    }
    o.shape.kv_heads = static_cast<int>(n);
  }
  if (auto v = args.value("bits")) {
    if (!parse_double(*v, o.shape.exl2_bits) || o.shape.exl2_bits < 2 || o.shape.exl2_bits > 6) {
      io.err << "nibble-cli bench: --bits takes EXL2 bits per weight in [2, 6]\n";
      return 2;
    }
  }
  if (auto v = args.value("prefill")) {
    std::vector<int> lens;
    if (!parse_int_list(*v, lens)) {
      io.err << "nibble-cli bench: --prefill takes lengths separated by commas\n";
      return 2;
    }
    o.prefill_lengths = lens;
  }
  if (args.flag("write-only")) {
    if (o.work_dir.empty()) {
      io.err << "nibble-cli bench: --write-only needs --dir DIR\n";
      return 2;
    }
    for (SyntheticFormat f : o.formats) {
      const std::string dir = o.work_dir + "/" + synthetic_format_name(f);
      if (auto st = write_synthetic_model(dir, o.shape, f); !st.ok()) {
        io.err << "nibble-cli bench: " << st.error().to_string() << "\n";
        return 1;
      }
      io.out << dir << "\n";
    }
    return 0;
  }
  const bool json = args.flag("json");
  auto res = run_bench(o, [&](const std::string& line) { (json ? io.err : io.out) << line << std::endl; });
  if (!res.ok()) {
    io.err << "nibble-cli bench: " << res.error().to_string() << "\n";
    return 1;
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : *res) {
      nlohmann::json pf = nlohmann::json::object();
      for (const auto& [len, tps] : r.prefill) pf[std::to_string(len)] = tps;
      out.push_back({{"format", r.format}, {"device", r.device}, {"file_gb", r.file_gb}, {"load_s", r.load_seconds},
                     {"decode_tok_s", r.decode_tokens_per_s}, {"decode_windows", r.decode_windows},
                     {"prefill_tok_s", pf}, {"device_used_gb", r.device_used_gb}});
    }
    io.out << out.dump(2) << "\n";
    return 0;
  }
  io.out << std::fixed << std::setprecision(1);
  io.out << "\nformat  size GB  load s  decode tok/s  prefill tok/s (length)          used GB\n";
  for (const auto& r : *res) {
    io.out << std::left << std::setw(8) << r.format << std::right << std::setw(7) << r.file_gb << std::setw(8)
           << std::setprecision(2) << r.load_seconds << std::setprecision(1) << std::setw(14) << r.decode_tokens_per_s
           << "  ";
    for (const auto& [len, tps] : r.prefill) io.out << tps << " (" << len << ")  ";
    io.out << std::setw(6) << r.device_used_gb << "\n";
  }
  return 0;
}

}  // namespace nibble::cli
