// chat/lexer.hpp — splits chat template source into text and tag tokens.
//
// Whitespace handling happens here, where Jinja does it: `{%-`/`-%}` (and the `{{ }}`,
// `{# #}` forms) strip whitespace around a tag, trim_blocks drops the newline after a
// block tag, lstrip_blocks drops the indentation before one, and `{%+`/`+%}` opt a tag
// out of those two. Newlines are normalised to "\n" and one trailing newline of the
// template is dropped, as Jinja does by default (keep_trailing_newline=False).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kaa::chat {

struct Pos {
    std::uint32_t line = 1;
    std::uint32_t col = 1;
};

// Throws kaa::Error(template_error) "chat template: line L, column C: what".
[[noreturn]] void fail_at(Pos pos, const std::string& what);

enum class Tok : std::uint8_t {
    text,         // literal template text (already whitespace-processed)
    var_begin,    // {{
    var_end,      // }}
    block_begin,  // {%
    block_end,    // %}
    name,         // identifiers and keywords (for, in, and, true, ...)
    string,       // text holds the unescaped value
    integer,      // ival
    floating,     // fval
    op,           // text holds the operator: + - * / // % ** ~ ( ) [ ] { } , . : | = == != < > <= >=
    eof,
};

struct Token {
    Tok kind = Tok::eof;
    Pos pos;
    std::string text;
    std::int64_t ival = 0;
    double fval = 0.0;
};

struct LexOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
};

// Tokenizes a whole template; the last token is always Tok::eof. Throws for unterminated
// tags, comments and strings, bad escapes and stray characters.
std::vector<Token> tokenize(std::string_view source, const LexOptions& options);

}  // namespace kaa::chat
