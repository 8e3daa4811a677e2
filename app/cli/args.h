// A small argument parser for nibble-cli commands: positionals, --flag, --key value, --key=value.
// Owns no I/O; each command declares the options it reads and reports unknown ones.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace nibble::cli {

class Args {
 public:
  // `value_options`: names (without --) that take a value; everything else starting with -- is a flag.
  Args(int argc, char** argv, std::set<std::string> value_options);

  const std::vector<std::string>& positionals() const { return positionals_; }
  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  std::optional<std::string> value(const std::string& name) const;
  std::vector<std::string> values(const std::string& name) const;  // repeated options
  std::string value_or(const std::string& name, const std::string& fallback) const;

  // Parse errors (missing value for an option, unknown option), empty when fine.
  const std::string& error() const { return error_; }
  // Marks every option the command knows; returns the first unknown flag, if any.
  std::optional<std::string> unknown(const std::set<std::string>& known_flags) const;

 private:
  std::vector<std::string> positionals_;
  std::set<std::string> flags_;
  std::multimap<std::string, std::string> values_;
  std::set<std::string> value_options_;
  std::string error_;
};

// Parses "1,2,3" into ints; false on a malformed list.
bool parse_int_list(const std::string& text, std::vector<int>& out);
// Parses "24,80.5" into doubles; false on a malformed list.
bool parse_double_list(const std::string& text, std::vector<double>& out);
// Parses a whole decimal integer / float; false when the text is not entirely a number.
bool parse_int(const std::string& text, long long& out);
bool parse_double(const std::string& text, double& out);

}  // namespace nibble::cli
