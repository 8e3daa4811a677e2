// MessageBlocks: a line scanner for CommonMark fenced code blocks (``` or ~~~, up to three spaces
// of indent, closed by a fence of the same character at least as long). Everything else stays
// Markdown text for Qt's renderer.
#include "MessageBlocks.h"

#include <QRegularExpression>
#include <QStringList>
#include <QTextCursor>
#include <QTextDocument>
#include <QVariantMap>

#include "ThinkSplitter.h"

namespace {

struct Fence {
  QChar ch;
  qsizetype length = 0;
  QString info;
};

// A fence line: optional indent (<= 3 spaces), then 3+ backticks or tildes.
bool parseFence(const QString& line, Fence& fence) {
  qsizetype i = 0;
  while (i < line.size() && i < 4 && line[i] == QLatin1Char(' ')) ++i;
  if (i > 3 || i >= line.size()) return false;
  const QChar ch = line[i];
  if (ch != QLatin1Char('`') && ch != QLatin1Char('~')) return false;
  qsizetype n = 0;
  while (i + n < line.size() && line[i + n] == ch) ++n;
  if (n < 3) return false;
  const QString info = line.mid(i + n).trimmed();
  if (ch == QLatin1Char('`') && info.contains(QLatin1Char('`'))) return false;
  fence = {ch, n, info};
  return true;
}

void appendText(QList<MessageBlock>& blocks, QStringList& lines) {
  while (!lines.isEmpty() && lines.first().trimmed().isEmpty()) lines.removeFirst();
  while (!lines.isEmpty() && lines.last().trimmed().isEmpty()) lines.removeLast();
  const QString text = lines.join(QLatin1Char('\n'));
  lines.clear();
  if (text.isEmpty()) return;
  blocks.append({MessageBlock::Text, text, {}, false});
}

}  // namespace

QList<MessageBlock> splitMessageBlocks(const QString& markdown) {
  QList<MessageBlock> blocks;
  const QStringList lines = markdown.split(QLatin1Char('\n'));
  QStringList pending;
  Fence open;
  bool inCode = false;
  for (const QString& line : lines) {
    Fence f;
    if (!inCode) {
      if (parseFence(line, f)) {
        appendText(blocks, pending);
        open = f;
        inCode = true;
      } else {
        pending.append(line);
      }
      continue;
    }
    if (parseFence(line, f) && f.ch == open.ch && f.length >= open.length && f.info.isEmpty()) {
      blocks.append({MessageBlock::Code, pending.join(QLatin1Char('\n')), open.info.section(QLatin1Char(' '), 0, 0), false});
      pending.clear();
      inCode = false;
    } else {
      pending.append(line);
    }
  }
  if (inCode)
    blocks.append({MessageBlock::Code, pending.join(QLatin1Char('\n')), open.info.section(QLatin1Char(' '), 0, 0), true});
  else
    appendText(blocks, pending);
  return blocks;
}

QString markdownToHtml(const QString& markdown) {
  // Rendered here rather than by a TextEdit with MarkdownText: Qt 6.4's Markdown import inserts
  // run by run and lays the whole document out after each one when the document has a layout
  // (quadratic: a 5,000-character reply blocked the GUI thread for seconds per update). In an
  // edit block on a document without a layout it is one linear pass.
  QTextDocument doc;
  QTextCursor cursor(&doc);
  cursor.beginEditBlock();
  doc.setMarkdown(markdown, QTextDocument::MarkdownDialectGitHub);
  cursor.endEditBlock();
  QString html = doc.toHtml();
  static const QRegularExpression bodyStyle(QStringLiteral("<body style=\"[^\"]*\">"));
  html.replace(bodyStyle, QStringLiteral("<body>"));
  return html;
}

void renderBlocks(QList<MessageBlock>& blocks, const QList<MessageBlock>& previous) {
  for (qsizetype i = 0; i < blocks.size(); ++i) {
    MessageBlock& b = blocks[i];
    if (b.kind != MessageBlock::Text) continue;
    if (i < previous.size() && previous[i].kind == MessageBlock::Text && previous[i].text == b.text && !previous[i].html.isEmpty())
      b.html = previous[i].html;
    else
      b.html = markdownToHtml(b.text);
  }
}

QVariantList blocksToVariantList(const QList<MessageBlock>& blocks) {
  QVariantList out;
  out.reserve(blocks.size());
  for (const MessageBlock& b : blocks)
    out.append(QVariantMap{{QStringLiteral("kind"), b.kind == MessageBlock::Code ? QStringLiteral("code") : QStringLiteral("text")},
                           {QStringLiteral("text"), b.text},
                           {QStringLiteral("html"), b.html},
                           {QStringLiteral("language"), b.language},
                           {QStringLiteral("open"), b.open}});
  return out;
}

ThinkParts splitThinkSections(const QString& text) {
  ThinkParts parts;
  if (!text.contains(QLatin1String("<think>")) && !text.contains(QLatin1String("</think>"))) {
    parts.answer = text;
    return parts;
  }
  // A reply that starts inside a section (its template opened <think>) has only the close tag.
  const bool startsInside = text.indexOf(QLatin1String("</think>")) >= 0 &&
                            (text.indexOf(QLatin1String("<think>")) < 0 ||
                             text.indexOf(QLatin1String("</think>")) < text.indexOf(QLatin1String("<think>")));
  ThinkSplitter splitter(startsInside);
  splitter.push(text, parts.answer, parts.reasoning);
  parts.reasoningOpen = splitter.inReasoning();
  splitter.flush(parts.answer, parts.reasoning);
  return parts;
}
