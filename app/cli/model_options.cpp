// Parsing of the model-loading options.
#include "model_options.h"

namespace nibble::cli {

bool parse_model_options(const Args& args, LoadOptions& out, std::string& error) {
  out.device = args.value_or("device", "cpu");
  if (out.device != "cpu" && out.device.rfind("cuda:", 0) != 0) {
    error = "--device must be cpu or cuda:N";
    return false;
  }
  long long v;
  if (auto t = args.value("threads")) {
    if (!parse_int(*t, v) || v < 1 || v > 1024) {
      error = "--threads must be an integer in [1, 1024]";
      return false;
    }
    out.threads = static_cast<unsigned>(v);
  }
  if (auto c = args.value("context")) {
    if (!parse_int(*c, v) || v < 1 || v > (1 << 24)) {
      error = "--context must be a positive number of tokens";
      return false;
    }
    out.context = static_cast<int>(v);
  }
  return true;
}

}  // namespace nibble::cli
