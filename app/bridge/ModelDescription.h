// ModelDescription: the interface's words for what inspect_model found (format and bits per
// weight, the memory-estimate shape) and the devices present. Bridge-internal; used by
// EngineWorker and ModelInspector on their worker threads.
#pragma once

#include <QString>
#include <QVariantList>

#include "MemoryEstimate.h"
#include "nibble/model.h"

double bitsPerWeight(const nibble::ModelInfo& info);
QString formatName(const nibble::ModelInfo& info);  // "fp16", "bf16", "exl2", "gptq"
QString formatDescription(const nibble::ModelInfo& info);  // "exl2 4.13 bpw"
ModelShape modelShape(const nibble::ModelInfo& info);

// [{id: "cpu"|"cuda:N", name, totalBytes, freeBytes}], the CPU last.
QVariantList listDevices();
QString deviceDisplayName(const QVariantList& devices, const QString& id);
// One device: its name ("NVIDIA H100 80GB HBM3", "CPU"); several: their ids joined in the order
// of `devices` (GPUs first, the CPU last), the CPU by name ("cuda:0 + cuda:1 + CPU").
QString devicesDisplayName(const QVariantList& devices, const QStringList& ids);
