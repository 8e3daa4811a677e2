// ThinkSplitter: a two-state scanner. Outside a section it looks for "<think>", inside for
// "</think>"; a tail that is a prefix of the awaited tag is held until the next delta decides it.
#include "ThinkSplitter.h"

namespace {

const QString kOpen = QStringLiteral("<think>");
const QString kClose = QStringLiteral("</think>");

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
qsizetype partialTagLength(const QString& text, const QString& tag) {
  for (qsizetype n = qMin(text.size(), tag.size() - 1); n > 0; --n)
    if (QStringView(text).right(n) == QStringView(tag).left(n)) return n;
  return 0;
}

}  // namespace

void ThinkSplitter::push(const QString& text, QString& content, QString& reasoning) {
  QString rest = m_held + text;
  m_held.clear();
  while (!rest.isEmpty()) {
    const QString& tag = m_inReasoning ? kClose : kOpen;
    QString& out = m_inReasoning ? reasoning : content;
    const qsizetype at = rest.indexOf(tag);
    if (at < 0) {
      const qsizetype keep = partialTagLength(rest, tag);
      out += rest.left(rest.size() - keep);
      m_held = rest.right(keep);
      return;
    }
    out += rest.left(at);
    rest = rest.mid(at + tag.size());
    m_inReasoning = !m_inReasoning;
  }
}

void ThinkSplitter::flush(QString& content, QString& reasoning) {
  (m_inReasoning ? reasoning : content) += m_held;
  m_held.clear();
}
