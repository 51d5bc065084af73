#include "engine/attributes_json.h"

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "quiver/error.h"

namespace quiver::engine {

std::string attributes_to_json(const Attributes& attributes) {
  auto document = nlohmann::json::object();
  for (const auto& [name, value] : attributes) {
    // clang 14 cannot capture a structured binding; name it explicitly.
    std::visit([&document, &key = name](const auto& v) { document[key] = v; }, value);
  }
  try {
    return document.dump();
  } catch (const nlohmann::json::type_error& error) {
    // dump() is the only step that inspects the bytes: names and strings must be UTF-8.
    throw InvalidArgument(std::string("an attribute name or string value is not valid UTF-8 (") + error.what() + ")");
  }
}

Attributes attributes_from_json(std::string_view text, const std::string& label) {
  auto document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    throw CorruptFile(label + ": attributes are not a JSON object");
  }
  Attributes out;
  for (const auto& [name, value] : document.items()) {
    if (value.is_string()) {
      out.emplace(name, value.get<std::string>());
    } else if (value.is_number_integer()) {
      // The parser reads non-negative integers as unsigned; every one written came from
      // an int64, so one that does not fit was not written by quiver.
      if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw CorruptFile(label + ": attribute '" + name + "' = " + value.dump() + " does not fit an int64");
      }
      out.emplace(name, value.get<std::int64_t>());
    } else if (value.is_number_float()) {
      out.emplace(name, value.get<double>());
    } else if (value.is_array()) {
      std::vector<std::string> tags;
      for (const auto& tag : value) {
        if (!tag.is_string()) throw CorruptFile(label + ": attribute '" + name + "' has a tag that is not a string");
        tags.push_back(tag.get<std::string>());
      }
      out.emplace(name, std::move(tags));
    } else {
      throw CorruptFile(label + ": attribute '" + name + "' has a JSON " + value.type_name() +
                        " value; expected a string, number or array of strings");
    }
  }
  return out;
}

}  // namespace quiver::engine
