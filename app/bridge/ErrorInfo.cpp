// ErrorInfo: the sentence and the fix the interface shows for each error kind. The wording depends
// on what failed (loading a model, generating, the history database).
#include "ErrorInfo.h"

#include <QCoreApplication>
#include <QMetaEnum>

namespace {

QString tr(const char* text) { return QCoreApplication::translate("ErrorInfo", text); }

}  // namespace

QString ErrorInfo::supportedArchitectures() {
  return tr("Llama, Mistral, Qwen2 and Qwen3 (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
            "Qwen3ForCausalLM), and other models whose config and tensors are Llama-shaped; weights in "
            "fp16/bf16, EXL2 or GPTQ");
}

QString ErrorInfo::kindName(ErrorKinds::Kind kind) {
  return QString::fromLatin1(QMetaEnum::fromType<ErrorKinds::Kind>().valueToKey(kind));
}

QVariantMap ErrorInfo::toVariantMap() const {
  return {{QStringLiteral("kind"), static_cast<int>(kind)},
          {QStringLiteral("kindName"), kindName(kind)},
          {QStringLiteral("message"), message},
          {QStringLiteral("title"), title},
          {QStringLiteral("fix"), fix}};
}

ErrorInfo ErrorInfo::make(ErrorKinds::Kind kind, const QString& message, Context context) {
  ErrorInfo e{kind, message, {}, {}};
  const bool load = context == Context::ModelLoad;
  switch (kind) {
    case ErrorKinds::None:
      break;
    case ErrorKinds::Io:
      e.title = load ? tr("The model folder could not be read") : tr("A file could not be read or written");
      e.fix = tr("Check that the path exists, that you may read it and that the disk is not full.");
      break;
    case ErrorKinds::Format:
      e.title = load ? tr("The model files are damaged or incomplete") : tr("A file is damaged");
      e.fix = load ? tr("Download the model again and check that every .safetensors shard and config.json are complete.")
                   : tr("Restore the file from a backup; Nibble keeps a copy before every database migration.");
      break;
    case ErrorKinds::Unsupported:
      e.title = tr("This model is not supported");
      e.fix = tr("Supported: %1.").arg(supportedArchitectures());
      break;
    case ErrorKinds::OutOfMemory:
      e.title = load ? tr("Not enough memory to load this model") : tr("Out of memory");
      e.fix = tr("Choose a smaller context length, a Q4 or Q8 KV cache, or CPU offload (load on the CPU), "
                 "or close other programs that use the GPU.");
      break;
    case ErrorKinds::Device:
      e.title = tr("The GPU reported an error");
      e.fix = tr("Try again. If it happens again, load the model on the CPU.");
      break;
    case ErrorKinds::DeviceLost:
      e.title = tr("The GPU stopped responding");
      e.fix = tr("Reload the model. If it happens again, update the NVIDIA driver or use the CPU.");
      break;
    case ErrorKinds::Cancelled:
      e.title = tr("Cancelled");
      e.fix = tr("Nothing to do: the operation was stopped as asked.");
      break;
    case ErrorKinds::InvalidArgument:
      e.title = tr("A setting is out of range");
      e.fix = load ? tr("Check the context length and device in the model card.")
                   : tr("Check the sampling preset and the conversation settings.");
      break;
    case ErrorKinds::NotFound:
      e.title = load ? tr("No model found there") : tr("Not found");
      e.fix = load ? tr("Drop the folder that holds config.json and the .safetensors files (or one of those files).")
                   : tr("It may have been deleted; refresh the list.");
      break;
    case ErrorKinds::Busy:
      e.title = tr("In use by another program");
      e.fix = tr("Close the other Nibble window or program that uses it, then try again.");
      break;
    case ErrorKinds::ReadOnly:
      e.title = tr("The history is read-only");
      e.fix = tr("It was written by a newer Nibble or cannot be written: update Nibble or check the file's permissions.");
      break;
    case ErrorKinds::Internal:
      e.title = tr("Something went wrong inside Nibble");
      e.fix = tr("This is a bug. Please report it with the message below.");
      break;
  }
  return e;
}
