// PromptBuilder: renders with the selected chat template (HF's choice, no tools); any failure,
// at parse or render time, falls back to render_chatml with the reason kept for the interface.
#include "PromptBuilder.h"

#include <QCoreApplication>

namespace {

template <class Json>
Json toJson(const QList<ChatTurn>& messages) {
  auto out = Json::array();
  for (const ChatTurn& t : messages)
    out.push_back({{"role", t.role.toStdString()}, {"content", t.content.toStdString()}});
  return out;
}

QString tr(const char* text) { return QCoreApplication::translate("PromptBuilder", text); }

}  // namespace

PromptBuilder::PromptBuilder(const std::string& modelDir) {
  auto loaded = nibble::load_chat_templates(modelDir);
  if (!loaded) {
    m_note = tr("The chat template could not be read (%1); using ChatML.")
                 .arg(QString::fromStdString(loaded.error().to_string()));
    return;
  }
  m_bos = loaded->bos_token;
  m_eos = loaded->eos_token;
  const std::string* source = nibble::select_chat_template(loaded->templates, false);
  if (!source) {
    m_note = tr("The model has no chat template; using ChatML.");
    return;
  }
  auto parsed = nibble::ChatTemplate::parse(*source);
  if (!parsed) {
    m_note = tr("The chat template does not parse (%1); using ChatML.")
                 .arg(QString::fromStdString(parsed.error().to_string()));
    return;
  }
  m_template = std::move(*parsed);
}

BuiltPrompt PromptBuilder::build(const QList<ChatTurn>& messages, bool continueLast) const {
  const bool continuing = continueLast && !messages.isEmpty() && messages.last().role == QLatin1String("assistant");
  const std::string partial = continuing ? messages.last().content.toStdString() : std::string();
  BuiltPrompt out;
  if (m_template) {
    nibble::ChatRenderInput in;
    in.messages = toJson<nlohmann::ordered_json>(messages);
    in.add_generation_prompt = !continuing;
    in.bos_token = m_bos;
    in.eos_token = m_eos;
    auto rendered = m_template->render(in);
    if (rendered && !continuing) {
      out.text = std::move(*rendered);
      return out;
    }
    if (rendered) {
      // HF's continue_final_message: cut the prompt right after the last message's text.
      const std::size_t at = partial.empty() ? std::string::npos : rendered->rfind(partial);
      if (at != std::string::npos) {
        out.text = rendered->substr(0, at + partial.size());
        return out;
      }
      in.messages.erase(in.messages.size() - 1);
      in.add_generation_prompt = true;
      auto head = m_template->render(in);
      if (head) {
        out.text = *head + partial;
        return out;
      }
      rendered = std::move(head).error();
    }
    out.fallbackNote = tr("The chat template failed (%1); using ChatML.")
                           .arg(QString::fromStdString(rendered.error().to_string()));
  } else {
    out.fallbackNote = m_note;
  }
  if (continuing) {
    QList<ChatTurn> head = messages;
    head.removeLast();
    out.text = nibble::render_chatml(toJson<nlohmann::json>(head), true) + partial;
  } else {
    out.text = nibble::render_chatml(toJson<nlohmann::json>(messages), true);
  }
  return out;
}
