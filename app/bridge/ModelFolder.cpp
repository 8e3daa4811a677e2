// ModelFolder: path rules for model folders; file-system reads only (no engine calls).
#include "ModelFolder.h"

#include <QDir>
#include <QFileInfo>
#include <QUrl>

QString modelFolderFor(const QString& path) {
  QString local = path;
  if (local.startsWith(QLatin1String("file:"))) local = QUrl(local).toLocalFile();
  const QFileInfo info(local);
  if (info.isDir()) return QDir::cleanPath(info.absoluteFilePath());
  return QDir::cleanPath(info.absolutePath());
}

QString modelNameFor(const QString& path) { return QDir(modelFolderFor(path)).dirName(); }

namespace {

void scan(const QDir& dir, int depth, QStringList& out) {
  if (dir.exists(QStringLiteral("config.json"))) {
    out.append(QDir::cleanPath(dir.absolutePath()));
    return;
  }
  if (depth <= 0) return;
  const auto children = dir.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot | QDir::Readable);
  for (const QFileInfo& child : children)
    if (!child.isSymLink()) scan(QDir(child.absoluteFilePath()), depth - 1, out);
}

}  // namespace

QStringList findModelFolders(const QString& root, int depth) {
  QStringList out;
  if (!root.isEmpty()) scan(QDir(root), depth, out);
  out.sort();
  return out;
}
