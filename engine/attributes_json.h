// Attributes as JSON text, the form in which collection.sqlite keeps each vector's
// attributes beside its master copy (so replay can restore the AttributeStore, which
// lives in another file, and get() can read a record in one row). Each value keeps its
// type: a string, an integer (int64), a number with a fraction or exponent (double),
// or an array of strings (tags).
#pragma once

#include <string>
#include <string_view>

#include "quiver/attribute_store.h"

namespace quiver::engine {

// Throws InvalidArgument when a string is not valid UTF-8 (JSON text cannot hold it).
std::string attributes_to_json(const Attributes& attributes);

// Inverse of attributes_to_json. Throws CorruptFile, mentioning `label` (the file and
// row the text came from), for text that attributes_to_json cannot have written.
Attributes attributes_from_json(std::string_view text, const std::string& label);

}  // namespace quiver::engine
