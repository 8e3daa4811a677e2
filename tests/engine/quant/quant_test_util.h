// Helpers of the quantizer tests: temporary folders, a writable copy of the demo model, and
// rewriting one of its tensors.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"

namespace nibble::test {

namespace fs = std::filesystem;

// A whole file's bytes (empty when it cannot be read).
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline std::string demo_dir() { return std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m"; }

// A fresh folder under the temp dir, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = fs::temp_directory_path() / ("nibble-quant-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  fs::path path_;
};

// Copies the demo model into dir; `edit` may change each tensor's bytes (or drop it by returning false).
inline bool copy_demo_model(const std::string& dir,
                            const std::function<bool(const TensorView&, std::vector<std::uint8_t>&)>& edit = {}) {
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(demo_dir()))
    if (e.path().extension() != ".safetensors") fs::copy_file(e.path(), fs::path(dir) / e.path().filename());
  auto file = SafetensorsFile::open(demo_dir() + "/model.safetensors");
  if (!file) return false;
  std::vector<std::vector<std::uint8_t>> bytes;
  std::vector<TensorToWrite> out;
  bytes.reserve(file->tensors().size());
  for (const auto& t : file->tensors()) {
    bytes.emplace_back(t.data, t.data + t.nbytes);
    if (edit && !edit(t, bytes.back())) continue;
    out.push_back({t.name, t.dtype, t.shape, std::span<const std::uint8_t>(bytes.back().data(), bytes.back().size())});
  }
  return static_cast<bool>(write_safetensors(dir + "/model.safetensors", out));
}

// Files in dir (recursively, relative names, sorted), the job record excluded.
inline std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nibble::test
