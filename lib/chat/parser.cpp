#include "chat/parser.hpp"

#include <algorithm>
#include <initializer_list>

#include "chat/parser_impl.hpp"

namespace kaa::chat {

namespace {

// Jinja statements kaa deliberately does not implement; naming them gives a clearer
// error than "unknown statement".
constexpr std::string_view kUnsupported[] = {
    "macro",   "endmacro", "call",       "endcall",       "filter", "endfilter",
    "include", "import",   "from",       "extends",       "block",  "endblock",
    "with",    "endwith",  "autoescape", "endautoescape", "raw",    "endraw",
    "do",      "trans",    "endtrans",   "pluralize",
};

constexpr std::string_view kEnders[] = {
    "endfor", "endif", "elif", "else", "endset", "endgeneration",
};

}  // namespace

std::string describe(const Token& t) {
    switch (t.kind) {
        case Tok::text: return "template text";
        case Tok::var_begin: return "'{{'";
        case Tok::var_end: return "'}}'";
        case Tok::block_begin: return "'{%'";
        case Tok::block_end: return "'%}'";
        case Tok::name: return "'" + t.text + "'";
        case Tok::string: return "a string literal";
        case Tok::integer:
        case Tok::floating: return "number " + t.text;
        case Tok::op: return "'" + t.text + "'";
        case Tok::eof: return "the end of the template";
    }
    return "?";
}

// ---- statements --------------------------------------------------------------------------

// Parses until a block tag named in `enders`; consumes that tag's name and returns it.
// At the end of the template returns "" when nothing is open, else fails.
std::string Parser::parse_body(Body& out, std::initializer_list<std::string_view> enders,
                               const std::string& opener, Pos opener_pos) {
    for (;;) {
        const Token& tk = cur();
        switch (tk.kind) {
            case Tok::text: {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::text;
                s->pos = tk.pos;
                s->text = tk.text;
                out.push_back(std::move(s));
                advance();
                break;
            }
            case Tok::var_begin: {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::output;
                s->pos = tk.pos;
                advance();
                s->expr = parse_expression();
                if (cur().kind != Tok::var_end)
                    fail_at(cur().pos, "expected '}}' to close '{{', found " + describe(cur()));
                advance();
                out.push_back(std::move(s));
                break;
            }
            case Tok::block_begin: {
                const Token& kw = peek();
                if (kw.kind != Tok::name)
                    fail_at(kw.pos, "expected a statement name after '{%', found " + describe(kw));
                for (std::string_view e : enders) {
                    if (kw.text == e) {
                        std::string which = kw.text;
                        advance();
                        advance();
                        return which;
                    }
                }
                const Pos tag = tk.pos;   // errors point at the '{%'
                advance();
                parse_statement(out, tag);
                break;
            }
            case Tok::eof:
                if (enders.size() != 0)
                    fail_at(opener_pos, "'{% " + opener + " %}' is never closed (expected '{% " +
                                            std::string(*(enders.end() - 1)) + " %}')");
                return "";
            default: fail_at(tk.pos, "unexpected " + describe(tk));
        }
    }
}

void Parser::parse_statement(Body& out, Pos pos) {
    const std::string kw = cur().text;
    advance();
    if (kw == "for") return parse_for(out, pos);
    if (kw == "if") return parse_if(out, pos);
    if (kw == "set") return parse_set(out, pos);
    if (kw == "break" || kw == "continue") {
        // Loop controls are enabled in transformers' Jinja environment.
        if (loop_depth_ == 0) fail_at(pos, "'{% " + kw + " %}' outside a for loop");
        expect_block_end(kw);
        auto s = std::make_unique<Stmt>();
        s->kind = kw == "break" ? StmtKind::break_ : StmtKind::continue_;
        s->pos = pos;
        out.push_back(std::move(s));
        return;
    }
    if (kw == "generation") {
        // transformers' AssistantTracker marks assistant text with this block; for
        // rendering it is transparent.
        Guard g(*this, pos);
        expect_block_end(kw);
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::scope;
        s->pos = pos;
        parse_body(s->body, {"endgeneration"}, kw, pos);
        expect_block_end("endgeneration");
        out.push_back(std::move(s));
        return;
    }
    if (std::find(std::begin(kEnders), std::end(kEnders), kw) != std::end(kEnders))
        fail_at(pos, "unexpected '{% " + kw + " %}' with no matching opening tag");
    if (std::find(std::begin(kUnsupported), std::end(kUnsupported), kw) != std::end(kUnsupported))
        fail_at(pos, "'{% " + kw + " %}' is not supported in chat templates");
    fail_at(pos, "unknown statement '{% " + kw + " %}'");
}

void Parser::parse_for(Body& out, Pos pos) {
    Guard g(*this, pos);
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::for_;
    s->pos = pos;
    s->targets.push_back(expect_name("after 'for'"));
    while (is_op(",")) {
        advance();
        s->targets.push_back(expect_name("in the for loop's target list"));
    }
    if (!is_name("in"))
        fail_at(cur().pos, "expected 'in' in '{% for %}', found " + describe(cur()));
    advance();
    s->expr = parse_expression(/*allow_cond=*/false);   // a trailing `if` filters the loop
    if (is_name("if")) {
        advance();
        s->filter = parse_expression();
    }
    if (is_name("recursive")) fail_at(cur().pos, "recursive for loops are not supported");
    expect_block_end("for");
    ++loop_depth_;
    const std::string which = parse_body(s->body, {"else", "endfor"}, "for", pos);
    --loop_depth_;
    s->uses_loop = mentions_loop(s->body);
    if (which == "else") {
        expect_block_end("else");
        parse_body(s->else_body, {"endfor"}, "for", pos);
    }
    expect_block_end("endfor");
    out.push_back(std::move(s));
}

// Whether `loop` appears anywhere in a body. Building the loop.* dict is most of
// the cost of an iteration, so loops that never look at it skip it. Recursion depth
// is bounded by the nesting limits already enforced.
bool Parser::mentions_loop(const Expr* e) {
    if (!e) return false;
    if (e->kind == ExprKind::name && e->name == "loop") return true;
    for (const auto& a : e->args)
        if (mentions_loop(a.get())) return true;
    for (const auto& kw : e->kwargs)
        if (mentions_loop(kw.second.get())) return true;
    return false;
}
bool Parser::mentions_loop(const Body& body) {
    for (const StmtPtr& s : body) {
        if (mentions_loop(s->expr.get()) || mentions_loop(s->filter.get()) ||
            mentions_loop(s->body) || mentions_loop(s->else_body))
            return true;
        for (const auto& br : s->branches)
            if (mentions_loop(br.first.get()) || mentions_loop(br.second)) return true;
    }
    return false;
}

void Parser::parse_if(Body& out, Pos pos) {
    Guard g(*this, pos);
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::if_;
    s->pos = pos;
    ExprPtr cond = parse_expression();
    expect_block_end("if");
    for (;;) {
        Body body;
        const std::string which = parse_body(body, {"elif", "else", "endif"}, "if", pos);
        s->branches.emplace_back(std::move(cond), std::move(body));
        if (which == "elif") {
            cond = parse_expression();
            expect_block_end("elif");
            continue;
        }
        if (which == "else") {
            expect_block_end("else");
            Body else_body;
            parse_body(else_body, {"endif"}, "if", pos);
            s->branches.emplace_back(nullptr, std::move(else_body));
        }
        expect_block_end("endif");
        break;
    }
    out.push_back(std::move(s));
}

void Parser::parse_set(Body& out, Pos pos) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::set;
    s->pos = pos;
    s->targets.push_back(expect_name("after 'set'"));
    if (is_op(".")) {
        advance();
        s->attr = expect_name("after '.' in '{% set %}'");
    } else {
        while (is_op(",")) {
            advance();
            s->targets.push_back(expect_name("in the set target list"));
        }
    }
    if (is_op("=")) {
        advance();
        ExprPtr value = parse_expression();
        if (is_op(",")) {   // set a, b = 1, 2: the right side is a tuple
            ExprPtr tuple = node(ExprKind::list, value->pos);
            tuple->args.push_back(std::move(value));
            while (is_op(",")) {
                advance();
                tuple->args.push_back(parse_expression());
            }
            value = finish(std::move(tuple));
        }
        s->expr = std::move(value);
        expect_block_end("set");
        out.push_back(std::move(s));
        return;
    }
    if (cur().kind == Tok::block_end && s->targets.size() == 1 && s->attr.empty()) {
        // {% set x %}...{% endset %} captures the rendered body.
        Guard g(*this, pos);
        advance();
        s->kind = StmtKind::set_block;
        parse_body(s->body, {"endset"}, "set", pos);
        expect_block_end("endset");
        out.push_back(std::move(s));
        return;
    }
    fail_at(cur().pos, "expected '=' in '{% set %}', found " + describe(cur()));
}

Body parse_template(std::string_view source, const LexOptions& options) {
    return Parser(tokenize(source, options)).parse();
}

}  // namespace kaa::chat
