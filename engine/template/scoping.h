// Jinja2's compile-time scoping rule, applied after parsing: in each frame (the template, a loop
// body or else, a macro or call body, a with, set or filter block), a name first assigned by a
// plain statement of that frame, never referenced earlier in it nor known to an enclosing frame,
// starts Undefined there, hiding a template variable of the same name (Jinja2's idtracking).
// The interpreter applies the lists when it enters each frame.
#pragma once

#include <string>
#include <vector>

#include "template/ast.h"

namespace nibble::tmpl {

// Fills Stmt::body_undefined / else_undefined and MacroDef::body_undefined throughout `root`
// and returns the list for the template frame itself.
std::vector<std::string> analyze_scopes(Body& root);

}  // namespace nibble::tmpl
