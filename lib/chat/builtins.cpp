#include "chat/builtins.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace kaa::chat {

// ---- signature tables (names and parameters follow Jinja / Python) -------------------------

namespace {

const FilterInfo kFilters[] = {
    {Filter::trim, {"trim", 0, {"chars"}}},
    {Filter::length, {"length", 0, {}}},
    {Filter::length, {"count", 0, {}}},
    {Filter::upper, {"upper", 0, {}}},
    {Filter::lower, {"lower", 0, {}}},
    {Filter::default_, {"default", 0, {"default_value", "boolean"}}},
    {Filter::default_, {"d", 0, {"default_value", "boolean"}}},
    {Filter::first, {"first", 0, {}}},
    {Filter::last, {"last", 0, {}}},
    {Filter::join, {"join", 0, {"d", "attribute"}}},
    {Filter::tojson, {"tojson", 0, {"indent"}}},
    {Filter::capitalize, {"capitalize", 0, {}}},
    {Filter::replace, {"replace", 2, {"old", "new", "count"}}},
    {Filter::title, {"title", 0, {}}},
    {Filter::string, {"string", 0, {}}},
    {Filter::int_, {"int", 0, {"default"}}},
    {Filter::float_, {"float", 0, {"default"}}},
    {Filter::abs, {"abs", 0, {}}},
    {Filter::list, {"list", 0, {}}},
    {Filter::reverse, {"reverse", 0, {}}},
    {Filter::items, {"items", 0, {}}},
    {Filter::safe, {"safe", 0, {}}},
    {Filter::unique, {"unique", 0, {"case_sensitive", "attribute"}}},
    {Filter::selectattr, {"selectattr", 1, {"attr", "test", "value"}}},
    {Filter::rejectattr, {"rejectattr", 1, {"attr", "test", "value"}}},
    {Filter::map, {"map", 0, {"filter", "attribute", "default"}}},
};

const TestInfo kTests[] = {
    {Test::defined, {"defined", 0, {}}},
    {Test::undefined, {"undefined", 0, {}}},
    {Test::none, {"none", 0, {}}},
    {Test::string, {"string", 0, {}}},
    {Test::number, {"number", 0, {}}},
    {Test::integer, {"integer", 0, {}}},
    {Test::float_, {"float", 0, {}}},
    {Test::boolean, {"boolean", 0, {}}},
    {Test::mapping, {"mapping", 0, {}}},
    {Test::iterable, {"iterable", 0, {}}},
    {Test::sequence, {"sequence", 0, {}}},
    {Test::true_, {"true", 0, {}}},
    {Test::false_, {"false", 0, {}}},
    {Test::even, {"even", 0, {}}},
    {Test::odd, {"odd", 0, {}}},
    {Test::divisibleby, {"divisibleby", 1, {"num"}}},
    {Test::eq, {"eq", 1, {"other"}}},
    {Test::eq, {"equalto", 1, {"other"}}},
    {Test::eq, {"==", 1, {"other"}}},
    {Test::ne, {"ne", 1, {"other"}}},
    {Test::ne, {"!=", 1, {"other"}}},
    {Test::lt, {"lt", 1, {"other"}}},
    {Test::lt, {"lessthan", 1, {"other"}}},
    {Test::lt, {"<", 1, {"other"}}},
    {Test::gt, {"gt", 1, {"other"}}},
    {Test::gt, {"greaterthan", 1, {"other"}}},
    {Test::gt, {">", 1, {"other"}}},
    {Test::le, {"le", 1, {"other"}}},
    {Test::le, {"<=", 1, {"other"}}},
    {Test::ge, {"ge", 1, {"other"}}},
    {Test::ge, {">=", 1, {"other"}}},
    {Test::in, {"in", 1, {"seq"}}},
};

const MethodInfo kMethods[] = {
    {Method::strip, {"strip", 0, {"chars"}}},
    {Method::lstrip, {"lstrip", 0, {"chars"}}},
    {Method::rstrip, {"rstrip", 0, {"chars"}}},
    {Method::startswith, {"startswith", 1, {"prefix"}}},
    {Method::endswith, {"endswith", 1, {"suffix"}}},
    {Method::upper, {"upper", 0, {}}},
    {Method::lower, {"lower", 0, {}}},
    {Method::title, {"title", 0, {}}},
    {Method::capitalize, {"capitalize", 0, {}}},
    {Method::split, {"split", 0, {"sep", "maxsplit"}}},
    {Method::replace, {"replace", 2, {"old", "new", "count"}}},
    {Method::find, {"find", 1, {"sub"}}},
    {Method::count, {"count", 1, {"sub"}}},
    {Method::join, {"join", 1, {"iterable"}}},
    {Method::items, {"items", 0, {}}},
    {Method::keys, {"keys", 0, {}}},
    {Method::values, {"values", 0, {}}},
    {Method::get, {"get", 1, {"key", "default"}}},
};

const FnInfo kFunctions[] = {
    {Fn::raise_exception, {"raise_exception", 1, {"message"}}},
    {Fn::namespace_, {"namespace", 0, {}}},
    {Fn::range, {"range", 1, {"start", "stop", "step"}}},
};

template <typename T, std::size_t N>
const T* find_in(const T (&table)[N], std::string_view name) {
    for (const T& x : table)
        if (name == x.sig.name) return &x;
    return nullptr;
}

}  // namespace

const FilterInfo* find_filter(std::string_view name) {
    return find_in(kFilters, name);
}
const TestInfo* find_test(std::string_view name) {
    return find_in(kTests, name);
}
const MethodInfo* find_method(std::string_view name) {
    return find_in(kMethods, name);
}
const FnInfo* find_function(std::string_view name) {
    return find_in(kFunctions, name);
}

// ---- helpers -------------------------------------------------------------------------------

namespace {

[[noreturn]] void type_error(const std::string& what, const Value& v) {
    throw ValueError(what + " does not accept a value of type '" + type_name(v) + "'");
}

bool given(const Args& a, std::size_t i) {
    return i < a.size() && a[i].has_value();
}
const Value& arg(const Args& a, std::size_t i) {
    return *a[i];
}

std::int64_t need_int(const Value& v, const std::string& what) {
    if (!(v.is_int() || v.is_bool())) type_error(what, v);
    return v.as_int();
}

const std::string& need_str(const Value& v, const std::string& what) {
    if (!v.is_string()) type_error(what, v);
    return v.str();
}

Value make_string(std::string s, Budget& b) {
    b.check_bytes(s.size());
    return Value::string(std::move(s));
}

Value make_list(List l, Budget& b) {
    b.check_items(l.size());
    return Value::list(std::move(l));
}

// Simple case mapping: ASCII, Latin-1, Greek and Cyrillic. Python maps all of Unicode
// (and a few characters to two, like ß -> SS); outside these blocks text is unchanged.
std::uint32_t to_upper(std::uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

std::uint32_t to_lower(std::uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

bool is_cased(std::uint32_t c) {
    return to_upper(c) != c || to_lower(c) != c;
}

// mode: 'U' upper, 'L' lower, 'C' capitalize, 'T' Python str.title(), 'J' Jinja title filter.
std::string map_case(std::string_view s, char mode, Budget& b) {
    b.charge(1 + s.size() / 16);
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    bool first = true;
    bool prev_cased = false;
    bool after_sep = true;
    while (i < s.size()) {
        const std::uint32_t c = decode_utf8(s, i);
        std::uint32_t m = c;
        switch (mode) {
            case 'U': m = to_upper(c); break;
            case 'L': m = to_lower(c); break;
            case 'C': m = first ? to_upper(c) : to_lower(c); break;
            case 'T': m = prev_cased ? to_lower(c) : to_upper(c); break;
            case 'J': {
                const bool sep =
                    is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
                m = sep ? c : (after_sep ? to_upper(c) : to_lower(c));
                after_sep = sep;
                break;
            }
            default: break;
        }
        prev_cased = is_cased(c);
        first = false;
        append_utf8(out, m);
    }
    return out;
}

// Python str.strip/lstrip/rstrip: whitespace, or the code points in `chars`.
std::string strip(const std::string& s, const std::optional<Value>& chars, bool left, bool right,
                  Budget& b) {
    b.charge(1 + s.size() / 64);
    std::vector<std::uint32_t> set;
    const bool ws = !chars || chars->is_none();
    if (!ws) {
        const std::string& cs = need_str(*chars, "strip(chars)");
        for (std::size_t i = 0; i < cs.size();) set.push_back(decode_utf8(cs, i));
    }
    auto drop = [&](std::uint32_t c) {
        if (ws) return is_space(c);
        for (std::uint32_t x : set)
            if (x == c) return true;
        return false;
    };
    std::size_t begin = 0, end = s.size();
    if (left) {
        while (begin < end) {
            std::size_t i = begin;
            if (!drop(decode_utf8(s, i))) break;
            begin = i;
        }
    }
    if (right) {
        // Code point starts, found forward: UTF-8 cannot be decoded backwards reliably
        // when it may be invalid.
        std::vector<std::size_t> starts;
        for (std::size_t i = begin; i < end;) {
            starts.push_back(i);
            decode_utf8(s, i);
        }
        std::size_t k = starts.size();
        while (k > 0) {
            std::size_t i = starts[k - 1];
            if (!drop(decode_utf8(s, i))) break;
            --k;
        }
        if (k < starts.size()) end = starts[k];
    }
    return s.substr(begin, end - begin);
}

// Python str.replace(old, new, count); an empty `old` inserts between code points.
std::string replace(const std::string& s, const std::string& from, const std::string& to,
                    std::int64_t count, Budget& b) {
    b.charge(1 + s.size() / 16);
    std::string out;
    auto append = [&](std::string_view piece) {
        b.check_bytes(out.size() + piece.size());
        out.append(piece.data(), piece.size());
    };
    std::int64_t done = 0;
    if (from.empty()) {
        std::size_t i = 0;
        while (i <= s.size()) {
            if (count < 0 || done < count) {
                append(to);
                ++done;
                b.charge(1 + to.size() / 64);
            }
            if (i == s.size()) break;
            const std::size_t start = i;
            decode_utf8(s, i);
            append(std::string_view(s).substr(start, i - start));
        }
        return out;
    }
    std::size_t pos = 0;
    for (;;) {
        const std::size_t hit = (count < 0 || done < count) ? s.find(from, pos) : std::string::npos;
        if (hit == std::string::npos) {
            append(std::string_view(s).substr(pos));
            return out;
        }
        append(std::string_view(s).substr(pos, hit - pos));
        append(to);
        b.charge(1 + to.size() / 64);
        ++done;
        pos = hit + from.size();
    }
}

Value split(const std::string& s, const std::optional<Value>& sep_arg,
            const std::optional<Value>& max_arg, Budget& b) {
    b.charge(1 + s.size() / 16);
    const std::int64_t maxsplit =
        (max_arg && !max_arg->is_none()) ? need_int(*max_arg, "split(maxsplit)") : -1;
    List parts;
    auto push = [&](std::string piece) {
        b.check_items(parts.size() + 1);
        parts.push_back(Value::string(std::move(piece)));
    };
    if (!sep_arg || sep_arg->is_none()) {   // runs of whitespace, no empty pieces
        std::size_t i = 0;
        std::int64_t splits = 0;
        while (i < s.size()) {
            std::size_t j = i;
            while (i < s.size()) {   // skip whitespace
                j = i;
                if (!is_space(decode_utf8(s, j))) break;
                i = j;
            }
            if (i >= s.size()) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                push(s.substr(i));
                break;
            }
            std::size_t start = i;
            while (i < s.size()) {
                j = i;
                if (is_space(decode_utf8(s, j))) break;
                i = j;
            }
            push(s.substr(start, i - start));
            ++splits;
        }
        return Value::list(std::move(parts));
    }
    const std::string& sep = need_str(*sep_arg, "split(sep)");
    if (sep.empty()) throw ValueError("split(): empty separator");
    std::size_t pos = 0;
    std::int64_t splits = 0;
    for (;;) {
        const std::size_t hit =
            (maxsplit < 0 || splits < maxsplit) ? s.find(sep, pos) : std::string::npos;
        if (hit == std::string::npos) {
            push(s.substr(pos));
            break;
        }
        push(s.substr(pos, hit - pos));
        pos = hit + sep.size();
        ++splits;
    }
    return Value::list(std::move(parts));
}

// What a for loop (or list(), join, ...) sees when iterating v.
List iterate(const Value& v, Budget& b) {
    switch (v.kind()) {
        case Value::Kind::list: b.charge(v.items().size()); return v.items();
        case Value::Kind::string: {
            List out;
            for (std::string_view cp : code_points(v.str()))
                out.push_back(Value::string(std::string(cp)));
            b.charge(out.size());
            return out;
        }
        case Value::Kind::dict: {
            List out;
            for (const auto& kv : v.entries()) out.push_back(Value::string(kv.first));
            b.charge(out.size());
            return out;
        }
        case Value::Kind::undefined: return {};
        default: throw ValueError(std::string("'") + type_name(v) + "' object is not iterable");
    }
}

// item.attr or item.a.b for selectattr/map/join(attribute=...); integer paths index lists.
Value attribute_of(const Value& item, const Value& path_v) {
    if (path_v.is_int()) {
        if (!item.is_list()) return Value();
        std::int64_t i = path_v.as_int();
        const std::int64_t n = std::int64_t(item.items().size());
        if (i < 0) i += n;
        return (i >= 0 && i < n) ? item.items()[std::size_t(i)] : Value();
    }
    const std::string& path = need_str(path_v, "attribute");
    Value cur = item;
    std::size_t start = 0;
    for (;;) {
        const std::size_t dot = path.find('.', start);
        const std::string key =
            path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        const Value* next = cur.find(key);
        if (!next) return Value();
        cur = *next;
        if (dot == std::string::npos) return cur;
        start = dot + 1;
    }
}

// Python truncating conversions for the int/float filters; nullopt when not a number.
std::optional<double> parse_double(const std::string& s) {
    std::string t = s;
    while (!t.empty() && is_space(static_cast<unsigned char>(t.back()))) t.pop_back();
    std::size_t b = 0;
    while (b < t.size() && is_space(static_cast<unsigned char>(t[b]))) ++b;
    t = t.substr(b);
    if (t.empty()) return std::nullopt;
    char* end = nullptr;
    const double d = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) return std::nullopt;
    return d;
}

}  // namespace

// ---- filters -------------------------------------------------------------------------------

Value apply_filter(Filter f, const Value& v, const Args& a, Budget& b) {
    b.charge(1);
    switch (f) {
        case Filter::trim:
            return make_string(
                strip(to_str(v, b), given(a, 0) ? a[0] : std::nullopt, true, true, b), b);
        case Filter::length:
            switch (v.kind()) {
                case Value::Kind::string:
                    b.charge(v.str().size() / 64);
                    return Value::integer(std::int64_t(code_point_count(v.str())));
                case Value::Kind::list: return Value::integer(std::int64_t(v.items().size()));
                case Value::Kind::dict: return Value::integer(std::int64_t(v.entries().size()));
                case Value::Kind::undefined: return Value::integer(0);
                default:
                    throw ValueError(std::string("object of type '") + type_name(v) +
                                     "' has no length");
            }
        case Filter::upper: return make_string(map_case(to_str(v, b), 'U', b), b);
        case Filter::lower: return make_string(map_case(to_str(v, b), 'L', b), b);
        case Filter::capitalize: return make_string(map_case(to_str(v, b), 'C', b), b);
        case Filter::title: return make_string(map_case(to_str(v, b), 'J', b), b);
        case Filter::default_: {
            const bool use_default =
                v.is_undefined() || (given(a, 1) && truthy(arg(a, 1)) && !truthy(v));
            if (!use_default) return v;
            return given(a, 0) ? arg(a, 0) : Value::string("");
        }
        case Filter::first:
        case Filter::last: {
            if (v.is_list()) {
                if (v.items().empty()) return Value();
                return f == Filter::first ? v.items().front() : v.items().back();
            }
            List items = iterate(v, b);
            if (items.empty()) return Value();
            return f == Filter::first ? items.front() : items.back();
        }
        case Filter::join: {
            const std::string sep = given(a, 0) ? to_str(arg(a, 0), b) : std::string();
            std::string out;
            bool first = true;
            for (const Value& item : iterate(v, b)) {
                const std::string piece =
                    to_str(given(a, 1) ? attribute_of(item, arg(a, 1)) : item, b);
                b.check_bytes(out.size() + sep.size() + piece.size());
                b.charge(1 + (sep.size() + piece.size()) / 64);
                if (!first) out += sep;
                first = false;
                out += piece;
            }
            return Value::string(std::move(out));
        }
        case Filter::tojson: {
            int indent = -1;
            if (given(a, 0) && !arg(a, 0).is_none()) {
                const std::int64_t n = need_int(arg(a, 0), "tojson(indent)");
                indent = int(std::max<std::int64_t>(0, std::min<std::int64_t>(n, 64)));
            }
            return make_string(to_json(v, indent, b), b);
        }
        case Filter::replace: {
            const std::int64_t count =
                (given(a, 2) && !arg(a, 2).is_none()) ? need_int(arg(a, 2), "replace(count)") : -1;
            return make_string(
                replace(to_str(v, b), to_str(arg(a, 0), b), to_str(arg(a, 1), b), count, b), b);
        }
        case Filter::string: return make_string(to_str(v, b), b);
        case Filter::safe: return v;
        case Filter::int_:
        case Filter::float_: {
            const bool to_int = f == Filter::int_;
            Value fallback =  // not const: returning it moves
                given(a, 0) ? arg(a, 0) : (to_int ? Value::integer(0) : Value::floating(0.0));
            std::optional<double> d;
            if (v.is_int() || v.is_bool()) {
                return to_int ? Value::integer(v.as_int()) : Value::floating(double(v.as_int()));
            }
            if (v.is_float())
                d = v.as_double();
            else if (v.is_string())
                d = parse_double(v.str());
            if (!d || std::isnan(*d)) return fallback;
            if (!to_int) return Value::floating(*d);
            if (!(std::fabs(*d) < 9.2e18)) return fallback;
            return Value::integer(std::int64_t(*d));
        }
        case Filter::abs:
            if (v.is_float()) return Value::floating(std::fabs(v.as_double()));
            if (v.is_int() || v.is_bool()) {
                const std::int64_t i = v.as_int();
                if (i == std::numeric_limits<std::int64_t>::min())
                    throw ValueError("abs(): integer overflow");
                return Value::integer(i < 0 ? -i : i);
            }
            type_error("filter 'abs'", v);
        case Filter::list: return make_list(iterate(v, b), b);
        case Filter::reverse: {
            if (v.is_string()) {
                std::vector<std::string_view> cps = code_points(v.str());
                b.charge(cps.size());
                std::string out;
                out.reserve(v.str().size());
                for (auto it = cps.rbegin(); it != cps.rend(); ++it)
                    out.append(it->data(), it->size());
                return Value::string(std::move(out));
            }
            List items = iterate(v, b);
            return Value::list(List(items.rbegin(), items.rend()));
        }
        case Filter::items: {
            if (v.is_undefined()) return Value::list({});
            if (!v.is_dict()) type_error("filter 'items'", v);
            List out;
            for (const auto& kv : v.entries())
                out.push_back(Value::list({Value::string(kv.first), kv.second}));
            b.charge(out.size());
            return Value::list(std::move(out));
        }
        case Filter::unique: {
            const bool case_sensitive = given(a, 0) && truthy(arg(a, 0));
            List out, keys;
            for (const Value& item : iterate(v, b)) {
                Value key = given(a, 1) ? attribute_of(item, arg(a, 1)) : item;
                if (!case_sensitive && key.is_string())
                    key = Value::string(map_case(key.str(), 'L', b));
                bool seen = false;
                for (const Value& k : keys)
                    if (equals(k, key, b)) {
                        seen = true;
                        break;
                    }
                if (!seen) {
                    keys.push_back(std::move(key));
                    out.push_back(item);
                }
            }
            return Value::list(std::move(out));
        }
        case Filter::selectattr:
        case Filter::rejectattr: {
            const TestInfo* test = nullptr;
            if (given(a, 1)) {
                test = find_test(need_str(arg(a, 1), "selectattr(test)"));
                if (!test)
                    throw ValueError("unknown test '" + arg(a, 1).str() +
                                     "' in selectattr/rejectattr");
            }
            Args targs;
            if (given(a, 2)) targs.push_back(a[2]);
            if (test && int(targs.size()) < test->sig.required)
                throw ValueError(std::string("test '") + test->sig.name + "' needs an argument");
            targs.resize(std::size_t(test ? test->sig.count() : 0));
            List out;
            for (const Value& item : iterate(v, b)) {
                const Value field = attribute_of(item, arg(a, 0));
                const bool ok = test ? apply_test(test->id, field, targs, b) : truthy(field);
                if (ok == (f == Filter::selectattr)) out.push_back(item);
            }
            return Value::list(std::move(out));
        }
        case Filter::map: {
            List out;
            if (given(a, 1)) {
                for (const Value& item : iterate(v, b)) {
                    Value x = attribute_of(item, arg(a, 1));
                    if (x.is_undefined() && given(a, 2)) x = arg(a, 2);
                    out.push_back(std::move(x));
                }
                return Value::list(std::move(out));
            }
            if (!given(a, 0)) throw ValueError("map() needs a filter name or attribute=");
            const FilterInfo* inner = find_filter(need_str(arg(a, 0), "map(filter)"));
            if (!inner || inner->sig.required > 0 || inner->id == Filter::map)
                throw ValueError("map(): filter '" + arg(a, 0).str() + "' cannot be mapped");
            Args none(std::size_t(inner->sig.count()));
            for (const Value& item : iterate(v, b))
                out.push_back(apply_filter(inner->id, item, none, b));
            return Value::list(std::move(out));
        }
    }
    throw ValueError("unhandled filter");
}

// ---- tests ---------------------------------------------------------------------------------

bool apply_test(Test t, const Value& v, const Args& a, Budget& b) {
    b.charge(1);
    switch (t) {
        case Test::defined: return !v.is_undefined();
        case Test::undefined: return v.is_undefined();
        case Test::none: return v.is_none();
        case Test::string: return v.is_string();
        case Test::number: return v.is_number();
        case Test::integer: return v.is_int();
        case Test::float_: return v.is_float();
        case Test::boolean: return v.is_bool();
        case Test::mapping: return v.is_dict();
        case Test::iterable:
        case Test::sequence: return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
        case Test::true_: return v.is_bool() && v.as_bool();
        case Test::false_: return v.is_bool() && !v.as_bool();
        case Test::even:
        case Test::odd:
        case Test::divisibleby: {
            // Python's `value % n == r`, so floats work too (2.0 is even, 2.5 is neither).
            const Value n = t == Test::divisibleby ? arg(a, 0) : Value::integer(2);
            const std::int64_t want = t == Test::odd ? 1 : 0;
            const char* what = t == Test::even
                                   ? "test 'even'"
                                   : (t == Test::odd ? "test 'odd'" : "test 'divisibleby'");
            if (!v.is_number()) type_error(what, v);
            if (!n.is_number()) type_error(what, n);
            if (v.is_float() || n.is_float()) {
                if (n.as_double() == 0.0) throw ValueError("divisibleby(0)");
                double m = std::fmod(v.as_double(), n.as_double());
                if (m != 0.0 && ((m < 0) != (n.as_double() < 0))) m += n.as_double();
                return m == double(want);
            }
            const std::int64_t x = v.as_int(), d = n.as_int();
            if (d == 0) throw ValueError("divisibleby(0)");
            if (d == -1) return want == 0;
            std::int64_t m = x % d;
            if (m != 0 && ((m < 0) != (d < 0))) m += d;
            return m == want;
        }
        case Test::eq: return equals(v, arg(a, 0), b);
        case Test::ne: return !equals(v, arg(a, 0), b);
        case Test::lt: return compare(v, arg(a, 0), b) < 0;
        case Test::gt: return compare(v, arg(a, 0), b) > 0;
        case Test::le: return compare(v, arg(a, 0), b) <= 0;
        case Test::ge: return compare(v, arg(a, 0), b) >= 0;
        case Test::in: return contains(arg(a, 0), v, b);
    }
    return false;
}

// ---- methods -------------------------------------------------------------------------------

Value call_method(Method m, std::string_view name, const Value& v, const Args& a, Budget& b) {
    b.charge(1);
    const std::string what = "." + std::string(name) + "()";
    if (m == Method::unknown)
        throw ValueError("'" + std::string(type_name(v)) + "' has no method '" + std::string(name) +
                         "'");
    if (m == Method::items || m == Method::keys || m == Method::values || m == Method::get) {
        if (!v.is_dict())
            throw ValueError("'" + std::string(type_name(v)) + "' has no method '" +
                             std::string(name) + "'");
        b.charge(v.entries().size());
        List out;
        switch (m) {
            case Method::items:
                for (const auto& kv : v.entries())
                    out.push_back(Value::list({Value::string(kv.first), kv.second}));
                return Value::list(std::move(out));
            case Method::keys:
                for (const auto& kv : v.entries()) out.push_back(Value::string(kv.first));
                return Value::list(std::move(out));
            case Method::values:
                for (const auto& kv : v.entries()) out.push_back(kv.second);
                return Value::list(std::move(out));
            default: {
                const Value* hit = arg(a, 0).is_string() ? v.find(arg(a, 0).str()) : nullptr;
                if (hit) return *hit;
                return given(a, 1) ? arg(a, 1) : Value::none();
            }
        }
    }
    if (m == Method::count && v.is_list()) {   // list.count(x)
        std::int64_t n = 0;
        for (const Value& x : v.items()) n += equals(x, arg(a, 0), b) ? 1 : 0;
        return Value::integer(n);
    }
    if (!v.is_string())
        throw ValueError("'" + std::string(type_name(v)) + "' has no method '" + std::string(name) +
                         "'");
    const std::string& s = v.str();
    switch (m) {
        case Method::strip:
            return Value::string(strip(s, given(a, 0) ? a[0] : std::nullopt, true, true, b));
        case Method::lstrip:
            return Value::string(strip(s, given(a, 0) ? a[0] : std::nullopt, true, false, b));
        case Method::rstrip:
            return Value::string(strip(s, given(a, 0) ? a[0] : std::nullopt, false, true, b));
        case Method::startswith:
        case Method::endswith: {
            b.charge(1);
            auto check = [&](const Value& p) {
                const std::string& x = need_str(p, what);
                if (x.size() > s.size()) return false;
                return m == Method::startswith ? s.compare(0, x.size(), x) == 0
                                               : s.compare(s.size() - x.size(), x.size(), x) == 0;
            };
            if (arg(a, 0).is_list()) {   // a tuple of alternatives
                for (const Value& p : arg(a, 0).items())
                    if (check(p)) return Value::boolean(true);
                return Value::boolean(false);
            }
            return Value::boolean(check(arg(a, 0)));
        }
        case Method::upper: return Value::string(map_case(s, 'U', b));
        case Method::lower: return Value::string(map_case(s, 'L', b));
        case Method::title: return Value::string(map_case(s, 'T', b));
        case Method::capitalize: return Value::string(map_case(s, 'C', b));
        case Method::split:
            return split(s, given(a, 0) ? a[0] : std::nullopt, given(a, 1) ? a[1] : std::nullopt,
                         b);
        case Method::replace: {
            const std::int64_t count = given(a, 2) ? need_int(arg(a, 2), what) : -1;
            return make_string(
                replace(s, need_str(arg(a, 0), what), need_str(arg(a, 1), what), count, b), b);
        }
        case Method::find: {
            b.charge(1 + s.size() / 16);
            const std::size_t hit = s.find(need_str(arg(a, 0), what));
            if (hit == std::string::npos) return Value::integer(-1);
            return Value::integer(
                std::int64_t(code_point_count(std::string_view(s).substr(0, hit))));
        }
        case Method::count: {
            b.charge(1 + s.size() / 16);
            const std::string& sub = need_str(arg(a, 0), what);
            if (sub.empty()) return Value::integer(std::int64_t(code_point_count(s)) + 1);
            std::int64_t n = 0;
            for (std::size_t p = s.find(sub); p != std::string::npos;
                 p = s.find(sub, p + sub.size()))
                ++n;
            return Value::integer(n);
        }
        case Method::join: {
            std::string out;
            bool first = true;
            for (const Value& item : iterate(arg(a, 0), b)) {
                if (!item.is_string())
                    throw ValueError(std::string(".join(): expected str items, found '") +
                                     type_name(item) + "'");
                b.check_bytes(out.size() + s.size() + item.str().size());
                b.charge(1 + (s.size() + item.str().size()) / 64);
                if (!first) out += s;
                first = false;
                out += item.str();
            }
            return Value::string(std::move(out));
        }
        default: break;
    }
    throw ValueError("'" + std::string(type_name(v)) + "' has no method '" + std::string(name) +
                     "'");
}

// ---- range ---------------------------------------------------------------------------------

Value make_range(const Args& a, Budget& b) {
    std::int64_t start = 0, stop = 0, step = 1;
    if (given(a, 1)) {
        start = need_int(arg(a, 0), "range()");
        stop = need_int(arg(a, 1), "range()");
        if (given(a, 2)) step = need_int(arg(a, 2), "range()");
    } else {
        stop = need_int(arg(a, 0), "range()");
    }
    if (step == 0) throw ValueError("range() step must not be zero");
    // Count without overflow: the span fits in unsigned 64 bits.
    std::uint64_t n = 0;
    if (step > 0 && stop > start) {
        const std::uint64_t span = std::uint64_t(stop) - std::uint64_t(start);
        n = (span - 1) / std::uint64_t(step) + 1;
    } else if (step < 0 && stop < start) {
        const std::uint64_t span = std::uint64_t(start) - std::uint64_t(stop);
        n = (span - 1) / (std::uint64_t(-(step + 1)) + 1) + 1;
    }
    b.check_items(std::size_t(std::min<std::uint64_t>(n, std::numeric_limits<std::size_t>::max())));
    b.charge(n);
    List out;
    out.reserve(std::size_t(n));
    std::int64_t x = start;
    for (std::uint64_t i = 0; i < n; ++i) {
        out.push_back(Value::integer(x));
        if (i + 1 < n) x += step;   // never steps past the last element, so never overflows
    }
    return Value::list(std::move(out));
}

}  // namespace kaa::chat
