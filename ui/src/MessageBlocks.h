// MessageBlocks: splits a message's Markdown into blocks the message view shows one delegate
// each for: prose (rendered to rich text here) and fenced code (monospace, with a Copy button),
// and separates "<think>" sections found in the text. Functions of their input (rendering needs
// the GUI thread's fonts); used by MessageListModel.
#pragma once

#include <QList>
#include <QString>
#include <QVariantList>

struct MessageBlock {
  enum Kind { Text, Code };
  Kind kind = Text;
  QString text;      // Markdown for Text; the code itself (no fences) for Code
  QString language;  // the fence's info word, "" when none
  bool open = false; // a code fence not closed yet (still streaming)
  QString html;      // Text: the Markdown rendered as Qt rich text (see renderBlocks)
  bool operator==(const MessageBlock&) const = default;
};

QList<MessageBlock> splitMessageBlocks(const QString& markdown);
// Fills `html` of the Text blocks, reusing `previous` renders of unchanged text, so a streaming
// reply re-renders only the block that grew.
void renderBlocks(QList<MessageBlock>& blocks, const QList<MessageBlock>& previous);
// CommonMark with GitHub tables to Qt rich text, without the document's font (the view's applies).
QString markdownToHtml(const QString& markdown);
// [{kind: "text"|"code", text, html, language, open}]
QVariantList blocksToVariantList(const QList<MessageBlock>& blocks);

struct ThinkParts {
  QString reasoning;
  QString answer;
  bool reasoningOpen = false;  // a <think> without its </think> (the model is still thinking)
};
// Moves "<think>...</think>" sections of `text` into `reasoning`.
ThinkParts splitThinkSections(const QString& text);
