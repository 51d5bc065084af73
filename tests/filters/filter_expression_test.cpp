#include <doctest/doctest.h>

#include <string>

#include "filters/filter_expression.h"
#include "quiver/error.h"

using namespace quiver;
using namespace quiver::filters;

namespace {

// The message of the InvalidArgument that parsing `text` throws, without the
// "filter '...': " prefix; empty when it parses.
std::string syntax_error(const std::string& text) {
  try {
    parse_filter(text);
  } catch (const InvalidArgument& error) {
    std::string message = error.what();
    std::string prefix = "filter '" + text + "': ";
    REQUIRE(message.starts_with(prefix));
    return message.substr(prefix.size());
  }
  return {};
}

std::string normal(const std::string& text) { return normalise(parse_filter(text)); }

}  // namespace

TEST_CASE("every comparison operator parses to its CompareOp") {
  struct Case {
    const char* text;
    CompareOp op;
  };
  for (const Case& c : {Case{"price = 5", CompareOp::Equal}, Case{"price == 5", CompareOp::Equal},
                        Case{"price != 5", CompareOp::NotEqual}, Case{"price <> 5", CompareOp::NotEqual},
                        Case{"price < 5", CompareOp::Less}, Case{"price <= 5", CompareOp::LessEqual},
                        Case{"price > 5", CompareOp::Greater}, Case{"price >= 5", CompareOp::GreaterEqual},
                        Case{"price>=5", CompareOp::GreaterEqual}}) {
    // Not a structured binding: CAPTURE is a lambda, and clang 14 cannot capture one.
    const auto text = c.text;
    const auto op = c.op;
    CAPTURE(std::string(text));
    auto node = parse_filter(text);
    CHECK(node.kind == FilterNode::Kind::Compare);
    CHECK(node.attribute == "price");
    CHECK(node.op == op);
    REQUIRE(node.values.size() == 1);
    CHECK(std::get<std::int64_t>(node.values[0]) == 5);
  }
}

TEST_CASE("values: strings in either quote with escapes, integers, decimals, signs") {
  CHECK(std::get<std::string>(parse_filter(R"(name = "sh\"oes")").values[0]) == "sh\"oes");
  CHECK(std::get<std::string>(parse_filter("name = 'it\\'s'").values[0]) == "it's");
  CHECK(std::get<std::int64_t>(parse_filter("n = -42").values[0]) == -42);
  CHECK(std::get<std::int64_t>(parse_filter("n = +7").values[0]) == 7);
  CHECK(std::get<double>(parse_filter("x < 49.5").values[0]) == 49.5);
  CHECK(std::get<double>(parse_filter("x < .5").values[0]) == 0.5);
  CHECK(std::get<double>(parse_filter("x < 1e3").values[0]) == 1000.0);
  CHECK(std::get<double>(parse_filter("x < -2.5E-1").values[0]) == -0.25);
  CHECK(std::get<std::int64_t>(parse_filter("n = -9223372036854775808").values[0]) == INT64_MIN);
}

TEST_CASE("IN, CONTAINS, NOT, AND, OR and parentheses build the expected tree") {
  auto in = parse_filter(R"(brand IN ("a", "b", 'c'))");
  CHECK(in.kind == FilterNode::Kind::In);
  CHECK(in.values.size() == 3);
  auto numbers = parse_filter("size in (1, 2.5)");
  CHECK(numbers.kind == FilterNode::Kind::In);
  CHECK(std::holds_alternative<double>(numbers.values[1]));

  auto contains = parse_filter(R"(tags CONTAINS "sale")");
  CHECK(contains.kind == FilterNode::Kind::Contains);
  CHECK(std::get<std::string>(contains.values[0]) == "sale");

  auto example = parse_filter(R"(category = "shoes" AND price < 50 AND tags CONTAINS "sale")");
  CHECK(example.kind == FilterNode::Kind::And);
  CHECK(example.children.size() == 3);  // flattened

  auto negated = parse_filter("not a = 1");
  CHECK(negated.kind == FilterNode::Kind::Not);
  CHECK(negated.children[0].kind == FilterNode::Kind::Compare);
}

TEST_CASE("precedence: NOT binds tighter than AND, AND tighter than OR; parentheses override") {
  auto a = parse_filter("a = 1 OR b = 2 AND c = 3");
  REQUIRE(a.kind == FilterNode::Kind::Or);
  CHECK(a.children[0].attribute == "a");
  CHECK(a.children[1].kind == FilterNode::Kind::And);

  auto b = parse_filter("a = 1 AND b = 2 OR c = 3");
  REQUIRE(b.kind == FilterNode::Kind::Or);
  CHECK(b.children[0].kind == FilterNode::Kind::And);
  CHECK(b.children[1].attribute == "c");

  auto c = parse_filter("NOT a = 1 AND b = 2");
  REQUIRE(c.kind == FilterNode::Kind::And);
  CHECK(c.children[0].kind == FilterNode::Kind::Not);

  auto d = parse_filter("NOT (a = 1 AND b = 2)");
  REQUIRE(d.kind == FilterNode::Kind::Not);
  CHECK(d.children[0].kind == FilterNode::Kind::And);

  auto e = parse_filter("(a = 1 OR b = 2) AND c = 3");
  REQUIRE(e.kind == FilterNode::Kind::And);
  CHECK(e.children[0].kind == FilterNode::Kind::Or);

  auto f = parse_filter("NOT NOT a = 1");
  REQUIRE(f.kind == FilterNode::Kind::Not);
  CHECK(f.children[0].kind == FilterNode::Kind::Not);
}

TEST_CASE("each syntax error names the column and what was expected") {
  CHECK(syntax_error("") == "expected an attribute name, NOT or '(' at column 1, found end of input");
  CHECK(syntax_error("price") ==
        "expected an operator (=, !=, <, <=, >, >=, IN or CONTAINS) after 'price' at column 6, found end of input");
  CHECK(syntax_error("price <") == "expected a value after '<' at column 8, found end of input");
  CHECK(syntax_error("price < AND") == "expected a value after '<' at column 9, found 'AND'");
  CHECK(syntax_error(R"(category = "shoes" AND price < )") ==
        "expected a value after '<' at column 32, found end of input");
  CHECK(syntax_error(R"(brand IN "a")") == "expected '(' after IN at column 10, found \"a\"");
  CHECK(syntax_error("brand IN ()") == "expected a value in the IN list at column 11, found ')'");
  CHECK(syntax_error("brand IN (1 2)") == "expected ',' or ')' in the IN list at column 13, found '2'");
  CHECK(syntax_error("brand IN (1,") == "expected a value after ',' in the IN list at column 13, found end of input");
  CHECK(syntax_error("tags CONTAINS 5") == "expected a string after CONTAINS at column 15, found '5'");
  CHECK(syntax_error("(a = 1") == "expected ')' to close the '(' from column 1 at column 7, found end of input");
  CHECK(syntax_error("a = 1 b = 2") == "expected AND, OR or end of input at column 7, found 'b'");
  CHECK(syntax_error("a = 1)") == "expected AND, OR or end of input at column 6, found ')'");
  CHECK(syntax_error("a = 1 AND") == "expected an attribute name, NOT or '(' at column 10, found end of input");
  CHECK(syntax_error("NOT") == "expected an attribute name, NOT or '(' at column 4, found end of input");
  CHECK(syntax_error("= 1") == "expected an attribute name, NOT or '(' at column 1, found '='");
  CHECK(syntax_error(R"(a = "open)") == "unterminated string starting at column 5");
  CHECK(syntax_error("a # 1") == "unexpected character '#' at column 3");
  CHECK(syntax_error("a ! 1") == "unexpected character '!' at column 3");
  CHECK(syntax_error("a = 1e") == "expected digits in the exponent of the number at column 5");
  CHECK(syntax_error("a = 12abc") == "malformed number '12a' at column 5");
  CHECK(syntax_error("a = 99999999999999999999").starts_with("integer 99999999999999999999 at column 5 is outside"));
  CHECK(syntax_error("a = 1e999") == "number 1e999 at column 5 is not a finite double");

  std::string deep = std::string(80, '(') + "a = 1" + std::string(80, ')');
  CHECK(syntax_error(deep).starts_with("expression nested deeper than 64 levels"));
  std::string shallow = std::string(60, '(') + "a = 1" + std::string(60, ')');
  CHECK(syntax_error(shallow).empty());
  std::string nots;
  for (int i = 0; i < 100; ++i) nots += "NOT ";
  CHECK(syntax_error(nots + "a = 1").starts_with("expression nested deeper than 64 levels"));
}

TEST_CASE("the normal form ignores spacing, keyword case, operand order and duplicate IN values") {
  CHECK(normal(R"(price<50 and category="shoes")") == R"(category = "shoes" AND price < 50)");
  CHECK(normal(R"(category = "shoes" AND price < 50)") == normal(R"(price < 50 AND category = "shoes")"));
  CHECK(normal("a = 1 OR b = 2") == normal("b = 2 or a = 1"));
  CHECK(normal("a = 1 AND (b = 2 OR c = 3)") == "(b = 2 OR c = 3) AND a = 1");
  CHECK(normal("(a = 1 AND b = 2) OR c = 3") == "a = 1 AND b = 2 OR c = 3");
  CHECK(normal("NOT (a = 1 OR b = 2)") == "NOT (a = 1 OR b = 2)");
  CHECK(normal("not a == 1") == "NOT a = 1");
  CHECK(normal("a <> 1") == "a != 1");
  CHECK(normal(R"(b in ("y", 'x', "y"))") == R"(b IN ("x", "y"))");
  CHECK(normal("x = 50.0") == "x = 50.0");
  CHECK(normal("x = 50") == "x = 50");
  CHECK(normal("x = 0.1") == "x = 0.1");
  CHECK(normal(R"(s = 'say "hi"')") == R"(s = "say \"hi\"")");
  // The normal form parses back to itself.
  for (const char* text : {R"(category = "shoes" AND price < 50 AND tags CONTAINS "sale")",
                           "NOT (a = 1 OR b >= 2.5) AND c IN (1, 2)", "a = 1 OR NOT b != -3"}) {
    CHECK(normal(normal(text)) == normal(text));
  }
}
