#include "filters/filter_expression.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>

#include "quiver/error.h"

namespace quiver::filters {

std::string_view to_string(CompareOp op) {
  switch (op) {
    case CompareOp::Equal: return "=";
    case CompareOp::NotEqual: return "!=";
    case CompareOp::Less: return "<";
    case CompareOp::LessEqual: return "<=";
    case CompareOp::Greater: return ">";
    case CompareOp::GreaterEqual: return ">=";
  }
  return "?";
}

namespace {

enum class TokenKind { End, Name, String, Integer, Decimal, Op, LeftParen, RightParen, Comma, And, Or, Not, In, Contains };

struct Token {
  TokenKind kind = TokenKind::End;
  std::size_t column = 0;   // 1-based
  std::string_view text;    // as written
  Literal value;            // String, Integer, Decimal
  CompareOp op = CompareOp::Equal;
};

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '.'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool equals_ignoring_case(std::string_view a, std::string_view keyword) {
  return a.size() == keyword.size() && std::equal(a.begin(), a.end(), keyword.begin(), [](char x, char k) {
           return (x >= 'a' && x <= 'z' ? static_cast<char>(x - 'a' + 'A') : x) == k;
         });
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::End: return "end of input";
    case TokenKind::String: return std::string(token.text);
    default: return "'" + std::string(token.text) + "'";
  }
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) { advance(); }

  FilterNode parse() {
    FilterNode node = parse_or(0);
    if (current_.kind != TokenKind::End) fail("AND, OR or end of input", "");
    return node;
  }

 private:
  [[noreturn]] void fail(std::string_view expected, std::string_view after) const {
    fail_at("expected " + std::string(expected) + std::string(after) + " at column " +
                                 std::to_string(current_.column) + ", found " + describe(current_));
  }
  [[noreturn]] void fail_at(const std::string& message) const {
    throw InvalidArgument("filter '" + std::string(text_) + "': " + message);
  }

  void advance() { current_ = lex(); }

  Token lex() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                        text_[position_] == '\n' || text_[position_] == '\r')) {
      ++position_;
    }
    Token token;
    token.column = position_ + 1;
    if (position_ == text_.size()) return token;
    std::size_t start = position_;
    char c = text_[position_];
    auto finish = [&](TokenKind kind) {
      token.kind = kind;
      token.text = text_.substr(start, position_ - start);
      return token;
    };
    if (is_name_start(c)) {
      while (position_ < text_.size() && is_name_char(text_[position_])) ++position_;
      auto word = text_.substr(start, position_ - start);
      if (equals_ignoring_case(word, "AND")) return finish(TokenKind::And);
      if (equals_ignoring_case(word, "OR")) return finish(TokenKind::Or);
      if (equals_ignoring_case(word, "NOT")) return finish(TokenKind::Not);
      if (equals_ignoring_case(word, "IN")) return finish(TokenKind::In);
      if (equals_ignoring_case(word, "CONTAINS")) return finish(TokenKind::Contains);
      return finish(TokenKind::Name);
    }
    if (c == '"' || c == '\'') {
      std::string value;
      ++position_;
      while (true) {
        if (position_ == text_.size()) {
          fail_at("unterminated string starting at column " + std::to_string(start + 1));
        }
        char d = text_[position_++];
        if (d == c) break;
        if (d == '\\') {
          if (position_ == text_.size()) {
            fail_at("unterminated string starting at column " + std::to_string(start + 1));
          }
          d = text_[position_++];
        }
        value.push_back(d);
      }
      token.value = std::move(value);
      return finish(TokenKind::String);
    }
    if (is_digit(c) || ((c == '-' || c == '+') && position_ + 1 < text_.size() &&
                        (is_digit(text_[position_ + 1]) || text_[position_ + 1] == '.')) ||
        (c == '.' && position_ + 1 < text_.size() && is_digit(text_[position_ + 1]))) {
      return lex_number(token, start);
    }
    ++position_;
    switch (c) {
      case '(': return finish(TokenKind::LeftParen);
      case ')': return finish(TokenKind::RightParen);
      case ',': return finish(TokenKind::Comma);
      case '=':
        if (position_ < text_.size() && text_[position_] == '=') ++position_;
        token.op = CompareOp::Equal;
        return finish(TokenKind::Op);
      case '!':
        if (position_ < text_.size() && text_[position_] == '=') {
          ++position_;
          token.op = CompareOp::NotEqual;
          return finish(TokenKind::Op);
        }
        break;
      case '<':
        if (position_ < text_.size() && text_[position_] == '=') {
          ++position_;
          token.op = CompareOp::LessEqual;
        } else if (position_ < text_.size() && text_[position_] == '>') {
          ++position_;
          token.op = CompareOp::NotEqual;
        } else {
          token.op = CompareOp::Less;
        }
        return finish(TokenKind::Op);
      case '>':
        if (position_ < text_.size() && text_[position_] == '=') {
          ++position_;
          token.op = CompareOp::GreaterEqual;
        } else {
          token.op = CompareOp::Greater;
        }
        return finish(TokenKind::Op);
      default: break;
    }
    fail_at("unexpected character '" + std::string(1, c) + "' at column " + std::to_string(start + 1));
  }

  Token lex_number(Token& token, std::size_t start) {
    if (text_[position_] == '-' || text_[position_] == '+') ++position_;
    bool decimal = false;
    while (position_ < text_.size() && is_digit(text_[position_])) ++position_;
    if (position_ < text_.size() && text_[position_] == '.') {
      decimal = true;
      ++position_;
      while (position_ < text_.size() && is_digit(text_[position_])) ++position_;
    }
    if (position_ < text_.size() && (text_[position_] == 'e' || text_[position_] == 'E')) {
      decimal = true;
      ++position_;
      if (position_ < text_.size() && (text_[position_] == '-' || text_[position_] == '+')) ++position_;
      if (position_ == text_.size() || !is_digit(text_[position_])) {
        fail_at("expected digits in the exponent of the number at column " + std::to_string(start + 1));
      }
      while (position_ < text_.size() && is_digit(text_[position_])) ++position_;
    }
    if (position_ < text_.size() && is_name_char(text_[position_])) {
      fail_at("malformed number '" + std::string(text_.substr(start, position_ + 1 - start)) +
                             "' at column " + std::to_string(start + 1));
    }
    auto written = text_.substr(start, position_ - start);
    // from_chars accepts no leading '+'.
    auto digits = written.front() == '+' ? written.substr(1) : written;
    token.text = written;
    if (!decimal) {
      std::int64_t value = 0;
      auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (error == std::errc() && end == digits.data() + digits.size()) {
        token.kind = TokenKind::Integer;
        token.value = value;
        return token;
      }
      fail_at("integer " + std::string(written) + " at column " + std::to_string(start + 1) +
                             " is outside the 64-bit range; write it as a decimal (e.g. " + std::string(written) +
                             ".0) to compare as a double");
    }
    double value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || !std::isfinite(value)) {
      fail_at("number " + std::string(written) + " at column " + std::to_string(start + 1) +
                             " is not a finite double");
    }
    token.kind = TokenKind::Decimal;
    token.value = value;
    return token;
  }

  void check_depth(std::size_t depth) const {
    if (depth > max_filter_depth) {
      fail_at("expression nested deeper than " + std::to_string(max_filter_depth) +
                                   " levels at column " + std::to_string(current_.column));
    }
  }

  // Folds `node` into `parent` if it has the same kind, so a AND (b AND c) is one And.
  static void append_flat(FilterNode& parent, FilterNode node) {
    if (node.kind == parent.kind) {
      for (auto& child : node.children) parent.children.push_back(std::move(child));
    } else {
      parent.children.push_back(std::move(node));
    }
  }

  FilterNode parse_binary(std::size_t depth, TokenKind keyword, FilterNode::Kind kind) {
    FilterNode first = keyword == TokenKind::Or ? parse_and(depth) : parse_unary(depth);
    if (current_.kind != keyword) return first;
    FilterNode node;
    node.kind = kind;
    node.column = first.column;
    append_flat(node, std::move(first));
    while (current_.kind == keyword) {
      advance();
      append_flat(node, keyword == TokenKind::Or ? parse_and(depth) : parse_unary(depth));
    }
    return node;
  }

  FilterNode parse_or(std::size_t depth) { return parse_binary(depth, TokenKind::Or, FilterNode::Kind::Or); }
  FilterNode parse_and(std::size_t depth) { return parse_binary(depth, TokenKind::And, FilterNode::Kind::And); }

  FilterNode parse_unary(std::size_t depth) {
    check_depth(depth);
    if (current_.kind == TokenKind::Not) {
      FilterNode node;
      node.kind = FilterNode::Kind::Not;
      node.column = current_.column;
      advance();
      node.children.push_back(parse_unary(depth + 1));
      return node;
    }
    if (current_.kind == TokenKind::LeftParen) {
      std::size_t open = current_.column;
      advance();
      FilterNode node = parse_or(depth + 1);
      if (current_.kind != TokenKind::RightParen) {
        fail("')' to close the '(' from column " + std::to_string(open), "");
      }
      advance();
      return node;
    }
    if (current_.kind != TokenKind::Name) fail("an attribute name, NOT or '('", "");
    return parse_predicate();
  }

  bool at_value() const {
    return current_.kind == TokenKind::String || current_.kind == TokenKind::Integer ||
           current_.kind == TokenKind::Decimal;
  }

  Literal take_value(std::string_view after) {
    if (!at_value()) fail("a value", after);
    Literal value = current_.value;
    advance();
    return value;
  }

  FilterNode parse_predicate() {
    FilterNode node;
    node.attribute = std::string(current_.text);
    node.column = current_.column;
    advance();
    std::string after_name = " after '" + node.attribute + "'";
    switch (current_.kind) {
      case TokenKind::Op: {
        node.kind = FilterNode::Kind::Compare;
        node.op = current_.op;
        std::string after = " after '" + std::string(current_.text) + "'";
        advance();
        node.values.push_back(take_value(after));
        return node;
      }
      case TokenKind::In: {
        node.kind = FilterNode::Kind::In;
        advance();
        if (current_.kind != TokenKind::LeftParen) fail("'('", " after IN");
        advance();
        node.values.push_back(take_value(" in the IN list"));
        while (current_.kind == TokenKind::Comma) {
          advance();
          node.values.push_back(take_value(" after ',' in the IN list"));
        }
        if (current_.kind != TokenKind::RightParen) fail("',' or ')'", " in the IN list");
        advance();
        return node;
      }
      case TokenKind::Contains: {
        node.kind = FilterNode::Kind::Contains;
        advance();
        if (current_.kind != TokenKind::String) fail("a string", " after CONTAINS");
        node.values.push_back(current_.value);
        advance();
        return node;
      }
      default: fail("an operator (=, !=, <, <=, >, >=, IN or CONTAINS)", after_name);
    }
  }

  std::string_view text_;
  std::size_t position_ = 0;
  Token current_;
};

std::string print_literal(const Literal& value) {
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return std::to_string(*integer);
  if (const auto* decimal = std::get_if<double>(&value)) {
    char buffer[64];
    auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, *decimal);
    std::string out(buffer, error == std::errc() ? end : buffer);
    // Keep a decimal recognisable as one, so 50.0 and 50 stay distinct in the normal form.
    if (out.find_first_of(".en") == std::string::npos) out += ".0";
    return out;
  }
  std::string out = "\"";
  for (char c : std::get<std::string>(value)) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// Binding strength, for deciding where the normal form needs parentheses.
int strength(FilterNode::Kind kind) {
  switch (kind) {
    case FilterNode::Kind::Or: return 1;
    case FilterNode::Kind::And: return 2;
    default: return 3;
  }
}

std::string print(const FilterNode& node) {
  auto operand = [&](const FilterNode& child) {
    std::string text = print(child);
    return strength(child.kind) <= strength(node.kind) ? "(" + text + ")" : text;
  };
  switch (node.kind) {
    case FilterNode::Kind::Compare:
      return node.attribute + " " + std::string(to_string(node.op)) + " " + print_literal(node.values.front());
    case FilterNode::Kind::Contains: return node.attribute + " CONTAINS " + print_literal(node.values.front());
    case FilterNode::Kind::In: {
      std::vector<std::string> values;
      for (const auto& value : node.values) values.push_back(print_literal(value));
      std::sort(values.begin(), values.end());
      values.erase(std::unique(values.begin(), values.end()), values.end());
      std::string out = node.attribute + " IN (";
      for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
      return out + ")";
    }
    case FilterNode::Kind::Not: {
      const auto& child = node.children.front();
      std::string text = print(child);
      return strength(child.kind) < 3 ? "NOT (" + text + ")" : "NOT " + text;
    }
    case FilterNode::Kind::And:
    case FilterNode::Kind::Or: {
      std::vector<std::string> operands;
      for (const auto& child : node.children) operands.push_back(operand(child));
      std::sort(operands.begin(), operands.end());
      std::string separator = node.kind == FilterNode::Kind::And ? " AND " : " OR ";
      std::string out;
      for (std::size_t i = 0; i < operands.size(); ++i) out += (i ? separator : "") + operands[i];
      return out;
    }
  }
  return {};
}

}  // namespace

FilterNode parse_filter(std::string_view text) { return Parser(text).parse(); }

std::string normalise(const FilterNode& node) { return print(node); }

}  // namespace quiver::filters
