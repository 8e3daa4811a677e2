// Up-front checks of options, input model and machine.
#include "quant/validate.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "quant/candidates.h"
#include "quant/source_model.h"

namespace nibble::quant {
namespace fs = std::filesystem;
namespace {

Error bad_option(const std::string& what) { return make_error(ErrorKind::invalid_argument, what); }

double gib(std::int64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(1ll << 30); }

std::string gib_text(std::int64_t bytes) {
  std::ostringstream s;
  s.precision(2);
  s << std::fixed << gib(bytes) << " GiB";
  return s.str();
}

}  // namespace

Status validate_options(const QuantOptions& o) {
  if (o.input_dir.empty()) return bad_option("no input model folder given");
  if (o.output_dir.empty()) return bad_option("no output folder given");
  if (!(o.bits >= 2.0 && o.bits <= 8.0)) return bad_option("--bpw " + std::to_string(o.bits) + " is outside 2.0 to 8.0");
  if (o.head_bits < 2 || o.head_bits > 8 || o.head_bits == 7)
    return bad_option("--head-bits " + std::to_string(o.head_bits) + " is not one of 2, 3, 4, 5, 6, 8");
  if (o.rows < 0 || o.rows > 100000) return bad_option("--rows " + std::to_string(o.rows) + " must be 1 to 100000");
  if (o.length < 0 || (o.length > 0 && o.length < 16) || o.length > 1 << 20)
    return bad_option("--length " + std::to_string(o.length) + " must be at least 16");
  if (o.measurement_rows < 0) return bad_option("measurement rows must not be negative");
  if (o.device != "cpu" && o.device != "auto" && o.device.rfind("cuda:", 0) != 0)
    return bad_option("--device '" + o.device + "' is not 'auto', 'cpu' or 'cuda:N'");
  if (o.measure_only && o.measurement_file.empty()) return bad_option("a measurement-only job needs a measurement file to save");
  if (o.shard_bytes < (1 << 20)) return bad_option("the shard size limit must be at least 1 MiB");
  std::error_code ec;
  if (fs::weakly_canonical(o.input_dir, ec) == fs::weakly_canonical(o.output_dir, ec))
    return bad_option("the output folder is the input folder");
  if (!o.calibration_file.empty() && !fs::is_regular_file(o.calibration_file, ec))
    return make_error(ErrorKind::not_found, o.calibration_file, ": calibration file not found");
  return {};
}

Result<std::unique_ptr<WeightSource>> open_source_model(const std::string& dir) {
  NIBBLE_ASSIGN_OR_RETURN(auto ws, WeightSource::open(dir));
  const ModelSpec& s = ws->spec();
  if (!s.quant.method.empty())
    return make_error(ErrorKind::unsupported, dir, ": the model is already quantized (", s.quant.method,
                      "); quantize its fp16/bf16 original");
  for (int l = 0; l < s.n_layers; ++l)
    for (BlockKind kind : {BlockKind::attn, BlockKind::mlp}) {
      NIBBLE_ASSIGN_OR_RETURN(auto linears, block_linears(*ws, l, kind));
      for (const auto& d : linears) {
        if (d.format != LinearFormat::f16 && d.format != LinearFormat::bf16 && d.format != LinearFormat::f32)
          return make_error(ErrorKind::unsupported, dir, ": layer '", d.name, "' is stored as ", linear_format_name(d.format),
                            "; the quantizer reads fp16, bf16 or fp32 weights");
        if (d.K % 32 != 0 || d.N % 8 != 0)
          return make_error(ErrorKind::unsupported, dir, ": layer '", d.name, "' has K = ", d.K, ", N = ", d.N,
                            "; EXL2 needs K a multiple of 32 and N a multiple of 8");
      }
    }
  NIBBLE_ASSIGN_OR_RETURN(auto head, ws->head());
  if (head.format != LinearFormat::f16 && head.format != LinearFormat::bf16 && head.format != LinearFormat::f32)
    return make_error(ErrorKind::unsupported, dir, ": the output head is already quantized");
  if (head.K % 32 != 0 || head.N % 8 != 0)
    return make_error(ErrorKind::unsupported, dir, ": the head's K = ", head.K, " / N = ", head.N, " do not fit EXL2");
  NIBBLE_TRY(ws->dense("model.embed_tokens.weight", {s.vocab_size, s.hidden_size}));
  NIBBLE_TRY(dense_f32(*ws, "model.norm.weight", s.hidden_size));
  for (int l = 0; l < s.n_layers; ++l) {
    NIBBLE_TRY(dense_f32(*ws, WeightSource::layer_name(l, "input_layernorm.weight"), s.hidden_size));
    NIBBLE_TRY(dense_f32(*ws, WeightSource::layer_name(l, "post_attention_layernorm.weight"), s.hidden_size));
  }
  return ws;
}

namespace {

// Index of the first NaN/inf element of a float tensor, or -1. Checks the exponent bits only.
std::int64_t first_non_finite(const TensorView& t) {
  const std::size_t n = static_cast<std::size_t>(t.numel());
  switch (t.dtype) {
    case DType::f16:
      for (std::size_t i = 0; i < n; ++i)
        if ((t.u16(i) & 0x7c00u) == 0x7c00u) return static_cast<std::int64_t>(i);
      break;
    case DType::bf16:
      for (std::size_t i = 0; i < n; ++i)
        if ((t.u16(i) & 0x7f80u) == 0x7f80u) return static_cast<std::int64_t>(i);
      break;
    case DType::f32:
      for (std::size_t i = 0; i < n; ++i)
        if ((t.u32(i) & 0x7f800000u) == 0x7f800000u) return static_cast<std::int64_t>(i);
      break;
    default: break;
  }
  return -1;
}

}  // namespace

Status check_finite(const WeightSource& ws, ThreadPool& pool) {
  const auto& all = ws.tensors().all();
  std::vector<std::int64_t> bad(all.size(), -1);
  pool.parallel_for(all.size(), 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t i = a; i < b; ++i) bad[i] = first_non_finite(*all[i]);
  });
  for (std::size_t i = 0; i < all.size(); ++i)
    if (bad[i] >= 0)
      return make_error(ErrorKind::format, all[i]->file, ": tensor '", all[i]->name, "' holds a non-finite value (",
                        all[i]->f(static_cast<std::size_t>(bad[i])), ") at element ", bad[i],
                        "; the model is damaged or was saved after a diverged training step");
  return {};
}

ResolvedOptions resolve_options(const QuantOptions& o, const ModelSpec& spec) {
  ResolvedOptions r;
  r.rows = o.rows > 0 ? o.rows : kDefaultRows;
  r.length = o.length > 0 ? o.length : kDefaultLength;
  if (spec.max_positions > 0) r.length = std::min(r.length, spec.max_positions);
  r.measurement_rows = std::min(r.rows, o.measurement_rows > 0 ? o.measurement_rows : kDefaultMeasurementRows);
  return r;
}

std::int64_t estimate_memory_bytes(const ModelSpec& s, const ResolvedOptions& r) {
  const std::int64_t H = s.hidden_size, I = s.intermediate_size, Q = s.q_dim(), KV = s.kv_dim();
  const std::int64_t T = static_cast<std::int64_t>(r.rows) * r.length;
  const std::int64_t Tm = static_cast<std::int64_t>(r.measurement_rows) * r.length;
  const std::int64_t quant = T * (2 * H + Q) * 4 + std::min<std::int64_t>(T, 8 * r.length) * (H + I + Q + 2 * KV) * 4;
  const std::int64_t measure = Tm * (4 * H + std::max(Q, I)) * 4;
  const std::int64_t layer = (H * (Q + 2 * KV) + Q * H + 3 * H * I) * 4 * 4;
  const std::int64_t gram = std::max(H, I) * std::max(H, I) * 8 * 3;
  const std::int64_t head = static_cast<std::int64_t>(s.vocab_size) * H * 4 * 4;
  return std::max(quant, measure) + layer + gram + head + (256ll << 20);
}

Status check_disk_space(const std::string& path, std::int64_t need) {
  fs::path p = fs::absolute(path);
  std::error_code ec;
  while (!p.empty() && !fs::exists(p, ec) && p != p.root_path()) p = p.parent_path();
  struct statvfs st {};
  if (statvfs(p.c_str(), &st) != 0) return make_error(ErrorKind::io, p.string(), ": cannot read the free disk space");
  const auto free_bytes = static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
  if (free_bytes < need)
    return make_error(ErrorKind::io, path, ": not enough disk space: the output and job record need about ", gib_text(need),
                      ", ", gib_text(free_bytes), " are free");
  return {};
}

Status check_memory(std::int64_t need) {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") {
      const std::int64_t avail = kb * 1024;
      if (need > avail)
        return make_error(ErrorKind::out_of_memory, "the job needs about ", gib_text(need), " of memory, ", gib_text(avail),
                          " are available: lower --rows or --length");
      return {};
    }
  return {};
}

}  // namespace nibble::quant
