// Expression half of the chat template parser (see parser_impl.hpp).
#include <algorithm>

#include "chat/parser_impl.hpp"

namespace kaa::chat {

ExprPtr Parser::parse_expression(bool allow_cond) {
    Guard g(*this, cur().pos);
    ExprPtr e = parse_or();
    while (allow_cond && is_name("if")) {
        const Pos pos = cur().pos;
        advance();
        ExprPtr c = node(ExprKind::cond, pos);
        c->args.push_back(parse_or());     // condition
        c->args.push_back(std::move(e));   // value when true
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

ExprPtr Parser::parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
        const Pos pos = cur().pos;
        advance();
        e = binary(ExprKind::or_, Op::add, pos, std::move(e), parse_and());
    }
    return e;
}

ExprPtr Parser::parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
        const Pos pos = cur().pos;
        advance();
        e = binary(ExprKind::and_, Op::add, pos, std::move(e), parse_not());
    }
    return e;
}

ExprPtr Parser::parse_not() {
    if (!is_name("not")) return parse_compare();
    const Pos pos = cur().pos;
    Guard g(*this, pos);
    advance();
    ExprPtr e = node(ExprKind::unary, pos);
    e->op = Op::not_;
    e->args.push_back(parse_not());
    return finish(std::move(e));
}

ExprPtr Parser::parse_compare() {
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    for (;;) {
        Op op;
        const Pos pos = cur().pos;
        if (is_op("=="))
            op = Op::eq;
        else if (is_op("!="))
            op = Op::ne;
        else if (is_op("<"))
            op = Op::lt;
        else if (is_op(">"))
            op = Op::gt;
        else if (is_op("<="))
            op = Op::le;
        else if (is_op(">="))
            op = Op::ge;
        else if (is_name("in"))
            op = Op::in;
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

ExprPtr Parser::parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
        const Op op = is_op("+") ? Op::add : Op::sub;
        const Pos pos = cur().pos;
        advance();
        e = binary(ExprKind::binary, op, pos, std::move(e), parse_concat());
    }
    return e;
}

ExprPtr Parser::parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
        const Pos pos = cur().pos;
        advance();
        e = binary(ExprKind::binary, Op::concat, pos, std::move(e), parse_math2());
    }
    return e;
}

ExprPtr Parser::parse_math2() {
    ExprPtr e = parse_pow();
    for (;;) {
        Op op;
        if (is_op("*"))
            op = Op::mul;
        else if (is_op("/"))
            op = Op::div;
        else if (is_op("//"))
            op = Op::floordiv;
        else if (is_op("%"))
            op = Op::mod;
        else
            break;
        const Pos pos = cur().pos;
        advance();
        e = binary(ExprKind::binary, op, pos, std::move(e), parse_pow());
    }
    return e;
}

ExprPtr Parser::parse_pow() {
    ExprPtr e = parse_unary();
    while (is_op("**")) {   // left-associative in Jinja, unlike Python
        const Pos pos = cur().pos;
        advance();
        e = binary(ExprKind::binary, Op::pow, pos, std::move(e), parse_unary());
    }
    return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
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

ExprPtr Parser::literal(Pos pos, Value v) {
    ExprPtr e = node(ExprKind::literal, pos);
    e->value = std::move(v);
    return e;
}

ExprPtr Parser::parse_primary() {
    const Token& tk = cur();
    const Pos pos = tk.pos;
    switch (tk.kind) {
        case Tok::name: {
            const std::string n = tk.text;
            if (n == "true" || n == "True") {
                advance();
                return literal(pos, Value::boolean(true));
            }
            if (n == "false" || n == "False") {
                advance();
                return literal(pos, Value::boolean(false));
            }
            if (n == "none" || n == "None") {
                advance();
                return literal(pos, Value::none());
            }
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

ExprPtr Parser::parse_paren() {
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

ExprPtr Parser::parse_list() {
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

ExprPtr Parser::parse_dict() {
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

ExprPtr Parser::parse_postfix(ExprPtr e) {
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

ExprPtr Parser::parse_subscript(ExprPtr target) {
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
void Parser::parse_args(Expr& e, const Signature* sig, const std::string& what, std::size_t skip) {
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
void Parser::no_args(Expr& e, const Signature& sig, const std::string& what, std::size_t skip) {
    if (sig.required > 0)
        fail_at(e.pos, what + " needs its '" + std::string(sig.params[0]) + "' argument");
    e.args.resize(skip + std::size_t(sig.count()));
}

ExprPtr Parser::parse_call(ExprPtr target) {
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

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
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
            if (is_op("("))
                parse_args(*fe, &f->sig, "filter '" + name + "'", 1);
            else
                no_args(*fe, f->sig, "filter '" + name + "'", 1);
            e = finish(std::move(fe));
        } else if (is_name("is")) {
            e = parse_test(std::move(e));
        } else {
            return e;
        }
    }
}

ExprPtr Parser::parse_test(ExprPtr subject) {
    advance();   // is
    bool negated = false;
    if (is_name("not")) {
        negated = true;
        advance();
    }
    const Pos pos = cur().pos;
    std::string name;
    // A test name, or an operator: `x is == y` spellings exist as test aliases.
    if (cur().kind == Tok::name ||
        (cur().kind == Tok::op &&
         (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
          cur().text == ">" || cur().text == "<=" || cur().text == ">="))) {
        name = cur().text;
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

bool Parser::starts_primary() const {
    const Token& tk = cur();
    if (tk.kind == Tok::string || tk.kind == Tok::integer || tk.kind == Tok::floating) return true;
    if (tk.kind == Tok::op) return tk.text == "(" || tk.text == "[" || tk.text == "{";
    if (tk.kind == Tok::name)
        return tk.text != "else" && tk.text != "or" && tk.text != "and" && tk.text != "if" &&
               tk.text != "is" && tk.text != "not" && tk.text != "in";
    return false;
}

}  // namespace kaa::chat
