#include "engine/filter_sql.h"

#include "quiver/error.h"

namespace quiver::engine {
namespace {

using filters::CompareOp;
using filters::FilterNode;
using filters::Literal;

class Compiler {
 public:
  explicit Compiler(const AttributeCatalogue& catalogue) : catalogue_(catalogue) {}

  std::string compile(const FilterNode& node) {
    switch (node.kind) {
      case FilterNode::Kind::Compare: return compare(node);
      case FilterNode::Kind::In: return in(node);
      case FilterNode::Kind::Contains: return contains(node);
      case FilterNode::Kind::Not:
        return "SELECT id FROM vectors EXCEPT SELECT id FROM (" + compile(node.children.front()) + ")";
      case FilterNode::Kind::And:
      case FilterNode::Kind::Or: {
        // Each operand is wrapped as a subquery: SQLite's compound operators all bind
        // equally and left to right, so nesting must be explicit.
        std::string glue = node.kind == FilterNode::Kind::And ? " INTERSECT " : " UNION ";
        std::string sql;
        for (std::size_t i = 0; i < node.children.size(); ++i) {
          sql += (i ? glue : "") + "SELECT id FROM (" + compile(node.children[i]) + ")";
        }
        return sql;
      }
    }
    return {};
  }

  std::vector<Literal> parameters;

 private:
  std::string parameter(const Literal& value) {
    parameters.push_back(value);
    return "?" + std::to_string(parameters.size());
  }
  // Built in place: moving a temporary variant trips GCC 12's -Wmaybe-uninitialized
  // under -O2 with sanitizers (a false positive on the inactive string member).
  std::string parameter(std::int64_t value) {
    parameters.emplace_back(std::in_place_type<std::int64_t>, value);
    return "?" + std::to_string(parameters.size());
  }

  [[noreturn]] void fail(const FilterNode& node, const std::string& message) const {
    throw InvalidArgument("filter: " + message + " (at column " + std::to_string(node.column) + ")");
  }

  const AttributeColumn& column(const FilterNode& node) const {
    auto it = catalogue_.find(node.attribute);
    if (it == catalogue_.end()) {
      std::string known;
      for (const auto& [name, entry] : catalogue_) known += (known.empty() ? "" : ", ") + name;
      fail(node, "unknown attribute '" + node.attribute + "'; the store has " +
                     (known.empty() ? std::string("no attributes") : known));
    }
    return it->second;
  }

  static bool is_number(const Literal& value) { return !std::holds_alternative<std::string>(value); }

  void check_value(const FilterNode& node, const AttributeColumn& column, const Literal& value) const {
    bool numeric = column.type == AttributeType::Int || column.type == AttributeType::Double;
    if (numeric != is_number(value)) {
      fail(node, "attribute '" + node.attribute + "' holds " + to_string(column.type) + " values; cannot compare it with " +
                     (numeric ? "a string" : "a number"));
    }
  }

  std::string leaf(const AttributeColumn& column) { return "SELECT id FROM attribute_values WHERE name_id = " + parameter(column.name_id); }

  std::string compare(const FilterNode& node) {
    const auto& entry = column(node);
    if (entry.type == AttributeType::Tags) {
      fail(node, "attribute '" + node.attribute + "' is a tag list; test it with CONTAINS, not " +
                     std::string(filters::to_string(node.op)));
    }
    check_value(node, entry, node.values.front());
    static constexpr const char* sql_ops[] = {"=", "!=", "<", "<=", ">", ">="};
    return leaf(entry) + " AND value " + sql_ops[static_cast<int>(node.op)] + " " + parameter(node.values.front());
  }

  std::string in(const FilterNode& node) {
    const auto& entry = column(node);
    if (entry.type == AttributeType::Tags) {
      fail(node, "attribute '" + node.attribute + "' is a tag list; test it with CONTAINS, not IN");
    }
    std::string sql = leaf(entry) + " AND value IN (";
    for (std::size_t i = 0; i < node.values.size(); ++i) {
      check_value(node, entry, node.values[i]);
      sql += (i ? ", " : "") + parameter(node.values[i]);
    }
    return sql + ")";
  }

  std::string contains(const FilterNode& node) {
    const auto& entry = column(node);
    if (entry.type != AttributeType::Tags) {
      fail(node, "CONTAINS needs a tag list, but attribute '" + node.attribute + "' holds " + to_string(entry.type) +
                     " values");
    }
    return leaf(entry) + " AND value = " + parameter(node.values.front());
  }

  const AttributeCatalogue& catalogue_;
};

}  // namespace

FilterQuery compile_filter(const filters::FilterNode& node, const AttributeCatalogue& catalogue) {
  Compiler compiler(catalogue);
  FilterQuery query;
  query.sql = compiler.compile(node);
  query.parameters = std::move(compiler.parameters);
  return query;
}

}  // namespace quiver::engine
