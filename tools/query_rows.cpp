#include "query_rows.h"

#include <algorithm>
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

std::vector<std::int32_t> parse_class_list(const std::string& text, const char* option) {
  std::vector<std::int32_t> classes;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    try {
      std::size_t used = 0;
      const int value = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      classes.push_back(value);
    } catch (const std::logic_error&) {
      throw InvalidArgument(std::string(option) + " '" + text + "': '" + item +
                            "' is not a class label; expected integers separated by commas, e.g. 0,2,4");
    }
    start = comma + 1;
  }
  std::vector<std::int32_t> sorted = classes;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    throw InvalidArgument(std::string(option) + " '" + text + "' names a class twice");
  }
  return classes;
}

void keep_base_classes(Matrix& base, std::vector<std::int32_t>& base_labels, std::span<const std::int32_t> classes) {
  if (base_labels.size() != base.rows) {
    throw InvalidArgument("the base labels hold " + std::to_string(base_labels.size()) + " classes for " +
                          std::to_string(base.rows) + " base vectors");
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < base.rows; ++i) {
    if (std::find(classes.begin(), classes.end(), base_labels[i]) == classes.end()) continue;
    const auto row = base.row(i);
    std::copy(row.begin(), row.end(), base.values.begin() + static_cast<std::ptrdiff_t>(kept * base.cols));
    base_labels[kept++] = base_labels[i];
  }
  if (kept == 0) throw InvalidArgument("no base vector has one of the classes to keep");
  base.rows = kept;
  base.values.resize(kept * base.cols);
  base_labels.resize(kept);
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
