// Calibration data: reads a text file or a JSONL file of {"text": ...} documents (gzip allowed),
// tokenizes each document without special tokens, and cuts rows x length token rows spread evenly
// over the whole stream (so every part of a mixed set is represented). Deterministic. Used by the
// orchestration and tests; the bundled default set is built by resources/calibration/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nibble/tokenizer.h"

namespace nibble::quant {

struct CalibrationSet {
  std::string name;                 // "(default)" or the file's name
  int rows = 0, length = 0;
  std::vector<std::int32_t> ids;    // [rows][length]
  std::int64_t stream_tokens = 0;   // tokens in the whole tokenized text
  bool overlapping = false;         // the text had fewer than rows x length tokens: rows overlap
};

// Documents of a calibration file: JSONL when every non-empty line is an object with a string
// "text", else the whole file as one document. io/format errors name the file (and line).
Result<std::vector<std::string>> read_calibration_documents(const std::string& path);

// invalid_argument when the text holds fewer than `length` tokens.
Result<CalibrationSet> make_calibration(const Tokenizer& tok, const std::vector<std::string>& documents, int rows,
                                        int length, const std::string& name);

// `count` row indices spread evenly over [0, rows) (the measurement rows).
std::vector<int> spread_rows(int rows, int count);

}  // namespace nibble::quant
