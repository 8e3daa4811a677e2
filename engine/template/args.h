// Binds the positional and keyword arguments of a built-in (filter, test, method, global) to its
// parameter names, with Python's errors for too many, unknown or duplicated arguments.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "template/errors.h"
#include "template/value.h"

namespace nibble::tmpl {

class Params {
 public:
  Params(std::string_view fn, const CallArgs& args, std::initializer_list<std::string_view> names)
      : values_(names.size()), given_(names.size(), false) {
    if (args.args.size() > names.size())
      fail(std::string(fn) + "() takes at most " + std::to_string(names.size()) + " argument(s) (" +
           std::to_string(args.args.size()) + " given)");
    for (std::size_t i = 0; i < args.args.size(); ++i) {
      values_[i] = args.args[i];
      given_[i] = true;
    }
    for (const auto& [key, value] : args.kwargs) {
      std::size_t i = 0;
      for (auto n : names) {
        if (n == key) break;
        ++i;
      }
      if (i == names.size()) fail(std::string(fn) + "() got an unexpected keyword argument '" + key + "'");
      if (given_[i]) fail(std::string(fn) + "() got multiple values for argument '" + key + "'");
      values_[i] = value;
      given_[i] = true;
    }
  }

  bool has(std::size_t i) const { return given_[i]; }
  // The argument, or `fallback` when not given.
  const Value& get(std::size_t i, const Value& fallback) const { return given_[i] ? values_[i] : fallback; }
  const Value& operator[](std::size_t i) const { return values_[i]; }
  void require(std::size_t i, std::string_view fn, std::string_view name) const {
    if (!given_[i]) fail(std::string(fn) + "() missing required argument '" + std::string(name) + "'");
  }

 private:
  std::vector<Value> values_;
  std::vector<bool> given_;
};

}  // namespace nibble::tmpl
