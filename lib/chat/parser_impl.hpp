// chat/parser_impl.hpp — the recursive-descent parser shared by parser.cpp (statements)
// and parse_expr.cpp (expressions). Internal to lib/chat.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "chat/builtins.hpp"
#include "chat/parser.hpp"

namespace kaa::chat {

// "'%}'", "'foo'", "the end of the template", ... for error messages.
std::string describe(const Token& t);

class Parser {
public:
    explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

    Body parse() {
        Body body;
        parse_body(body, {}, "", Pos{});
        return body;
    }

private:
    // Counts nesting on the C++ stack; see kMaxNesting.
    struct Guard {
        Parser& p;
        Guard(Parser& parser, Pos pos) : p(parser) {
            if (++p.nesting_ > kMaxNesting)
                fail_at(pos, "template nested too deeply (more than " +
                                 std::to_string(kMaxNesting) + " levels)");
        }
        ~Guard() { --p.nesting_; }
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
    };

    const Token& cur() const { return t_[p_]; }
    const Token& peek(std::size_t k = 1) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
    void advance() {
        if (p_ + 1 < t_.size()) ++p_;
    }
    bool is_op(std::string_view s) const { return cur().kind == Tok::op && cur().text == s; }
    bool is_name(std::string_view s) const { return cur().kind == Tok::name && cur().text == s; }

    void expect_op(std::string_view s, const std::string& context) {
        if (!is_op(s))
            fail_at(cur().pos,
                    "expected '" + std::string(s) + "' " + context + ", found " + describe(cur()));
        advance();
    }
    std::string expect_name(const std::string& context) {
        if (cur().kind != Tok::name)
            fail_at(cur().pos, "expected a name " + context + ", found " + describe(cur()));
        std::string n = cur().text;
        advance();
        return n;
    }
    void expect_block_end(const std::string& stmt) {
        if (cur().kind != Tok::block_end)
            fail_at(cur().pos,
                    "expected '%}' to close '{% " + stmt + " %}', found " + describe(cur()));
        advance();
    }

    static ExprPtr node(ExprKind k, Pos pos) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->pos = pos;
        return e;
    }
    // Records the subtree height once all children are attached.
    static ExprPtr finish(ExprPtr e) {
        int d = 0;
        for (const auto& a : e->args)
            if (a) d = std::max(d, a->depth);
        for (const auto& kw : e->kwargs) d = std::max(d, kw.second->depth);
        e->depth = d + 1;
        if (e->depth > kMaxExprDepth)
            fail_at(e->pos, "expression nested too deeply (more than " +
                                std::to_string(kMaxExprDepth) + " levels)");
        return e;
    }
    static ExprPtr binary(ExprKind k, Op op, Pos pos, ExprPtr a, ExprPtr b) {
        ExprPtr e = node(k, pos);
        e->op = op;
        e->args.push_back(std::move(a));
        e->args.push_back(std::move(b));
        return finish(std::move(e));
    }

    // statements (parser.cpp)
    std::string parse_body(Body& out, std::initializer_list<std::string_view> enders,
                           const std::string& opener, Pos opener_pos);
    void parse_statement(Body& out, Pos pos);
    void parse_for(Body& out, Pos pos);
    void parse_if(Body& out, Pos pos);
    void parse_set(Body& out, Pos pos);
    static bool mentions_loop(const Expr* e);
    static bool mentions_loop(const Body& body);

    // expressions, Jinja's precedence loosest first (parse_expr.cpp)
    ExprPtr parse_expression(bool allow_cond = true);
    ExprPtr parse_or();
    ExprPtr parse_and();
    ExprPtr parse_not();
    ExprPtr parse_compare();
    ExprPtr parse_math1();
    ExprPtr parse_concat();
    ExprPtr parse_math2();
    ExprPtr parse_pow();
    ExprPtr parse_unary(bool with_filter = true);
    ExprPtr literal(Pos pos, Value v);
    ExprPtr parse_primary();
    ExprPtr parse_paren();
    ExprPtr parse_list();
    ExprPtr parse_dict();
    ExprPtr parse_postfix(ExprPtr e);
    ExprPtr parse_subscript(ExprPtr target);
    void parse_args(Expr& e, const Signature* sig, const std::string& what, std::size_t skip);
    static void no_args(Expr& e, const Signature& sig, const std::string& what, std::size_t skip);
    ExprPtr parse_call(ExprPtr target);
    ExprPtr parse_filter_expr(ExprPtr e);
    ExprPtr parse_test(ExprPtr subject);
    bool starts_primary() const;

    std::vector<Token> t_;
    std::size_t p_ = 0;
    int nesting_ = 0;
    int loop_depth_ = 0;
};

}  // namespace kaa::chat
