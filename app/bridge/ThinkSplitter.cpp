// Text crosses as UTF-8: the splitter only ever holds back a prefix of an ASCII tag, so each part
// it returns is whole UTF-8 when the input was.
#include "ThinkSplitter.h"

#include <string>

void ThinkSplitter::push(const QString& text, QString& content, QString& reasoning) {
  std::string c, r;
  m_splitter.push(text.toStdString(), c, r);
  content += QString::fromStdString(c);
  reasoning += QString::fromStdString(r);
}

void ThinkSplitter::flush(QString& content, QString& reasoning) {
  std::string c, r;
  m_splitter.flush(c, r);
  content += QString::fromStdString(c);
  reasoning += QString::fromStdString(r);
}
