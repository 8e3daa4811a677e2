// Converts nibble::Error (engine and history) to ErrorInfo. Bridge-internal: the only place the
// engine's ErrorKind meets the interface's ErrorKinds. Used by EngineWorker, HistoryService, ModelInspector.
#pragma once

#include <QString>

#include "ErrorInfo.h"
#include "nibble/error.h"

inline ErrorKinds::Kind toErrorKind(nibble::ErrorKind kind) {
  switch (kind) {
    case nibble::ErrorKind::io: return ErrorKinds::Io;
    case nibble::ErrorKind::format: return ErrorKinds::Format;
    case nibble::ErrorKind::unsupported: return ErrorKinds::Unsupported;
    case nibble::ErrorKind::out_of_memory: return ErrorKinds::OutOfMemory;
    case nibble::ErrorKind::device: return ErrorKinds::Device;
    case nibble::ErrorKind::device_lost: return ErrorKinds::DeviceLost;
    case nibble::ErrorKind::cancelled: return ErrorKinds::Cancelled;
    case nibble::ErrorKind::invalid_argument: return ErrorKinds::InvalidArgument;
    case nibble::ErrorKind::not_found: return ErrorKinds::NotFound;
    case nibble::ErrorKind::busy: return ErrorKinds::Busy;
    case nibble::ErrorKind::read_only: return ErrorKinds::ReadOnly;
    case nibble::ErrorKind::internal: return ErrorKinds::Internal;
  }
  return ErrorKinds::Internal;
}

inline ErrorInfo toErrorInfo(const nibble::Error& error, ErrorInfo::Context context) {
  return ErrorInfo::make(toErrorKind(error.kind), QString::fromStdString(error.message), context);
}
