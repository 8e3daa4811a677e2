// Locating and opening a model folder's weight files.
#include "io/model_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace nibble {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(ErrorKind::io, path, ": read failed");
  return ss.str();
}

// Shard names from the index's weight_map; plain file names only (no directories, no "..").
Result<std::vector<std::string>> index_files(const std::string& dir, const std::string& index_path) {
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_small_file(index_path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorKind::format, index_path, ": not a JSON object");
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) return make_error(ErrorKind::format, index_path, ": missing 'weight_map' object");
  std::set<std::string> names;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string()) return make_error(ErrorKind::format, index_path, ": weight_map entry '", it.key(), "' is not a string");
    const std::string f = it->get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == "..")
      return make_error(ErrorKind::format, index_path, ": weight_map names an invalid file '", f, "'");
    names.insert(f);
  }
  if (names.empty()) return make_error(ErrorKind::format, index_path, ": weight_map is empty");
  std::vector<std::string> out;
  for (const auto& n : names) {
    const std::string p = (fs::path(dir) / n).string();
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      return make_error(ErrorKind::not_found, index_path, ": shard '", n, "' is missing from ", dir);
    out.push_back(p);
  }
  return out;
}

}  // namespace

Result<ModelFiles> locate_model_files(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) return make_error(ErrorKind::not_found, path, ": no such file or directory");
  if (fs::is_regular_file(p, ec)) p = p.parent_path();
  if (!fs::is_directory(p, ec)) return make_error(ErrorKind::io, path, ": not a model folder");

  ModelFiles out;
  out.dir = p.string();
  out.config_path = (p / "config.json").string();
  if (!fs::is_regular_file(out.config_path, ec))
    return make_error(ErrorKind::not_found, out.dir, ": no config.json (not a Hugging Face model folder)");

  std::vector<std::string> safetensors, pickled, gguf;
  for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    if (ends_with(name, ".safetensors")) safetensors.push_back(it->path().string());
    else if (ends_with(name, ".bin") || ends_with(name, ".pt") || ends_with(name, ".pth") || ends_with(name, ".ckpt"))
      pickled.push_back(name);
    else if (ends_with(name, ".gguf")) gguf.push_back(name);
  }
  if (ec) return make_error(ErrorKind::io, out.dir, ": cannot list: ", ec.message());

  const std::string index = (p / "model.safetensors.index.json").string();
  if (fs::is_regular_file(index, ec)) {
    out.index_path = index;
    NIBBLE_ASSIGN_OR_RETURN(out.weight_files, index_files(out.dir, index));
    return out;
  }
  if (!safetensors.empty()) {
    std::sort(safetensors.begin(), safetensors.end());
    out.weight_files = std::move(safetensors);
    return out;
  }
  if (!pickled.empty())
    return make_error(ErrorKind::unsupported, out.dir, ": weights are pickled PyTorch files (", pickled.front(),
                      "); Nibble refuses them because loading a pickle can run arbitrary code. "
                      "Use the model's safetensors release, or convert it with transformers "
                      "(save_pretrained(..., safe_serialization=True))");
  if (!gguf.empty())
    return make_error(ErrorKind::unsupported, out.dir, ": GGUF weights (", gguf.front(), ") are not supported yet");
  return make_error(ErrorKind::not_found, out.dir, ": no *.safetensors weights");
}

Result<TensorSet> TensorSet::open(const ModelFiles& files) {
  TensorSet set;
  set.files_.reserve(files.weight_files.size());
  std::map<std::string, std::string> index_map;  // tensor -> file name, when an index exists
  if (!files.index_path.empty()) {
    NIBBLE_ASSIGN_OR_RETURN(std::string text, read_small_file(files.index_path));
    auto j = nlohmann::json::parse(text, nullptr, false);
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it)
      index_map[it.key()] = it->get<std::string>();
  }
  for (const auto& path : files.weight_files) {
    NIBBLE_ASSIGN_OR_RETURN(auto f, SafetensorsFile::open(path));
    set.files_.push_back(std::move(f));
  }
  for (const auto& f : set.files_) {
    const std::string fname = fs::path(f.path()).filename().string();
    if (!set.files_description_.empty()) set.files_description_ += ", ";
    set.files_description_ += fname;
    for (const auto& t : f.tensors()) {
      auto [it, fresh] = set.by_name_.emplace(t.name, &t);
      if (!fresh)
        return make_error(ErrorKind::format, f.path(), ": tensor '", t.name, "' also appears in ", it->second->file);
    }
  }
  for (const auto& [name, fname] : index_map) {
    auto it = set.by_name_.find(name);
    if (it == set.by_name_.end() || fs::path(it->second->file).filename().string() != fname)
      return make_error(ErrorKind::format, files.index_path, ": tensor '", name, "' is listed in ", fname,
                        " but that file does not hold it");
  }
  for (const auto& [name, t] : set.by_name_) set.all_.push_back(t);
  std::sort(set.all_.begin(), set.all_.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return set;
}

const TensorView* TensorSet::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::size_t TensorSet::total_bytes() const {
  std::size_t n = 0;
  for (const auto* t : all_) n += t->nbytes;
  return n;
}

}  // namespace nibble
