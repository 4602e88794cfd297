#include "chat/parser.hpp"

#include <algorithm>
#include <initializer_list>

#include "chat/builtins.hpp"

namespace kaa::chat {

namespace {

// Jinja statements kaa deliberately does not implement; naming them gives a clearer
// error than "unknown statement".
constexpr std::string_view kUnsupported[] = {
    "macro", "endmacro", "call", "endcall", "filter", "endfilter", "include", "import", "from",
    "extends", "block", "endblock", "with", "endwith", "autoescape", "endautoescape", "raw",
    "endraw", "do", "trans", "endtrans", "pluralize",
};

constexpr std::string_view kEnders[] = {
    "endfor", "endif", "elif", "else", "endset", "endgeneration",
};

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
            fail_at(cur().pos, "expected '" + std::string(s) + "' " + context + ", found " +
                                   describe(cur()));
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
            fail_at(cur().pos, "expected '%}' to close '{% " + stmt + " %}', found " +
                                   describe(cur()));
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

    // ---- statements ---------------------------------------------------------------------

    // Parses until a block tag named in `enders`; consumes that tag's name and returns it.
    // At the end of the template returns "" when nothing is open, else fails.
    std::string parse_body(Body& out, std::initializer_list<std::string_view> enders,
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
                default:
                    fail_at(tk.pos, "unexpected " + describe(tk));
            }
        }
    }

    void parse_statement(Body& out, Pos pos) {
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

    void parse_for(Body& out, Pos pos) {
        Guard g(*this, pos);
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::for_;
        s->pos = pos;
        s->targets.push_back(expect_name("after 'for'"));
        while (is_op(",")) {
            advance();
            s->targets.push_back(expect_name("in the for loop's target list"));
        }
        if (!is_name("in")) fail_at(cur().pos, "expected 'in' in '{% for %}', found " + describe(cur()));
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
    static bool mentions_loop(const Expr* e) {
        if (!e) return false;
        if (e->kind == ExprKind::name && e->name == "loop") return true;
        for (const auto& a : e->args)
            if (mentions_loop(a.get())) return true;
        for (const auto& kw : e->kwargs)
            if (mentions_loop(kw.second.get())) return true;
        return false;
    }
    static bool mentions_loop(const Body& body) {
        for (const StmtPtr& s : body) {
            if (mentions_loop(s->expr.get()) || mentions_loop(s->filter.get()) ||
                mentions_loop(s->body) || mentions_loop(s->else_body))
                return true;
            for (const auto& br : s->branches)
                if (mentions_loop(br.first.get()) || mentions_loop(br.second)) return true;
        }
        return false;
    }

    void parse_if(Body& out, Pos pos) {
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

    void parse_set(Body& out, Pos pos) {
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

    // ---- expressions (Jinja's precedence, loosest first) -----------------------------------

    ExprPtr parse_expression(bool allow_cond = true) {
        Guard g(*this, cur().pos);
        ExprPtr e = parse_or();
        while (allow_cond && is_name("if")) {
            const Pos pos = cur().pos;
            advance();
            ExprPtr c = node(ExprKind::cond, pos);
            c->args.push_back(parse_or());   // condition
            c->args.push_back(std::move(e));  // value when true
            if (is_name("else")) {
                advance();
                c->args.push_back(parse_expression());
            } else {
                c->args.push_back(nullptr);   // Jinja: undefined when false
            }
            e = finish(std::move(c));
        }
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr e = parse_and();
        while (is_name("or")) {
            const Pos pos = cur().pos;
            advance();
            e = binary(ExprKind::or_, Op::add, pos, std::move(e), parse_and());
        }
        return e;
    }

    ExprPtr parse_and() {
        ExprPtr e = parse_not();
        while (is_name("and")) {
            const Pos pos = cur().pos;
            advance();
            e = binary(ExprKind::and_, Op::add, pos, std::move(e), parse_not());
        }
        return e;
    }

    ExprPtr parse_not() {
        if (!is_name("not")) return parse_compare();
        const Pos pos = cur().pos;
        Guard g(*this, pos);
        advance();
        ExprPtr e = node(ExprKind::unary, pos);
        e->op = Op::not_;
        e->args.push_back(parse_not());
        return finish(std::move(e));
    }

    ExprPtr parse_compare() {
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        for (;;) {
            Op op;
            const Pos pos = cur().pos;
            if (is_op("==")) op = Op::eq;
            else if (is_op("!=")) op = Op::ne;
            else if (is_op("<")) op = Op::lt;
            else if (is_op(">")) op = Op::gt;
            else if (is_op("<=")) op = Op::le;
            else if (is_op(">=")) op = Op::ge;
            else if (is_name("in")) op = Op::in;
            else if (is_name("not") && peek().kind == Tok::name && peek().text == "in") {
                op = Op::not_in;
                advance();
            } else {
                break;
            }
            advance();
            if (!cmp) {
                cmp = node(ExprKind::compare, pos);
                cmp->args.push_back(std::move(first));
            }
            cmp->cmp_ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? finish(std::move(cmp)) : std::move(first);
    }

    ExprPtr parse_math1() {
        ExprPtr e = parse_concat();
        while (is_op("+") || is_op("-")) {
            const Op op = is_op("+") ? Op::add : Op::sub;
            const Pos pos = cur().pos;
            advance();
            e = binary(ExprKind::binary, op, pos, std::move(e), parse_concat());
        }
        return e;
    }

    ExprPtr parse_concat() {
        ExprPtr e = parse_math2();
        while (is_op("~")) {
            const Pos pos = cur().pos;
            advance();
            e = binary(ExprKind::binary, Op::concat, pos, std::move(e), parse_math2());
        }
        return e;
    }

    ExprPtr parse_math2() {
        ExprPtr e = parse_pow();
        for (;;) {
            Op op;
            if (is_op("*")) op = Op::mul;
            else if (is_op("/")) op = Op::div;
            else if (is_op("//")) op = Op::floordiv;
            else if (is_op("%")) op = Op::mod;
            else break;
            const Pos pos = cur().pos;
            advance();
            e = binary(ExprKind::binary, op, pos, std::move(e), parse_pow());
        }
        return e;
    }

    ExprPtr parse_pow() {
        ExprPtr e = parse_unary();
        while (is_op("**")) {   // left-associative in Jinja, unlike Python
            const Pos pos = cur().pos;
            advance();
            e = binary(ExprKind::binary, Op::pow, pos, std::move(e), parse_unary());
        }
        return e;
    }

    ExprPtr parse_unary(bool with_filter = true) {
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            const Pos pos = cur().pos;
            Guard g(*this, pos);
            const Op op = is_op("-") ? Op::neg : Op::pos;
            advance();
            e = node(ExprKind::unary, pos);
            e->op = op;
            e->args.push_back(parse_unary(false));   // -x|f is (-x)|f, as in Jinja
            e = finish(std::move(e));
        } else {
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        if (with_filter) e = parse_filter_expr(std::move(e));
        return e;
    }

    ExprPtr literal(Pos pos, Value v) {
        ExprPtr e = node(ExprKind::literal, pos);
        e->value = std::move(v);
        return e;
    }

    ExprPtr parse_primary() {
        const Token& tk = cur();
        const Pos pos = tk.pos;
        switch (tk.kind) {
            case Tok::name: {
                const std::string n = tk.text;
                if (n == "true" || n == "True") { advance(); return literal(pos, Value::boolean(true)); }
                if (n == "false" || n == "False") { advance(); return literal(pos, Value::boolean(false)); }
                if (n == "none" || n == "None") { advance(); return literal(pos, Value::none()); }
                static const char* const keywords[] = {"and", "or", "not", "in", "is", "if", "else"};
                for (const char* k : keywords)
                    if (n == k) fail_at(pos, "unexpected '" + n + "', expected an expression");
                advance();
                ExprPtr e = node(ExprKind::name, pos);
                e->name = n;
                return e;
            }
            case Tok::string: {
                std::string s;
                while (cur().kind == Tok::string) {   // adjacent literals concatenate
                    s += cur().text;
                    advance();
                }
                return literal(pos, Value::string(std::move(s)));
            }
            case Tok::integer: advance(); return literal(pos, Value::integer(tk.ival));
            case Tok::floating: advance(); return literal(pos, Value::floating(tk.fval));
            case Tok::op:
                if (tk.text == "(") return parse_paren();
                if (tk.text == "[") return parse_list();
                if (tk.text == "{") return parse_dict();
                break;
            default: break;
        }
        fail_at(pos, "expected an expression, found " + describe(tk));
    }

    ExprPtr parse_paren() {
        const Pos pos = cur().pos;
        Guard g(*this, pos);
        advance();
        if (is_op(")")) {   // () is the empty tuple
            advance();
            return finish(node(ExprKind::list, pos));
        }
        ExprPtr e = parse_expression();
        if (is_op(",")) {   // (a, b) tuple: a list for our purposes
            ExprPtr t = node(ExprKind::list, pos);
            t->args.push_back(std::move(e));
            while (is_op(",")) {
                advance();
                if (is_op(")")) break;
                t->args.push_back(parse_expression());
            }
            e = finish(std::move(t));
        }
        expect_op(")", "to close '('");
        return e;
    }

    ExprPtr parse_list() {
        const Pos pos = cur().pos;
        Guard g(*this, pos);
        advance();
        ExprPtr e = node(ExprKind::list, pos);
        while (!is_op("]")) {
            e->args.push_back(parse_expression());
            if (!is_op(",")) break;
            advance();
        }
        expect_op("]", "to close '['");
        return finish(std::move(e));
    }

    ExprPtr parse_dict() {
        const Pos pos = cur().pos;
        Guard g(*this, pos);
        advance();
        ExprPtr e = node(ExprKind::dict, pos);
        while (!is_op("}")) {
            e->args.push_back(parse_expression());
            expect_op(":", "after a dict key");
            e->args.push_back(parse_expression());
            if (!is_op(",")) break;
            advance();
        }
        expect_op("}", "to close '{'");
        return finish(std::move(e));
    }

    ExprPtr parse_postfix(ExprPtr e) {
        for (;;) {
            const Pos pos = cur().pos;
            if (is_op(".")) {
                advance();
                if (cur().kind == Tok::integer) {   // foo.0 is foo[0] in Jinja
                    ExprPtr idx = node(ExprKind::index, pos);
                    idx->args.push_back(std::move(e));
                    idx->args.push_back(literal(cur().pos, Value::integer(cur().ival)));
                    advance();
                    e = finish(std::move(idx));
                    continue;
                }
                ExprPtr a = node(ExprKind::attr, pos);
                a->name = expect_name("after '.'");
                a->args.push_back(std::move(e));
                e = finish(std::move(a));
            } else if (is_op("[")) {
                e = parse_subscript(std::move(e));
            } else if (is_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr target) {
        const Pos pos = cur().pos;
        Guard g(*this, pos);
        advance();
        ExprPtr start;
        if (!is_op(":")) start = parse_expression();
        if (start && is_op("]")) {
            advance();
            ExprPtr e = node(ExprKind::index, pos);
            e->args.push_back(std::move(target));
            e->args.push_back(std::move(start));
            return finish(std::move(e));
        }
        ExprPtr e = node(ExprKind::slice, pos);
        e->args.push_back(std::move(target));
        e->args.push_back(std::move(start));
        expect_op(":", "in a subscript");
        e->args.push_back((is_op(":") || is_op("]")) ? nullptr : parse_expression());
        ExprPtr step;
        if (is_op(":")) {
            advance();
            if (!is_op("]")) step = parse_expression();
        }
        e->args.push_back(std::move(step));
        expect_op("]", "to close '['");
        return finish(std::move(e));
    }

    // Parses "(args)" and maps them onto `sig` (when known) into e->args after the
    // `skip` leading subject slots. Without a signature arguments stay positional.
    void parse_args(Expr& e, const Signature* sig, const std::string& what, std::size_t skip) {
        Guard g(*this, cur().pos);
        const Pos open = cur().pos;
        advance();   // (
        std::vector<ExprPtr> positional;
        std::vector<std::pair<std::string, ExprPtr>> keyword;
        while (!is_op(")")) {
            if (cur().kind == Tok::name && peek().kind == Tok::op && peek().text == "=") {
                std::string k = cur().text;
                advance();
                advance();
                keyword.emplace_back(std::move(k), parse_expression());
            } else {
                if (!keyword.empty())
                    fail_at(cur().pos, "positional argument after keyword argument in " + what);
                positional.push_back(parse_expression());
            }
            if (!is_op(",")) break;
            advance();
        }
        expect_op(")", "to close the argument list of " + what);
        if (!sig) {
            for (auto& p : positional) e.args.push_back(std::move(p));
            e.kwargs = std::move(keyword);
            return;
        }
        const int n = sig->count();
        if (int(positional.size()) > n)
            fail_at(open, what + " takes at most " + std::to_string(n) + " argument(s), got " +
                              std::to_string(positional.size()));
        e.args.resize(skip + std::size_t(n));
        for (std::size_t i = 0; i < positional.size(); ++i) e.args[skip + i] = std::move(positional[i]);
        for (auto& kw : keyword) {
            int slot = -1;
            for (int i = 0; i < n; ++i)
                if (kw.first == sig->params[i]) slot = i;
            if (slot < 0) fail_at(open, what + " has no parameter named '" + kw.first + "'");
            if (e.args[skip + std::size_t(slot)])
                fail_at(open, what + " got two values for '" + kw.first + "'");
            e.args[skip + std::size_t(slot)] = std::move(kw.second);
        }
        for (int i = 0; i < sig->required; ++i)
            if (!e.args[skip + std::size_t(i)])
                fail_at(open, what + " needs its '" + std::string(sig->params[i]) + "' argument");
    }

    // Fills the parameter slots of a callable used without parentheses.
    static void no_args(Expr& e, const Signature& sig, const std::string& what, std::size_t skip) {
        if (sig.required > 0)
            fail_at(e.pos, what + " needs its '" + std::string(sig.params[0]) + "' argument");
        e.args.resize(skip + std::size_t(sig.count()));
    }

    ExprPtr parse_call(ExprPtr target) {
        const Pos pos = cur().pos;
        if (target->kind == ExprKind::name) {
            ExprPtr e = node(ExprKind::call, target->pos);
            e->name = target->name;
            if (const FnInfo* f = find_function(e->name)) {
                e->fn = f->id;
                if (f->id == Fn::namespace_) {
                    parse_args(*e, nullptr, "namespace()", 0);
                    if (!e->args.empty())
                        fail_at(pos, "namespace() takes keyword arguments only (namespace(x=1))");
                } else {
                    parse_args(*e, &f->sig, e->name + "()", 0);
                }
            } else {
                e->fn = Fn::unknown;
                parse_args(*e, nullptr, e->name + "()", 0);
            }
            return finish(std::move(e));
        }
        if (target->kind == ExprKind::attr) {
            ExprPtr e = node(ExprKind::method, target->pos);
            e->name = target->name;
            e->args.push_back(std::move(target->args[0]));
            const MethodInfo* m = find_method(e->name);
            e->method = m ? m->id : Method::unknown;
            parse_args(*e, m ? &m->sig : nullptr, "." + e->name + "()", 1);
            return finish(std::move(e));
        }
        fail_at(pos, "only functions and methods can be called");
    }

    ExprPtr parse_filter_expr(ExprPtr e) {
        for (;;) {
            if (is_op("|")) {
                advance();
                const Pos pos = cur().pos;
                const std::string name = expect_name("after '|'");
                const FilterInfo* f = find_filter(name);
                if (!f) fail_at(pos, "unknown filter '" + name + "'");
                ExprPtr fe = node(ExprKind::filter, pos);
                fe->filter = f->id;
                fe->name = name;
                fe->args.push_back(std::move(e));
                if (is_op("(")) parse_args(*fe, &f->sig, "filter '" + name + "'", 1);
                else no_args(*fe, f->sig, "filter '" + name + "'", 1);
                e = finish(std::move(fe));
            } else if (is_name("is")) {
                e = parse_test(std::move(e));
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_test(ExprPtr subject) {
        advance();   // is
        bool negated = false;
        if (is_name("not")) {
            negated = true;
            advance();
        }
        const Pos pos = cur().pos;
        std::string name;
        if (cur().kind == Tok::name) {
            name = cur().text;
        } else if (cur().kind == Tok::op && (cur().text == "==" || cur().text == "!=" ||
                                             cur().text == "<" || cur().text == ">" ||
                                             cur().text == "<=" || cur().text == ">=")) {
            name = cur().text;   // `x is == y` spellings exist as test aliases
        } else {
            fail_at(pos, "expected a test name after 'is', found " + describe(cur()));
        }
        advance();
        const TestInfo* t = find_test(name);
        if (!t) fail_at(pos, "unknown test '" + name + "'");
        ExprPtr e = node(ExprKind::test, pos);
        e->test = t->id;
        e->negated = negated;
        e->name = name;
        e->args.push_back(std::move(subject));
        const std::string what = "test '" + name + "'";
        if (is_op("(")) {
            parse_args(*e, &t->sig, what, 1);
        } else if (t->sig.count() > 0 && starts_primary()) {
            // `x is divisibleby 3`: one argument without parentheses.
            e->args.resize(1 + std::size_t(t->sig.count()));
            e->args[1] = parse_postfix(parse_primary());
        } else {
            no_args(*e, t->sig, what, 1);
        }
        return finish(std::move(e));
    }

    bool starts_primary() const {
        const Token& tk = cur();
        if (tk.kind == Tok::string || tk.kind == Tok::integer || tk.kind == Tok::floating) return true;
        if (tk.kind == Tok::op) return tk.text == "(" || tk.text == "[" || tk.text == "{";
        if (tk.kind == Tok::name)
            return tk.text != "else" && tk.text != "or" && tk.text != "and" && tk.text != "if" &&
                   tk.text != "is" && tk.text != "not" && tk.text != "in";
        return false;
    }

    std::vector<Token> t_;
    std::size_t p_ = 0;
    int nesting_ = 0;
    int loop_depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source, const LexOptions& options) {
    return Parser(tokenize(source, options)).parse();
}

}  // namespace kaa::chat
