// chat/parser.hpp — tokens to a Body (the template's statement list).
#pragma once

#include <string_view>

#include "chat/ast.hpp"

namespace kaa::chat {

// How deeply brackets, unary operators, conditional expressions and blocks may nest, and
// how tall an expression tree may grow (long `a + b + c ...` chains). Real templates use
// a handful of levels; the caps keep parsing and rendering recursion far from any
// thread's stack limit: the worst accepted template needs under 128 KiB of stack with
// -O2 (about 256 KiB unoptimized).
constexpr int kMaxNesting = 64;
constexpr int kMaxExprDepth = 128;

// Parses a whole template. Throws Error(template_error) with line and column.
Body parse_template(std::string_view source, const LexOptions& options);

}  // namespace kaa::chat
