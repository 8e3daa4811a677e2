// Calibration files and rows.
#include "quant/calibration.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/text_file.h"

namespace nibble::quant {

Result<std::vector<std::string>> read_calibration_documents(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  std::vector<std::string> docs;
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return make_error(ErrorKind::invalid_argument, path, ": the calibration file is empty");
  if (text[first] == '{') {
    std::istringstream lines(text);
    std::string line;
    int line_no = 0;
    while (std::getline(lines, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
        return make_error(ErrorKind::format, path, ": line ", line_no, ": expected a JSON object with a string \"text\"");
      docs.push_back(j["text"].get<std::string>());
    }
  } else {
    docs.push_back(std::move(text));
  }
  return docs;
}

Result<CalibrationSet> make_calibration(const Tokenizer& tok, const std::vector<std::string>& documents, int rows,
                                        int length, const std::string& name) {
  if (rows < 1 || length < 2)
    return make_error(ErrorKind::invalid_argument, "calibration: rows (", rows, ") and length (", length, ") must be >= 1 and >= 2");
  std::vector<std::int32_t> stream;
  for (std::size_t d = 0; d < documents.size(); ++d) {
    auto ids = tok.encode(documents[d], false);
    if (!ids) return make_error(ErrorKind::invalid_argument, "calibration ", name, ": document ", d + 1, ": ", ids.error().message);
    stream.insert(stream.end(), ids->begin(), ids->end());
  }
  CalibrationSet set;
  set.name = name;
  set.rows = rows;
  set.length = length;
  set.stream_tokens = static_cast<std::int64_t>(stream.size());
  if (stream.size() < static_cast<std::size_t>(length))
    return make_error(ErrorKind::invalid_argument, "calibration ", name, ": ", stream.size(),
                      " tokens do not fill one row of --length ", length);
  const std::size_t span = stream.size() - static_cast<std::size_t>(length);
  set.overlapping = stream.size() < static_cast<std::size_t>(rows) * static_cast<std::size_t>(length);
  set.ids.reserve(static_cast<std::size_t>(rows) * static_cast<std::size_t>(length));
  for (int r = 0; r < rows; ++r) {
    const std::size_t start = rows == 1 ? 0 : span * static_cast<std::size_t>(r) / static_cast<std::size_t>(rows - 1);
    set.ids.insert(set.ids.end(), stream.begin() + static_cast<std::ptrdiff_t>(start),
                   stream.begin() + static_cast<std::ptrdiff_t>(start + static_cast<std::size_t>(length)));
  }
  return set;
}

std::vector<int> spread_rows(int rows, int count) {
  count = std::clamp(count, 1, rows);
  std::vector<int> out;
  for (int i = 0; i < count; ++i)
    out.push_back(static_cast<int>((static_cast<std::int64_t>(i) * rows + rows / 2) / count) % rows);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace nibble::quant
