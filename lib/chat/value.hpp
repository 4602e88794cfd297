// chat/value.hpp — the dynamic values a chat template computes with.
//
// Jinja is Python-flavoured, so values follow Python semantics where templates can see
// the difference: str() of floats and lists, == across int/float/bool, code-point (not
// byte) indexing of strings. Lists and dicts are immutable and shared; a namespace() is
// the one mutable, reference-like value (that is how Jinja lets a loop body publish a
// result past its own scope).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kaa::chat {

// Thrown by value operations (type errors, limits); the evaluator catches it and
// rethrows a kaa::Error that carries the template position of the failing expression.
class ValueError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Everything a render may consume. Chat templates are untrusted input, so every
// operation whose cost grows with its operands charges work, and every string or list
// it builds is size-checked before it is built. A hostile template ends in an error
// after bounded time and memory, never a hang or an out-of-memory kill.
struct Budget {
    std::uint64_t work_left = 0;
    std::size_t max_bytes = 0;   // longest string any operation may build
    std::size_t max_items = 0;   // longest list any operation may build

    void charge(std::uint64_t units) {
        if (units > work_left)
            throw ValueError("the template exceeded its work limit (runaway loop?)");
        work_left -= units;
    }
    void check_bytes(std::size_t n) const {
        if (n > max_bytes)
            throw ValueError("a string would exceed the output limit of " +
                             std::to_string(max_bytes) + " bytes");
    }
    void check_items(std::size_t n) const {
        if (n > max_items)
            throw ValueError("a list would exceed the limit of " + std::to_string(max_items) +
                             " items");
    }
};

class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;   // insertion ordered, like Python

// Containers nest at most this deep; recursive operations (==, str(), tojson) and the
// destructor chain are then bounded too.
constexpr int kMaxValueDepth = 128;

class Value {
public:
    enum class Kind : std::uint8_t {
        undefined, none, boolean, integer, floating, string, list, dict, ns,
        loop,   // a for loop's `loop` object: computed fields over the iterated list
    };

    Value() = default;   // undefined
    static Value none();
    static Value boolean(bool b);
    static Value integer(std::int64_t i);
    static Value floating(double f);
    static Value string(std::string s);
    static Value list(List items);         // throws ValueError when nested too deeply
    static Value dict(Dict items);
    static Value make_namespace(Dict items);
    // The `loop` object of a for loop over `seq` (a list). Like Jinja's LoopContext it is
    // one object whose position advances (set_loop_index), so an iteration costs no
    // allocation.
    static Value make_loop(const Value& seq);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::undefined; }
    bool is_none() const { return kind_ == Kind::none; }
    bool is_bool() const { return kind_ == Kind::boolean; }
    bool is_int() const { return kind_ == Kind::integer; }
    bool is_float() const { return kind_ == Kind::floating; }
    bool is_number() const { return is_bool() || is_int() || is_float(); }   // Python: bool is an int
    bool is_string() const { return kind_ == Kind::string; }
    bool is_list() const { return kind_ == Kind::list; }
    bool is_dict() const { return kind_ == Kind::dict; }
    bool is_namespace() const { return kind_ == Kind::ns; }
    bool is_loop() const { return kind_ == Kind::loop; }

    bool as_bool() const { return b_; }
    std::int64_t as_int() const { return is_bool() ? (b_ ? 1 : 0) : i_; }   // bool or int
    double as_double() const { return is_float() ? f_ : double(as_int()); }  // any number
    const std::string& str() const { return *s_; }
    const List& items() const { return c_->list; }
    const Dict& entries() const { return c_->dict; }   // dict or namespace
    const List& loop_items() const { return c_->list[0].items(); }
    std::size_t loop_index() const { return c_->loop_index; }
    void set_loop_index(std::size_t i) const { c_->loop_index = i; }

    // Dict / namespace member, nullptr when absent (or not a mapping).
    const Value* find(std::string_view key) const;
    // Namespace attribute assignment; throws ValueError for values that could form a
    // reference cycle (a namespace inside a namespace).
    void ns_set(const std::string& key, Value v) const;

    // 0 for scalars, 1 + deepest member for containers.
    int depth() const { return c_ ? c_->depth : 0; }
    // Same underlying container or string object (a cheap equality shortcut).
    bool same_object(const Value& o) const;
    bool contains_namespace() const;

private:
    struct Container {
        List list;
        Dict dict;
        int depth = 1;
        std::size_t loop_index = 0;
    };
    static Value container(Kind k, List l, Dict d);

    Kind kind_ = Kind::undefined;
    bool b_ = false;
    std::int64_t i_ = 0;
    double f_ = 0.0;
    std::shared_ptr<const std::string> s_;
    std::shared_ptr<Container> c_;   // mutable only for namespaces and loops
};

// Field `name` of a loop object (index, index0, revindex, revindex0, first, last, length,
// previtem, nextitem, depth, depth0); undefined for anything else.
Value loop_field(const Value& loop, std::string_view name);

// Python type name, for error messages ("str", "int", "list", "NoneType", "undefined").
const char* type_name(const Value& v);
bool truthy(const Value& v);

// str(v) as {{ v }} prints it: "" for undefined, "None", "True", 1.0, ['a', 1], ...
std::string to_str(const Value& v, Budget& budget);
// Python repr(): strings quoted.
std::string repr(const Value& v, Budget& budget);
// Python's shortest round-trip float text: 1.0, 0.1, 1e+16, 1.5e-05, inf, nan.
std::string format_float(double d);

bool equals(const Value& a, const Value& b, Budget& budget);
// <0, 0, >0. Numbers with numbers, strings with strings, lists element-wise; anything
// else throws ValueError, as Python's < does.
int compare(const Value& a, const Value& b, Budget& budget);
// Python `item in container` (substring, list member, dict key).
bool contains(const Value& container, const Value& item, Budget& budget);

// json.dumps(v, ensure_ascii=False, indent=indent) as transformers' tojson uses it:
// key order kept, non-ASCII kept; indent < 0 means single line.
std::string to_json(const Value& v, int indent, Budget& budget);

// ---- UTF-8 helpers: Python strings index by code point ----------------------------
// Splits into code points; an invalid byte counts as one unit of its own.
std::vector<std::string_view> code_points(std::string_view s);
std::size_t code_point_count(std::string_view s);
// Decodes the code point at s[i], advancing i; invalid bytes decode as themselves.
std::uint32_t decode_utf8(std::string_view s, std::size_t& i);
void append_utf8(std::string& out, std::uint32_t cp);
// Python str.isspace() for one code point.
bool is_space(std::uint32_t cp);

}  // namespace kaa::chat
