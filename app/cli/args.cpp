// Argument parsing for nibble-cli commands.
#include "args.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace nibble::cli {

Args::Args(int argc, char** argv, std::set<std::string> value_options)
    : value_options_(std::move(value_options)) {
  bool only_positionals = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positionals || a.size() < 3 || a.rfind("--", 0) != 0) {
      if (a == "--") {
        only_positionals = true;
        continue;
      }
      positionals_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (value_options_.count(name)) {
      if (inline_value) {
        values_.emplace(name, *inline_value);
      } else if (i + 1 < argc) {
        values_.emplace(name, argv[++i]);
      } else if (error_.empty()) {
        error_ = "option --" + name + " needs a value";
      }
    } else {
      if (inline_value && error_.empty()) error_ = "option --" + name + " takes no value";
      flags_.insert(name);
    }
  }
}

std::optional<std::string> Args::value(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  auto last = range.second;
  --last;
  return last->second;
}

std::vector<std::string> Args::values(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

std::string Args::value_or(const std::string& name, const std::string& fallback) const {
  auto v = value(name);
  return v ? *v : fallback;
}

std::optional<std::string> Args::unknown(const std::set<std::string>& known_flags) const {
  for (const auto& f : flags_)
    if (!known_flags.count(f)) return "--" + f;
  return std::nullopt;
}

bool parse_int(const std::string& text, long long& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0') return false;
  out = v;
  return true;
}

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end == text.c_str() || *end != '\0') return false;
  out = v;
  return true;
}

bool parse_int_list(const std::string& text, std::vector<int>& out) {
  out.clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    long long v;
    if (!parse_int(text.substr(start, comma - start), v) || v < INT32_MIN || v > INT32_MAX) return false;
    out.push_back(static_cast<int>(v));
    start = comma + 1;
  }
  return !out.empty();
}

bool parse_double_list(const std::string& text, std::vector<double>& out) {
  out.clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    double v = 0;
    if (!parse_double(text.substr(start, comma - start), v)) return false;
    out.push_back(v);
    start = comma + 1;
  }
  return !out.empty();
}

}  // namespace nibble::cli
