// ErrorInfo: an engine or history error as the interface shows it: its kind, the engine's message
// (naming the file or setting), a sentence for the user and the fix to try. Value type; made by the
// bridge (EngineErrors.h) from nibble::Error and read by view models and QML (as a map).
#pragma once

#include <QMetaType>
#include <QObject>
#include <QString>
#include <QVariantMap>

namespace ErrorKinds {
Q_NAMESPACE
// Mirrors nibble::ErrorKind, plus None for "no error".
enum Kind {
  None,
  Io,
  Format,
  Unsupported,
  OutOfMemory,
  Device,
  DeviceLost,
  Cancelled,
  InvalidArgument,
  NotFound,
  Busy,
  ReadOnly,
  Internal,
};
Q_ENUM_NS(Kind)
}  // namespace ErrorKinds

struct ErrorInfo {
  ErrorKinds::Kind kind = ErrorKinds::None;
  QString message;  // the engine's text: "config.json: 'hidden_size' is missing"
  QString title;    // "The model files are damaged"
  QString fix;      // "Download the model again ..."

  bool isError() const { return kind != ErrorKinds::None; }
  // {kind (int), kindName, message, title, fix}: what QML binds to.
  QVariantMap toVariantMap() const;

  // The title and fix for a kind; `context` selects wording for loading a model vs. other work.
  enum class Context { ModelLoad, Generation, History };
  static ErrorInfo make(ErrorKinds::Kind kind, const QString& message, Context context);
  static QString kindName(ErrorKinds::Kind kind);
  static QString supportedArchitectures();
};

Q_DECLARE_METATYPE(ErrorInfo)
