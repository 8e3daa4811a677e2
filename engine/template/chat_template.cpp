// ChatTemplate: parse (lexer + parser) and render (interpreter) behind the public API, turning
// the interpreter's exceptions into nibble::Error with line and column; the variables HF passes
// to apply_chat_template; and the plain ChatML fallback prompt.
#include "nibble/chat_template.h"

#include <new>

#include "template/builtins.h"
#include "template/errors.h"
#include "template/interpreter.h"
#include "template/parser.h"
#include "template/text.h"

namespace nibble {

namespace {

using tmpl::Value;

Value json_to_value(const nlohmann::ordered_json& j, int depth) {
  if (depth > tmpl::max_value_depth) tmpl::fail_limit("the input JSON is nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return Value::real(static_cast<double>(u));
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::real(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(json_to_value(x, depth + 1));
      return Value::sequence(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto d = std::make_shared<tmpl::Dict>();
      d->entries.reserve(j.size());
      for (const auto& [k, v] : j.items()) d->entries.emplace_back(Value::string(k), json_to_value(v, depth + 1));
      return Value::dict(std::move(d));
    }
    default: return Value::none();
  }
}

std::string position(const tmpl::TemplateError& e) {
  if (e.line <= 0) return "chat template: ";
  return "chat template line " + std::to_string(e.line) + ", column " + std::to_string(e.column) + ": ";
}

Error to_error(const tmpl::TemplateError& e) {
  switch (e.fault) {
    case tmpl::Fault::syntax: return make_error(ErrorKind::format, position(e), "syntax error: ", e.message);
    case tmpl::Fault::raised: return make_error(ErrorKind::invalid_argument, position(e), "the template raised: ", e.message);
    case tmpl::Fault::limit: return make_error(ErrorKind::invalid_argument, position(e), "limit exceeded: ", e.message);
    case tmpl::Fault::runtime: break;
  }
  return make_error(ErrorKind::format, position(e), e.message);
}

class JinjaChatTemplate final : public ChatTemplate {
 public:
  explicit JinjaChatTemplate(tmpl::Template t) : template_(std::move(t)) {}

  Result<std::string> render(const ChatRenderInput& input, const TemplateLimits& limits) const override {
    for (const char* reserved : {"messages", "tools", "documents", "add_generation_prompt"})
      if (input.extra.is_object() && input.extra.contains(reserved))
        return make_error(ErrorKind::invalid_argument, "chat template variable '", reserved, "' given twice");
    try {
      auto globals = std::make_shared<tmpl::Scope>(nullptr);
      tmpl::add_globals(*globals);
      if (!input.bos_token.empty()) globals->set("bos_token", Value::string(input.bos_token));
      if (!input.eos_token.empty()) globals->set("eos_token", Value::string(input.eos_token));
      if (input.extra.is_object())
        for (const auto& [k, v] : input.extra.items()) globals->set(k, json_to_value(v, 0));
      globals->set("messages", json_to_value(input.messages, 0));
      globals->set("tools", json_to_value(input.tools, 0));
      globals->set("documents", json_to_value(input.documents, 0));
      globals->set("add_generation_prompt", Value::boolean(input.add_generation_prompt));
      tmpl::Interpreter interp(limits, input.now);
      return interp.render(template_, std::move(globals));
    } catch (const tmpl::TemplateError& e) {
      return to_error(e);
    } catch (const std::bad_alloc&) {
      return make_error(ErrorKind::out_of_memory, "chat template: out of memory while rendering");
    } catch (const std::exception& e) {
      return make_error(ErrorKind::internal, "chat template: ", e.what());
    }
  }

 private:
  tmpl::Template template_;
};

}  // namespace

Result<std::shared_ptr<const ChatTemplate>> ChatTemplate::parse(std::string_view source) {
  if (!tmpl::utf8_valid(source)) return make_error(ErrorKind::format, "chat template: the source is not valid UTF-8");
  try {
    return std::shared_ptr<const ChatTemplate>(std::make_shared<JinjaChatTemplate>(tmpl::parse_template(source)));
  } catch (const tmpl::TemplateError& e) {
    return to_error(e);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::out_of_memory, "chat template: out of memory while parsing");
  } catch (const std::exception& e) {
    return make_error(ErrorKind::internal, "chat template: ", e.what());
  }
}

std::string render_chatml(const nlohmann::json& messages, bool add_generation_prompt) {
  std::string out;
  if (!messages.is_array()) return add_generation_prompt ? "<|im_start|>assistant\n" : "";
  for (const auto& m : messages) {
    if (!m.is_object()) continue;
    out += "<|im_start|>";
    auto role = m.find("role");
    out += role != m.end() && role->is_string() ? role->get<std::string>() : std::string("user");
    out += '\n';
    auto content = m.find("content");
    if (content != m.end() && content->is_string()) out += content->get<std::string>();
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace nibble
