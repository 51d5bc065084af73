#include "query_rows.h"

#include <stdexcept>
#include <vector>

#include "quiver/error.h"

namespace quiver::cli {

RowRange parse_range(const std::string& text, const char* option, std::size_t rows) {
  const auto colon = text.find(':');
  RowRange range;
  try {
    if (colon == std::string::npos) throw std::invalid_argument(text);
    std::size_t used = 0;
    range.first = std::stoul(text.substr(0, colon), &used);
    if (used != colon) throw std::invalid_argument(text);
    range.last = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) throw std::invalid_argument(text);
  } catch (const std::logic_error&) {
    throw InvalidArgument(std::string(option) + " '" + text + "': expected FIRST:LAST, e.g. 0:5000");
  }
  if (range.first >= range.last || range.last > rows) {
    throw InvalidArgument(std::string(option) + " " + text + " is not a non-empty range within the " +
                          std::to_string(rows) + " queries");
  }
  return range;
}

void center_by_base_mean(Matrix& base, Matrix& queries) {
  std::vector<double> mean(base.cols, 0.0);
  for (std::size_t i = 0; i < base.rows; ++i) {
    const auto row = base.row(i);
    for (std::size_t j = 0; j < base.cols; ++j) mean[j] += row[j];
  }
  for (double& m : mean) m /= static_cast<double>(base.rows);
  for (Matrix* m : {&base, &queries}) {
    for (std::size_t i = 0; i < m->rows; ++i) {
      const auto row = m->row(i);
      for (std::size_t j = 0; j < m->cols; ++j) row[j] = static_cast<float>(row[j] - mean[j]);
    }
  }
}

}  // namespace quiver::cli
