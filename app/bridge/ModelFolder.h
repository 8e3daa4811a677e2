// ModelFolder: the model folder meant by a dropped or typed path (the folder itself, or the folder
// of a config.json / .safetensors / tokenizer file inside it) and the name shown for it.
// Used by EngineController, ModelInspector, AppController and the library scan.
#pragma once

#include <QString>
#include <QStringList>

QString modelFolderFor(const QString& path);
QString modelNameFor(const QString& path);
// Model folders (holding config.json) under `root`, at most `depth` levels down, sorted.
QStringList findModelFolders(const QString& root, int depth = 3);
