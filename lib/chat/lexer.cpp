#include "chat/lexer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "chat/value.hpp"
#include "kaa/error.hpp"

namespace kaa::chat {

void fail_at(Pos pos, const std::string& what) {
    throw Error(ErrorCode::template_error, "chat template: line " + std::to_string(pos.line) +
                                               ", column " + std::to_string(pos.col) + ": " +
                                               what);
}

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class Lexer {
public:
    Lexer(std::string_view source, const LexOptions& opt) : opt_(opt) {
        // "\r\n" and "\r" become "\n"; then one trailing newline goes (Jinja's defaults).
        src_.reserve(source.size());
        for (std::size_t i = 0; i < source.size(); ++i) {
            if (source[i] == '\r') {
                src_ += '\n';
                if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
            } else {
                src_ += source[i];
            }
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
        line_starts_.push_back(0);
        for (std::size_t i = 0; i < src_.size(); ++i)
            if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }

    std::vector<Token> run() {
        const std::size_t n = src_.size();
        std::size_t i = 0;
        bool strip_next = false;   // the previous tag ended with '-': eat leading whitespace
        while (i < n) {
            std::size_t tag = find_tag(i);
            std::size_t tb = i, te = (tag == std::string::npos) ? n : tag;
            if (strip_next) {
                while (tb < te && is_ws(src_[tb])) ++tb;
                strip_next = false;
            }
            if (tag == std::string::npos) {
                emit_text(tb, te);
                break;
            }
            const char kind = src_[tag + 1];   // '{', '%' or '#'
            std::size_t k = tag + 2;
            char sign = 0;
            if (k < n && (src_[k] == '-' || src_[k] == '+')) sign = src_[k++];
            if (sign == '-') {
                while (te > tb && is_ws(src_[te - 1])) --te;
            } else if (sign != '+' && opt_.lstrip_blocks && kind != '{') {
                // Only spaces/tabs between the start of the line and the tag go.
                std::size_t ls = te;
                while (ls > tb && (src_[ls - 1] == ' ' || src_[ls - 1] == '\t')) --ls;
                const bool at_line_start = (ls == 0) || src_[ls - 1] == '\n';
                if (at_line_start) te = ls;
            }
            emit_text(tb, te);

            const Pos open = pos_at(tag);
            if (kind == '#') {
                const std::size_t end = src_.find("#}", k);
                if (end == std::string::npos) fail_at(open, "unterminated comment '{#' (missing '#}')");
                const char before = end > k ? src_[end - 1] : 0;
                i = end + 2;
                if (before == '-') strip_next = true;
                else if (before != '+') i = trim_newline(i);
                continue;
            }
            toks_.push_back(make(kind == '{' ? Tok::var_begin : Tok::block_begin, tag));
            i = lex_tag(k, kind, open, strip_next);
        }
        Token eof;
        eof.kind = Tok::eof;
        eof.pos = pos_at(n);
        toks_.push_back(eof);
        return std::move(toks_);
    }

private:
    Pos pos_at(std::size_t off) const {
        auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
        const std::size_t line = std::size_t(it - line_starts_.begin());   // 1-based
        Pos p;
        p.line = std::uint32_t(std::min<std::size_t>(line, 0xFFFFFFFFu));
        p.col = std::uint32_t(std::min<std::size_t>(off - line_starts_[line - 1] + 1, 0xFFFFFFFFu));
        return p;
    }

    Token make(Tok kind, std::size_t off, std::string text = {}) const {
        Token t;
        t.kind = kind;
        t.pos = pos_at(off);
        t.text = std::move(text);
        return t;
    }

    std::size_t find_tag(std::size_t from) const {
        for (std::size_t j = src_.find('{', from); j != std::string::npos; j = src_.find('{', j + 1)) {
            if (j + 1 < src_.size() && (src_[j + 1] == '{' || src_[j + 1] == '%' || src_[j + 1] == '#'))
                return j;
        }
        return std::string::npos;
    }

    void emit_text(std::size_t b, std::size_t e) {
        if (e > b) toks_.push_back(make(Tok::text, b, src_.substr(b, e - b)));
    }

    // trim_blocks: the first newline after a block tag or comment is not output.
    std::size_t trim_newline(std::size_t i) const {
        if (opt_.trim_blocks && i < src_.size() && src_[i] == '\n') return i + 1;
        return i;
    }

    bool at(std::size_t k, std::string_view s) const { return src_.compare(k, s.size(), s) == 0; }

    // Lexes the inside of {{ ... }} or {% ... %} starting at k; returns the offset after
    // the closing marker.
    std::size_t lex_tag(std::size_t k, char kind, Pos open, bool& strip_next) {
        const std::string_view close = kind == '{' ? "}}" : "%}";
        const Tok end_tok = kind == '{' ? Tok::var_end : Tok::block_end;
        const std::size_t n = src_.size();
        int depth = 0;   // open brackets: a '}}' inside a dict literal does not close the tag
        for (;;) {
            while (k < n && is_ws(src_[k])) ++k;
            if (k >= n)
                fail_at(open, std::string("unterminated '") + (kind == '{' ? "{{" : "{%") +
                                  "' (missing '" + std::string(close) + "')");
            if (depth == 0) {
                if (src_[k] == '-' && at(k + 1, close)) {
                    toks_.push_back(make(end_tok, k));
                    strip_next = true;
                    return k + 3;
                }
                if (kind == '%' && at(k, "+%}")) {
                    toks_.push_back(make(end_tok, k));
                    return k + 3;
                }
                if (at(k, close)) {
                    toks_.push_back(make(end_tok, k));
                    return kind == '%' ? trim_newline(k + 2) : k + 2;
                }
            }
            const char c = src_[k];
            if (is_name_start(c)) {
                std::size_t e = k;
                while (e < n && is_name_char(src_[e])) ++e;
                toks_.push_back(make(Tok::name, k, src_.substr(k, e - k)));
                k = e;
            } else if (is_digit(c)) {
                k = lex_number(k);
            } else if (c == '\'' || c == '"') {
                k = lex_string(k);
            } else {
                static const char* const two[] = {"**", "//", "==", "!=", "<=", ">="};
                std::string op;
                for (const char* t : two)
                    if (at(k, t)) op = t;
                if (op.empty()) {
                    if (std::string_view("+-*/%~()[]{},.:|=<>").find(c) == std::string_view::npos) {
                        const std::string shown = (static_cast<unsigned char>(c) < 0x20 ||
                                                   static_cast<unsigned char>(c) >= 0x7f)
                                                      ? "byte " + std::to_string(int(static_cast<unsigned char>(c)))
                                                      : std::string("'") + c + "'";
                        fail_at(pos_at(k), "unexpected character " + shown + " inside a tag");
                    }
                    op = std::string(1, c);
                }
                if (op == "(" || op == "[" || op == "{") ++depth;
                if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
                toks_.push_back(make(Tok::op, k, op));
                k += op.size();
            }
        }
    }

    // Digits with optional '_' separators (1_000), an optional fraction and exponent.
    std::size_t lex_number(std::size_t k) {
        const std::size_t n = src_.size();
        std::string digits;
        std::size_t e = k;
        auto take_digits = [&]() {
            while (e < n && (is_digit(src_[e]) || (src_[e] == '_' && e + 1 < n && is_digit(src_[e + 1])))) {
                if (src_[e] != '_') digits += src_[e];
                ++e;
            }
        };
        take_digits();
        bool is_float = false;
        if (e + 1 < n && src_[e] == '.' && is_digit(src_[e + 1])) {
            is_float = true;
            digits += '.';
            ++e;
            take_digits();
        }
        if (e < n && (src_[e] == 'e' || src_[e] == 'E')) {
            std::size_t x = e + 1;
            if (x < n && (src_[x] == '+' || src_[x] == '-')) ++x;
            if (x < n && is_digit(src_[x])) {
                is_float = true;
                digits += 'e';
                digits.append(src_, e + 1, x - e - 1);
                e = x;
                take_digits();
            }
        }
        Token t = make(is_float ? Tok::floating : Tok::integer, k, src_.substr(k, e - k));
        errno = 0;
        if (is_float) {
            t.fval = std::strtod(digits.c_str(), nullptr);
        } else {
            const long long v = std::strtoll(digits.c_str(), nullptr, 10);
            if (errno == ERANGE) fail_at(t.pos, "integer literal " + t.text + " is too large");
            t.ival = v;
        }
        toks_.push_back(std::move(t));
        return e;
    }

    // A quoted literal with Python's escapes (\n, \t, \\, \', \xhh, \uhhhh, octal, ...);
    // an unknown escape keeps its backslash, as Python does.
    std::size_t lex_string(std::size_t k) {
        const std::size_t n = src_.size();
        const char quote = src_[k];
        const Pos start = pos_at(k);
        std::string out;
        std::size_t e = k + 1;
        for (;;) {
            if (e >= n) fail_at(start, "unterminated string literal");
            const char c = src_[e];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                ++e;
                continue;
            }
            if (e + 1 >= n) fail_at(start, "unterminated string literal");
            const char x = src_[e + 1];
            e += 2;
            switch (x) {
                case '\n': break;   // backslash-newline continues the line
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'v': out += '\v'; break;
                case 'x':
                case 'u':
                case 'U': {
                    const int len = x == 'x' ? 2 : (x == 'u' ? 4 : 8);
                    std::uint32_t cp = 0;
                    for (int d = 0; d < len; ++d) {
                        const int h = e < n ? hex_value(src_[e]) : -1;
                        if (h < 0) fail_at(pos_at(e), std::string("bad \\") + x + " escape in string literal");
                        cp = cp * 16 + std::uint32_t(h);
                        ++e;
                    }
                    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        fail_at(pos_at(e), "escape is not a valid Unicode character");
                    append_utf8(out, cp);
                    break;
                }
                default:
                    if (x >= '0' && x <= '7') {
                        std::uint32_t cp = std::uint32_t(x - '0');
                        for (int d = 0; d < 2 && e < n && src_[e] >= '0' && src_[e] <= '7'; ++d, ++e)
                            cp = cp * 8 + std::uint32_t(src_[e] - '0');
                        append_utf8(out, cp);
                    } else if (x == 'N') {
                        fail_at(pos_at(e - 2), "\\N{...} escapes are not supported");
                    } else {
                        out += '\\';
                        out += x;
                    }
            }
        }
        Token t = make(Tok::string, k, std::move(out));
        toks_.push_back(std::move(t));
        return e + 1;
    }

    LexOptions opt_;
    std::string src_;
    std::vector<std::size_t> line_starts_;
    std::vector<Token> toks_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& options) {
    if (source.size() > std::numeric_limits<std::uint32_t>::max())
        fail_at(Pos{}, "template source is larger than 4 GiB");
    return Lexer(source, options).run();
}

}  // namespace kaa::chat
