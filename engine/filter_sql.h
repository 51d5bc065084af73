// Translates a parsed filter expression (filters/filter_expression.h) into one SQLite
// query over the attribute store's tables that returns the admitted ids.
//
// Why SQL rather than evaluating the tree in C++: every leaf becomes a range scan of the
// (name_id, value, id) primary key, so a selective predicate reads only the rows it
// matches instead of every vector's attributes; AND/OR/NOT become INTERSECT/UNION/EXCEPT,
// which SQLite performs on its own temporary b-trees; and the attributes need no second,
// in-memory copy beside the database. Literals travel as bound parameters and attribute
// names as integer name_ids, so no user text is ever spliced into the SQL.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "filters/filter_expression.h"
#include "quiver/attribute_store.h"

namespace quiver::engine {

struct AttributeColumn {
  std::int64_t name_id = 0;
  AttributeType type = AttributeType::String;
};
using AttributeCatalogue = std::map<std::string, AttributeColumn, std::less<>>;

struct FilterQuery {
  std::string sql;
  std::vector<filters::Literal> parameters;  // ?1, ?2, ... in order
};

// Throws InvalidArgument for an unknown attribute (listing the known ones) or an
// operator or value that does not fit its type, naming the column of the predicate.
FilterQuery compile_filter(const filters::FilterNode& node, const AttributeCatalogue& catalogue);

}  // namespace quiver::engine
