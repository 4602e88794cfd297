#include "chat/value.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kaa::chat {

// ---- construction --------------------------------------------------------------------

Value Value::none() {
    Value v;
    v.kind_ = Kind::none;
    return v;
}

Value Value::boolean(bool b) {
    Value v;
    v.kind_ = Kind::boolean;
    v.b_ = b;
    return v;
}

Value Value::integer(std::int64_t i) {
    Value v;
    v.kind_ = Kind::integer;
    v.i_ = i;
    return v;
}

Value Value::floating(double f) {
    Value v;
    v.kind_ = Kind::floating;
    v.f_ = f;
    return v;
}

Value Value::string(std::string s) {
    Value v;
    v.kind_ = Kind::string;
    v.s_ = std::make_shared<const std::string>(std::move(s));
    return v;
}

Value Value::container(Kind k, List l, Dict d) {
    int deepest = 0;
    for (const Value& x : l) deepest = std::max(deepest, x.depth());
    for (const auto& kv : d) deepest = std::max(deepest, kv.second.depth());
    if (deepest + 1 > kMaxValueDepth)
        throw ValueError("lists/dicts nested deeper than " + std::to_string(kMaxValueDepth));
    Value v;
    v.kind_ = k;
    v.c_ = std::make_shared<Container>();
    v.c_->list = std::move(l);
    v.c_->dict = std::move(d);
    v.c_->depth = deepest + 1;
    return v;
}

Value Value::list(List items) { return container(Kind::list, std::move(items), {}); }
Value Value::dict(Dict items) { return container(Kind::dict, {}, std::move(items)); }

Value Value::make_namespace(Dict items) {
    for (const auto& kv : items)
        if (kv.second.contains_namespace())
            throw ValueError("a namespace cannot hold another namespace");
    return container(Kind::ns, {}, std::move(items));
}

Value Value::make_loop(const Value& seq) {
    // No depth check: the loop object is one level above a list that already passed it,
    // and it cannot be nested further without going through a checked list or dict.
    Value v;
    v.kind_ = Kind::loop;
    v.c_ = std::make_shared<Container>();
    v.c_->list.push_back(seq);
    v.c_->depth = seq.depth() + 1;
    return v;
}

Value loop_field(const Value& loop, std::string_view name) {
    const List& items = loop.loop_items();
    const std::size_t n = items.size(), i = loop.loop_index();
    const auto I = [](std::size_t x) { return Value::integer(std::int64_t(x)); };
    if (name == "index") return I(i + 1);
    if (name == "index0") return I(i);
    if (name == "revindex") return I(n - i);
    if (name == "revindex0") return I(n - i - 1);
    if (name == "first") return Value::boolean(i == 0);
    if (name == "last") return Value::boolean(i + 1 == n);
    if (name == "length") return I(n);
    if (name == "depth") return I(1);
    if (name == "depth0") return I(0);
    if (name == "previtem") return i > 0 ? items[i - 1] : Value();
    if (name == "nextitem") return i + 1 < n ? items[i + 1] : Value();
    return Value();
}

const Value* Value::find(std::string_view key) const {
    if (!(is_dict() || is_namespace())) return nullptr;
    for (const auto& kv : c_->dict)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

void Value::ns_set(const std::string& key, Value v) const {
    if (!is_namespace()) throw ValueError("only a namespace() accepts attribute assignment");
    // A namespace holding a namespace could end up holding itself: a cycle that would
    // leak and make str()/tojson recurse forever. No real template needs it.
    if (v.contains_namespace()) throw ValueError("a namespace cannot hold another namespace");
    if (v.depth() + 1 > kMaxValueDepth)
        throw ValueError("lists/dicts nested deeper than " + std::to_string(kMaxValueDepth));
    for (auto& kv : c_->dict) {
        if (kv.first == key) {
            kv.second = std::move(v);
            c_->depth = 1;
            for (const auto& e : c_->dict) c_->depth = std::max(c_->depth, e.second.depth() + 1);
            return;
        }
    }
    c_->depth = std::max(c_->depth, v.depth() + 1);
    c_->dict.emplace_back(key, std::move(v));
}

bool Value::same_object(const Value& o) const {
    if (kind_ != o.kind_) return false;
    if (c_) return c_ == o.c_;
    if (s_) return s_ == o.s_;
    return false;
}

bool Value::contains_namespace() const {
    if (is_namespace()) return true;
    if (!c_) return false;
    // Depth is bounded by kMaxValueDepth, so this recursion is too.
    for (const Value& x : c_->list)
        if (x.contains_namespace()) return true;
    for (const auto& kv : c_->dict)
        if (kv.second.contains_namespace()) return true;
    return false;
}

// ---- inspection ------------------------------------------------------------------------

const char* type_name(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::undefined: return "undefined";
        case Value::Kind::none: return "NoneType";
        case Value::Kind::boolean: return "bool";
        case Value::Kind::integer: return "int";
        case Value::Kind::floating: return "float";
        case Value::Kind::string: return "str";
        case Value::Kind::list: return "list";
        case Value::Kind::dict: return "dict";
        case Value::Kind::ns: return "namespace";
        case Value::Kind::loop: return "LoopContext";
    }
    return "?";
}

bool truthy(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::undefined:
        case Value::Kind::none: return false;
        case Value::Kind::boolean: return v.as_bool();
        case Value::Kind::integer: return v.as_int() != 0;
        case Value::Kind::floating: return v.as_double() != 0.0;
        case Value::Kind::string: return !v.str().empty();
        case Value::Kind::list: return !v.items().empty();
        case Value::Kind::dict: return !v.entries().empty();
        case Value::Kind::ns:
        case Value::Kind::loop: return true;
    }
    return false;
}

// ---- text forms ------------------------------------------------------------------------

std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
    // Shortest precision that round-trips, as Python's repr() picks it.
    char buf[64];
    int prec = 1;
    for (; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    // buf is "-d.ddde+XX": split into sign, digits and decimal exponent.
    std::string s(buf);
    std::string sign;
    if (s[0] == '-') {
        sign = "-";
        s.erase(0, 1);
    }
    const std::size_t epos = s.find('e');
    const int exp10 = std::atoi(s.c_str() + epos + 1);
    std::string digits;
    for (std::size_t i = 0; i < epos; ++i)
        if (s[i] != '.') digits += s[i];
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();

    std::string out = sign;
    if (exp10 < -4 || exp10 >= 16) {   // Python switches to scientific notation here
        out += digits[0];
        if (digits.size() > 1) out += "." + digits.substr(1);
        char e[16];
        std::snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
        out += e;
    } else if (exp10 < 0) {
        out += "0." + std::string(std::size_t(-exp10 - 1), '0') + digits;
    } else {
        const std::size_t int_len = std::size_t(exp10) + 1;
        if (digits.size() <= int_len) {
            out += digits + std::string(int_len - digits.size(), '0') + ".0";
        } else {
            out += digits.substr(0, int_len) + "." + digits.substr(int_len);
        }
    }
    return out;
}

static void repr_string(std::string& out, const std::string& s) {
    // Python prefers single quotes unless the text has one and no double quote.
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char q = (has_single && !has_double) ? '"' : '\'';
    out += q;
    for (unsigned char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == static_cast<unsigned char>(q)) { out += '\\'; out += char(c); }
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        } else {
            out += char(c);
        }
    }
    out += q;
}

namespace {

// Appends to a string while charging the budget, so str() of a huge shared structure
// ([x] * 100000 nested a few times) stops at the size limit instead of exhausting memory.
struct Writer {
    std::string& out;
    Budget& budget;
    void put(std::string_view s) {
        budget.check_bytes(out.size() + s.size());
        budget.charge(1 + s.size() / 64);
        out.append(s.data(), s.size());
    }
};

void write_repr(Writer& w, const Value& v, bool top_level_str) {
    switch (v.kind()) {
        case Value::Kind::undefined:
            if (!top_level_str) w.put("Undefined");   // Python repr of jinja2.Undefined
            return;
        case Value::Kind::none: w.put("None"); return;
        case Value::Kind::boolean: w.put(v.as_bool() ? "True" : "False"); return;
        case Value::Kind::integer: w.put(std::to_string(v.as_int())); return;
        case Value::Kind::floating: w.put(format_float(v.as_double())); return;
        case Value::Kind::string: {
            if (top_level_str) {
                w.put(v.str());
            } else {
                std::string q;
                repr_string(q, v.str());
                w.put(q);
            }
            return;
        }
        case Value::Kind::list: {
            w.put("[");
            bool first = true;
            for (const Value& x : v.items()) {
                if (!first) w.put(", ");
                first = false;
                write_repr(w, x, false);
            }
            w.put("]");
            return;
        }
        case Value::Kind::dict:
        case Value::Kind::ns: {
            w.put(v.is_namespace() ? "<Namespace {" : "{");
            bool first = true;
            for (const auto& kv : v.entries()) {
                if (!first) w.put(", ");
                first = false;
                std::string k;
                repr_string(k, kv.first);
                w.put(k);
                w.put(": ");
                write_repr(w, kv.second, false);
            }
            w.put(v.is_namespace() ? "}>" : "}");
            return;
        }
        case Value::Kind::loop:
            w.put("<LoopContext " + std::to_string(v.loop_index() + 1) + "/" +
                  std::to_string(v.loop_items().size()) + ">");
            return;
    }
}

}  // namespace

std::string to_str(const Value& v, Budget& budget) {
    if (v.is_string()) return v.str();
    std::string out;
    Writer w{out, budget};
    write_repr(w, v, true);
    return out;
}

std::string repr(const Value& v, Budget& budget) {
    std::string out;
    Writer w{out, budget};
    write_repr(w, v, false);
    return out;
}

// ---- comparison ------------------------------------------------------------------------

bool equals(const Value& a, const Value& b, Budget& budget) {
    budget.charge(1);
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::undefined:
        case Value::Kind::none: return true;
        case Value::Kind::string:
            budget.charge(a.str().size() / 64);
            return a.str() == b.str();
        case Value::Kind::list: {
            if (a.same_object(b)) return true;
            const List& x = a.items();
            const List& y = b.items();
            if (x.size() != y.size()) return false;
            for (std::size_t i = 0; i < x.size(); ++i)
                if (!equals(x[i], y[i], budget)) return false;
            return true;
        }
        case Value::Kind::dict: {
            if (a.same_object(b)) return true;
            if (a.entries().size() != b.entries().size()) return false;
            for (const auto& kv : a.entries()) {   // Python dict equality ignores order
                budget.charge(b.entries().size());
                const Value* other = b.find(kv.first);
                if (!other || !equals(kv.second, *other, budget)) return false;
            }
            return true;
        }
        case Value::Kind::ns:
        case Value::Kind::loop: return a.same_object(b);   // identity, as for Python objects
        default: return false;
    }
}

int compare(const Value& a, const Value& b, Budget& budget) {
    budget.charge(1);
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            const double x = a.as_double(), y = b.as_double();
            return x < y ? -1 : (x > y ? 1 : 0);
        }
        const std::int64_t x = a.as_int(), y = b.as_int();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        // Byte order of UTF-8 equals code point order, which is what Python compares.
        budget.charge(std::min(a.str().size(), b.str().size()) / 64);
        const int c = a.str().compare(b.str());
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.is_list() && b.is_list()) {
        const List& x = a.items();
        const List& y = b.items();
        for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (equals(x[i], y[i], budget)) continue;
            return compare(x[i], y[i], budget);
        }
        return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    throw ValueError(std::string("cannot order '") + type_name(a) + "' and '" + type_name(b) +
                     "'");
}

bool contains(const Value& container, const Value& item, Budget& budget) {
    switch (container.kind()) {
        case Value::Kind::string:
            if (!item.is_string())
                throw ValueError(std::string("'in <string>' needs a string on the left, not '") +
                                 type_name(item) + "'");
            budget.charge(1 + container.str().size() / 16);
            return container.str().find(item.str()) != std::string::npos;
        case Value::Kind::list:
            for (const Value& x : container.items())
                if (equals(x, item, budget)) return true;
            return false;
        case Value::Kind::dict:
            budget.charge(1 + container.entries().size());
            return item.is_string() && container.find(item.str()) != nullptr;
        case Value::Kind::undefined: return false;   // Jinja's undefined iterates as empty
        default:
            throw ValueError(std::string("'") + type_name(container) +
                             "' does not support the 'in' operator");
    }
}

// ---- JSON --------------------------------------------------------------------------------

namespace {

void json_string(Writer& w, const std::string& s) {
    std::string q = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': q += "\\\""; break;
            case '\\': q += "\\\\"; break;
            case '\n': q += "\\n"; break;
            case '\r': q += "\\r"; break;
            case '\t': q += "\\t"; break;
            case '\b': q += "\\b"; break;
            case '\f': q += "\\f"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    q += b;
                } else {
                    q += char(c);   // ensure_ascii=False: UTF-8 passes through
                }
        }
    }
    q += '"';
    w.put(q);
}

void write_json(Writer& w, const Value& v, int indent, int level) {
    auto newline = [&](int lvl) {
        if (indent < 0) return;
        w.put("\n");
        w.put(std::string(std::size_t(indent) * std::size_t(lvl), ' '));
    };
    // Python: (', ', ': ') on one line, (',', ': ') once indenting.
    const char* item_sep = indent < 0 ? ", " : ",";
    switch (v.kind()) {
        case Value::Kind::none: w.put("null"); return;
        case Value::Kind::boolean: w.put(v.as_bool() ? "true" : "false"); return;
        case Value::Kind::integer: w.put(std::to_string(v.as_int())); return;
        case Value::Kind::floating: {
            const double d = v.as_double();
            if (std::isnan(d)) w.put("NaN");
            else if (std::isinf(d)) w.put(d < 0 ? "-Infinity" : "Infinity");
            else w.put(format_float(d));
            return;
        }
        case Value::Kind::string: json_string(w, v.str()); return;
        case Value::Kind::list: {
            if (v.items().empty()) { w.put("[]"); return; }
            w.put("[");
            bool first = true;
            for (const Value& x : v.items()) {
                if (!first) w.put(item_sep);
                first = false;
                newline(level + 1);
                write_json(w, x, indent, level + 1);
            }
            newline(level);
            w.put("]");
            return;
        }
        case Value::Kind::dict: {
            if (v.entries().empty()) { w.put("{}"); return; }
            w.put("{");
            bool first = true;
            for (const auto& kv : v.entries()) {
                if (!first) w.put(item_sep);
                first = false;
                newline(level + 1);
                json_string(w, kv.first);
                w.put(": ");
                write_json(w, kv.second, indent, level + 1);
            }
            newline(level);
            w.put("}");
            return;
        }
        case Value::Kind::undefined:
        case Value::Kind::ns:
        case Value::Kind::loop:
            throw ValueError(std::string("tojson: a value of type '") + type_name(v) +
                             "' is not JSON serializable");
    }
}

}  // namespace

std::string to_json(const Value& v, int indent, Budget& budget) {
    std::string out;
    Writer w{out, budget};
    write_json(w, v, indent, 0);
    return out;
}

// ---- UTF-8 ---------------------------------------------------------------------------------

std::uint32_t decode_utf8(std::string_view s, std::size_t& i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { ++i; return c; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else { ++i; return c; }   // stray continuation or invalid lead byte: one unit
    if (i + std::size_t(len) > s.size()) { ++i; return c; }
    for (int k = 1; k < len; ++k) {
        const unsigned char cc = static_cast<unsigned char>(s[i + std::size_t(k)]);
        if ((cc & 0xC0) != 0x80) { ++i; return c; }
        cp = (cp << 6) | (cc & 0x3F);
    }
    i += std::size_t(len);
    return cp;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

std::vector<std::string_view> code_points(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const std::size_t start = i;
        decode_utf8(s, i);
        out.push_back(s.substr(start, i - start));
    }
    return out;
}

std::size_t code_point_count(std::string_view s) {
    std::size_t n = 0, i = 0;
    while (i < s.size()) {
        decode_utf8(s, i);
        ++n;
    }
    return n;
}

bool is_space(std::uint32_t cp) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
    if (cp < 0x80) return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

}  // namespace kaa::chat
