// Internal declarations shared by the filter implementations: text filters (filters_text.cpp),
// sequence filters (filters_seq.cpp) and HF's tojson (tojson.cpp). The registry that maps names
// to these functions is in filters_text.cpp (find_filter).
#pragma once

#include <string>

#include "template/value.h"

namespace nibble::tmpl {

#define NIBBLE_FILTER(name) Value filter_##name(Interpreter& interp, Value v, CallArgs& args)

NIBBLE_FILTER(batch);
NIBBLE_FILTER(dictsort);
NIBBLE_FILTER(first);
NIBBLE_FILTER(items);
NIBBLE_FILTER(join);
NIBBLE_FILTER(last);
NIBBLE_FILTER(length);
NIBBLE_FILTER(list);
NIBBLE_FILTER(map);
NIBBLE_FILTER(max);
NIBBLE_FILTER(min);
NIBBLE_FILTER(reject);
NIBBLE_FILTER(rejectattr);
NIBBLE_FILTER(reverse);
NIBBLE_FILTER(select);
NIBBLE_FILTER(selectattr);
NIBBLE_FILTER(slice);
NIBBLE_FILTER(sort);
NIBBLE_FILTER(sum);
NIBBLE_FILTER(unique);
NIBBLE_FILTER(tojson);

// Python str() of a filter argument (Jinja2's soft_str): Undefined prints as "".
std::string soft_str(Interpreter& interp, const Value& v);

// Jinja2's make_attrgetter: "a.b.0" looked up item by item (digits as integers).
Value lookup_path(Interpreter& interp, const Value& item, const Value& attribute);

// Python json.dumps with HF's defaults (ensure_ascii=False) for tojson and tool rendering.
std::string json_dumps(const Value& v, bool ensure_ascii, const Value& indent, const Value& separators,
                       bool sort_keys, std::size_t max_bytes);

}  // namespace nibble::tmpl
