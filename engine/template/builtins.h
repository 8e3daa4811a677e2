// Registries of what templates can call by name: filters (filters*.cpp), tests (jinja_tests.cpp),
// methods of str/dict/list values (methods.cpp) and global functions (globals.cpp). The parser
// resolves filters and tests; the evaluator looks up methods and installs the globals.
#pragma once

#include <optional>
#include <string_view>

#include "template/ast.h"
#include "template/value.h"

namespace nibble::tmpl {

class Scope;

FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// The attribute `name` of a str, dict or list value when it is a method: a bound method, or for
// methods that mutate, an Undefined that fails when called (the immutable sandbox). nullopt when
// the type has no such method.
std::optional<Value> method_of(const Value& self, std::string_view name);

// range, namespace, dict, joiner, cycler, raise_exception, strftime_now.
void add_globals(Scope& scope);

}  // namespace nibble::tmpl
