#include "chat/eval.hpp"

#include <cmath>
#include <limits>

#include "chat/builtins.hpp"
#include "kaa/error.hpp"

namespace kaa::chat {

namespace {

using I64 = std::int64_t;

[[noreturn]] void operand_error(const char* op, const Value& l, const Value& r) {
    if (l.is_undefined() || r.is_undefined())
        throw ValueError(std::string("an undefined value cannot be used with '") + op + "'");
    throw ValueError(std::string("unsupported operand types for ") + op + ": '" + type_name(l) +
                     "' and '" + type_name(r) + "'");
}

// Python ints never overflow; kaa's are 64-bit and say so instead of wrapping.
I64 add(I64 a, I64 b) {
    I64 r = 0;
    if (__builtin_add_overflow(a, b, &r)) throw ValueError("integer overflow");
    return r;
}
I64 sub(I64 a, I64 b) {
    I64 r = 0;
    if (__builtin_sub_overflow(a, b, &r)) throw ValueError("integer overflow");
    return r;
}
I64 mul(I64 a, I64 b) {
    I64 r = 0;
    if (__builtin_mul_overflow(a, b, &r)) throw ValueError("integer overflow");
    return r;
}

// Python floor division and modulo (results round toward -inf; % takes the divisor's sign).
I64 floor_div(I64 a, I64 b) {
    if (b == 0) throw ValueError("integer division or modulo by zero");
    if (a == std::numeric_limits<I64>::min() && b == -1) throw ValueError("integer overflow");
    I64 q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

I64 floor_mod(I64 a, I64 b) {
    if (b == 0) throw ValueError("integer division or modulo by zero");
    if (b == -1) return 0;
    I64 m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

// Python's float divmod: floor(1 / 0.1) is 10 but 1 // 0.1 is 9.0, and a zero
// remainder takes the divisor's sign. Divisor must be non-zero.
std::pair<double, double> float_divmod(double x, double y) {
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0.0) {
        if ((y < 0) != (mod < 0)) {
            mod += y;
            div -= 1.0;
        }
    } else {
        mod = std::copysign(0.0, y);
    }
    double floordiv;
    if (div != 0.0) {
        floordiv = std::floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
        floordiv = std::copysign(0.0, x / y);
    }
    return {floordiv, mod};
}

Value repeat(const Value& seq, I64 n, Budget& b) {
    if (n < 0) n = 0;
    if (seq.is_string()) {
        const std::size_t len = seq.str().size();
        if (len != 0 && std::uint64_t(n) > b.max_bytes / len) b.check_bytes(b.max_bytes + 1);
        b.charge(1 + len * std::size_t(n) / 64);
        std::string out;
        out.reserve(len * std::size_t(n));
        for (I64 i = 0; i < n; ++i) out += seq.str();
        return Value::string(std::move(out));
    }
    const std::size_t len = seq.items().size();
    if (len != 0 && std::uint64_t(n) > b.max_items / len) b.check_items(b.max_items + 1);
    b.charge(1 + len * std::size_t(n));
    List out;
    out.reserve(len * std::size_t(n));
    for (I64 i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
    return Value::list(std::move(out));
}

Value arithmetic(Op op, const Value& l, const Value& r, Budget& b) {
    static const char* const names[] = {"+", "-", "*", "/", "//", "%", "**", "~"};
    const char* name = names[int(op)];
    if (op == Op::concat) {
        std::string s = to_str(l, b);
        const std::string t = to_str(r, b);
        b.check_bytes(s.size() + t.size());
        b.charge(1 + (s.size() + t.size()) / 64);
        s += t;
        return Value::string(std::move(s));
    }
    if (l.is_number() && r.is_number()) {
        const bool ints = !l.is_float() && !r.is_float();
        const I64 x = l.as_int(), y = r.as_int();
        const double fx = l.as_double(), fy = r.as_double();
        switch (op) {
            case Op::add: return ints ? Value::integer(add(x, y)) : Value::floating(fx + fy);
            case Op::sub: return ints ? Value::integer(sub(x, y)) : Value::floating(fx - fy);
            case Op::mul: return ints ? Value::integer(mul(x, y)) : Value::floating(fx * fy);
            case Op::div:
                if (fy == 0.0) throw ValueError("division by zero");
                return Value::floating(fx / fy);
            case Op::floordiv:
                if (ints) return Value::integer(floor_div(x, y));
                if (fy == 0.0) throw ValueError("float floor division by zero");
                return Value::floating(float_divmod(fx, fy).first);
            case Op::mod:
                if (ints) return Value::integer(floor_mod(x, y));
                if (fy == 0.0) throw ValueError("float modulo by zero");
                return Value::floating(float_divmod(fx, fy).second);
            case Op::pow: {
                if (!ints || y < 0) return Value::floating(std::pow(fx, fy));
                I64 result = 1, base = x, e = y;
                while (e > 0) {   // square-and-multiply; at most 63 rounds
                    if (e & 1) result = mul(result, base);
                    e >>= 1;
                    if (e > 0) base = mul(base, base);
                }
                return Value::integer(result);
            }
            default: break;
        }
    }
    if (op == Op::add && l.is_string() && r.is_string()) {
        b.check_bytes(l.str().size() + r.str().size());
        b.charge(1 + (l.str().size() + r.str().size()) / 64);
        return Value::string(l.str() + r.str());
    }
    if (op == Op::add && l.is_list() && r.is_list()) {
        b.check_items(l.items().size() + r.items().size());
        b.charge(1 + l.items().size() + r.items().size());
        List out = l.items();
        out.insert(out.end(), r.items().begin(), r.items().end());
        return Value::list(std::move(out));
    }
    if (op == Op::mul) {
        if ((l.is_string() || l.is_list()) && (r.is_int() || r.is_bool()))
            return repeat(l, r.as_int(), b);
        if ((r.is_string() || r.is_list()) && (l.is_int() || l.is_bool()))
            return repeat(r, l.as_int(), b);
    }
    if (op == Op::mod && l.is_string())
        throw ValueError("printf-style string formatting ('...' % value) is not supported");
    operand_error(name, l, r);
}

// Python slice bounds for a sequence of n items; returns the selected indices.
std::vector<std::size_t> slice_indices(std::size_t n_items, const Value* start_v,
                                       const Value* stop_v, const Value* step_v) {
    auto get = [](const Value* v, const char* what) -> std::optional<I64> {
        if (!v || v->is_none() || v->is_undefined()) return std::nullopt;
        if (!(v->is_int() || v->is_bool()))
            throw ValueError(std::string("slice ") + what + " must be an integer, not '" +
                             type_name(*v) + "'");
        return v->as_int();
    };
    const I64 n = I64(n_items);
    const I64 step = get(step_v, "step").value_or(1);
    if (step == 0) throw ValueError("slice step cannot be zero");
    auto clamp = [&](std::optional<I64> v, I64 dflt, I64 lo, I64 hi) {
        if (!v) return dflt;
        I64 x = *v;
        if (x < 0) x = (x < -n) ? lo : x + n;   // written to never overflow
        if (x < lo) x = lo;
        if (x > hi) x = hi;
        return x;
    };
    std::vector<std::size_t> out;
    if (step > 0) {
        const I64 start = clamp(get(start_v, "start"), 0, 0, n);
        const I64 stop = clamp(get(stop_v, "stop"), n, 0, n);
        for (I64 i = start; i < stop; i = (stop - i > step) ? i + step : stop)
            out.push_back(std::size_t(i));
    } else {
        const I64 start = clamp(get(start_v, "start"), n - 1, -1, n - 1);
        const I64 stop = clamp(get(stop_v, "stop"), -1, -1, n - 1);
        const std::uint64_t mag = std::uint64_t(-(step + 1)) + 1;
        for (I64 i = start; i > stop;) {
            out.push_back(std::size_t(i));
            if (std::uint64_t(i - stop) <= mag) break;
            i = I64(std::uint64_t(i) - mag);
        }
    }
    return out;
}

class Evaluator {
public:
    Evaluator(Dict globals, Budget budget) : b_(budget) {
        frames_.push_back(std::move(globals));
        frames_.emplace_back();   // the template's own top-level `set`s
    }

    std::string run(const Body& body) {
        exec(body);
        return std::move(out_);
    }

private:
    enum class Flow { normal, break_, continue_ };

    const Value* lookup(const std::string& name) const {
        for (auto f = frames_.rbegin(); f != frames_.rend(); ++f)
            for (const auto& kv : *f)
                if (kv.first == name) return &kv.second;
        return nullptr;
    }

    static void assign(Dict& frame, const std::string& name, Value v) {
        for (auto& kv : frame)
            if (kv.first == name) {
                kv.second = std::move(v);
                return;
            }
        frame.emplace_back(name, std::move(v));
    }

    void emit(std::string_view s) {
        b_.check_bytes(out_.size() + s.size());
        b_.charge(1 + s.size() / 64);
        out_.append(s.data(), s.size());
    }

    // Binds loop targets / set targets, unpacking a list when there are several.
    void bind(Dict& frame, const std::vector<std::string>& targets, const Value& v) {
        if (targets.size() == 1) {
            assign(frame, targets[0], v);
            return;
        }
        if (!v.is_list() || v.items().size() != targets.size())
            throw ValueError("cannot unpack a '" + std::string(type_name(v)) + "' into " +
                             std::to_string(targets.size()) + " names");
        for (std::size_t i = 0; i < targets.size(); ++i) assign(frame, targets[i], v.items()[i]);
    }

    Flow exec(const Body& body) {
        for (const StmtPtr& s : body) {
            const Flow f = exec_stmt(*s);
            if (f != Flow::normal) return f;
        }
        return Flow::normal;
    }

    Flow exec_stmt(const Stmt& s) {
        try {
            return exec_inner(s);
        } catch (const ValueError& e) {
            fail_at(s.pos, e.what());
        }
    }

    Flow exec_inner(const Stmt& s) {
        b_.charge(1);
        switch (s.kind) {
            case StmtKind::text: emit(s.text); return Flow::normal;
            case StmtKind::output: {
                const Value v = eval(*s.expr);
                if (v.is_string())
                    emit(v.str());
                else
                    emit(to_str(v, b_));
                return Flow::normal;
            }
            case StmtKind::if_:
                for (const auto& br : s.branches)
                    if (!br.first || truthy(eval(*br.first))) return exec(br.second);
                return Flow::normal;
            case StmtKind::for_: return exec_for(s);
            case StmtKind::set: {
                Value v = eval(*s.expr);
                if (!s.attr.empty()) {
                    const Value* target = lookup(s.targets[0]);
                    if (!target || !target->is_namespace())
                        throw ValueError("'{% set " + s.targets[0] + "." + s.attr + " %}' needs '" +
                                         s.targets[0] + "' to be a namespace()");
                    target->ns_set(s.attr, std::move(v));
                } else {
                    bind(frames_.back(), s.targets, v);
                }
                return Flow::normal;
            }
            case StmtKind::set_block: {
                std::string saved;
                saved.swap(out_);
                const Flow f = exec(s.body);
                saved.swap(out_);
                assign(frames_.back(), s.targets[0], Value::string(std::move(saved)));
                return f;
            }
            case StmtKind::break_: return Flow::break_;
            case StmtKind::continue_: return Flow::continue_;
            case StmtKind::scope: return exec(s.body);
        }
        return Flow::normal;
    }

    // Pushes a scope for the loop body and pops it however the loop ends: Jinja's `set`
    // inside a loop stays inside (each iteration starts from the outer values again).
    struct FrameGuard {
        std::vector<Dict>& frames;
        explicit FrameGuard(std::vector<Dict>& f) : frames(f) { frames.emplace_back(); }
        ~FrameGuard() { frames.pop_back(); }
        FrameGuard(const FrameGuard&) = delete;
        FrameGuard& operator=(const FrameGuard&) = delete;
    };

    Flow exec_for(const Stmt& s) {
        Value seq = eval(*s.expr);
        switch (seq.kind()) {
            case Value::Kind::list: break;   // iterated in place, not copied
            case Value::Kind::string: {
                List chars;
                for (std::string_view cp : code_points(seq.str()))
                    chars.push_back(Value::string(std::string(cp)));
                seq = Value::list(std::move(chars));
                break;
            }
            case Value::Kind::dict: {   // iterating a dict yields its keys
                List keys;
                for (const auto& kv : seq.entries()) keys.push_back(Value::string(kv.first));
                seq = Value::list(std::move(keys));
                break;
            }
            case Value::Kind::undefined: seq = Value::list({}); break;   // Jinja: empty
            default:
                throw ValueError(std::string("'") + type_name(seq) + "' object is not iterable");
        }
        b_.charge(seq.items().size());
        FrameGuard guard(frames_);
        if (s.filter) {   // `for x in xs if cond`: loop.* then counts only kept items
            List kept;
            for (const Value& item : seq.items()) {
                frames_.back().clear();
                bind(frames_.back(), s.targets, item);
                if (truthy(eval(*s.filter))) kept.push_back(item);
            }
            seq = Value::list(std::move(kept));
        }
        const List& items = seq.items();
        const std::size_t n = items.size();
        const Value loop = s.uses_loop ? Value::make_loop(seq) : Value();
        // Jinja runs the else block unless some iteration reached the end of the body,
        // so a break or continue before that still leads to it (unlike Python's for-else).
        bool run_else = true;
        for (std::size_t i = 0; i < n; ++i) {
            b_.charge(1);
            Dict& frame = frames_.back();
            frame.clear();
            bind(frame, s.targets, items[i]);
            if (s.uses_loop) {
                loop.set_loop_index(i);
                frame.emplace_back("loop", loop);
            }
            const Flow f = exec(s.body);
            if (f == Flow::break_) break;
            if (f == Flow::normal) run_else = false;
        }
        if (run_else && !s.else_body.empty()) {
            frames_.back().clear();
            return exec(s.else_body);
        }
        return Flow::normal;
    }

    Value eval(const Expr& e) {
        try {
            return eval_inner(e);
        } catch (const ValueError& err) {
            fail_at(e.pos, err.what());
        }
    }

    Args eval_args(const Expr& e, std::size_t skip) {
        Args out;
        out.reserve(e.args.size() - skip);
        for (std::size_t i = skip; i < e.args.size(); ++i) {
            if (e.args[i])
                out.emplace_back(eval(*e.args[i]));
            else
                out.emplace_back(std::nullopt);
        }
        return out;
    }

    Value eval_inner(const Expr& e) {
        b_.charge(1);
        switch (e.kind) {
            case ExprKind::literal: return e.value;
            case ExprKind::name: {
                const Value* v = lookup(e.name);
                return v ? *v : Value();
            }
            case ExprKind::list: {
                List items;
                items.reserve(e.args.size());
                for (const ExprPtr& a : e.args) items.push_back(eval(*a));
                return Value::list(std::move(items));
            }
            case ExprKind::dict: {
                Dict entries;
                for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
                    const Value k = eval(*e.args[i]);
                    if (!k.is_string()) throw ValueError("dict keys must be strings here");
                    Evaluator::assign(entries, k.str(), eval(*e.args[i + 1]));
                }
                return Value::dict(std::move(entries));
            }
            case ExprKind::attr: {
                // Like Jinja, a missing attribute is undefined rather than an error; kaa
                // also lets undefined.attr be undefined, so `messages[0].role` on an
                // empty conversation is simply false in a test.
                const Value obj = eval(*e.args[0]);
                if (obj.is_loop()) return loop_field(obj, e.name);
                const Value* v = obj.find(e.name);
                return v ? *v : Value();
            }
            case ExprKind::index: return index(eval(*e.args[0]), eval(*e.args[1]));
            case ExprKind::slice: {
                const Value obj = eval(*e.args[0]);
                Value parts[3];
                for (int i = 0; i < 3; ++i)
                    if (e.args[std::size_t(i) + 1]) parts[i] = eval(*e.args[std::size_t(i) + 1]);
                auto ptr = [&](int i) { return e.args[std::size_t(i) + 1] ? &parts[i] : nullptr; };
                if (obj.is_list()) {
                    const auto idx = slice_indices(obj.items().size(), ptr(0), ptr(1), ptr(2));
                    b_.charge(idx.size());
                    List out;
                    out.reserve(idx.size());
                    for (std::size_t i : idx) out.push_back(obj.items()[i]);
                    return Value::list(std::move(out));
                }
                if (obj.is_string()) {
                    const auto cps = code_points(obj.str());
                    const auto idx = slice_indices(cps.size(), ptr(0), ptr(1), ptr(2));
                    b_.charge(1 + cps.size() / 16 + idx.size());
                    std::string out;
                    for (std::size_t i : idx) out.append(cps[i].data(), cps[i].size());
                    return Value::string(std::move(out));
                }
                return Value();
            }
            case ExprKind::call: return call(e);
            case ExprKind::method: {
                const Value subject = eval(*e.args[0]);
                if (e.method == Method::unknown)
                    return call_method(e.method, e.name, subject, {}, b_);
                return call_method(e.method, e.name, subject, eval_args(e, 1), b_);
            }
            case ExprKind::unary: {
                const Value v = eval(*e.args[0]);
                if (e.op == Op::not_) return Value::boolean(!truthy(v));
                if (v.is_float())
                    return Value::floating(e.op == Op::neg ? -v.as_double() : v.as_double());
                if (v.is_int() || v.is_bool()) {
                    if (e.op == Op::pos) return Value::integer(v.as_int());
                    if (v.as_int() == std::numeric_limits<I64>::min())
                        throw ValueError("integer overflow");
                    return Value::integer(-v.as_int());
                }
                throw ValueError(std::string("bad operand type for unary ") +
                                 (e.op == Op::neg ? "-" : "+") + ": '" + type_name(v) + "'");
            }
            case ExprKind::binary: {
                const Value l = eval(*e.args[0]);
                const Value r = eval(*e.args[1]);
                return arithmetic(e.op, l, r, b_);
            }
            case ExprKind::and_: {   // Python returns the deciding operand, not a bool
                Value l = eval(*e.args[0]);
                return truthy(l) ? eval(*e.args[1]) : l;
            }
            case ExprKind::or_: {
                Value l = eval(*e.args[0]);
                return truthy(l) ? l : eval(*e.args[1]);
            }
            case ExprKind::compare: {
                Value left = eval(*e.args[0]);
                for (std::size_t i = 0; i < e.cmp_ops.size(); ++i) {
                    Value right = eval(*e.args[i + 1]);
                    if (!compare_op(e.cmp_ops[i], left, right)) return Value::boolean(false);
                    left = std::move(right);
                }
                return Value::boolean(true);
            }
            case ExprKind::cond:
                if (truthy(eval(*e.args[0]))) return eval(*e.args[1]);
                return e.args[2] ? eval(*e.args[2]) : Value();
            case ExprKind::filter: {
                const Value subject = eval(*e.args[0]);
                return apply_filter(e.filter, subject, eval_args(e, 1), b_);
            }
            case ExprKind::test: {
                const Value subject = eval(*e.args[0]);
                return Value::boolean(apply_test(e.test, subject, eval_args(e, 1), b_) !=
                                      e.negated);
            }
        }
        throw ValueError("unhandled expression");
    }

    bool compare_op(Op op, const Value& l, const Value& r) {
        switch (op) {
            case Op::eq: return equals(l, r, b_);
            case Op::ne: return !equals(l, r, b_);
            case Op::lt: return compare(l, r, b_) < 0;
            case Op::gt: return compare(l, r, b_) > 0;
            case Op::le: return compare(l, r, b_) <= 0;
            case Op::ge: return compare(l, r, b_) >= 0;
            case Op::in: return contains(r, l, b_);
            case Op::not_in: return !contains(r, l, b_);
            default: throw ValueError("bad comparison");
        }
    }

    // obj[key]: dict keys, list/str positions (negative from the end). Anything missing
    // is undefined, as in Jinja.
    Value index(const Value& obj, const Value& key) {
        if (obj.is_loop()) return key.is_string() ? loop_field(obj, key.str()) : Value();
        if (obj.is_dict() || obj.is_namespace()) {
            const Value* v = key.is_string() ? obj.find(key.str()) : nullptr;
            return v ? *v : Value();
        }
        if (!(key.is_int() || key.is_bool())) return Value();
        I64 i = key.as_int();
        if (obj.is_list()) {
            const I64 n = I64(obj.items().size());
            if (i < 0) i += n;
            return (i >= 0 && i < n) ? obj.items()[std::size_t(i)] : Value();
        }
        if (obj.is_string()) {
            b_.charge(1 + obj.str().size() / 16);
            const auto cps = code_points(obj.str());
            const I64 n = I64(cps.size());
            if (i < 0) i += n;
            return (i >= 0 && i < n) ? Value::string(std::string(cps[std::size_t(i)])) : Value();
        }
        return Value();
    }

    Value call(const Expr& e) {
        switch (e.fn) {
            case Fn::raise_exception: {
                const Value msg = eval(*e.args[0]);
                throw Error(ErrorCode::template_error, to_str(msg, b_));
            }
            case Fn::namespace_: {
                Dict entries;
                for (const auto& kw : e.kwargs) assign(entries, kw.first, eval(*kw.second));
                return Value::make_namespace(std::move(entries));
            }
            case Fn::range: return make_range(eval_args(e, 0), b_);
            case Fn::unknown: break;
        }
        throw ValueError("'" + e.name + "' is not a function kaa provides (it is undefined)");
    }

    std::vector<Dict> frames_;
    std::string out_;
    Budget b_;
};

}  // namespace

std::string render(const Body& body, Dict globals, Budget budget) {
    return Evaluator(std::move(globals), budget).run(body);
}

}  // namespace kaa::chat
