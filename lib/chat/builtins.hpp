// chat/builtins.hpp — filters, tests, functions and methods: their signatures (checked at
// parse time) and their implementations (value level, used by the evaluator).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "chat/ast.hpp"
#include "chat/value.hpp"

namespace kaa::chat {

// A callable's parameters in Python order. Positional and keyword arguments are mapped
// onto them at parse time, so the evaluator receives one slot per parameter (empty
// when the template did not pass it).
struct Signature {
    const char* name;
    int required;                 // leading parameters that must be given
    const char* params[4];        // null-terminated when shorter
    int count() const {
        int n = 0;
        while (n < 4 && params[n]) ++n;
        return n;
    }
};

struct FilterInfo { Filter id; Signature sig; };
struct TestInfo { Test id; Signature sig; };
struct MethodInfo { Method id; Signature sig; };
struct FnInfo { Fn id; Signature sig; };

const FilterInfo* find_filter(std::string_view name);   // nullptr when unknown
const TestInfo* find_test(std::string_view name);
const MethodInfo* find_method(std::string_view name);
const FnInfo* find_function(std::string_view name);

using Args = std::vector<std::optional<Value>>;   // one slot per Signature parameter

// Each throws ValueError on type errors; the evaluator adds the position.
Value apply_filter(Filter f, const Value& subject, const Args& args, Budget& budget);
bool apply_test(Test t, const Value& subject, const Args& args, Budget& budget);
Value call_method(Method m, std::string_view name, const Value& subject, const Args& args,
                  Budget& budget);
// range(); the others need the evaluator's context and are handled there.
Value make_range(const Args& args, Budget& budget);

}  // namespace kaa::chat
