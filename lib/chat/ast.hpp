// chat/ast.hpp — the parsed form of a chat template.
//
// One node type per layer (Expr, Stmt) with a kind tag keeps the tree small and the
// evaluator a plain switch. Filters, tests, functions and methods are resolved to enums at
// parse time, so a template naming an unknown one fails in parse(), with its position,
// rather than halfway through a render.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/lexer.hpp"
#include "chat/value.hpp"

namespace kaa::chat {

enum class ExprKind : std::uint8_t {
    literal,   // value
    name,      // name
    list,      // args: elements (tuples are lists too)
    dict,      // args: key, value, key, value, ...
    attr,      // args[0].name
    index,     // args[0][args[1]]
    slice,     // args[0][args[1]:args[2]:args[3]]; absent parts are null
    call,      // builtin function `fn`: args are its parameters (null = not passed);
               // namespace() takes kwargs instead
    method,    // args[0].name(args[1..]): args[1..] one per parameter, null = not passed
    unary,     // op (neg, pos, not_) args[0]
    binary,    // op args[0] args[1]
    and_,      // args[0] and args[1]
    or_,       // args[0] or args[1]
    compare,   // args[0] cmp_ops[0] args[1] cmp_ops[1] args[2] ... (Python chaining)
    cond,      // args[1] if args[0] else args[2] (args[2] may be null: undefined)
    filter,    // args[0] | filter(args[1..]), one arg per parameter, null = not passed
    test,      // args[0] is [not] test(args[1..])
};

enum class Op : std::uint8_t {
    add, sub, mul, div, floordiv, mod, pow, concat,   // binary
    neg, pos, not_,                                   // unary
    eq, ne, lt, gt, le, ge, in, not_in,               // comparison
};

// Functions and methods are looked up when called, as in Jinja, so a template may
// mention one kaa lacks in a branch it never takes (`strftime_now` behind an
// `is defined` check); calling it is then a render error.
enum class Fn : std::uint8_t { raise_exception, namespace_, range, unknown };

enum class Filter : std::uint8_t {
    trim, length, upper, lower, default_, first, last, join, tojson, capitalize, replace,
    title, string, int_, float_, abs, list, reverse, items, safe, unique, selectattr,
    rejectattr, map,
};

enum class Test : std::uint8_t {
    defined, undefined, none, string, number, integer, float_, boolean, mapping, iterable,
    sequence, true_, false_, even, odd, divisibleby, eq, ne, lt, gt, le, ge, in,
};

enum class Method : std::uint8_t {
    // str
    strip, lstrip, rstrip, startswith, endswith, upper, lower, title, capitalize, split,
    replace, find, count, join,
    // dict
    items, keys, values, get,
    unknown,
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind = ExprKind::literal;
    Pos pos;
    int depth = 1;        // height of this subtree; bounded so evaluation recursion is too
    Value value;          // literal
    std::string name;     // name, attr, method and filter/test/function name (for messages)
    Op op = Op::add;      // unary, binary
    Fn fn = Fn::range;
    Filter filter = Filter::trim;
    Test test = Test::defined;
    Method method = Method::strip;
    bool negated = false;                                  // `is not`
    std::vector<Op> cmp_ops;                                // compare
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;    // name=value call arguments
};

enum class StmtKind : std::uint8_t {
    text,        // text
    output,      // {{ expr }}
    if_,         // branches: (condition, body)...; a null condition is the else branch
    for_,        // for targets in expr [if filter]: body [else: else_body]
    set,         // set targets = expr  |  set targets[0].attr = expr
    set_block,   // set targets[0] %}body{% endset
    break_,
    continue_,
    scope,       // a transparent block ({% generation %}): just body
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
    StmtKind kind = StmtKind::text;
    Pos pos;
    std::string text;
    ExprPtr expr;
    std::vector<std::string> targets;
    std::string attr;          // set ns.attr = ...
    ExprPtr filter;            // for ... if filter
    bool uses_loop = true;     // for: the body mentions `loop` (else it is not built)
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body body;
    Body else_body;
};

}  // namespace kaa::chat
