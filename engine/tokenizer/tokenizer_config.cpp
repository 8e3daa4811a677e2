// tokenizer_config.json / generation_config.json / chat templates -> SpecialTokens and the
// chat-template map.
//
// BOS/EOS rules: encode(..., add_special=true) adds what tokenizer.json's post-processor adds (as
// HF tokenizers and transformers 5 do). add_bos_token / add_eos_token set to true in
// tokenizer_config.json additionally guarantee the BOS/EOS id at the start/end (transformers'
// Llama and Gemma tokenizers rebuild their post-processor that way); false never removes what
// the post-processor adds.
#include "tokenizer/tokenizer_config.h"

#include <algorithm>

#include "tokenizer/json_scan.h"

namespace nibble::tok {

namespace {

std::string token_text(const json& config, std::string_view key, std::string_view where) {
  const json* v = optional_field(config, key);
  if (!v) return {};
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) return string_field(*v, "content", path(where, key));
  spec_fail(path(where, key), "expected a string or an AddedToken object");
}

void add_templates(const json& value, std::map<std::string, std::string>& out, std::string_view where) {
  if (value.is_string()) {
    out["default"] = value.get<std::string>();
    return;
  }
  if (!value.is_array()) spec_fail(where, "expected a string or a list of {name, template}");
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::string at = std::string(where) + "[" + std::to_string(i) + "]";
    out[string_field(value[i], "name", at)] = string_field(value[i], "template", at);
  }
}

void read_eos_ids(const json& config, std::vector<std::int32_t>& out, std::string_view where) {
  const json* v = optional_field(config, "eos_token_id");
  if (!v) return;
  auto add = [&](const json& x) {
    if (!x.is_number_integer() || x.get<long long>() < 0 || x.get<long long>() > INT32_MAX)
      spec_fail(path(where, "eos_token_id"), "expected a non-negative integer or a list of them");
    out.push_back(static_cast<std::int32_t>(x.get<long long>()));
  };
  if (v->is_array()) {
    for (const json& x : *v) add(x);
  } else {
    add(*v);
  }
}

// The top-level members of a config that we read, parsed; the rest is only validated (Gemma-3's
// tokenizer_config.json is 1.1 MB, nearly all of it added_tokens_decoder).
json selected_members(std::string_view text, std::string_view name, std::initializer_list<std::string_view> keys) {
  JsonScanner sc(text);
  json out = json::object();
  std::string scratch;
  std::string_view key;
  bool first = true;
  if (!sc.begin_object()) spec_fail(name, sc.error());
  while (sc.next_member(first, '}')) {
    if (!sc.read_string(key, scratch) || !sc.expect(':')) break;
    std::string k(key);
    std::string_view span;
    if (!sc.skip_value(&span)) break;
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) out[k] = json::parse(span.begin(), span.end());
  }
  if (sc.failed()) spec_fail(name, sc.error());
  if (!sc.at_end()) spec_fail(name, "trailing data after the JSON object");
  return out;
}

std::optional<std::int32_t> id_of(const HfTokenizer& t, const std::string& text) {
  if (text.empty()) return std::nullopt;
  return t.token_id(text);
}

Status apply(HfTokenizer& t, const ConfigTexts& texts, std::string_view config_name, std::string_view gen_name) {
  SpecialTokens& sp = t.mutable_special();
  auto& templates = t.mutable_templates();
  SpecialWrap wrap = t.wrap();
  bool add_bos = false, add_eos = false;
  if (texts.gpt2_defaults) sp.bos_token = sp.eos_token = "<|endoftext|>";
  if (texts.tokenizer_config) {
    json config = selected_members(*texts.tokenizer_config, config_name,
                                   {"bos_token", "eos_token", "pad_token", "add_bos_token", "add_eos_token", "chat_template"});
    if (optional_field(config, "bos_token") || !texts.gpt2_defaults) sp.bos_token = token_text(config, "bos_token", config_name);
    if (optional_field(config, "eos_token") || !texts.gpt2_defaults) sp.eos_token = token_text(config, "eos_token", config_name);
    sp.pad_token = token_text(config, "pad_token", config_name);
    add_bos = bool_field(config, "add_bos_token", config_name, false);
    add_eos = bool_field(config, "add_eos_token", config_name, false);
    if (const json* ct = optional_field(config, "chat_template")) add_templates(*ct, templates, path(config_name, "chat_template"));
  }
  sp.bos_id = id_of(t, sp.bos_token);
  sp.eos_id = id_of(t, sp.eos_token);
  sp.pad_id = id_of(t, sp.pad_token);
  std::vector<std::int32_t> generation_eos;
  if (texts.generation_config) {
    json gen = selected_members(*texts.generation_config, gen_name, {"eos_token_id"});
    read_eos_ids(gen, generation_eos, gen_name);
  }
  if (!sp.eos_id && !generation_eos.empty()) {
    sp.eos_id = generation_eos.front();
    sp.eos_token = t.token_text(*sp.eos_id);
  }
  sp.stop_ids.clear();
  if (sp.eos_id) sp.stop_ids.push_back(*sp.eos_id);
  for (std::int32_t id : generation_eos)
    if (std::find(sp.stop_ids.begin(), sp.stop_ids.end(), id) == sp.stop_ids.end()) sp.stop_ids.push_back(id);

  if (add_bos && sp.bos_id && (wrap.prefix.empty() || wrap.prefix.front() != *sp.bos_id))
    wrap.prefix.insert(wrap.prefix.begin(), *sp.bos_id);
  if (add_eos && sp.eos_id && (wrap.suffix.empty() || wrap.suffix.back() != *sp.eos_id)) wrap.suffix.push_back(*sp.eos_id);
  sp.add_bos = !wrap.prefix.empty();
  sp.add_eos = !wrap.suffix.empty();
  t.set_wrap(std::move(wrap));

  if (texts.chat_template_json) {
    json ct = json::parse(texts.chat_template_json->begin(), texts.chat_template_json->end());
    std::string where = std::string(texts.dir) + "chat_template.json";
    if (const json* v = optional_field(ct, "chat_template")) add_templates(*v, templates, path(where, "chat_template"));
  }
  if (texts.chat_template_jinja) templates["default"] = std::string(*texts.chat_template_jinja);
  return {};
}

}  // namespace

Status apply_config(HfTokenizer& t, const ConfigTexts& texts) {
  std::string config_name = std::string(texts.dir) + "tokenizer_config.json";
  std::string gen_name = std::string(texts.dir) + "generation_config.json";
  try {
    return apply(t, texts, config_name, gen_name);
  } catch (const SpecError& e) {
    return make_error(e.unsupported ? ErrorKind::unsupported : ErrorKind::format, e.message);
  } catch (const json::exception& e) {
    return make_error(ErrorKind::format, texts.dir, "tokenizer config files: ", e.what());
  } catch (const std::exception& e) {
    return make_error(ErrorKind::format, texts.dir, "tokenizer config files: ", e.what());
  }
}

}  // namespace nibble::tok
