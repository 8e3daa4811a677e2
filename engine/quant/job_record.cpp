// Job record files: settings.json (written once), state.json (rewritten after every unit of work),
// hidden-state files and layer tensors, all through write_file_atomic.
#include "quant/job_record.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nibble::quant {
namespace fs = std::filesystem;
namespace {

constexpr char kDirName[] = ".nibble-job";
constexpr char kFloatsMagic[8] = {'N', 'B', 'F', 'L', 'T', '3', '2', '\0'};

Result<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The first top-level key whose value differs, for the error message.
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b) {
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key()) || a.at(it.key()) != it.value()) return it.key();
  for (auto it = a.begin(); it != a.end(); ++it)
    if (!b.contains(it.key())) return it.key();
  return "?";
}

}  // namespace

Result<JobRecord> JobRecord::open(const std::string& output_dir, const nlohmann::json& settings, bool& resumed) {
  resumed = false;
  std::error_code ec;
  JobRecord job;
  job.dir_ = (fs::path(output_dir) / kDirName).string();
  const std::string settings_path = job.path("settings.json");
  if (fs::exists(output_dir, ec) && !fs::is_directory(output_dir, ec))
    return make_error(ErrorKind::invalid_argument, output_dir, ": the output path exists and is not a folder");
  if (fs::is_regular_file(settings_path, ec)) {
    NIBBLE_ASSIGN_OR_RETURN(std::string text, read_all(settings_path));
    auto old = nlohmann::json::parse(text, nullptr, false);
    if (old != settings)
      return make_error(ErrorKind::invalid_argument, output_dir, ": holds an unfinished quantization job with other settings ('",
                        old.is_object() ? first_difference(old, settings) : std::string("settings.json"),
                        "' differs): repeat its settings to resume it, or choose an empty output folder");
    resumed = true;
    if (fs::is_regular_file(job.path("state.json"), ec)) {
      NIBBLE_ASSIGN_OR_RETURN(std::string st, read_all(job.path("state.json")));
      job.state_ = nlohmann::json::parse(st, nullptr, false);
      if (!job.state_.is_object()) return make_error(ErrorKind::format, job.path("state.json"), ": not a JSON object");
    }
    return job;
  }
  if (fs::exists(output_dir, ec)) {
    for (const auto& e : fs::directory_iterator(output_dir, ec))
      if (e.path().filename() != kDirName)
        return make_error(ErrorKind::invalid_argument, output_dir, ": the output folder is not empty (found '",
                          e.path().filename().string(), "'); choose an empty or new folder");
    fs::remove_all(job.dir_, ec);
  }
  fs::create_directories(job.dir_, ec);
  if (ec) return make_error(ErrorKind::io, job.dir_, ": cannot create: ", ec.message());
  NIBBLE_TRY(write_text_atomic(settings_path, settings.dump(2)));
  return job;
}

Status JobRecord::save(const std::vector<std::string>& obsolete) { return save_text(state_.dump(), obsolete); }

Status JobRecord::save_text(const std::string& state_text, const std::vector<std::string>& obsolete) const {
  NIBBLE_TRY(write_text_atomic(path("state.json"), state_text));
  std::error_code ec;
  for (const auto& name : obsolete)
    if (!name.empty()) fs::remove(path(name), ec);
  return {};
}

Status JobRecord::write_floats(const std::string& name, const float* data, std::size_t count) const {
  char head[16];
  const std::uint64_t n = count;
  std::memcpy(head, kFloatsMagic, 8);
  std::memcpy(head + 8, &n, 8);
  return write_file_atomic(path(name), {{head, sizeof head}, {data, count * sizeof(float)}});
}

Result<std::vector<float>> JobRecord::read_floats(const std::string& name, std::size_t count) const {
  const std::string p = path(name);
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return make_error(ErrorKind::io, p, ": cannot open the job's hidden states");
  char head[16];
  std::vector<float> out(count);
  std::uint64_t n = 0;
  bool ok = std::fread(head, 1, 16, f) == 16;
  if (ok) std::memcpy(&n, head + 8, 8);
  ok = ok && std::memcmp(head, kFloatsMagic, 8) == 0 && n == count;
  ok = ok && (count == 0 || std::fread(out.data(), sizeof(float), count, f) == count);
  std::fclose(f);
  if (!ok) return make_error(ErrorKind::format, p, ": truncated or not the expected ", count, " values");
  return out;
}

Status JobRecord::remove() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) return make_error(ErrorKind::io, dir_, ": cannot remove: ", ec.message());
  return {};
}

}  // namespace nibble::quant
