// nibble-cli quantize: an fp16/bf16 Hugging Face folder to EXL2 at a target bits per weight, with a
// progress bar (one line per layer and stage, on stderr) and a final summary. A killed or cancelled
// job resumes when run again with the same arguments. Calls nibble::quantize_model.
#include <cmath>
#include <cstdio>
#include <ostream>

#include "args.h"
#include "commands.h"
#include "nibble/quant.h"

namespace nibble::cli {
namespace {

void print_usage(std::ostream& out) {
  out << "Usage: nibble-cli quantize IN OUT --bpw 4.0 [options]\n"
         "  IN                    fp16/bf16 Hugging Face model folder\n"
         "  OUT                   output folder (created; empty, or holding an unfinished job to resume)\n"
         "  --bpw B               target bits per weight of the decoder layers, 2.0 to 8.0 (default 4.0)\n"
         "  --head-bits N         output head width: 2, 3, 4, 5, 6 or 8 (default 6)\n"
         "  --calibration FILE    text or JSONL ({\"text\": ...}) file, gz allowed (default: the bundled set)\n"
         "  --rows N --length L   calibration rows and tokens per row (default 100 x 2048)\n"
         "  --measurement-rows N  rows used to measure candidate layouts (default 16)\n"
         "  --measurement FILE    reuse this measurement when it exists, else save it there\n"
         "  --measure-only        stop after saving the measurement (with --measurement); writes no model\n"
         "  --device auto|cpu|cuda:N  where the math runs (default auto: cuda:0 when a GPU is usable)\n"
         "  --threads N           CPU threads (default: all cores)\n"
         "  --shard-size MB       largest output file (default 8192)\n"
         "  --keep-job            keep OUT/.nibble-job after success\n"
         "  --json                print the summary as one JSON object\n";
}

std::string clock_text(double s) {
  if (s < 0) return "--:--";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

std::string bar(double fraction) {
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(fraction * kWidth + 0.5);
  return "[" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(kWidth - filled), '.') + "]";
}

}  // namespace

int cmd_quantize(int argc, char** argv, CommandIo io) {
  Args args(argc, argv, {"bpw", "head-bits", "calibration", "rows", "length", "measurement-rows", "measurement", "device",
                         "threads", "shard-size"});
  if (args.flag("help")) {
    print_usage(io.out);
    return 0;
  }
  auto usage_error = [&](const std::string& what) {
    io.err << "nibble-cli quantize: " << what << "\n";
    print_usage(io.err);
    return 2;
  };
  if (!args.error().empty()) return usage_error(args.error());
  if (auto bad = args.unknown({"help", "json", "keep-job", "measure-only"})) return usage_error("unknown option " + *bad);
  if (args.positionals().size() != 2) return usage_error("expected IN and OUT");
  QuantOptions o;
  o.input_dir = args.positionals()[0];
  o.output_dir = args.positionals()[1];
  if (auto s = args.value("bpw"); s && !parse_double(*s, o.bits)) return usage_error("--bpw must be a number");
  long long v = 0;
  auto int_option = [&](const char* name, auto& dst, long long lo, long long hi) -> bool {
    auto s = args.value(name);
    if (!s) return true;
    if (!parse_int(*s, v) || v < lo || v > hi) return false;
    dst = static_cast<std::remove_reference_t<decltype(dst)>>(v);
    return true;
  };
  if (!int_option("head-bits", o.head_bits, 2, 8)) return usage_error("--head-bits must be 2, 3, 4, 5, 6 or 8");
  if (!int_option("rows", o.rows, 1, 100000)) return usage_error("--rows must be a positive integer");
  if (!int_option("length", o.length, 16, 1 << 20)) return usage_error("--length must be an integer >= 16");
  if (!int_option("measurement-rows", o.measurement_rows, 1, 100000)) return usage_error("--measurement-rows must be positive");
  if (!int_option("threads", o.threads, 1, 1024)) return usage_error("--threads must be a positive integer");
  std::int64_t shard_mb = 8192;
  if (!int_option("shard-size", shard_mb, 1, 1 << 24)) return usage_error("--shard-size must be a positive number of MB");
  o.shard_bytes = shard_mb << 20;
  o.calibration_file = args.value_or("calibration", "");
  o.measurement_file = args.value_or("measurement", "");
  o.device = args.value_or("device", "auto");
  o.keep_job_record = args.flag("keep-job");
  o.measure_only = args.flag("measure-only");

  std::string last_line;
  o.progress = [&](const QuantProgress& p) {
    char line[256];
    std::snprintf(line, sizeof line, "%s %5.1f%% %-9s %s  elapsed %s  eta %s", bar(p.fraction).c_str(), 100.0 * p.fraction,
                  quant_stage_name(p.stage), p.message.c_str(), clock_text(p.elapsed_s).c_str(), clock_text(p.eta_s).c_str());
    if (p.message != last_line) io.err << line << "\n" << std::flush;
    last_line = p.message;
    return true;
  };
  auto r = quantize_model(o);
  if (!r) {
    io.err << "nibble-cli quantize: " << r.error().to_string() << "\n";
    if (r.error().kind == ErrorKind::cancelled) io.err << "the job record in " << o.output_dir << " lets the same command resume\n";
    return 1;
  }
  if (o.measure_only) {
    io.out << "measurement saved to " << o.measurement_file << "\n";
    return 0;
  }
  if (args.flag("json")) {
    io.out << "{\"output\": \"" << o.output_dir << "\", \"bits_per_weight\": " << r->bits_per_weight
           << ", \"head_bits_per_weight\": " << r->head_bits_per_weight << ", \"calibration_ppl\": " << r->calibration_ppl
           << ", \"calibration_ppl_fp\": " << r->calibration_ppl_fp << ", \"seconds\": " << r->total_seconds << "}\n";
    return 0;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "quantized %s -> %s\n  %.3f bpw over %lld decoder weights (target %.2f), head %.3f bpw\n",
                o.input_dir.c_str(), o.output_dir.c_str(), r->bits_per_weight, static_cast<long long>(r->decoder_weights),
                o.bits, r->head_bits_per_weight);
  io.out << buf;
  if (r->calibration_ppl_fp > 0)
    std::snprintf(buf, sizeof buf, "  calibration perplexity %.4f (input model %.4f)\n", r->calibration_ppl, r->calibration_ppl_fp);
  else
    std::snprintf(buf, sizeof buf, "  calibration perplexity %.4f\n", r->calibration_ppl);
  io.out << buf;
  for (const auto& l : r->layers) {
    std::snprintf(buf, sizeof buf, "  layer %3d  attn %.2f bpw err %.2e  mlp %.2f bpw err %.2e\n", l.layer, l.attn_bpw,
                  l.attn_error_quant, l.mlp_bpw, l.mlp_error_quant);
    io.out << buf;
  }
  io.out << "  time:";
  for (const auto& [stage, s] : r->stage_seconds) {
    std::snprintf(buf, sizeof buf, " %s %.1f s,", stage.c_str(), s);
    io.out << buf;
  }
  std::snprintf(buf, sizeof buf, " total %.1f s%s\n  report: %s\n", r->total_seconds,
                r->resumed_stage.empty() ? "" : " (this run, resumed)", r->report_path.c_str());
  io.out << buf;
  return 0;
}

}  // namespace nibble::cli
