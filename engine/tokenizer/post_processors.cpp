// Reduces each supported post-processor to the ids around a single sequence.
#include "tokenizer/post_processors.h"

#include <limits>

namespace nibble::tok {

namespace {

std::int32_t token_id_pair(const json& pair, std::string_view where) {
  // HF writes ("[CLS]", 101) as ["[CLS]", 101].
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer())
    spec_fail(where, "expected [token, id]");
  long long id = pair[1].get<long long>();
  if (id < 0 || id > std::numeric_limits<std::int32_t>::max()) spec_fail(where, "id out of range");
  return static_cast<std::int32_t>(id);
}

SpecialWrap template_processing(const json& spec, std::string_view where) {
  const json& single = field(spec, "single", where);
  if (!single.is_array()) spec_fail(path(where, "single"), "expected an array");
  const json* specials = optional_field(spec, "special_tokens");
  SpecialWrap wrap;
  bool seen_sequence = false;
  for (std::size_t i = 0; i < single.size(); ++i) {
    std::string at = path(where, "single[" + std::to_string(i) + "]");
    const json& piece = single[i];
    if (optional_field(piece, "Sequence")) {
      if (seen_sequence) spec_fail(at, "the single template names the sequence twice");
      seen_sequence = true;
      continue;
    }
    const json& special = field(piece, "SpecialToken", at);
    std::string name = string_field(special, "id", path(at, "SpecialToken"));
    if (!specials || !specials->is_object() || !specials->contains(name))
      spec_fail(at, "special token '" + name + "' is not in special_tokens");
    const json& ids = field((*specials)[name], "ids", path(where, "special_tokens." + name));
    if (!ids.is_array()) spec_fail(path(where, "special_tokens." + name + ".ids"), "expected an array");
    auto& target = seen_sequence ? wrap.suffix : wrap.prefix;
    for (const json& id : ids) {
      if (!id.is_number_integer() || id.get<long long>() < 0 ||
          id.get<long long>() > std::numeric_limits<std::int32_t>::max())
        spec_fail(path(where, "special_tokens." + name + ".ids"), "expected non-negative integers");
      target.push_back(static_cast<std::int32_t>(id.get<long long>()));
    }
  }
  if (!seen_sequence) spec_fail(path(where, "single"), "the template has no $A sequence");
  return wrap;
}

}  // namespace

SpecialWrap make_post_processor(const json& spec, std::string_view where) {
  std::string type = type_of(spec, where);
  if (type == "ByteLevel") return {};
  if (type == "TemplateProcessing") return template_processing(spec, where);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    return SpecialWrap{{token_id_pair(field(spec, "cls", where), path(where, "cls"))},
                       {token_id_pair(field(spec, "sep", where), path(where, "sep"))}};
  }
  if (type == "Sequence") {
    const json& list = field(spec, "processors", where);
    if (!list.is_array()) spec_fail(path(where, "processors"), "expected an array");
    SpecialWrap all;
    for (std::size_t i = 0; i < list.size(); ++i) {
      SpecialWrap w = make_post_processor(list[i], path(where, "processors[" + std::to_string(i) + "]"));
      all.prefix.insert(all.prefix.begin(), w.prefix.begin(), w.prefix.end());
      all.suffix.insert(all.suffix.end(), w.suffix.begin(), w.suffix.end());
    }
    return all;
  }
  spec_unsupported(where, "unsupported post-processor type '" + type + "'");
}

}  // namespace nibble::tok
